// Finite-difference checks: every layer's backward pass (input and parameter gradients) against
// central differences of the scalar L = Σ r·y with fixed random r, and whole models end to end.
/// Fills with N(0,1) values kept away from 0 by `gap` so ReLU/max kinks are not straddled by ±h.

import BayesPruneKernels
import TestSupport
import Testing

@testable import BayesPruneNN

func randomValues(_ n: Int, seed: UInt64, gap: Float = 0) -> [Float] {
    var rng = Xoshiro256(seed: seed)
    return (0..<n).map { _ in
        var v = rng.nextGaussian()
        while abs(v) < gap { v = rng.nextGaussian() }
        return v
    }
}

/// Σ r·y in Double for a forward pass on x.
func probe(_ layer: Layer, _ x: [Float], _ r: [Float], batch: Int, training: Bool) -> Double {
    x.withUnsafeBufferPointer { xp in
        let y = layer.forward(xp.baseAddress!, batch: batch, training: training)
        var s = 0.0
        for i in 0..<r.count { s += Double(r[i]) * Double(y[i]) }
        return s
    }
}

/// Asserts analytic input and parameter gradients match central differences.
func checkLayer(
    _ layer: Layer, store: ParameterStore?, batch: Int, training: Bool = true, h: Float = 1e-2,
    tolerance: Double = 2e-3, seed: UInt64 = 7, gap: Float = 0, sourceLocation: SourceLocation = #_sourceLocation
) {
    let x = randomValues(layer.inShape.size * batch, seed: seed, gap: gap)
    let r = randomValues(layer.outShape.size * batch, seed: seed + 1)
    layer.needsInputGradient = true
    store?.grads.zero()
    _ = probe(layer, x, r, batch: batch, training: training)
    let dx: [Float] = r.withUnsafeBufferPointer { rp in
        let d = layer.backward(rp.baseAddress!, batch: batch)!
        return Array(UnsafeBufferPointer(start: d, count: x.count))
    }
    let grads = store?.grads.array ?? []
    // Input gradient: check a spread of coordinates (all when small).
    let xIdx = Array(stride(from: 0, to: x.count, by: max(1, x.count / 40)))
    for i in xIdx {
        var xp = x
        var xm = x
        xp[i] += h
        xm[i] -= h
        let num =
            (probe(layer, xp, r, batch: batch, training: training)
                - probe(layer, xm, r, batch: batch, training: training)) / Double(2 * h)
        let scale = max(1, abs(num))
        #expect(
            abs(Double(dx[i]) - num) <= tolerance * scale * 10,
            "dx[\(i)] analytic \(dx[i]) vs numeric \(num) in \(layer.name)", sourceLocation: sourceLocation)
    }
    guard let store else { return }
    let pIdx = Array(stride(from: 0, to: store.parameterCount, by: max(1, store.parameterCount / 40)))
    for i in pIdx {
        let v = store.values[i]
        store.values[i] = v + h
        let lp = probe(layer, x, r, batch: batch, training: training)
        store.values[i] = v - h
        let lm = probe(layer, x, r, batch: batch, training: training)
        store.values[i] = v
        let num = (lp - lm) / Double(2 * h)
        let scale = max(1, abs(num))
        #expect(
            abs(Double(grads[i]) - num) <= tolerance * scale * 10,
            "dθ[\(i)] analytic \(grads[i]) vs numeric \(num) in \(layer.name)", sourceLocation: sourceLocation)
    }
}

@Suite struct LayerGradients {
    /// A 3→4 channel convolution on 7×6 inputs with a distinct bias per filter, split into several batch
    /// chunks; oneDNN or the im2col + GEMM fallback.
    func checkConv(kernel: Int, stride: Int, padding: Int, bias: Bool, useDNNL: Bool) {
        let store = ParameterStore()
        let conv = Conv2d(
            "conv", store: store, input: ActShape(3, 7, 6), outChannels: 4, kernel: kernel,
            stride: stride, padding: padding, bias: bias)
        store.finalize()
        var rng = Xoshiro256(seed: 3)
        conv.initialize(rng: &rng, scheme: .heNormal)
        if let b = conv.biasOffset { for i in 0..<4 { store.values[b + i] = Float(i) * 0.1 } }
        if !useDNNL { conv.useDNNL = false }
        conv.chunkFloats = 64  // force several batch chunks
        checkLayer(conv, store: store, batch: 3)
    }

