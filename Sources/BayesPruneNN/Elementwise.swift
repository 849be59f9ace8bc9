// Parameter-free layers: ReLU, max pooling, average pooling, global average pooling, flatten.
import BayesPruneKernels

public final class ReLU: Layer {
    public let name: String
    public var kind: LayerKind { .relu }
    public let inShape: ActShape
    public var outShape: ActShape { inShape }
    public var macsPerExample: Int { 0 }
    public var needsInputGradient = true
    public var gradientBuffers: GradientBuffers? {
        get { dx.shared }
        set { dx.shared = newValue }
    }
    private var out = Scratch(), dx = GradientScratch()
    private var output: UnsafePointer<Float>?
    /// A neighbouring layer applies the ReLU (the batch norm before it, `BatchNorm2d.fusedReLU`, or the max
    /// pooling after it, `MaxPool2d.reluBefore`; set by the network's layout plan): forward and backward pass
    /// their input through.
    public var passThrough = false

    public init(_ name: String, shape: ActShape) {
        self.name = name
        inShape = shape
    }
    public func initialize(rng: inout Xoshiro256, scheme: InitScheme) {}

    public func forward(_ x: UnsafePointer<Float>, batch: Int, training: Bool) -> UnsafePointer<Float> {
        if passThrough { return x }
        let n = inShape.size * batch
        let y = out.pointer(count: n)
        parallelRanges(n) { lo, hi in vReLU(x + lo, y + lo, count: hi - lo) }
        output = UnsafePointer(y)
        return UnsafePointer(y)
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int) -> UnsafePointer<Float>? {
        guard needsInputGradient else { return nil }
        if passThrough { return dy }
        guard let y = output else { return nil }
        let n = inShape.size * batch
        let d = dx.pointer(count: n, avoiding: dy)
        parallelRanges(n) { lo, hi in vReLUBackward(y: y + lo, dy: dy + lo, dx: d + lo, count: hi - lo) }
        return UnsafePointer(d)
    }
}

/// Max pooling with a k×k window, stride s and implicit −∞ padding p (the argmax is kept for backward).
public final class MaxPool2d: Layer {
    public let name: String
    public var kind: LayerKind { .pool }
    public let inShape: ActShape, outShape: ActShape
    public let window: Int, stride: Int, padding: Int
    public var macsPerExample: Int { 0 }
    public var needsInputGradient = true
    public var gradientBuffers: GradientBuffers? {
        get { dx.shared }
        set { dx.shared = newValue }
    }
    private var out = Scratch(), dx = GradientScratch()
    private var argmax: [Int32] = []
    /// Applies the ReLU before it (which then passes through): max-pooling commutes with the ReLU, so
    /// y = max(pool(x), 0), and backward passes dy on only where y > 0 (the same values and gradients as the
    /// two layers, without the ReLU's two passes over the larger tensor).
    public var reluBefore = false

    public init(_ name: String, shape: ActShape, window: Int, stride: Int? = nil, padding: Int = 0) {
        self.name = name
        inShape = shape
        self.window = window
        self.stride = stride ?? window
        self.padding = padding
        precondition(padding < window, "\(name): padding must be smaller than the window")
        outShape = ActShape(
            shape.c, (shape.h + 2 * padding - window) / self.stride + 1,
            (shape.w + 2 * padding - window) / self.stride + 1)
        precondition(outShape.h > 0 && outShape.w > 0, "\(name): pooling window larger than input \(shape)")
    }
    public func initialize(rng: inout Xoshiro256, scheme: InitScheme) {}

