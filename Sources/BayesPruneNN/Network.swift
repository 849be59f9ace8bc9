// A network: a sequence of layers over one ParameterStore, with the input transposed from the data's
// example-major NCHW to the layers' [C, B, H, W] layout, and the likelihood that closes it.
import BayesPruneKernels

#if canImport(Glibc)
    import Glibc
#endif

public final class Network {
    public let modelName: String
    public let store: ParameterStore
    public let layers: [Layer]
    public let inputShape: ActShape
    /// Output units: classes for softmax, 1 for squared error and logistic.
    public let outputs: Int
    public let loss: LossKind
    /// σ² of the Gaussian likelihood for `.squaredError` (ModelSpec.noiseVariance).
    public var noiseVariance: Float = 1
    public let profiler = LayerProfiler()
    /// Producers and consumers of every channel, for structured pruning.
    public let graph: ChannelGraph
    private var input = Scratch(), dOut = Scratch()
    /// The input-gradient buffers every layer shares.
    private let gradientBuffers = GradientBuffers()
    /// The channel block of the activation layout between oneDNN convolutions (0: plain everywhere).
    public private(set) var activationBlock = 0

    /// The block `Network` lays activations out with: oneDNN's preferred one, or 0 (plain) when
    /// BAYESPRUNE_LAYOUT=plain or the convolutions run through im2col.
    public static let defaultActivationBlock: Int = {
        if let v = getenv("BAYESPRUNE_LAYOUT"), String(cString: v) == "plain" { return 0 }
        return Conv2d.dnnlByDefault ? DNNLConv.preferredBlock : 0
    }()

    public init(
        modelName: String, store: ParameterStore, layers: [Layer], inputShape: ActShape, loss: LossKind,
        graph: ChannelGraph = ChannelGraph()
    ) {
        self.graph = graph
        precondition(store.finalized, "finalize the store before building a network")
        self.modelName = modelName
        self.store = store
        self.layers = layers
        self.inputShape = inputShape
        self.loss = loss
        outputs = layers.last!.outShape.size
        // No layer up to and including the first one with parameters needs its input gradient (mlp on
        // images: fc1's input gradient, a third of its multiply-adds, would only reach the flatten).
        for l in layers {
            l.needsInputGradient = false
            if l.kind != .relu && l.kind != .pool && l.kind != .reshape { break }
        }
        if inputShape.plane == 1 && inputShape.c > 1, let first = layers.first as? Linear {
            first.exampleMajorInput = true
        }
        // Images into flatten + fully connected: the example-major batch [B, C·H·W] already is the flattened
        // input in PyTorch's order, so the first fully connected layer reads it as it is (no input
        // transpose, no flatten).
        if layers.count >= 2, layers[0] is Flatten, let fc = layers[1] as? Linear {
            fc.exampleMajorInput = true
        }
        for l in layers {
            (l as? ResidualBlock)?.profiler = profiler
            (l as? ResNetBlock)?.profiler = profiler
        }
        for l in layers { l.gradientBuffers = gradientBuffers }
        if layers.contains(where: { $0 is Conv2d || $0 is ResidualBlock }) {
            planLayouts(block: Network.defaultActivationBlock)
        }
    }