    @Test(arguments: [
        (3, 1, 0, true), (3, 2, 1, false), (5, 1, 2, true), (2, 2, 0, true), (1, 1, 0, true), (3, 3, 1, true),
        (7, 2, 3, false),
    ])
    func conv(kernel: Int, stride: Int, padding: Int, bias: Bool) {
        checkConv(kernel: kernel, stride: stride, padding: padding, bias: bias, useDNNL: true)
    }

    /// The im2col + GEMM fallback (oneDNN off) passes the same finite-difference check.
    @Test(arguments: [
        (3, 1, 0, true), (3, 2, 1, false), (5, 1, 2, true), (1, 1, 0, true), (3, 3, 1, true), (7, 2, 3, false),
    ])
    func convIm2col(kernel: Int, stride: Int, padding: Int, bias: Bool) {
        checkConv(kernel: kernel, stride: stride, padding: padding, bias: bias, useDNNL: false)
    }

    /// oneDNN and im2col + GEMM agree on outputs, input gradients and accumulated parameter gradients.
    @Test(arguments: [
        (1, 5, 1, 2, true), (3, 3, 1, 1, false), (3, 3, 2, 1, true), (16, 3, 2, 1, false),
        (4, 1, 2, 0, true), (6, 5, 1, 0, true), (3, 7, 2, 3, false),
    ])
    func convDNNLMatchesIm2col(inC: Int, kernel: Int, stride: Int, padding: Int, bias: Bool) {
        var results: [[Float]] = []
        for dnnl in [true, false] {
            let store = ParameterStore()
            let conv = Conv2d(
                "conv", store: store, input: ActShape(inC, 10, 9), outChannels: 8, kernel: kernel,
                stride: stride, padding: padding, bias: bias)
            store.finalize()
            var rng = Xoshiro256(seed: 5)
            conv.initialize(rng: &rng, scheme: .heNormal)
            if let b = conv.biasOffset { for i in 0..<8 { store.values[b + i] = Float(i) * 0.1 - 0.3 } }
            conv.useDNNL = dnnl
            let batch = 5
            let x = randomValues(conv.inShape.size * batch, seed: 8)
            let dy = randomValues(conv.outShape.size * batch, seed: 9)
            store.grads.zero()
            for i in 0..<store.parameterCount { store.grads[i] = 0.5 }
            var all: [Float] = []
            x.withUnsafeBufferPointer { xp in
                let y = conv.forward(xp.baseAddress!, batch: batch, training: true)
                all += Array(UnsafeBufferPointer(start: y, count: dy.count))
            }
            dy.withUnsafeBufferPointer { dp in
                let d = conv.backward(dp.baseAddress!, batch: batch)!
                all += Array(UnsafeBufferPointer(start: d, count: x.count))
            }
            all += store.grads.array
            results.append(all)
        }
        let scale = results[1].map { abs($0) }.max()!
        let err = zip(results[0], results[1]).map { abs($0 - $1) }.max()!
        #expect(err <= 1e-5 * max(scale, 1))
    }

    @Test func linear() {
        let store = ParameterStore()
        let fc = Linear("fc", store: store, inFeatures: 7, outFeatures: 5)
        store.finalize()
        var rng = Xoshiro256(seed: 4)
        fc.initialize(rng: &rng, scheme: .heNormal)
        checkLayer(fc, store: store, batch: 4)
    }

    @Test func batchNormTraining() {
        let store = ParameterStore()
        let bn = BatchNorm2d("bn", store: store, shape: ActShape(3, 4, 5))
        store.finalize()
        var rng = Xoshiro256(seed: 5)
        bn.initialize(rng: &rng, scheme: .heNormal)
        for i in 0..<3 {
            store.values[bn.scaleOffset + i] = 0.5 + Float(i)
            store.values[bn.shiftOffset + i] = Float(i) - 1
        }
        checkLayer(bn, store: store, batch: 3, h: 5e-3)
    }

