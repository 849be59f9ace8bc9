// Batch normalization over the channel rows of [C, B, H, W]: batch statistics in training (with
// running averages kept for evaluation, PyTorch convention: momentum 0.1, unbiased running variance).
import BayesPruneKernels

public final class BatchNorm2d: Layer {
    public let name: String
    public var kind: LayerKind { .batchnorm }
    public let inShape: ActShape
    public var outShape: ActShape { inShape }
    public let scaleOffset: Int, shiftOffset: Int  // gamma, beta: (C)
    public let runningMeanOffset: Int, runningVarOffset: Int  // state: (C)
    public var momentum: Float = 0.1
    public var epsilon: Float = 1e-5
    public var needsInputGradient = true
    public var gradientBuffers: GradientBuffers? {
        get { dx.shared }
        set { dx.shared = newValue }
    }
    /// The activation layout (0: plain [C, B, H, W]; k: channel-blocked, see `ActivationLayout`), set by the
    /// network's layout plan.
    public var block = 0
    /// Applies the following ReLU too (blocked layout only; that ReLU then passes its input through):
    /// y = max(bn(x), 0), and backward masks dy by y > 0, one pass each instead of two.
    public var fusedReLU = false
    unowned let store: ParameterStore
    private var out = Scratch(), dx = GradientScratch()
    private let mean: FloatBuffer, invStd: FloatBuffer
    /// Blocked layout: per-channel coefficients and per-example partial sums [B, C].
    private let scale: FloatBuffer, shift: FloatBuffer, meanDy: FloatBuffer, meanDyXhat: FloatBuffer
    private var partialA: [Double] = [], partialB: [Double] = []
    private var input: UnsafePointer<Float>?, output: UnsafePointer<Float>?

    public init(_ name: String, store: ParameterStore, shape: ActShape) {
        self.name = name
        self.store = store
        inShape = shape
        let li = store.beginWeightLayer()
        scaleOffset = store.register(
            name: "\(name).weight", layer: name, shape: [shape.c], role: .bnScale,
            group: .none, layerIndex: li)
        shiftOffset = store.register(
            name: "\(name).bias", layer: name, shape: [shape.c], role: .bnShift,
            group: .none, layerIndex: li)
        runningMeanOffset = store.registerState(name: "\(name).running_mean", count: shape.c)
        runningVarOffset = store.registerState(name: "\(name).running_var", count: shape.c)
        mean = FloatBuffer(count: shape.c)
        invStd = FloatBuffer([Float](repeating: 1, count: shape.c))
        scale = FloatBuffer(count: shape.c)
        shift = FloatBuffer(count: shape.c)
        meanDy = FloatBuffer(count: shape.c)
        meanDyXhat = FloatBuffer(count: shape.c)
    }

    public var macsPerExample: Int { 0 }

    public func initialize(rng: inout Xoshiro256, scheme: InitScheme) {
        store.value(scaleOffset).update(repeating: 1, count: inShape.c)
        store.value(shiftOffset).update(repeating: 0, count: inShape.c)
        store.stateValue(runningMeanOffset).update(repeating: 0, count: inShape.c)
        store.stateValue(runningVarOffset).update(repeating: 1, count: inShape.c)
    }

