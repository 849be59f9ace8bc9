// The model zoo, built from a name and the data's shape: mlp, lenet (LeNet-5 style), the CIFAR ResNets
// 20/32/56 (3 stages of 16/32/64 channels with batch norm and option-A shortcuts), and ResNet-18,
// PreAct-ResNet-18, WideResNet-16-4/28-10 and ResNet-50 (DeepResNets.swift).
import BayesPruneKernels

public enum ModelKind: String, CaseIterable, Codable, Sendable {
    case mlp, lenet, resnet20, resnet32, resnet56
    case resnet18
    case preactResnet18 = "preact-resnet18"
    case wrn16x4 = "wrn-16-4"
    case wrn28x10 = "wrn-28-10"
    case resnet50

    /// Basic blocks per stage of the CIFAR ResNets (depth = 6n + 2).
    var blocksPerStage: Int? {
        switch self {
        case .resnet20: return 3
        case .resnet32: return 5
        case .resnet56: return 9
        default: return nil
        }
    }
}

public struct ModelError: Error, CustomStringConvertible { public let description: String }

public struct ModelSpec: Sendable {
    public var kind: ModelKind
    public var input: ActShape
    public var outputs: Int
    public var loss: LossKind
    /// Hidden widths of `mlp`.
    public var hidden: [Int]
    /// Channel/unit counts of a compacted network (nil: the standard architecture). lenet: [conv1 filters,
    /// conv2 filters, fc1 units, fc2 units]; resnets: the inner width (conv1 filters) of every block.
    public var widths: [Int]?
    /// ResNets of a compacted network: the channels each stage's residual stream keeps, as indices into the
    /// standard stream (16, 32, 64 channels), ascending; nil: all. The shortcuts between stages follow
    /// from them (option A on the standard indices, restricted to the kept channels).
    public var streamChannels: [[Int]]?
    /// resnet18, preact-resnet18, wrn-*, resnet50 of a compacted network: the width of each channel space
    /// by name (`stem.stream`, `layerS.B.stream`, `layerS.B.innerK`); a space not named keeps its width.
    public var spaceWidths: [String: Int]?
    /// How weight layers are initialized (default he-normal).
    public var initScheme: InitScheme = .heNormal
    /// σ² of the Gaussian likelihood of a regression output: loss (y − t)²/(2σ²) (default 1; PyTorch's
    /// MSELoss, which the authors use, is σ² = ½).
    public var noiseVariance: Float = 1
    /// WideResNets: dropout probability between each block's convolutions (Zagoruyko & Komodakis 2016;
    /// default 0, none).
    public var dropout: Float = 0

    public init(
        kind: ModelKind, input: ActShape, outputs: Int, loss: LossKind = .softmaxCrossEntropy,
        hidden: [Int] = [300, 100], widths: [Int]? = nil, streamChannels: [[Int]]? = nil
    ) {
        self.streamChannels = streamChannels
        self.kind = kind
        self.input = input
        self.outputs = outputs
        self.loss = loss
        self.hidden = hidden
        self.widths = widths
    }
}

public enum ModelBuilder {
    /// Builds the model `spec` describes, with its parameters in one store and its channel graph, and
    /// initializes it from `seed`. Throws `SettingError` when the data does not fit the model.
    public static func build(_ spec: ModelSpec, seed: UInt64) throws -> Network {
        let store = ParameterStore()
        let (layers, graph): ([Layer], ChannelGraph)
        switch spec.kind {
        case .mlp: (layers, graph) = try mlp(spec, store)
        case .lenet: (layers, graph) = try lenet(spec, store)
        case .resnet20, .resnet32, .resnet56: (layers, graph) = try resnet(spec, store)
        case .resnet18, .preactResnet18, .wrn16x4, .wrn28x10, .resnet50: (layers, graph) = try deepResNet(spec, store)
        }
        store.finalize()
        let net = Network(
            modelName: spec.kind.rawValue, store: store, layers: layers, inputShape: spec.input, loss: spec.loss,
            graph: graph)
        net.noiseVariance = spec.noiseVariance
        net.initialize(seed: seed, scheme: spec.initScheme)
        return net
    }

