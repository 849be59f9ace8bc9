// The paper's image models beyond the CIFAR ResNets: ResNet-18 (CIFAR variant: 3×3 stem, no max pool,
// stages of 64/128/256/512 channels, basic blocks), PreAct-ResNet-18 (He et al. 2016b: pre-activation
// blocks, a final batch norm + ReLU), WideResNet-16-4 and -28-10 (Zagoruyko & Komodakis 2016: stages of
// 16k/32k/64k, pre-activation, projection on every width change) and ResNet-50 (ImageNet: 7×7 stride-2
// stem, 3×3 stride-2 max pool, bottleneck blocks of width 64/128/256/512 ×4 with the stride in the 3×3
// convolution and projection shortcuts). Each comes with its channel graph: one space per residual
// stream (a projection starts a new one: it consumes the old stream and produces the new), one per
// inner width of every block, so pruning stays consistent, residual dependency groups form, and a
// compact build (`ModelSpec.spaceWidths`, by space name) drops what pruning removed.
import BayesPruneKernels

/// The architecture of a deep ResNet family member.
struct DeepResNetPlan {
    enum Stem {
        case cifar(Int)
        case imagenet(Int)
        /// The standard width of the stem's output (the first residual stream).
        var channels: Int {
            switch self {
            case .cifar(let c), .imagenet(let c): return c
            }
        }
    }
    var stem: Stem
    /// Output channels (basic) or bottleneck widths of each stage, its block count and first stride.
    var stages: [(planes: Int, blocks: Int, stride: Int)]
    var bottleneck = false
    var preActivation = false

    static func plan(_ kind: ModelKind) -> DeepResNetPlan? {
        switch kind {
        case .resnet18:
            return DeepResNetPlan(stem: .cifar(64), stages: [(64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)])
        case .preactResnet18:
            return DeepResNetPlan(
                stem: .cifar(64), stages: [(64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)], preActivation: true)
        case .wrn16x4, .wrn28x10:
            let (depth, k) = kind == .wrn16x4 ? (16, 4) : (28, 10)
            let n = (depth - 4) / 6
            return DeepResNetPlan(
                stem: .cifar(16), stages: [(16 * k, n, 1), (32 * k, n, 2), (64 * k, n, 2)], preActivation: true)
        case .resnet50:
            return DeepResNetPlan(
                stem: .imagenet(64), stages: [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], bottleneck: true)
        default:
            return nil
        }
    }
}

extension ModelBuilder {
    /// Builds a deep ResNet; `spec.spaceWidths` (by channel-space name) narrows it to a compact network.
    static func deepResNet(_ spec: ModelSpec, _ store: ParameterStore) throws -> ([Layer], ChannelGraph) {
        let plan = DeepResNetPlan.plan(spec.kind)!
        let x = spec.input
        let minimum = plan.bottleneck ? 32 : 8
        guard x.h >= minimum, x.w >= minimum else {
            throw SettingError(
                "model", "\(spec.kind.rawValue) needs images of at least \(minimum)x\(minimum), data is \(x)")
        }
        if let w = spec.spaceWidths, let bad = w.first(where: { $0.value < 1 }) {
            throw ModelError(
                description: "\(spec.kind.rawValue): width of \(bad.key) must be positive, got \(bad.value)")
        }
        func width(_ space: String, _ standard: Int) -> Int { spec.spaceWidths?[space] ?? standard }
        guard spec.dropout == 0 || [.wrn16x4, .wrn28x10].contains(spec.kind) else {
            throw SettingError("dropout", "only for the WideResNets (wrn-16-4, wrn-28-10), not \(spec.kind.rawValue)")
        }
        var b = DeepResNetBuilder(store: store, post: !plan.preActivation)
        b.dropout = spec.dropout
        b.graph.add(ChannelSpace(name: "input", channels: x.c, consumers: [], isInput: true))
        // Stem: its output is the first residual stream.
        let stemWidth = width("stem.stream", plan.stem.channels)
        var stream = ChannelSpace(name: "stem.stream", channels: stemWidth)
        let stem: Conv2d
        switch plan.stem {
        case .cifar:
            stem = Conv2d("conv1", store: store, input: x, outChannels: stemWidth, kernel: 3, padding: 1, bias: false)
        case .imagenet:
            stem = Conv2d(
                "conv1", store: store, input: x, outChannels: stemWidth, kernel: 7, stride: 2, padding: 3, bias: false)
        }
        b.graph.spaces[0].consumers.append(stem.inRef)
        b.layers.append(stem)
        var shape = stem.outShape
        if plan.preActivation {
            stream.producers.append(Producer(stem.outRef))
        } else {
            let bn = BatchNorm2d("bn1", store: store, shape: shape)
            b.layers += [bn, ReLU("relu1", shape: shape)]
            stream.producers.append(Producer(stem.outRef, batchNorm: bn.ref))
        }
        if case .imagenet = plan.stem {
            let pool = MaxPool2d("maxpool", shape: shape, window: 3, stride: 2, padding: 1)
            b.layers.append(pool)
            shape = pool.outShape
        }
        b.stream = stream
        b.streamStandard = plan.stem.channels
        for (s, stage) in plan.stages.enumerated() {
            for i in 0..<stage.blocks {
                let name = "layer\(s + 1).\(i)"
                let stride = i == 0 ? stage.stride : 1
                let outStandard = plan.bottleneck ? 4 * stage.planes : stage.planes
                let inStandard = b.streamStandard
                let projected = stride != 1 || inStandard != outStandard
                let outWidth = projected ? width("\(name).stream", outStandard) : shape.c
                let inner = (1...(plan.bottleneck ? 2 : 1)).map { width("\(name).inner\($0)", stage.planes) }
                let block = b.block(
                    name, input: shape, inner: inner, out: outWidth, stride: stride, bottleneck: plan.bottleneck,
                    projected: projected)
                if projected { b.streamStandard = outStandard }
                shape = block.outShape
            }
        }
        b.finish(shape: shape, outputs: spec.outputs, preActivation: plan.preActivation)
        return (b.layers, b.graph)
    }
}