    /// Lays out every activation between oneDNN convolutions in the channel-blocked layout with block k (0:
    /// plain everywhere), where the layers in between can work on it, fuses each blocked batch norm with
    /// the ReLU after it, and each ReLU with a max pooling after it. The layers read and write those layouts from the next forward on; a
    /// network's inputs and outputs stay as they are. A layer's output is blocked when the layer can produce
    /// it (a oneDNN convolution whose channels fill the blocks; batch norm, ReLU or a residual block whose
    /// input is blocked) and the next layer reads it (the same layers, or global average pooling).
    public func planLayouts(block k: Int) {
        activationBlock = k
        func fits(_ c: Int) -> Bool { k > 0 && c % k == 0 }
        func dnnl(_ l: Layer) -> Bool {
            if let c = l as? Conv2d { return c.useDNNL }
            if let r = l as? ResidualBlock { return r.conv1.useDNNL && r.conv2.useDNNL }
            return false
        }
        // emits[i]: layer i can produce a blocked output.
        var emits = [Bool](repeating: false, count: layers.count)
        for (i, l) in layers.enumerated() {
            let previous = i > 0 && emits[i - 1]
            switch l {
            case let c as Conv2d: emits[i] = dnnl(c) && fits(c.outShape.c)
            case is BatchNorm2d, is ReLU: emits[i] = previous && fits(l.inShape.c)
            case let r as ResidualBlock: emits[i] = previous && dnnl(r) && fits(r.inShape.c) && fits(r.outShape.c)
            default: emits[i] = false
            }
        }
        var blockedOut = false  // the layout the next layer reads (the network's output: plain)
        for i in layers.indices.reversed() {
            let l = layers[i]
            let out = blockedOut && emits[i]
            let inputCanBe = i > 0 && emits[i - 1]
            var blockedIn = false
            switch l {
            case let c as Conv2d:
                blockedIn = inputCanBe && dnnl(c) && fits(c.inShape.c)
                c.inputBlock = blockedIn ? k : 0
                c.outputBlock = out ? k : 0
            case let bn as BatchNorm2d:
                blockedIn = out
                bn.block = out ? k : 0
                bn.fusedReLU = false
            case let relu as ReLU:
                blockedIn = out
                relu.passThrough = false
            case let pool as MaxPool2d:
                pool.reluBefore = false
            case let r as ResidualBlock:
                blockedIn = out
                r.setLayouts(stream: out ? k : 0, inner: dnnl(r) && fits(r.inner) ? k : 0)
            case let pool as AvgPool2d where pool.outShape.plane == 1:
                blockedIn = inputCanBe && fits(pool.inShape.c)
                pool.inputBlock = blockedIn ? k : 0
            default:
                blockedIn = false
            }
            blockedOut = blockedIn
        }
        for i in layers.indices.dropLast() {
            if let bn = layers[i] as? BatchNorm2d, bn.block > 0, let relu = layers[i + 1] as? ReLU {
                bn.fusedReLU = true
                relu.passThrough = true
            }
            if let relu = layers[i] as? ReLU, !relu.passThrough, let pool = layers[i + 1] as? MaxPool2d {
                pool.reluBefore = true
                relu.passThrough = true
            }
        }
    }

    /// Every layer, composite layers expanded, in forward order.
    public var flatLayers: [Layer] {
        var out: [Layer] = []
        func walk(_ l: Layer) { if l.children.isEmpty { out.append(l) } else { l.children.forEach(walk) } }
        layers.forEach(walk)
        return out
    }

    public var macsPerExample: Int { layers.reduce(0) { $0 + $1.macsPerExample } }

    /// Where the dropout layers draw the next training forward's masks: (seed, training step, rank).
    public func setStochasticState(seed: UInt64, step: Int, rank: Int) {
        for case let d as Dropout in flatLayers {
            (d.seed, d.step, d.rank) = (seed, step, rank)
        }
    }

    /// Draws every layer's parameters from `seed`; `attempt` > 0 takes another draw of the same seed (used
    /// when a draw is dead, see `deadReLULayers`).
    public func initialize(seed: UInt64, scheme: InitScheme = .heNormal, attempt: Int = 0) {
        var rng = Xoshiro256(seed: seed, stream: 0x1417 &+ UInt64(attempt) &* 0x1_0000)
        for l in layers { l.initialize(rng: &rng, scheme: scheme) }
    }

    /// x: [batch, C, H, W] example-major. Returns outputs [outputs, batch] (layer-owned).
    public func forward(_ x: UnsafePointer<Float>, batch: Int, training: Bool) -> UnsafePointer<Float> {
        forward(x, batch: batch, training: training, observe: nil)
    }

    /// The top-level ReLU layers whose output is zero for every example of the batch x [batch, C, H, W]:
    /// a network with one is dead from the start (no gradient reaches the layers before it), which narrow
    /// layers drawn with PyTorch's initialisation can be (the paper's 6-4-3 networks, for some seeds).
    public func deadReLULayers(_ x: UnsafePointer<Float>, batch: Int) -> [String] {
        var dead: [String] = []
        _ = forward(x, batch: batch, training: false) { layer, y in
            guard layer.kind == .relu else { return }
            let n = layer.outShape.size * batch
            // `> 0`: a ReLU that a following max pooling applies passes its input through.
            if !(0..<n).contains(where: { y[$0] > 0 }) { dead.append(layer.name) }
        }
        return dead
    }

    /// `forward`, calling `observe` with each top-level layer and its output.
    func forward(
        _ x: UnsafePointer<Float>, batch: Int, training: Bool, observe: ((Layer, UnsafePointer<Float>) -> Void)?
    ) -> UnsafePointer<Float> {
        let P = inputShape.plane
        let C = inputShape.c
        if layers.count >= 2, layers[0] is Flatten, let fc = layers[1] as? Linear, fc.exampleMajorInput {
            return runLayers(x, from: 1, batch: batch, training: training, observe: observe)
        }
        let t = input.pointer(count: inputShape.size * batch)
        if C == 1 {
            t.update(from: x, count: inputShape.size * batch)
        } else if P == 1 {
            // Feature vectors: [B, F]. A first fully connected layer reads them as they are; otherwise → [F, B].
            if let first = layers.first as? Linear, first.exampleMajorInput {
                return runLayers(x, batch: batch, training: training, observe: observe)
            }
            transpose(x, rows: batch, cols: C, into: t)
        } else {
            for b in 0..<batch {
                for c in 0..<C { (t + (c * batch + b) * P).update(from: x + (b * C + c) * P, count: P) }
            }
        }
        return runLayers(t, batch: batch, training: training, observe: observe)
    }

