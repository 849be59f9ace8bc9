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

// Kernels on the channel-blocked layout [B][C/k][P][k] (ActivationLayout.swift), over examples b0..<b1.

/// out[b·C + c] = Σ_p x (mean nil) or Σ_p (x − mean[c])², per example b in b0..<b1.
@inline(__always) public func vBlockedChannelSums(
    _ x: UnsafePointer<Float>, channels C: Int, plane P: Int, block k: Int, examples b0: Int, _ b1: Int,
    mean: UnsafePointer<Float>?, into out: UnsafeMutablePointer<Double>
) {
    bp_blk_channel_sums(x, C, P, k, b0, b1, mean, out)
}
/// y = x·scale[c] + shift[c], then max(·, 0) when `relu`.
@inline(__always) public func vBlockedScaleShift(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, channels C: Int, plane P: Int, block k: Int,
    examples b0: Int, _ b1: Int, scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, relu: Bool
) {
    bp_blk_scale_shift(x, y, C, P, k, b0, b1, scale, shift, relu ? 1 : 0)
}
/// Per example: Σ g and Σ g·(x − mean[c]), g = dy, or y > 0 ? dy : 0 when y (a fused ReLU's output) is given.
@inline(__always) public func vBlockedBatchNormBackwardSums(
    x: UnsafePointer<Float>, dy: UnsafePointer<Float>, y: UnsafePointer<Float>?, channels C: Int, plane P: Int,
    block k: Int, examples b0: Int, _ b1: Int, mean: UnsafePointer<Float>, sumDy: UnsafeMutablePointer<Double>,
    sumDyXc: UnsafeMutablePointer<Double>
) {
    bp_blk_bn_backward_sums(x, dy, y, C, P, k, b0, b1, mean, sumDy, sumDyXc)
}
/// dx = kc[c]·(g − meanDy[c] − x̂·meanDyXhat[c]), x̂ = (x − mean[c])·inv[c], g as in the sums.
@inline(__always) public func vBlockedBatchNormBackwardDx(
    x: UnsafePointer<Float>, dy: UnsafePointer<Float>, y: UnsafePointer<Float>?, dx: UnsafeMutablePointer<Float>,
    channels C: Int, plane P: Int, block k: Int, examples b0: Int, _ b1: Int, mean: UnsafePointer<Float>,
    invStd: UnsafePointer<Float>, kc: UnsafePointer<Float>, meanDy: UnsafePointer<Float>,
    meanDyXhat: UnsafePointer<Float>
) {
    bp_blk_bn_backward_dx(x, dy, y, dx, C, P, k, b0, b1, mean, invStd, kc, meanDy, meanDyXhat)
}
/// The geometry of a residual block's shortcut for the blocked kernels.
public struct ShortcutGeometry {
    public let channels: Int, inChannels: Int, h: Int, w: Int, inH: Int, inW: Int, stride: Int, block: Int
    public init(channels: Int, inChannels: Int, h: Int, w: Int, inH: Int, inW: Int, stride: Int, block: Int) {
        (self.channels, self.inChannels, self.h, self.w) = (channels, inChannels, h, w)
        (self.inH, self.inW, self.stride, self.block) = (inH, inW, stride, block)
    }
}
/// y = max(main + x[source[c]] (subsampled by the stride; nothing where source[c] < 0), 0).
@inline(__always) public func vBlockedResidualForward(
    main: UnsafePointer<Float>, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
    source: UnsafePointer<Int32>, _ g: ShortcutGeometry, examples b0: Int, _ b1: Int
) {
    bp_blk_residual_forward(
        main, x, y, source, g.channels, g.inChannels, Int32(g.h), Int32(g.w), Int32(g.inH), Int32(g.inW),
        Int32(g.stride), g.block, b0, b1)
}
/// d[source[c]] += ds[c] at the subsampled positions (in place).
@inline(__always) public func vBlockedResidualBackward(
    d: UnsafeMutablePointer<Float>, ds: UnsafePointer<Float>, source: UnsafePointer<Int32>, _ g: ShortcutGeometry,
    examples b0: Int, _ b1: Int
) {
    bp_blk_residual_backward(
        d, ds, source, g.channels, g.inChannels, Int32(g.h), Int32(g.w), Int32(g.inH), Int32(g.inW), Int32(g.stride),
        g.block, b0, b1)
}
/// y[c·B + b] = mean over the plane of x (blocked).
@inline(__always) public func vBlockedGlobalAvgPool(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch B: Int, channels C: Int, plane P: Int,
    block k: Int
) {
    bp_blk_global_avgpool_forward(x, y, B, C, P, k)
}
/// dx (blocked) = dy[c·B + b] / P at every position (SET).
@inline(__always) public func vBlockedGlobalAvgPoolBackward(
    _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, batch B: Int, channels C: Int, plane P: Int,
    block k: Int
) {
    bp_blk_global_avgpool_backward(dy, dx, B, C, P, k)
}