    @Test func batchNormEvaluationUsesRunningStatistics() {
        let store = ParameterStore()
        let bn = BatchNorm2d("bn", store: store, shape: ActShape(2, 1, 3))
        store.finalize()
        var rng = Xoshiro256(seed: 5)
        bn.initialize(rng: &rng, scheme: .heNormal)
        // Two training batches update running stats with momentum 0.1 and unbiased variance.
        let x1: [Float] = [1, 2, 3, 4, 5, 6, -1, 0, 1, 2, 3, 4]  // channel rows of batch 2
        _ = probe(bn, x1, [Float](repeating: 0, count: 12), batch: 2, training: true)
        let mean0 = (1.0 + 2 + 3 + 4 + 5 + 6) / 6
        let var0 = (0..<6).map { pow2(Double($0 + 1) - mean0) }.reduce(0, +) / 5
        #expect(abs(Double(store.state[bn.runningMeanOffset]) - 0.1 * mean0) < 1e-6)
        #expect(abs(Double(store.state[bn.runningVarOffset]) - (0.9 + 0.1 * var0)) < 1e-5)
        let y = probe(bn, x1, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], batch: 2, training: false)
        let expected = (1 - 0.1 * mean0) / (0.9 + 0.1 * var0 + 1e-5).squareRoot()
        #expect(abs(y - expected) < 1e-5)
    }

    @Test func reluAndPools() {
        checkLayer(ReLU("relu", shape: ActShape(2, 3, 3)), store: nil, batch: 2, h: 1e-3, gap: 0.05)
        checkLayer(MaxPool2d("max", shape: ActShape(2, 6, 6), window: 2), store: nil, batch: 2, h: 1e-3)
        checkLayer(MaxPool2d("max3", shape: ActShape(1, 7, 7), window: 3, stride: 2), store: nil, batch: 2, h: 1e-3)
        // ResNet-50's stem pool: 3×3, stride 2, padding 1 (the padded border never wins).
        checkLayer(
            MaxPool2d("maxpad", shape: ActShape(2, 8, 8), window: 3, stride: 2, padding: 1), store: nil, batch: 2,
            h: 1e-3)
        checkLayer(AvgPool2d("avg", shape: ActShape(2, 6, 6), window: 2), store: nil, batch: 2)
        checkLayer(AvgPool2d(global: "gap", shape: ActShape(3, 5, 4)), store: nil, batch: 2)
        checkLayer(Flatten("flat", shape: ActShape(3, 2, 2)), store: nil, batch: 3)
    }

    @Test(arguments: [(4, 4, 1), (4, 8, 2)])
    func residualBlock(inC: Int, planes: Int, stride: Int) {
        let store = ParameterStore()
        let block = ResidualBlock("block", store: store, input: ActShape(inC, 6, 6), planes: planes, stride: stride)
        store.finalize()
        var rng = Xoshiro256(seed: 6)
        block.initialize(rng: &rng, scheme: .heNormal)
        checkLayer(block, store: store, batch: 3, h: 2e-3, tolerance: 5e-3)
    }

    /// A compacted block's shortcut: fewer output than input channels, unmapped outputs and dropped inputs.
    @Test(arguments: [1, 2])
    func residualBlockWithShortcutMap(stride: Int) {
        let store = ParameterStore()
        let block = ResidualBlock(
            "block", store: store, input: ActShape(5, 6, 6), planes: 3, stride: stride, inner: 2,
            shortcut: [-1, 3, 0])
        store.finalize()
        #expect(block.shortcutTarget == [2, -1, -1, 1, -1])
        var rng = Xoshiro256(seed: 7)
        block.initialize(rng: &rng, scheme: .heNormal)
        // A small step and batch: the block's ReLUs put kinks within reach of larger steps.
        checkLayer(block, store: store, batch: 2, h: 5e-4, tolerance: 5e-3)
    }

    @Test func optionAShortcutMap() {
        #expect(ResidualBlock.optionA(inChannels: 2, planes: 6) == [-1, -1, 0, 1, -1, -1])
        #expect(ResidualBlock.optionA(inChannels: 3, planes: 3) == [0, 1, 2])
    }
}

func pow2(_ x: Double) -> Double { x * x }

