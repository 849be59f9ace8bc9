// Fully connected layer: y[out, B] = W[out, in] · x[in, B] + b[out]. Weight groups for the E-step are
// input columns W[:, j] (one input unit each).
import BayesPruneKernels

public final class Linear: Layer {
    public let name: String
    public var kind: LayerKind { .linear }
    public let inShape: ActShape, outShape: ActShape
    public let inFeatures: Int, outFeatures: Int
    public let weightOffset: Int  // W: (out, in)
    public let biasOffset: Int?  // b: (out)
    public var needsInputGradient = true
    /// The input arrives example-major, x[B, in] (a table's rows as loaded): the GEMMs read it transposed
    /// instead of the network transposing it first. Only for a first layer (no input gradient).
    public var exampleMajorInput = false
    public var gradientBuffers: GradientBuffers? {
        get { dx.shared }
        set { dx.shared = newValue }
    }
    unowned let store: ParameterStore
    private var out = Scratch(), dx = GradientScratch()
    private var input: UnsafePointer<Float>?

    public init(_ name: String, store: ParameterStore, inFeatures: Int, outFeatures: Int, bias: Bool = true) {
        self.name = name
        self.store = store
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        inShape = ActShape(inFeatures, 1, 1)
        outShape = ActShape(outFeatures, 1, 1)
        let li = store.beginWeightLayer()
        weightOffset = store.register(
            name: "\(name).weight", layer: name, shape: [outFeatures, inFeatures],
            role: .weight, group: .linearColumn, layerIndex: li)
        biasOffset =
            bias
            ? store.register(
                name: "\(name).bias", layer: name, shape: [outFeatures],
                role: .bias, group: .none, layerIndex: li) : nil
    }

    public var macsPerExample: Int { inFeatures * outFeatures }

    public func initialize(rng: inout Xoshiro256, scheme: InitScheme) {
        initializeWeightLayer(
            scheme, weights: store.value(weightOffset), count: inFeatures * outFeatures,
            bias: biasOffset.map { store.value($0) }, biasCount: outFeatures, fanIn: inFeatures, rng: &rng)
    }

    public func forward(_ x: UnsafePointer<Float>, batch: Int, training: Bool) -> UnsafePointer<Float> {
        input = x
        let y = out.pointer(count: outFeatures * batch)
        gemm(
            .no, exampleMajorInput ? .yes : .no, m: outFeatures, n: batch, k: inFeatures, a: store.value(weightOffset),
            lda: inFeatures, b: x, ldb: exampleMajorInput ? inFeatures : batch, c: y, ldc: batch)
        if let bo = biasOffset {
            let b = store.value(bo)
            for o in 0..<outFeatures {
                let row = y + o * batch
                let bv = b[o]
                for i in 0..<batch { row[i] += bv }
            }
        }
        return UnsafePointer(y)
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int) -> UnsafePointer<Float>? {
        guard let x = input else { fatalError("\(name): backward before forward") }
        gemm(
            .no, exampleMajorInput ? .no : .yes, m: outFeatures, n: inFeatures, k: batch, a: dy, lda: batch, b: x,
            ldb: exampleMajorInput ? inFeatures : batch, beta: 1, c: store.grad(weightOffset), ldc: inFeatures)
        if let bo = biasOffset {
            let db = store.grad(bo)
            for o in 0..<outFeatures {
                let row = dy + o * batch
                var s: Float = 0
                for i in 0..<batch { s += row[i] }
                db[o] += s
            }
        }
        guard needsInputGradient else { return nil }
        precondition(!exampleMajorInput, "\(name): an example-major input has no input gradient")
        let d = dx.pointer(count: inFeatures * batch, avoiding: dy)
        gemm(
            .yes, .no, m: inFeatures, n: batch, k: outFeatures, a: store.value(weightOffset), lda: inFeatures,
            b: dy, ldb: batch, c: d, ldc: batch)
        return UnsafePointer(d)
    }
}