    private func runLayers(
        _ x: UnsafePointer<Float>, from first: Int = 0, batch: Int, training: Bool,
        observe: ((Layer, UnsafePointer<Float>) -> Void)?
    ) -> UnsafePointer<Float> {
        var h = x
        for l in layers[first...] {
            h = profiler.forward(l, h, batch: batch, training: training)
            observe?(l, h)
        }
        return h
    }

    /// Back-propagates d(loss)/d(outputs) [outputs, batch]; accumulates into `store.grads`.
    public func backward(_ dy: UnsafePointer<Float>, batch: Int) {
        var g = dy
        for (i, l) in layers.enumerated().reversed() {
            let next = profiler.backward(l, g, batch: batch)
            if i > 0, let ready = gradientsReady { ready(gradientReadyOffsets[i]) }
            guard let next else { break }
            g = next
        }
        gradientsReady?(0)
    }

    /// Called during backward after each top-level layer with the lowest offset from which `store.grads` is
    /// final (its layers' parameters all lie above it); the last call passes 0. For an allreduce that
    /// overlaps the backward pass (`BucketedAllreduce`).
    public var gradientsReady: ((Int) -> Void)?

    /// For each top-level layer i: where the gradients that are final once layers i… have run backward
    /// begin. Parameters are registered in construction (forward) order, so these are the layers' first
    /// offsets; should a layer's parameters lie below an earlier layer's, nothing is reported early.
    public private(set) lazy var gradientReadyOffsets: [Int] = {
        var topIndex: [String: Int] = [:]
        for (i, l) in layers.enumerated() {
            topIndex[l.name] = i
            func walk(_ c: Layer) {
                topIndex[c.name] = i
                c.children.forEach(walk)
            }
            l.children.forEach(walk)
        }
        let n = layers.count
        var lo = [Int](repeating: Int.max, count: n)
        var hi = [Int](repeating: 0, count: n)
        for e in store.entries {
            guard let i = topIndex[e.layer] else { return [Int](repeating: store.parameterCount, count: n) }
            lo[i] = min(lo[i], e.offset)
            hi[i] = max(hi[i], e.offset + e.count)
        }
        var ready = [Int](repeating: store.parameterCount, count: n)
        var low = store.parameterCount
        for i in (0..<n).reversed() {
            low = min(low, lo[i])
            ready[i] = low
        }
        // Layers before i must not own anything at or above ready[i].
        var highest = 0
        for i in 0..<n {
            if highest > ready[i] { return [Int](repeating: store.parameterCount, count: n) }
            highest = max(highest, hi[i])
        }
        return ready
    }()

    /// The likelihood term on outputs [outputs, batch]: mean loss, and its gradient into `grad` if given.
    public func lossValue(
        outputs y: UnsafePointer<Float>, batch: Int, labels: UnsafePointer<Int32>?,
        targets: UnsafePointer<Float>?, grad: UnsafeMutablePointer<Float>?
    ) -> Double {
        switch loss {
        case .softmaxCrossEntropy:
            return Loss.softmaxCrossEntropy(logits: y, classes: outputs, batch: batch, labels: labels!, grad: grad)
        case .squaredError:
            return Loss.squaredError(
                outputs: y, batch: batch, targets: targets!, grad: grad, noiseVariance: noiseVariance)
        case .logistic:
            return Loss.logistic(logits: y, batch: batch, labels: labels!, grad: grad)
        }
    }

    /// Zeroes the gradients, runs forward, loss and backward; returns the mean minibatch loss.
    /// Afterwards `store.grads` holds g = ∇ mean loss (no prior term: the optimizer adds it).
    public func lossAndGradient(
        _ x: UnsafePointer<Float>, batch: Int, labels: UnsafePointer<Int32>?,
        targets: UnsafePointer<Float>?
    ) -> Double {
        store.grads.zero()
        let y = forward(x, batch: batch, training: true)
        let d = dOut.pointer(count: outputs * batch)
        let l = lossValue(outputs: y, batch: batch, labels: labels, targets: targets, grad: d)
        backward(d, batch: batch)
        return l
    }
}