@Suite struct Losses {
    @Test func softmaxCrossEntropyMatchesClosedFormAndFiniteDifferences() {
        let K = 4
        let B = 3
        var z = randomValues(K * B, seed: 11)
        let labels: [Int32] = [2, 0, 3]
        var g = [Float](repeating: 0, count: K * B)
        let l = Loss.softmaxCrossEntropy(logits: z, classes: K, batch: B, labels: labels, grad: &g)
        var ref = 0.0
        for b in 0..<B {
            let s = (0..<K).map { _exp(Double(z[$0 * B + b])) }.reduce(0, +)
            ref -= _log(_exp(Double(z[Int(labels[b]) * B + b])) / s)
        }
        #expect(abs(l - ref / Double(B)) < 1e-5)
        for i in 0..<(K * B) {
            let v = z[i]
            z[i] = v + 1e-2
            let lp = Loss.softmaxCrossEntropy(logits: z, classes: K, batch: B, labels: labels, grad: nil)
            z[i] = v - 1e-2
            let lm = Loss.softmaxCrossEntropy(logits: z, classes: K, batch: B, labels: labels, grad: nil)
            z[i] = v
            #expect(abs(Double(g[i]) - (lp - lm) / 2e-2) < 1e-4)
        }
    }

    @Test func squaredErrorAndLogistic() {
        var y: [Float] = [0.5, -1.0, 2.0]
        let t: [Float] = [0.0, 1.0, 2.5]
        var g = [Float](repeating: 0, count: 3)
        let l = Loss.squaredError(outputs: y, batch: 3, targets: t, grad: &g)
        #expect(abs(l - (0.25 + 4 + 0.25) / 2 / 3) < 1e-6)
        let labels: [Int32] = [1, 0, 1]
        let ll = Loss.logistic(logits: y, batch: 3, labels: labels, grad: &g)
        let ref = (_log(1 + _exp(-0.5)) + _log(1 + _exp(-1.0)) + _log(1 + _exp(-2.0))) / 3
        #expect(abs(ll - ref) < 1e-6)
        for i in 0..<3 {
            let v = y[i]
            y[i] = v + 1e-2
            let lp = Loss.logistic(logits: y, batch: 3, labels: labels, grad: nil)
            y[i] = v - 1e-2
            let lm = Loss.logistic(logits: y, batch: 3, labels: labels, grad: nil)
            y[i] = v
            #expect(abs(Double(g[i]) - (lp - lm) / 2e-2) < 1e-4)
        }
    }
}

@Suite struct Models {
    @Test(arguments: [
        (ModelKind.mlp, ActShape(1, 28, 28)), (.lenet, ActShape(1, 28, 28)), (.lenet, ActShape(3, 32, 32)),
        (.resnet20, ActShape(1, 28, 28)), (.resnet20, ActShape(3, 32, 32)), (.resnet18, ActShape(1, 28, 28)),
        (.resnet18, ActShape(3, 32, 32)), (.preactResnet18, ActShape(3, 32, 32)), (.wrn16x4, ActShape(3, 32, 32)),
        (.resnet50, ActShape(3, 224, 224)), (.resnet50, ActShape(3, 64, 64)),
    ])
    func builtFromDataShape(kind: ModelKind, input: ActShape) throws {
        let net = try ModelBuilder.build(ModelSpec(kind: kind, input: input, outputs: 10), seed: 1)
        let x = randomValues(input.size * 2, seed: 2)
        let y = net.forward(x, batch: 2, training: false)
        #expect(net.outputs == 10)
        for i in 0..<20 { #expect(y[i].isFinite) }
    }

    @Test func parameterCountsMatchTheArchitectures() throws {
        let mlp = try ModelBuilder.build(ModelSpec(kind: .mlp, input: ActShape(1, 28, 28), outputs: 10), seed: 1)
        #expect(mlp.store.parameterCount == 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10)
        let lenet = try ModelBuilder.build(ModelSpec(kind: .lenet, input: ActShape(1, 28, 28), outputs: 10), seed: 1)
        #expect(
            lenet.store.parameterCount == 6 * 25 + 6 + 16 * 6 * 25 + 16 + 400 * 120 + 120 + 120 * 84 + 84 + 84 * 10 + 10
        )
        // ResNet-20 on CIFAR: the well-known 0.27M parameters (269,722 with option-A shortcuts).
        let r20 = try ModelBuilder.build(ModelSpec(kind: .resnet20, input: ActShape(3, 32, 32), outputs: 10), seed: 1)
        #expect(r20.store.parameterCount == 269_722)
        let r56 = try ModelBuilder.build(ModelSpec(kind: .resnet56, input: ActShape(3, 32, 32), outputs: 10), seed: 1)
        #expect(r56.store.parameterCount == 853_018)
    }