    public func forward(_ x: UnsafePointer<Float>, batch: Int, training: Bool) -> UnsafePointer<Float> {
        let planes = inShape.c * batch
        let y = out.pointer(count: planes * outShape.plane)
        if argmax.count < planes * outShape.plane { argmax = [Int32](repeating: 0, count: planes * outShape.plane) }
        argmax.withUnsafeMutableBufferPointer { am in
            if window == 2 && stride == 2 && padding == 0 {
                // Planes are independent: split them across the elementwise threads.
                let (inP, outP, h, w, relu) = (inShape.plane, outShape.plane, inShape.h, inShape.w, reluBefore)
                let argmax = am.baseAddress!
                parallelRanges(planes, work: planes * inP) { lo, hi in
                    vMaxPool2x2(x + lo * inP, y + lo * outP, argmax: argmax + lo * outP, planes: hi - lo, h: h, w: w)
                    if relu { vReLU(y + lo * outP, y + lo * outP, count: (hi - lo) * outP) }
                }
                return
            }
            let (H, W, pad) = (inShape.h, inShape.w, padding)
            for p in 0..<planes {
                let src = x + p * inShape.plane
                let dst = y + p * outShape.plane
                for oh in 0..<outShape.h {
                    for ow in 0..<outShape.w {
                        // Window rows/columns inside the input (padding < window: never empty).
                        let (r0, c0) = (oh * stride - pad, ow * stride - pad)
                        var best = -Float.infinity
                        var bestIdx = max(r0, 0) * W + max(c0, 0)
                        for r in max(r0, 0)..<min(r0 + window, H) {
                            for c in max(c0, 0)..<min(c0 + window, W) where src[r * W + c] > best {
                                best = src[r * W + c]
                                bestIdx = r * W + c
                            }
                        }
                        dst[oh * outShape.w + ow] = best
                        am[p * outShape.plane + oh * outShape.w + ow] = Int32(bestIdx)
                    }
                }
            }
        }
        if reluBefore && !(window == 2 && stride == 2 && padding == 0) { vReLU(y, y, count: planes * outShape.plane) }
        return UnsafePointer(y)
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int) -> UnsafePointer<Float>? {
        guard needsInputGradient else { return nil }
        let planes = inShape.c * batch
        let d = dx.pointer(count: planes * inShape.plane, avoiding: dy)
        let y = out.pointer(count: planes * outShape.plane)
        let (masked, inP, outP) = (reluBefore, inShape.plane, outShape.plane)
        argmax.withUnsafeBufferPointer { am in
            parallelRanges(planes, work: planes * inP) { lo, hi in
                (d + lo * inP).update(repeating: 0, count: (hi - lo) * inP)
                for p in lo..<hi {
                    let dst = d + p * inP
                    for k in 0..<outP where !masked || y[p * outP + k] > 0 {
                        dst[Int(am[p * outP + k])] += dy[p * outP + k]
                    }
                }
            }
        }
        return UnsafePointer(d)
    }
}

/// Average pooling with a k×k window and stride s, no padding. `global: true` averages the whole plane.
public final class AvgPool2d: Layer {
    public let name: String
    public var kind: LayerKind { .pool }
    public let inShape: ActShape, outShape: ActShape
    public let windowH: Int, windowW: Int, stride: Int
    /// Global pooling only: the input is channel-blocked with this block (0: plain; see `ActivationLayout`).
    public var inputBlock = 0 {
        didSet { precondition(inputBlock == 0 || outShape.plane == 1, "\(name): only global pooling reads blocked input") }
    }
    public var macsPerExample: Int { 0 }
    public var needsInputGradient = true
    public var gradientBuffers: GradientBuffers? {
        get { dx.shared }
        set { dx.shared = newValue }
    }
    private var out = Scratch(), dx = GradientScratch()

    public init(_ name: String, shape: ActShape, window: Int, stride: Int? = nil) {
        self.name = name
        inShape = shape
        windowH = window
        windowW = window
        self.stride = stride ?? window
        outShape = ActShape(shape.c, (shape.h - window) / self.stride + 1, (shape.w - window) / self.stride + 1)
        precondition(outShape.h > 0 && outShape.w > 0, "\(name): pooling window larger than input \(shape)")
    }

