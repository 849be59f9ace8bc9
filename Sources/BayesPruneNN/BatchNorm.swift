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
    unowned let store: ParameterStore
    private var out = Scratch(), dx = Scratch()
    private let mean: FloatBuffer, invStd: FloatBuffer
    private var input: UnsafePointer<Float>?

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
        let C = inShape.c
        let M = batch * inShape.plane
        let gamma = store.value(scaleOffset)
        let dgamma = store.grad(scaleOffset)
        let dbeta = store.grad(shiftOffset)
        let d = needsInputGradient ? dx.pointer(count: C * M) : nil
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
}
