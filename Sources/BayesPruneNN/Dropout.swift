// Inverted dropout (Srivastava et al. 2014) where WideResNet puts it (Zagoruyko & Komodakis 2016, §2.4:
// between a block's two 3×3 convolutions, after batch norm and ReLU). Masks are drawn from
// (seed, training step, rank, layer): a resumed run draws the same masks as the uninterrupted one, and the
// forward passes of a gradient check at one step see one mask.
import BayesPruneKernels

public final class Dropout: Layer {
    public let name: String
    public var kind: LayerKind { .dropout }
    public let inShape: ActShape
    public var outShape: ActShape { inShape }
    public var macsPerExample: Int { 0 }
    public var needsInputGradient = true
    public var gradientBuffers: GradientBuffers? {
        get { dx.shared }
        set { dx.shared = newValue }
    }
    /// The probability p of zeroing an element while training (0 ≤ p < 1).
    public let probability: Float
    /// Where the next training forward's mask comes from (`Network.setStochasticState`).
    public var seed: UInt64 = 0, step = 0, rank = 0
    private let nameHash: UInt64
    private var out = Scratch(), mask = Scratch(), dx = GradientScratch()
    private var masked = false

    public init(_ name: String, shape: ActShape, probability: Float) {
        precondition(probability >= 0 && probability < 1, "dropout probability \(probability) not in [0, 1)")
        self.name = name
        inShape = shape
        self.probability = probability
        var h = FNV1a()
        h.add(name.utf8)
        nameHash = h.value
    }
    public func initialize(rng: inout Xoshiro256, scheme: InitScheme) {}

    /// Writes the mask of `count` elements: 0 with probability p, else 1/(1 − p). Four elements per 64-bit draw
    /// (16 bits each, so p is resolved to 1/65536).
    static func drawMask(
        _ m: UnsafeMutablePointer<Float>, count: Int, probability: Float, rng: inout Xoshiro256
    ) {
        let threshold = UInt64((Double(probability) * 65536).rounded())
        let keep = 1 / (1 - probability)
        var i = 0
        while i < count {
            var word = rng.next()
            for _ in 0..<min(4, count - i) {
                m[i] = (word & 0xFFFF) < threshold ? 0 : keep
                word >>= 16
                i += 1
            }
        }
    }

    public func forward(_ x: UnsafePointer<Float>, batch: Int, training: Bool) -> UnsafePointer<Float> {
        masked = training && probability > 0
        guard masked else { return x }
        let n = inShape.size * batch
        let m = mask.pointer(count: n)
        var rng = Xoshiro256(
            seed: seed, stream: nameHash ^ (UInt64(truncatingIfNeeded: step) << 20) ^ UInt64(truncatingIfNeeded: rank))
        Dropout.drawMask(m, count: n, probability: probability, rng: &rng)
        let y = out.pointer(count: n)
        parallelRanges(n) { lo, hi in for i in lo..<hi { y[i] = x[i] * m[i] } }
        return UnsafePointer(y)
    }

    /// dx = dy · mask (the identity after an evaluation forward).
    public func backward(_ dy: UnsafePointer<Float>, batch: Int) -> UnsafePointer<Float>? {
        guard needsInputGradient else { return nil }
        guard masked else { return dy }
        let n = inShape.size * batch
        let m = mask.pointer(count: n)
        let d = dx.pointer(count: n, avoiding: dy)
        parallelRanges(n) { lo, hi in for i in lo..<hi { d[i] = dy[i] * m[i] } }
        return UnsafePointer(d)
    }
}