/// Assembles blocks and their channel spaces; `stream` is the residual stream being written.
struct DeepResNetBuilder {
    let store: ParameterStore
    /// Post-activation (batch norm after each convolution) or pre-activation.
    let post: Bool
    var layers: [Layer] = []
    var graph = ChannelGraph()
    var stream = ChannelSpace(name: "", channels: 0)
    /// The standard width of the current stream (a projection is needed when a block changes it).
    var streamStandard = 0
    /// WideResNet's dropout probability between a block's convolutions (0: none).
    var dropout: Float = 0

    init(store: ParameterStore, post: Bool) {
        self.store = store
        self.post = post
    }

    /// One block reading the current stream; with `projected`, the current stream is closed and the
    /// block's output starts a new one named `NAME.stream`.
    mutating func block(
        _ name: String, input: ActShape, inner: [Int], out: Int, stride: Int, bottleneck: Bool, projected: Bool
    ) -> ResNetBlock {
        var pre: [Layer] = []
        var main: [Layer] = []
        var projection: [Layer] = []
        if !post {
            let bn = BatchNorm2d("\(name).bn1", store: store, shape: input)
            pre = [bn, ReLU("\(name).relu1", shape: input)]
            stream.consumers.append(
                .batchNormIn(layer: bn.name, scale: bn.scaleOffset, shift: bn.shiftOffset, channels: input.c))
        }
        // Convolutions: 3×3, 3×3 (basic) or 1×1, 3×3 (stride), 1×1 (bottleneck).
        let specs: [(out: Int, kernel: Int, stride: Int)] =
            bottleneck
            ? [(inner[0], 1, 1), (inner[1], 3, stride), (out, 1, 1)] : [(inner[0], 3, stride), (out, 3, 1)]
        var shape = input
        var convs: [Conv2d] = []
        var norms: [BatchNorm2d?] = []
        for (k, c) in specs.enumerated() {
            let conv = Conv2d(
                "\(name).conv\(k + 1)", store: store, input: shape, outChannels: c.out, kernel: c.kernel,
                stride: c.stride,
                padding: c.kernel / 2, bias: false)
            shape = conv.outShape
            let last = k == specs.count - 1
            // Post-activation: conv, bn, relu (no relu after the last). Pre-activation: bn, relu, conv
            // (the first's bn is the block's pre).
            if post {
                let bn = BatchNorm2d("\(name).bn\(k + 1)", store: store, shape: shape)
                main += [conv, bn]
                if !last { main.append(ReLU("\(name).relu\(k + 1)", shape: shape)) }
                norms.append(bn)
            } else {
                main.append(conv)
                if !last {
                    let bn = BatchNorm2d("\(name).bn\(k + 2)", store: store, shape: shape)
                    main += [bn, ReLU("\(name).relu\(k + 2)", shape: shape)]
                    if dropout > 0 { main.append(Dropout("\(name).dropout", shape: shape, probability: dropout)) }
                    norms.append(bn)
                } else {
                    norms.append(nil)
                }
            }
            convs.append(conv)
        }
        stream.consumers.append(convs[0].inRef)
        for k in 0..<(convs.count - 1) {
            graph.add(
                ChannelSpace(
                    name: "\(name).inner\(k + 1)", channels: convs[k].geometry.outChannels,
                    producers: [Producer(convs[k].outRef, batchNorm: norms[k]?.ref)],
                    consumers: [convs[k + 1].inRef]))
        }
        if projected {
            let conv = Conv2d(
                "\(name).shortcut", store: store, input: input, outChannels: out, kernel: 1, stride: stride, bias: false
            )
            projection = [conv]
            var producer = Producer(conv.outRef)
            if post {
                let bn = BatchNorm2d("\(name).shortcut_bn", store: store, shape: conv.outShape)
                projection.append(bn)
                producer.batchNorm = bn.ref
            }
            stream.consumers.append(conv.inRef)
            graph.add(stream)
            stream = ChannelSpace(name: "\(name).stream", channels: out, producers: [producer])
        }
        stream.producers.append(Producer(convs.last!.outRef, batchNorm: norms.last!?.ref))
        let block = ResNetBlock(name, input: input, pre: pre, main: main, projection: projection, postReLU: post)
        layers.append(block)
        return block
    }

    /// Pre-activation networks end with batch norm + ReLU; then global average pooling and the classifier.
    mutating func finish(shape: ActShape, outputs: Int, preActivation: Bool) {
        if preActivation {
            let bn = BatchNorm2d("bn_final", store: store, shape: shape)
            layers += [bn, ReLU("relu_final", shape: shape)]
            stream.consumers.append(
                .batchNormIn(layer: bn.name, scale: bn.scaleOffset, shift: bn.shiftOffset, channels: shape.c))
        }
        let gap = AvgPool2d(global: "avgpool", shape: shape)
        let fc = Linear("fc", store: store, inFeatures: shape.c, outFeatures: outputs)
        layers += [gap, fc]
        stream.consumers.append(fc.inRef())
        graph.add(stream)
    }
}