    /// The published parameter counts: ResNet-18 (CIFAR) 11.17 M, WRN-16-4 2.75 M and WRN-28-10 36.5 M for 10
    /// classes, ResNet-50 25.56 M for ImageNet's 1000 (torchvision's 25,557,032); PreAct-ResNet-18 has
    /// ResNet-18's convolutions with 3 904 batch-norm channels instead of 4 800 (no stem or shortcut batch
    /// norm; each block's first normalises its input; a final one): 11,173,962 − 2·896.
    @Test(arguments: [
        (ModelKind.resnet18, 32, 10, 11_173_962), (.wrn16x4, 32, 10, 2_748_890), (.wrn28x10, 32, 10, 36_479_194),
        (.resnet50, 224, 1000, 25_557_032), (.preactResnet18, 32, 10, 11_172_170),
    ])
    func publishedParameterCounts(kind: ModelKind, size: Int, classes: Int, count: Int) throws {
        let net = try ModelBuilder.build(
            ModelSpec(kind: kind, input: ActShape(3, size, size), outputs: classes), seed: 1)
        #expect(net.store.parameterCount == count, "\(kind)")
    }

    /// End-to-end: the whole network's loss gradient against central differences (in training mode).
    @Test(arguments: [ModelKind.mlp, .lenet])
    func wholeModelGradient(kind: ModelKind) throws {
        let input = kind == .mlp ? ActShape(1, 6, 6) : ActShape(1, 14, 14)
        let spec =
            kind == .mlp
            ? ModelSpec(kind: kind, input: input, outputs: 3, hidden: [8, 5])
            : ModelSpec(kind: kind, input: input, outputs: 3)
        let net = try ModelBuilder.build(spec, seed: 9)
        let B = 4
        let x = randomValues(input.size * B, seed: 10)
        let labels: [Int32] = [0, 1, 2, 1]
        func lossAt() -> Double {
            let y = net.forward(x, batch: B, training: true)
            return net.lossValue(outputs: y, batch: B, labels: labels, targets: nil, grad: nil)
        }
        _ = net.lossAndGradient(x, batch: B, labels: labels, targets: nil)
        let g = net.store.grads.array
        let n = net.store.parameterCount
        var checked = 0
        var bad = 0
        for i in stride(from: 0, to: n, by: max(1, n / 60)) {
            let v = net.store.values[i]
            let h: Float = 1e-3
            net.store.values[i] = v + h
            let lp = lossAt()
            net.store.values[i] = v - h
            let lm = lossAt()
            net.store.values[i] = v
            let num = (lp - lm) / Double(2 * h)
            checked += 1
            if abs(Double(g[i]) - num) > 2e-3 * max(0.05, abs(num)) + 2e-4 { bad += 1 }
        }
        // ReLU kinks can make a rare coordinate's difference quotient straddle a switch; allow 1 in 30.
        #expect(bad * 30 <= checked, "\(bad) of \(checked) coordinates disagree")
    }

    /// Directional derivative of the whole loss along a random direction d: (L(θ+hd) − L(θ−hd))/2h
    /// against g·d. Averaging over all coordinates washes out the rare ReLU kink a single coordinate hits,
    /// which matters in deep residual nets.
    @Test(arguments: [ModelKind.resnet20, .lenet, .mlp])
    func wholeModelDirectionalDerivative(kind: ModelKind) throws {
        let input = kind == .mlp ? ActShape(1, 6, 6) : ActShape(3, 12, 12)
        let net = try ModelBuilder.build(ModelSpec(kind: kind, input: input, outputs: 4, hidden: [8, 5]), seed: 19)
        let B = 6
        let x = randomValues(input.size * B, seed: 20)
        let labels: [Int32] = [0, 1, 2, 3, 1, 2]
        let (numeric, analytic) = directionalDerivative(
            net, x: x, batch: B, labels: labels, random: { randomValues($0, seed: 21) }, h: 1e-3)
        #expect(abs(numeric - analytic) <= 1e-2 * abs(analytic), "\(kind): numeric \(numeric) vs analytic \(analytic)")
    }
}