    /// Fully connected layers with ReLU; every unit space is a channel space.
    static func mlp(_ spec: ModelSpec, _ store: ParameterStore) throws -> ([Layer], ChannelGraph) {
        var layers: [Layer] = []
        var graph = ChannelGraph()
        let x = spec.input
        guard spec.hidden.allSatisfy({ $0 > 0 }) else {
            throw SettingError("hidden", "widths must be positive, got \(spec.hidden)")
        }
        var shape = x
        if x.h > 1 || x.w > 1 {
            let f = Flatten("flatten", shape: x)
            layers.append(f)
            shape = f.outShape
        }
        var fcs: [Linear] = []
        for (i, width) in spec.hidden.enumerated() {
            let fc = Linear("fc\(i + 1)", store: store, inFeatures: shape.size, outFeatures: width)
            layers.append(fc)
            fcs.append(fc)
            shape = ActShape(width, 1, 1)
            layers.append(ReLU("relu\(i + 1)", shape: shape))
        }
        let last = Linear(
            "fc\(spec.hidden.count + 1)", store: store, inFeatures: shape.size, outFeatures: spec.outputs)
        layers.append(last)
        fcs.append(last)
        graph.add(ChannelSpace(name: "input", channels: x.size, consumers: [fcs[0].inRef()], isInput: true))
        for i in 0..<(fcs.count - 1) {
            graph.add(
                ChannelSpace(
                    name: "\(fcs[i].name).out", channels: fcs[i].outFeatures, producers: [Producer(fcs[i].outRef)],
                    consumers: [fcs[i + 1].inRef()]))
        }
        return (layers, graph)
    }

    /// LeNet-5: two 5×5 convolutions with max pooling, three fully connected layers.
    static func lenet(_ spec: ModelSpec, _ store: ParameterStore) throws -> ([Layer], ChannelGraph) {
        var layers: [Layer] = []
        var graph = ChannelGraph()
        let x = spec.input
        guard x.h >= 12, x.w >= 12 else {
            throw SettingError("model", "lenet needs images of at least 12x12, data is \(x)")
        }
        let w = spec.widths ?? [6, 16, 120, 84]
        guard w.count == 4, w.allSatisfy({ $0 > 0 }) else {
            throw ModelError(description: "lenet: widths must be 4 positive counts, got \(w)")
        }
        let c1 = Conv2d("conv1", store: store, input: x, outChannels: w[0], kernel: 5, padding: 2)
        let r1 = ReLU("relu1", shape: c1.outShape)
        let p1 = MaxPool2d("pool1", shape: c1.outShape, window: 2)
        let c2 = Conv2d("conv2", store: store, input: p1.outShape, outChannels: w[1], kernel: 5)
        let r2 = ReLU("relu2", shape: c2.outShape)
        let p2 = MaxPool2d("pool2", shape: c2.outShape, window: 2)
        let fl = Flatten("flatten", shape: p2.outShape)
        let f1 = Linear("fc1", store: store, inFeatures: fl.outShape.size, outFeatures: w[2])
        let r3 = ReLU("relu3", shape: f1.outShape)
        let f2 = Linear("fc2", store: store, inFeatures: w[2], outFeatures: w[3])
        let r4 = ReLU("relu4", shape: f2.outShape)
        let f3 = Linear("fc3", store: store, inFeatures: w[3], outFeatures: spec.outputs)
        layers = [c1, r1, p1, c2, r2, p2, fl, f1, r3, f2, r4, f3]
        graph.add(ChannelSpace(name: "input", channels: x.c, consumers: [c1.inRef], isInput: true))
        graph.add(
            ChannelSpace(name: "conv1.out", channels: w[0], producers: [Producer(c1.outRef)], consumers: [c2.inRef])
        )
        graph.add(
            ChannelSpace(
                name: "conv2.out", channels: w[1], producers: [Producer(c2.outRef)],
                consumers: [f1.inRef(block: p2.outShape.plane)]))
        graph.add(
            ChannelSpace(name: "fc1.out", channels: w[2], producers: [Producer(f1.outRef)], consumers: [f2.inRef()])
        )
        graph.add(
            ChannelSpace(name: "fc2.out", channels: w[3], producers: [Producer(f2.outRef)], consumers: [f3.inRef()])
        )
        return (layers, graph)
    }

