// The model zoo, built from a name and the data's shape: mlp, lenet (LeNet-5 style), and the CIFAR
// ResNets 20/32/56 (3 stages of 16/32/64 channels with batch norm and option-A shortcuts).
import BayesPruneKernels

public enum ModelKind: String, CaseIterable, Sendable {
    case mlp, lenet, resnet20, resnet32, resnet56

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

    public init(kind: ModelKind, input: ActShape, outputs: Int, loss: LossKind = .softmaxCrossEntropy,
                hidden: [Int] = [300, 100]) {
        self.kind = kind; self.input = input; self.outputs = outputs; self.loss = loss; self.hidden = hidden
    }
}

public enum ModelBuilder {
    public static func build(_ spec: ModelSpec, seed: UInt64) throws -> Network {
        let store = ParameterStore()
        var layers: [Layer] = []
        let x = spec.input
        switch spec.kind {
        case .mlp:
            guard spec.hidden.allSatisfy({ $0 > 0 }) else {
                throw ModelError(description: "--hidden: widths must be positive, got \(spec.hidden)")
            }
            var shape = x
            if x.h > 1 || x.w > 1 { let f = Flatten("flatten", shape: x); layers.append(f); shape = f.outShape }
            for (i, width) in spec.hidden.enumerated() {
                layers.append(Linear("fc\(i + 1)", store: store, inFeatures: shape.size, outFeatures: width))
                shape = ActShape(width, 1, 1)
                layers.append(ReLU("relu\(i + 1)", shape: shape))
            }
            layers.append(Linear("fc\(spec.hidden.count + 1)", store: store, inFeatures: shape.size,
                                 outFeatures: spec.outputs))
        case .lenet:
            guard x.h >= 12, x.w >= 12 else {
                throw ModelError(description: "--model lenet: needs images of at least 12x12, data is \(x)")
            }
            let c1 = Conv2d("conv1", store: store, input: x, outChannels: 6, kernel: 5, padding: 2)
            let r1 = ReLU("relu1", shape: c1.outShape)
            let p1 = MaxPool2d("pool1", shape: c1.outShape, window: 2)
            let c2 = Conv2d("conv2", store: store, input: p1.outShape, outChannels: 16, kernel: 5)
            let r2 = ReLU("relu2", shape: c2.outShape)
            let p2 = MaxPool2d("pool2", shape: c2.outShape, window: 2)
            let fl = Flatten("flatten", shape: p2.outShape)
            let f1 = Linear("fc1", store: store, inFeatures: fl.outShape.size, outFeatures: 120)
            let r3 = ReLU("relu3", shape: f1.outShape)
            let f2 = Linear("fc2", store: store, inFeatures: 120, outFeatures: 84)
            let r4 = ReLU("relu4", shape: f2.outShape)
            let f3 = Linear("fc3", store: store, inFeatures: 84, outFeatures: spec.outputs)
            layers = [c1, r1, p1, c2, r2, p2, fl, f1, r3, f2, r4, f3]
        case .resnet20, .resnet32, .resnet56:
            guard x.h >= 4, x.w >= 4 else {
                throw ModelError(description: "--model \(spec.kind.rawValue): needs images of at least 4x4, data is \(x)")
            }
            let n = spec.kind.blocksPerStage!
            let c1 = Conv2d("conv1", store: store, input: x, outChannels: 16, kernel: 3, padding: 1, bias: false)
            let b1 = BatchNorm2d("bn1", store: store, shape: c1.outShape)
            let r1 = ReLU("relu1", shape: c1.outShape)
            layers = [c1, b1, r1]
            var shape = r1.outShape
            for (stage, planes) in [16, 32, 64].enumerated() {
                for i in 0..<n {
                    let stride = (stage > 0 && i == 0) ? 2 : 1
                    let block = ResidualBlock("layer\(stage + 1).\(i)", store: store, input: shape, planes: planes,
                                              stride: stride)
                    layers.append(block)
                    shape = block.outShape
                }
            }
            let gap = AvgPool2d(global: "avgpool", shape: shape)
            layers.append(gap)
            layers.append(Linear("fc", store: store, inFeatures: 64, outFeatures: spec.outputs))
        }
        store.finalize()
        let net = Network(modelName: spec.kind.rawValue, store: store, layers: layers, inputShape: x, loss: spec.loss)
        net.initialize(seed: seed)
        return net
    }
}