    public func forward(_ x: UnsafePointer<Float>, batch: Int, training: Bool) -> UnsafePointer<Float> {
        input = x
        if block > 0 { return forwardBlocked(x, batch: batch, training: training) }
        precondition(!fusedReLU, "\(name): a fused ReLU needs the blocked layout")
        let C = inShape.c
        let M = batch * inShape.plane
        let y = out.pointer(count: C * M)
        let gamma = store.value(scaleOffset)
        let beta = store.value(shiftOffset)
        let rm = store.stateValue(runningMeanOffset)
        let rv = store.stateValue(runningVarOffset)
        let mean = self.mean.pointer
        let invStd = self.invStd.pointer
        let (momentum, epsilon) = (self.momentum, self.epsilon)
        // Channels are independent: split them across the elementwise threads.
        parallelRanges(C, work: C * M) { cLo, cHi in
            for c in cLo..<cHi {
                let row = x + c * M
                var m: Float
                var inv: Float
                if training {
                    // Two passes (mean, then squared deviations) with vectorised float lanes and Double block sums.
                    m = Float(vSum(row, count: M) / Double(M))
                    let v = vSumSquaredDeviation(row, count: M, mean: m)
                    let variance = Float(v / Double(M))
                    inv = 1 / (variance + epsilon).squareRoot()
                    rm[c] = (1 - momentum) * rm[c] + momentum * m
                    let unbiased = M > 1 ? variance * Float(M) / Float(M - 1) : variance
                    rv[c] = (1 - momentum) * rv[c] + momentum * unbiased
                } else {
                    m = rm[c]
                    inv = 1 / (rv[c] + epsilon).squareRoot()
                }
                mean[c] = m
                invStd[c] = inv
                let scale = gamma[c] * inv
                let shift = beta[c] - m * scale
                let yr = y + c * M
                vScaleShift(row, yr, count: M, scale: scale, shift: shift)
            }
        }
        return UnsafePointer(y)
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int) -> UnsafePointer<Float>? {
        guard let x = input else { fatalError("\(name): backward before forward") }
        if block > 0 { return backwardBlocked(x, dy, batch: batch) }
        let C = inShape.c
        let M = batch * inShape.plane
        let gamma = store.value(scaleOffset)
        let dgamma = store.grad(scaleOffset)
        let dbeta = store.grad(shiftOffset)
        let d = needsInputGradient ? dx.pointer(count: C * M, avoiding: dy) : nil
        let mean = self.mean.pointer
        let invStd = self.invStd.pointer
        parallelRanges(C, work: C * M) { cLo, cHi in
            for c in cLo..<cHi {
                let xr = x + c * M
                let dyr = dy + c * M
                let m = mean[c]
                let inv = invStd[c]
                var (sumDy, sumDyXhat) = vBatchNormBackwardSums(x: xr, dy: dyr, count: M, mean: m)
                sumDyXhat *= Double(inv)
                dgamma[c] += Float(sumDyXhat)
                dbeta[c] += Float(sumDy)
                if let d {
                    // dx = gamma·inv/M · (M·dy − Σdy − x̂·Σ(dy·x̂))
                    let k = gamma[c] * inv
                    let meanDy = Float(sumDy / Double(M))
                    let meanDyXhat = Float(sumDyXhat / Double(M))
                    vBatchNormBackwardDx(
                        x: xr, dy: dyr, dx: d + c * M, count: M, mean: m, invStd: inv, k: k,
                        meanDy: meanDy, meanDyXhat: meanDyXhat)
                }
            }
        }
        return d.map { UnsafePointer($0) }
    }

    // The channel-blocked layout: statistics from per-example sums added in example order (the same bits
    // at any thread count), the batch split across the elementwise threads.

