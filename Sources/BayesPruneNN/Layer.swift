// The layer interface. Activations use the channel-major batch layout [C, B, H, W] (a fully connected
// activation is [F, B]), so a convolution over a batch chunk is one GEMM and batch-norm statistics run
// over contiguous rows. Convention (as in llm.c): backward SETS the input gradient and ACCUMULATES
// parameter gradients; the trainer zeroes the gradient buffer once per step.
import BayesPruneKernels

/// Per-example activation shape (channels, height, width); a feature vector is (F, 1, 1).
public struct ActShape: Equatable, CustomStringConvertible, Sendable {
    public let c: Int, h: Int, w: Int
    public init(_ c: Int, _ h: Int, _ w: Int) {
        self.c = c
        self.h = h
        self.w = w
    }
    public var size: Int { c * h * w }
    public var plane: Int { h * w }
    public var description: String { "\(c)x\(h)x\(w)" }
}

public enum LayerKind: String, CaseIterable, Sendable {
    case conv, linear, batchnorm, relu, pool, residual, reshape, dropout
}

public protocol Layer: AnyObject {
    var name: String { get }
    var kind: LayerKind { get }
    var inShape: ActShape { get }
    var outShape: ActShape { get }
    /// Multiply-adds per example in the forward pass (0 for parameter-free layers).
    var macsPerExample: Int { get }
    /// Draws initial parameters (after the store is finalized) by `scheme`.
    func initialize(rng: inout Xoshiro256, scheme: InitScheme)
    /// x: [inShape.c, batch, h, w]. Returns the layer-owned output [outShape.c, batch, h', w'].
    func forward(_ x: UnsafePointer<Float>, batch: Int, training: Bool) -> UnsafePointer<Float>
    /// dy: gradient of the output. Returns the layer-owned input gradient, or nil when
    /// `needsInputGradient` is false (the first layer).
    func backward(_ dy: UnsafePointer<Float>, batch: Int) -> UnsafePointer<Float>?
    var needsInputGradient: Bool { get set }
    /// Sub-layers (composite layers such as residual blocks) for profiling and traversal.
    var children: [Layer] { get }
    /// Where backward writes the input gradient: buffers shared by a network's layers, or (nil, the
    /// default for a layer on its own) the layer's own.
    var gradientBuffers: GradientBuffers? { get set }
}

/// Input-gradient buffers shared by all layers of a network. Backward runs one layer at a time, and a
/// layer's input gradient is read only by the layer before it, so two buffers taken in turn suffice (each
/// layer writes into the one its incoming gradient is not in), plus one that a residual block holds
/// across its inner layers. A network's gradient memory is then three activations, not one per layer.
public final class GradientBuffers {
    private var a = Scratch(), b = Scratch(), held = Scratch()
    public init() {}

    /// `count` floats in the buffer that does not hold `dy` (growing it drops only its dead contents).
    public func pointer(count: Int, avoiding dy: UnsafePointer<Float>) -> UnsafeMutablePointer<Float> {
        if a.buffer.count > 0 && UnsafePointer(a.buffer.pointer) == dy { return b.pointer(count: count) }
        return a.pointer(count: count)
    }

    /// The buffer a residual block keeps its summed gradient in while its inner layers run.
    public func heldPointer(count: Int) -> UnsafeMutablePointer<Float> { held.pointer(count: count) }
}

/// A layer's input-gradient scratch: the network's shared buffers when set, else its own.
public struct GradientScratch {
    private var own = Scratch()
    public var shared: GradientBuffers?
    public init() {}

    @inline(__always)
    public mutating func pointer(count: Int, avoiding dy: UnsafePointer<Float>) -> UnsafeMutablePointer<Float> {
        if let shared { return shared.pointer(count: count, avoiding: dy) }
        return own.pointer(count: count)
    }
}

extension Layer {
    public var children: [Layer] { [] }
}

/// How weight layers draw their initial parameters (`--init`).
public enum InitScheme: String, CaseIterable, Codable, Sendable {
    /// PyTorch's default for `nn.Linear` and `nn.Conv2d`: weights and biases uniform in ±1/√fan_in
    /// (kaiming_uniform with a = √5 gives exactly that bound). The authors' code relies on it: a first-layer
    /// column's mean square starts near 1/(3·fan_in), below the fully connected hard threshold.
    case pytorch
    /// He-normal: weights N(0, 2/fan_in), biases zero.
    case heNormal = "he-normal"
}

/// Weights and bias of a layer with `fanIn` inputs per output, drawn by `scheme` (bias: nil when absent).
func initializeWeightLayer(
    _ scheme: InitScheme, weights: UnsafeMutablePointer<Float>, count: Int, bias: UnsafeMutablePointer<Float>?,
    biasCount: Int, fanIn: Int, rng: inout Xoshiro256
) {
    switch scheme {
    case .heNormal:
        heNormal(weights, count: count, fanIn: fanIn, rng: &rng)
        bias?.update(repeating: 0, count: biasCount)
    case .pytorch:
        let bound = Float(1 / Double(max(fanIn, 1)).squareRoot())
        uniform(weights, count: count, bound: bound, rng: &rng)
        if let bias { uniform(bias, count: biasCount, bound: bound, rng: &rng) }
    }
}

/// Uniform in [−bound, bound) from the top 24 bits of each draw.
func uniform(_ p: UnsafeMutablePointer<Float>, count: Int, bound: Float, rng: inout Xoshiro256) {
    for i in 0..<count {
        let u = Float(rng.next() >> 40) * 0x1p-24  // [0, 1)
        p[i] = (2 * u - 1) * bound
    }
}

/// He-normal initialisation: N(0, 2/fanIn), suited to ReLU networks.
func heNormal(_ p: UnsafeMutablePointer<Float>, count: Int, fanIn: Int, rng: inout Xoshiro256) {
    let std = Float((2.0 / Double(max(fanIn, 1))).squareRoot())
    for i in 0..<count { p[i] = rng.nextGaussian() * std }
}