    /// Global average pooling: [C, B, H, W] → [C, B] (which is also the fully connected layout).
    public init(global name: String, shape: ActShape) {
        self.name = name
        inShape = shape
        windowH = shape.h
        windowW = shape.w
        stride = 1
        outShape = ActShape(shape.c, 1, 1)
    }
    public func initialize(rng: inout Xoshiro256, scheme: InitScheme) {}

    public func forward(_ x: UnsafePointer<Float>, batch: Int, training: Bool) -> UnsafePointer<Float> {
        let planes = inShape.c * batch
        let y = out.pointer(count: planes * outShape.plane)
        if inputBlock > 0 {
            vBlockedGlobalAvgPool(x, y, batch: batch, channels: inShape.c, plane: inShape.plane, block: inputBlock)
            return UnsafePointer(y)
        }
        let scale = 1 / Float(windowH * windowW)
        for p in 0..<planes {
            let src = x + p * inShape.plane
            let dst = y + p * outShape.plane
            for oh in 0..<outShape.h {
                for ow in 0..<outShape.w {
                    var s: Float = 0
                    for i in 0..<windowH {
                        let r = src + (oh * stride + i) * inShape.w + ow * stride
                        for j in 0..<windowW { s += r[j] }
                    }
                    dst[oh * outShape.w + ow] = s * scale
                }
            }
        }
        return UnsafePointer(y)
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int) -> UnsafePointer<Float>? {
        guard needsInputGradient else { return nil }
        let planes = inShape.c * batch
        let d = dx.pointer(count: planes * inShape.plane, avoiding: dy)
        if inputBlock > 0 {
            vBlockedGlobalAvgPoolBackward(dy, d, batch: batch, channels: inShape.c, plane: inShape.plane, block: inputBlock)
            return UnsafePointer(d)
        }
        d.update(repeating: 0, count: planes * inShape.plane)
        let scale = 1 / Float(windowH * windowW)
        for p in 0..<planes {
            let dst = d + p * inShape.plane
            let src = dy + p * outShape.plane
            for oh in 0..<outShape.h {
                for ow in 0..<outShape.w {
                    let g = src[oh * outShape.w + ow] * scale
                    for i in 0..<windowH {
                        let r = dst + (oh * stride + i) * inShape.w + ow * stride
                        for j in 0..<windowW { r[j] += g }
                    }
                }
            }
        }
        return UnsafePointer(d)
    }
}

/// [C, B, H, W] → [C·H·W, B]: feature index c·H·W + h·W + w (PyTorch's flatten order).
public final class Flatten: Layer {
    public let name: String
    public var kind: LayerKind { .reshape }
    public let inShape: ActShape, outShape: ActShape
    public var macsPerExample: Int { 0 }
    public var needsInputGradient = true
    public var gradientBuffers: GradientBuffers? {
        get { dx.shared }
        set { dx.shared = newValue }
    }
    private var out = Scratch(), dx = GradientScratch()

    public init(_ name: String, shape: ActShape) {
        self.name = name
        inShape = shape
        outShape = ActShape(shape.size, 1, 1)
    }
    public func initialize(rng: inout Xoshiro256, scheme: InitScheme) {}

    public func forward(_ x: UnsafePointer<Float>, batch: Int, training: Bool) -> UnsafePointer<Float> {
        let P = inShape.plane
        let y = out.pointer(count: inShape.size * batch)
        for c in 0..<inShape.c {
            for b in 0..<batch {
                let src = x + (c * batch + b) * P
                for p in 0..<P { y[(c * P + p) * batch + b] = src[p] }
            }
        }
        return UnsafePointer(y)
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int) -> UnsafePointer<Float>? {
        guard needsInputGradient else { return nil }
        let P = inShape.plane
        let d = dx.pointer(count: inShape.size * batch, avoiding: dy)
        for c in 0..<inShape.c {
            for b in 0..<batch {
                let dst = d + (c * batch + b) * P
                for p in 0..<P { dst[p] = dy[(c * P + p) * batch + b] }
            }
        }
        return UnsafePointer(d)
    }
}