    private func forwardBlocked(_ x: UnsafePointer<Float>, batch: Int, training: Bool) -> UnsafePointer<Float> {
        let (C, P, k) = (inShape.c, inShape.plane, block)
        precondition(C % k == 0, "\(name): \(C) channels do not fill blocks of \(k)")
        let M = batch * P
        let y = out.pointer(count: C * M)
        let gamma = store.value(scaleOffset)
        let beta = store.value(shiftOffset)
        let rm = store.stateValue(runningMeanOffset)
        let rv = store.stateValue(runningVarOffset)
        let (mean, invStd, scale, shift) = (self.mean.pointer, self.invStd.pointer, self.scale.pointer, self.shift.pointer)
        if training {
            if partialA.count < batch * C { partialA = [Double](repeating: 0, count: batch * C) }
            partialA.withUnsafeMutableBufferPointer { part in
                let sums = part.baseAddress!
                parallelRanges(batch, work: C * M) { b0, b1 in
                    vBlockedChannelSums(x, channels: C, plane: P, block: k, examples: b0, b1, mean: nil, into: sums)
                }
                for c in 0..<C {
                    var s = 0.0
                    for b in 0..<batch { s += sums[b * C + c] }
                    mean[c] = Float(s / Double(M))
                }
                parallelRanges(batch, work: C * M) { b0, b1 in
                    vBlockedChannelSums(
                        x, channels: C, plane: P, block: k, examples: b0, b1, mean: UnsafePointer(mean), into: sums)
                }
                for c in 0..<C {
                    var v = 0.0
                    for b in 0..<batch { v += sums[b * C + c] }
                    let variance = Float(v / Double(M))
                    invStd[c] = 1 / (variance + epsilon).squareRoot()
                    rm[c] = (1 - momentum) * rm[c] + momentum * mean[c]
                    let unbiased = M > 1 ? variance * Float(M) / Float(M - 1) : variance
                    rv[c] = (1 - momentum) * rv[c] + momentum * unbiased
                }
            }
        } else {
            for c in 0..<C {
                mean[c] = rm[c]
                invStd[c] = 1 / (rv[c] + epsilon).squareRoot()
            }
        }
        for c in 0..<C {
            scale[c] = gamma[c] * invStd[c]
            shift[c] = beta[c] - mean[c] * scale[c]
        }
        let relu = fusedReLU
        parallelRanges(batch, work: C * M) { b0, b1 in
            vBlockedScaleShift(
                x, y, channels: C, plane: P, block: k, examples: b0, b1, scale: scale, shift: shift, relu: relu)
        }
        output = UnsafePointer(y)
        return UnsafePointer(y)
    }

    private func backwardBlocked(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, batch: Int)
        -> UnsafePointer<Float>?
    {
        let (C, P, k) = (inShape.c, inShape.plane, block)
        let M = batch * P
        let gamma = store.value(scaleOffset)
        let dgamma = store.grad(scaleOffset)
        let dbeta = store.grad(shiftOffset)
        let (mean, invStd, kc) = (self.mean.pointer, self.invStd.pointer, self.scale.pointer)
        let (mdy, mdyx) = (meanDy.pointer, meanDyXhat.pointer)
        let y = fusedReLU ? output : nil
        if partialA.count < batch * C { partialA = [Double](repeating: 0, count: batch * C) }
        if partialB.count < batch * C { partialB = [Double](repeating: 0, count: batch * C) }
        partialA.withUnsafeMutableBufferPointer { pa in
            partialB.withUnsafeMutableBufferPointer { pb in
                let (sa, sb) = (pa.baseAddress!, pb.baseAddress!)
                parallelRanges(batch, work: 2 * C * M) { b0, b1 in
                    vBlockedBatchNormBackwardSums(
                        x: x, dy: dy, y: y, channels: C, plane: P, block: k, examples: b0, b1, mean: mean, sumDy: sa,
                        sumDyXc: sb)
                }
                for c in 0..<C {
                    var sumDy = 0.0
                    var sumDyXhat = 0.0
                    for b in 0..<batch {
                        sumDy += sa[b * C + c]
                        sumDyXhat += sb[b * C + c]
                    }
                    sumDyXhat *= Double(invStd[c])
                    dgamma[c] += Float(sumDyXhat)
                    dbeta[c] += Float(sumDy)
                    // dx = gamma·inv/M · (M·dy − Σdy − x̂·Σ(dy·x̂))
                    kc[c] = gamma[c] * invStd[c]
                    mdy[c] = Float(sumDy / Double(M))
                    mdyx[c] = Float(sumDyXhat / Double(M))
                }
            }
        }
        guard needsInputGradient else { return nil }
        let d = dx.pointer(count: C * M, avoiding: dy)
        parallelRanges(batch, work: 2 * C * M) { b0, b1 in
            vBlockedBatchNormBackwardDx(
                x: x, dy: dy, y: y, dx: d, channels: C, plane: P, block: k, examples: b0, b1, mean: mean,
                invStd: invStd, kc: kc, meanDy: mdy, meanDyXhat: mdyx)
        }
        return UnsafePointer(d)
    }
}