/// The whole training-mode loss's derivative at x along a unit direction d mixing the gradient's direction
/// with a random one (`random(n)`: n values), so g·d is well above rounding: the central difference
/// (L(θ+hd) − L(θ−hd))/2h and g·d. The parameters are restored afterwards.
func directionalDerivative(
    _ net: Network, x: [Float], batch B: Int, labels: [Int32], random: (Int) -> [Float], h: Float
) -> (numeric: Double, analytic: Double) {
    _ = net.lossAndGradient(x, batch: B, labels: labels, targets: nil)
    let g = net.store.grads.array
    let theta = net.store.values.array
    let r = random(theta.count)
    let norm = { (v: [Float]) in Float(v.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot()) }
    let (gn, rn) = (norm(g), norm(r))
    var d = (0..<theta.count).map { g[$0] / gn + 0.5 * r[$0] / rn }
    let dn = norm(d)
    d = d.map { $0 / dn }
    let analytic = zip(g, d).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    func lossAt(_ h: Float) -> Double {
        for i in 0..<theta.count { net.store.values[i] = theta[i] + h * d[i] }
        let y = net.forward(x, batch: B, training: true)
        return net.lossValue(outputs: y, batch: B, labels: labels, targets: nil, grad: nil)
    }
    let numeric = (lossAt(h) - lossAt(-h)) / Double(2 * h)
    for i in 0..<theta.count { net.store.values[i] = theta[i] }
    return (numeric, analytic)
}

@Suite struct ElementwiseThreading {
    /// Batch norm, ReLU and a residual block give bit-identical results with 1 and 2 elementwise threads
    /// (channels and ranges are split, never reductions).
    @Test func splitWorkIsBitIdentical() {
        var runs: [[Float]] = []
        for threads in [1, 2] {
            let store = ParameterStore()
            let input = ActShape(8, 32, 32)
            let bn = BatchNorm2d("bn", store: store, shape: input)
            let relu = ReLU("relu", shape: input)
            let block = ResidualBlock("block", store: store, input: input, planes: 16, stride: 2)
            store.finalize()
            var rng = Xoshiro256(seed: 4)
            for l in [bn, relu, block] as [Layer] { l.initialize(rng: &rng, scheme: .heNormal) }
            let batch = 16  // large enough that every split path engages
            let x = randomValues(input.size * batch, seed: 12)
            let dy = randomValues(block.outShape.size * batch, seed: 13)
            var all: [Float] = []
            // elementwiseThreads is process-wide: hold the thread-settings lock so no other test (in any
            // target) sets it while this run reads it, and check the value really is the one set.
            withExclusiveThreadSettings {
                // Pin OpenBLAS and oneDNN to one thread on this thread (oneDNN's OpenMP count is a per-thread
                // setting, and tests run on several threads), so only the elementwise split differs.
                setBLASThreads(1)
                elementwiseThreads = threads
                #expect(elementwiseThreads == threads)
                x.withUnsafeBufferPointer { xp in
                    var h = bn.forward(xp.baseAddress!, batch: batch, training: true)
                    h = relu.forward(h, batch: batch, training: true)
                    h = block.forward(h, batch: batch, training: true)
                    all += Array(UnsafeBufferPointer(start: h, count: dy.count))
                }
                dy.withUnsafeBufferPointer { dp in
                    var g = block.backward(dp.baseAddress!, batch: batch)!
                    g = relu.backward(g, batch: batch)!
                    g = bn.backward(g, batch: batch)!
                    all += Array(UnsafeBufferPointer(start: g, count: x.count))
                }
                #expect(elementwiseThreads == threads, "another test changed elementwiseThreads during the run")
            }
            all += store.grads.array
            runs.append(all)
        }
        #expect(runs.count == 2 && runs[0] == runs[1])
    }
}
