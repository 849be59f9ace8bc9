// 2-D convolution through oneDNN (DNNLConv, primitives cached per batch size) when available;
// otherwise by im2col + one GEMM per batch chunk, on the [C, B, H, W] layout:
// Y[O, b·P] = W[O, C·kh·kw] · col[C·kh·kw, b·P]. The chunk keeps the column matrix near cache size;
// the backward pass rebuilds it rather than holding every chunk's columns.
import BayesPruneKernels

#if canImport(Glibc)
    import Glibc
#endif

public final class Conv2d: Layer {
    public let name: String
    public var kind: LayerKind { .conv }
    public let geometry: ConvGeometry
    public let inShape: ActShape, outShape: ActShape
    public let weightOffset: Int  // W: (out, in, kh, kw)
    public let biasOffset: Int?  // b: (out)
    public var needsInputGradient = true
    /// Upper bound on the column-matrix size per chunk, in floats.
    public var chunkFloats = 1 << 21
    /// Use oneDNN when it can build primitives for this geometry (default: on, unless the environment
    /// sets BAYESPRUNE_CONV=im2col); false forces the im2col + GEMM path.
    public var useDNNL = Conv2d.dnnlByDefault
    public static let dnnlByDefault: Bool = {
        guard let v = getenv("BAYESPRUNE_CONV") else { return true }
        return String(cString: v) != "im2col"
    }()
    public var gradientBuffers: GradientBuffers? {
        get { dx.shared }
        set { dx.shared = newValue }
    }
    /// Layouts of the input (and its gradient) and of the output (and its gradient): 0 for [C, B, H, W], k
    /// for the channel-blocked layout (`ActivationLayout`), set by the network's layout plan. oneDNN reads and
    /// writes them directly; the im2col path converts around itself.
    public var inputBlock = 0 { didSet { forgetPrimitives() } }
    public var outputBlock = 0 { didSet { forgetPrimitives() } }
    unowned let store: ParameterStore
    private var out = Scratch(), dx = GradientScratch(), col = Scratch()
    /// The im2col path's plain copies of a blocked input, output and gradients.
    private var plainX = Scratch(), plainY = Scratch(), plainDy = Scratch(), plainDx = Scratch()
    private var input: UnsafePointer<Float>?
    private var dnnl: [Int: DNNLConv] = [:]
    private var dnnlUnsupported = Set<Int>()
    private var lastForwardDNNL: DNNLConv?

    private func forgetPrimitives() {
        dnnl.removeAll()
        dnnlUnsupported.removeAll()
        lastForwardDNNL = nil
    }

    /// The cached oneDNN convolution for this batch size (at most a few batch sizes are kept).
    private func dnnlConv(batch: Int) -> DNNLConv? {
        guard useDNNL else { return nil }
        if let c = dnnl[batch] { return c }
        if dnnlUnsupported.contains(batch) { return nil }
        guard
            let c = DNNLConv(
                geometry, batch: batch, hasBias: biasOffset != nil, inputBlock: inputBlock, outputBlock: outputBlock)
        else {
            dnnlUnsupported.insert(batch)
            return nil
        }
        if dnnl.count >= 3 { dnnl.removeAll() }
        dnnl[batch] = c
        return c
    }

    public init(
        _ name: String, store: ParameterStore, input: ActShape, outChannels: Int, kernel: Int,
        stride: Int = 1, padding: Int = 0, bias: Bool = true
    ) {
        self.name = name
        self.store = store
        geometry = ConvGeometry(
            inChannels: input.c, outChannels: outChannels, kernelH: kernel, kernelW: kernel,
            stride: stride, padding: padding, inH: input.h, inW: input.w)
        precondition(geometry.outH > 0 && geometry.outW > 0, "\(name): kernel larger than padded input \(input)")
        inShape = input
        outShape = ActShape(outChannels, geometry.outH, geometry.outW)
        let li = store.beginWeightLayer()
        weightOffset = store.register(
            name: "\(name).weight", layer: name,
            shape: [outChannels, input.c, kernel, kernel],
            role: .weight, group: .convKernel, layerIndex: li)
        biasOffset =
            bias
            ? store.register(
                name: "\(name).bias", layer: name, shape: [outChannels],
                role: .bias, group: .none, layerIndex: li) : nil
    }

    public var macsPerExample: Int { geometry.outChannels * geometry.colRows * geometry.outPlane }

    public func initialize(rng: inout Xoshiro256, scheme: InitScheme) {
        initializeWeightLayer(
            scheme, weights: store.value(weightOffset), count: geometry.outChannels * geometry.colRows,
            bias: biasOffset.map { store.value($0) }, biasCount: geometry.outChannels, fanIn: geometry.colRows,
            rng: &rng)
    }

