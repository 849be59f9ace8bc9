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
    case conv, linear, batchnorm, relu, pool, residual, reshape
}

public protocol Layer: AnyObject {
    var name: String { get }
    var kind: LayerKind { get }
    var inShape: ActShape { get }
    var outShape: ActShape { get }
    /// Multiply-adds per example in the forward pass (0 for parameter-free layers).
    var macsPerExample: Int { get }
    /// Draws initial parameters (after the store is finalized).
    func initialize(rng: inout Xoshiro256)
    /// x: [inShape.c, batch, h, w]. Returns the layer-owned output [outShape.c, batch, h', w'].
    func forward(_ x: UnsafePointer<Float>, batch: Int, training: Bool) -> UnsafePointer<Float>
    /// dy: gradient of the output. Returns the layer-owned input gradient, or nil when
    /// `needsInputGradient` is false (the first layer).
    func backward(_ dy: UnsafePointer<Float>, batch: Int) -> UnsafePointer<Float>?
    var needsInputGradient: Bool { get set }
    /// Sub-layers (composite layers such as residual blocks) for profiling and traversal.
    var children: [Layer] { get }
}

extension Layer {
    public var children: [Layer] { [] }
}

/// He-normal initialisation: N(0, 2/fanIn), suited to ReLU networks.
func heNormal(_ p: UnsafeMutablePointer<Float>, count: Int, fanIn: Int, rng: inout Xoshiro256) {
    let std = Float((2.0 / Double(max(fanIn, 1))).squareRoot())
    for i in 0..<count { p[i] = rng.nextGaussian() * std }
}
