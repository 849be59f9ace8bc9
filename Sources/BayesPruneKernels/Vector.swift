// Vectorised elementwise kernels (C, CShims/elementwise.c) used by ReLU, batch norm and residual
// blocks; plain Swift loops in the tests are their twins.
import CShims

/// y = max(x, 0).
@inline(__always) public func vReLU(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
    bp_relu_forward(x, y, n)
}
/// dx = y > 0 ? dy : 0.
@inline(__always) public func vReLUBackward(
    y: UnsafePointer<Float>, dy: UnsafePointer<Float>,
    dx: UnsafeMutablePointer<Float>, count n: Int
) {
    bp_relu_backward(y, dy, dx, n)
}
/// y = max(a + b, 0).
@inline(__always) public func vAddReLU(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
    _ y: UnsafeMutablePointer<Float>, count n: Int
) {
    bp_add_relu(a, b, y, n)
}
/// y += x.
@inline(__always) public func vAdd(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count n: Int) {
    bp_add_inplace(y, x, n)
}
/// y = a + b.
@inline(__always) public func vAdd(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
    count n: Int
) {
    bp_add(a, b, y, n)
}
/// Σ x, accumulated in float lanes per block and in Double across blocks.
@inline(__always) public func vSum(_ x: UnsafePointer<Float>, count n: Int) -> Double { bp_sum(x, n) }
/// Σ (x − m)².
@inline(__always) public func vSumSquaredDeviation(_ x: UnsafePointer<Float>, count n: Int, mean m: Float) -> Double {
    bp_sum_sq_dev(x, n, m)
}
/// y = a·x + b.
@inline(__always) public func vScaleShift(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int,
    scale a: Float, shift b: Float
) {
    bp_scale_shift(x, y, n, a, b)
}
/// (Σ dy, Σ dy·(x − m)).
@inline(__always) public func vBatchNormBackwardSums(
    x: UnsafePointer<Float>, dy: UnsafePointer<Float>, count n: Int,
    mean m: Float
) -> (Double, Double) {
    var a = 0.0
    var b = 0.0
    bp_bn_backward_sums(x, dy, n, m, &a, &b)
    return (a, b)
}
/// dx = k·(dy − meanDy − x̂·meanDyXhat), x̂ = (x − m)·inv.
@inline(__always) public func vBatchNormBackwardDx(
    x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
    dx: UnsafeMutablePointer<Float>, count n: Int, mean m: Float,
    invStd inv: Float, k: Float, meanDy: Float, meanDyXhat: Float
) {
    bp_bn_backward_dx(x, dy, dx, n, m, inv, k, meanDy, meanDyXhat)
}
/// 2×2 / stride-2 max pooling over `planes` planes of h×w; argmax gets plane-relative input indices.
@inline(__always) public func vMaxPool2x2(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
    argmax: UnsafeMutablePointer<Int32>, planes: Int, h: Int, w: Int
) {
    bp_maxpool2x2_forward(x, y, argmax, planes, Int32(h), Int32(w), Int32((h - 2) / 2 + 1), Int32((w - 2) / 2 + 1))
}

/// x[i] *= f for i in 0..<n (e.g. 1/R after a sum allreduce).
@inline(__always) public func vScale(_ x: UnsafeMutablePointer<Float>, count n: Int, by f: Float) {
    for i in 0..<n { x[i] *= f }
}

/// x[i] = 0 (+0.0) where mask[i] == 0, for i in 0..<n: removed weights after an E-step.
@inline(__always) public func vApplyMask(_ x: UnsafeMutablePointer<Float>, mask: UnsafePointer<Float>, count n: Int) {
    for i in 0..<n where mask[i] == 0 { x[i] = 0 }
}