    /// The CIFAR ResNets (depth 6n + 2) with option-A shortcuts; one channel space per residual stream.
    /// With `streamChannels`, each stream keeps only those channels of the standard one, and the shortcut
    /// between two stages carries kept channel j of the first to kept channel j + pad of the next.
    static func resnet(_ spec: ModelSpec, _ store: ParameterStore) throws -> ([Layer], ChannelGraph) {
        var layers: [Layer] = []
        var graph = ChannelGraph()
        let x = spec.input
        guard x.h >= 4, x.w >= 4 else {
            throw SettingError("model", "\(spec.kind.rawValue) needs images of at least 4x4, data is \(x)")
        }
        let n = spec.kind.blocksPerStage!
        let planes = [16, 32, 64]
        let inner = spec.widths ?? (0..<(3 * n)).map { planes[$0 / n] }
        guard inner.count == 3 * n, inner.allSatisfy({ $0 > 0 }) else {
            throw ModelError(
                description: "\(spec.kind.rawValue): widths must be \(3 * n) positive block widths, got \(inner)")
        }
        let kept = spec.streamChannels ?? planes.map { Array(0..<$0) }
        guard kept.count == 3,
            zip(kept, planes).allSatisfy({ k, p in
                !k.isEmpty && k == k.sorted() && Set(k).count == k.count
                    && k.allSatisfy { (0..<p).contains($0) }
            })
        else {
            throw ModelError(
                description: "\(spec.kind.rawValue): stream channels must be 3 ascending non-empty index lists "
                    + "within 16/32/64, got \(kept)")
        }
        let c1 = Conv2d(
            "conv1", store: store, input: x, outChannels: kept[0].count, kernel: 3, padding: 1, bias: false)
        let b1 = BatchNorm2d("bn1", store: store, shape: c1.outShape)
        let r1 = ReLU("relu1", shape: c1.outShape)
        layers = [c1, b1, r1]
        graph.add(ChannelSpace(name: "input", channels: x.c, consumers: [c1.inRef], isInput: true))
        var shape = r1.outShape
        // One channel space per stage's residual stream; links between streams are stream-relative
        // here and rebased to graph indices once the inner spaces are in.
        var streams = [
            ChannelSpace(
                name: "stage1.stream", channels: kept[0].count, producers: [Producer(c1.outRef, batchNorm: b1.ref)])
        ]
        var blockIndex = 0
        for stage in 0..<3 {
            var shortcut: [Int]? = nil
            if stage > 0 {
                // Option A on the standard indices: channel c of the previous stream continues as c + pad.
                let pad = (planes[stage] - planes[stage - 1]) / 2
                let into = kept[stage].map { j in kept[stage - 1].firstIndex(of: j - pad) ?? -1 }
                let from = kept[stage - 1].map { c in kept[stage].firstIndex(of: c + pad) ?? -1 }
                shortcut = into
                let previous = streams.count - 1
                streams[previous].consumers.append(.link(space: previous + 1, map: from))
                streams.append(
                    ChannelSpace(
                        name: "stage\(stage + 1).stream", channels: kept[stage].count,
                        producers: [Producer(.link(space: previous, map: into))]))
            }
            for i in 0..<n {
                let first = stage > 0 && i == 0
                let block = ResidualBlock(
                    "layer\(stage + 1).\(i)", store: store, input: shape, planes: kept[stage].count,
                    stride: first ? 2 : 1, inner: inner[blockIndex],
                    shortcut: first ? shortcut : Array(0..<kept[stage].count))
                blockIndex += 1
                layers.append(block)
                // A stage's first block reads the previous stream and writes this one.
                let k = streams.count - 1
                streams[first ? k - 1 : k].consumers.append(block.conv1.inRef)
                streams[k].producers.append(Producer(block.conv2.outRef, batchNorm: block.bn2.ref))
                graph.add(
                    ChannelSpace(
                        name: "\(block.name).inner", channels: block.inner,
                        producers: [Producer(block.conv1.outRef, batchNorm: block.bn1.ref)],
                        consumers: [block.conv2.inRef]))
                shape = block.outShape
            }
        }
        let gap = AvgPool2d(global: "avgpool", shape: shape)
        layers.append(gap)
        let fc = Linear("fc", store: store, inFeatures: shape.c, outFeatures: spec.outputs)
        layers.append(fc)
        streams[streams.count - 1].consumers.append(fc.inRef())
        let base = graph.spaces.count
        func rebase(_ r: ChannelRef) -> ChannelRef {
            if case .link(let sp, let map) = r { return .link(space: base + sp, map: map) }
            return r
        }
        for var st in streams {
            st.producers = st.producers.map { Producer(rebase($0.ref), batchNorm: $0.batchNorm) }
            st.consumers = st.consumers.map(rebase)
            graph.add(st)
        }
        return (layers, graph)
    }
}