    private func chunkImages(batch: Int) -> Int {
        max(1, min(batch, chunkFloats / max(1, geometry.colRows * geometry.outPlane)))
    }

    public func forward(_ x: UnsafePointer<Float>, batch: Int, training: Bool) -> UnsafePointer<Float> {
        input = x
        let g = geometry
        let P = g.outPlane
        let K = g.colRows
        let O = g.outChannels
        let y = out.pointer(count: O * batch * P)
        lastForwardDNNL = dnnlConv(batch: batch)
        if let conv = lastForwardDNNL {
            conv.forward(
                x: x, w: store.value(weightOffset), bias: biasOffset.map { UnsafePointer(store.value($0)) },
                y: y, training: training)
            return UnsafePointer(y)
        }
        var x = x
        if inputBlock > 0 {
            let p = plainX.pointer(count: g.inChannels * batch * g.inPlane)
            plainFromBlocked(x, channels: g.inChannels, batch: batch, plane: g.inPlane, block: inputBlock, into: p)
            x = UnsafePointer(p)
            input = x
        }
        let yp = outputBlock > 0 ? plainY.pointer(count: O * batch * P) : y
        let nbMax = chunkImages(batch: batch)
        let c = col.pointer(count: K * nbMax * P)
        let w = store.value(weightOffset)
        var b0 = 0
        while b0 < batch {
            let nb = min(nbMax, batch - b0)
            im2col(g, x: x, batch: batch, b0: b0, nb: nb, col: c)
            gemm(.no, .no, m: O, n: nb * P, k: K, a: w, lda: K, b: c, ldb: nb * P, c: yp + b0 * P, ldc: batch * P)
            b0 += nb
        }
        if let bo = biasOffset {
            let bias = store.value(bo)
            for o in 0..<O {
                let row = yp + o * batch * P
                let bv = bias[o]
                for i in 0..<(batch * P) { row[i] += bv }
            }
        }
        if outputBlock > 0 { blockedFromPlain(yp, channels: O, batch: batch, plane: P, block: outputBlock, into: y) }
        return UnsafePointer(y)
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int) -> UnsafePointer<Float>? {
        guard let x = input else { fatalError("\(name): backward before forward") }
        let g = geometry
        let P = g.outPlane
        let K = g.colRows
        let O = g.outChannels
        if let conv = lastForwardDNNL, conv.batch == batch {
            let d = needsInputGradient ? dx.pointer(count: g.inChannels * batch * g.inPlane, avoiding: dy) : nil
            conv.backward(
                x: x, dy: dy, w: store.value(weightOffset), dx: d, dw: store.grad(weightOffset),
                db: biasOffset.map { store.grad($0) })
            return d.map { UnsafePointer($0) }
        }
        var dy = dy
        if outputBlock > 0 {
            let p = plainDy.pointer(count: O * batch * P)
            plainFromBlocked(dy, channels: O, batch: batch, plane: P, block: outputBlock, into: p)
            dy = UnsafePointer(p)
        }
        let nbMax = chunkImages(batch: batch)
        let c = col.pointer(count: K * nbMax * P)
        let w = store.value(weightOffset)
        let dw = store.grad(weightOffset)
        var d: UnsafeMutablePointer<Float>? = nil
        var dOut: UnsafeMutablePointer<Float>? = nil
        if needsInputGradient {
            dOut = dx.pointer(count: g.inChannels * batch * g.inPlane, avoiding: dy)
            d = inputBlock > 0 ? plainDx.pointer(count: g.inChannels * batch * g.inPlane) : dOut
            d!.update(repeating: 0, count: g.inChannels * batch * g.inPlane)
        }
        var b0 = 0
        while b0 < batch {
            let nb = min(nbMax, batch - b0)
            im2col(g, x: x, batch: batch, b0: b0, nb: nb, col: c)
            gemm(
                .no, .yes, m: O, n: K, k: nb * P, a: dy + b0 * P, lda: batch * P, b: c, ldb: nb * P,
                beta: 1, c: dw, ldc: K)
            if let d {
                gemm(
                    .yes, .no, m: K, n: nb * P, k: O, a: w, lda: K, b: dy + b0 * P, ldb: batch * P,
                    c: c, ldc: nb * P)
                col2imAccumulate(g, col: c, batch: batch, b0: b0, nb: nb, dx: d)
            }
            b0 += nb
        }
        if let bo = biasOffset {
            let db = store.grad(bo)
            for o in 0..<O {
                let row = dy + o * batch * P
                var s: Float = 0
                for i in 0..<(batch * P) { s += row[i] }
                db[o] += s
            }
        }
        if let d, let dOut, inputBlock > 0 {
            blockedFromPlain(d, channels: g.inChannels, batch: batch, plane: g.inPlane, block: inputBlock, into: dOut)
        }
        return dOut.map { UnsafePointer($0) }
    }
}
