// 2-D convolution through oneDNN (libdnnl) on the [C, B, H, W] layout; the im2col + GEMM path in
// Im2Col.swift / Conv2d is its twin and fallback. One instance serves one geometry and batch size.
import CDNNL

public final class DNNLConv {
    public let geometry: ConvGeometry
    public let batch: Int
    public let hasBias: Bool
    /// The layouts of x (and dx) and of y (and dy): 0 for [C, B, H, W], k for the channel-blocked
    /// [B][C/k][H][W][k] (see `ActivationLayout`).
    public let inputBlock: Int, outputBlock: Int
    private let handle: OpaquePointer

    /// nil when oneDNN cannot build the primitives (non-square kernels or an unsupported geometry).
    public init?(_ g: ConvGeometry, batch: Int, hasBias: Bool, inputBlock: Int = 0, outputBlock: Int = 0) {
        guard g.kernelH == g.kernelW, batch > 0,
            let h = bp_conv_create(
                Int32(batch), Int32(g.inChannels), Int32(g.inH), Int32(g.inW),
                Int32(g.outChannels), Int32(g.kernelH), Int32(g.stride), Int32(g.padding),
                hasBias ? 1 : 0, Int32(inputBlock), Int32(outputBlock))
        else { return nil }
        geometry = g
        self.batch = batch
        self.hasBias = hasBias
        self.inputBlock = inputBlock
        self.outputBlock = outputBlock
        handle = h
    }

    /// The channel block of the activation format oneDNN's convolutions prefer on this CPU (16 with
    /// AVX-512, 8 with AVX2), 0 without oneDNN.
    public static let preferredBlock = Int(bp_dnnl_preferred_block())

    deinit { bp_conv_destroy(handle) }

    /// y[O, B, oh, ow] = conv(x[C, B, H, W], w[O, C, kh, kw]) + bias. With `training`, the reordered x is
    /// kept for `backward` (otherwise backward reorders x again).
    public func forward(
        x: UnsafePointer<Float>, w: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        y: UnsafeMutablePointer<Float>, training: Bool = true
    ) {
        precondition(!hasBias || bias != nil)
        guard bp_conv_forward(handle, x, w, bias, y, training ? 1 : 0) == 0 else {
            fatalError("oneDNN convolution forward failed")
        }
    }

    /// After `forward` on the same x and w: dw += ∂L/∂w, db += ∂L/∂b, dx = ∂L/∂x (SET, when dx is given).
    public func backward(
        x: UnsafePointer<Float>, dy: UnsafePointer<Float>, w: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>,
        db: UnsafeMutablePointer<Float>?
    ) {
        guard bp_conv_backward(handle, x, dy, w, dx, dw, db) == 0 else {
            fatalError("oneDNN convolution backward failed")
        }
    }

    /// oneDNN version (major*10000 + minor*100 + patch).
    public static var version: Int { Int(bp_dnnl_version()) }
    /// Thread count for oneDNN's OpenMP runtime.
    public static func setThreads(_ n: Int) { bp_dnnl_set_threads(Int32(n)) }
}
