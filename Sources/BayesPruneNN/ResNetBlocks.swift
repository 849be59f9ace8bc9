// Residual blocks of ResNet-18/50 (He et al. 2016a), PreAct-ResNet (He et al. 2016b) and WideResNet
// (Zagoruyko & Komodakis 2016): y = post(main(pre(x)) + shortcut), built from ordinary layers.
// - post-activation (ResNet-18 basic, ResNet-50 bottleneck): pre is empty, main ends in a batch norm,
//   post is a ReLU; the shortcut is the identity or a 1×1 convolution with batch norm (projection).
// - pre-activation (PreAct-ResNet, WRN): pre is batch norm + ReLU, main starts with a convolution, no
//   post; a projection reads pre(x), the identity reads x.
// The CIFAR ResNets' parameter-free option-A block is `ResidualBlock`.
import BayesPruneKernels

public final class ResNetBlock: Layer {
    public let name: String
    public var kind: LayerKind { .residual }
    public let inShape: ActShape, outShape: ActShape
    /// Batch norm + ReLU before the block (pre-activation); empty otherwise.
    public let pre: [Layer]
    /// The residual branch, in order.
    public let main: [Layer]
    /// The projection shortcut (1×1 convolution, and its batch norm when post-activation); empty: identity.
    public let projection: [Layer]
    /// ReLU after the addition (post-activation).
    public let postReLU: Bool
    public var needsInputGradient = true
    /// Kept, not passed on: the residual branch and the projection both read the block's output gradient,
    /// which the network's two shared buffers would overwrite in turn, so the sub-layers keep their own.
    public var gradientBuffers: GradientBuffers?
    public var profiler = LayerProfiler()
    private var out = Scratch(), dsum = Scratch(), dpre = Scratch(), dx = Scratch()
    private var input: UnsafePointer<Float>?

    /// `pre`, `main` and `projection` as described above; shapes must chain (main's output = the
    /// projection's output, or = the input for the identity).
    public init(_ name: String, input: ActShape, pre: [Layer], main: [Layer], projection: [Layer], postReLU: Bool) {
        self.name = name
        inShape = input
        self.pre = pre
        self.main = main
        self.projection = projection
        self.postReLU = postReLU
        outShape = main.last!.outShape
        precondition(
            projection.isEmpty ? outShape == input : projection.last!.outShape == outShape,
            "\(name): shortcut and residual branch disagree")
        // Every sub-layer's input gradient is needed: the block's own input gradient is assembled here.
        for l in pre + main + projection { l.needsInputGradient = true }
    }

    public var children: [Layer] { pre + main + projection }
    public var macsPerExample: Int { children.reduce(0) { $0 + $1.macsPerExample } }
    public func initialize(rng: inout Xoshiro256, scheme: InitScheme) {
        for l in children { l.initialize(rng: &rng, scheme: scheme) }
    }

    private func chain(_ layers: [Layer], _ x: UnsafePointer<Float>, batch: Int, training: Bool) -> UnsafePointer<Float>
    {
        var h = x
        for l in layers { h = profiler.forward(l, h, batch: batch, training: training) }
        return h
    }

    private func chainBack(_ layers: [Layer], _ dy: UnsafePointer<Float>, batch: Int) -> UnsafePointer<Float> {
        var g = dy
        for l in layers.reversed() { g = profiler.backward(l, g, batch: batch)! }
        return g
    }

    public func forward(_ x: UnsafePointer<Float>, batch: Int, training: Bool) -> UnsafePointer<Float> {
        input = x
        let p = chain(pre, x, batch: batch, training: training)
        let m = chain(main, p, batch: batch, training: training)
        let s = projection.isEmpty ? x : chain(projection, p, batch: batch, training: training)
        let n = outShape.size * batch
        let y = out.pointer(count: n)
        let post = postReLU
        parallelRanges(n) { lo, hi in
            if post {
                vAddReLU(m + lo, s + lo, y + lo, count: hi - lo)
            } else {
                vAdd(m + lo, s + lo, y + lo, count: hi - lo)
            }
        }
        return UnsafePointer(y)
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int) -> UnsafePointer<Float>? {
        let n = outShape.size * batch
        var ds = dy
        if postReLU {
            let y = out.pointer(count: n)
            let d = dsum.pointer(count: n)
            parallelRanges(n) { lo, hi in vReLUBackward(y: y + lo, dy: dy + lo, dx: d + lo, count: hi - lo) }
            ds = UnsafePointer(d)
        }
        let m = inShape.size * batch
        // Gradient reaching pre(x): the branch's, plus the projection's when it reads pre(x).
        var dp = chainBack(main, ds, batch: batch)
        if !projection.isEmpty {
            let dq = chainBack(projection, ds, batch: batch)
            let sum = dpre.pointer(count: m)
            let a = dp
            parallelRanges(m) { lo, hi in vAdd(a + lo, dq + lo, sum + lo, count: hi - lo) }
            dp = UnsafePointer(sum)
        }
        let dxPre = pre.isEmpty ? dp : chainBack(pre, dp, batch: batch)
        guard needsInputGradient else { return nil }
        guard projection.isEmpty else { return dxPre }
        // Identity shortcut: the output gradient flows straight to x.
        let d = dx.pointer(count: m)
        let shortcut = ds
        parallelRanges(m) { lo, hi in vAdd(dxPre + lo, shortcut + lo, d + lo, count: hi - lo) }
        return UnsafePointer(d)
    }
}
