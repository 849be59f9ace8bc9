// Per-channel feature normalization fitted on the training set (per column for CSV tables) and a
// target standardisation for regression, so training runs in standardized units while RMSE is
// reported in the target's original units.

public struct Normalization: Equatable, Sendable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count)
        self.mean = mean
        self.std = std
    }

    /// Channels whose standard deviation is below this are constant on the training set; their
    /// std is replaced by 1 so they are only centred (dividing by ~0 would blow up test values).
    public static let minimumStd: Float = 1e-6

    /// Up to `limit` evenly spaced examples of image-folder data (in-memory data as it is), decoded with
    /// the evaluation transform and no normalization, as an in-memory data set. Throws `DataError` naming a file that fails.
    public static func decodedSample(of data: Dataset, limit: Int = 512) throws -> Dataset {
        guard let source = data.images else { return data }
        let n = min(limit, data.count)
        let indices = (0..<n).map { Int32($0 * data.count / n) }
        var features = [Float](repeating: 0, count: n * data.exampleSize)
        let pipeline = ImageBatchPipeline(source: source, transform: .resizeCenterCrop, normalization: nil)
        defer { pipeline.shutDown() }
        try features.withUnsafeMutableBufferPointer {
            try pipeline.fetch(key: 0, examples: indices, epoch: 0, upcoming: [], into: $0.baseAddress!)
        }
        return Dataset(
            name: data.name, count: n, channels: data.channels, height: data.height, width: data.width,
            features: features, labels: indices.map { data.labels[Int($0)] }, targets: [], task: data.task,
            classes: data.classes)
    }

    /// Mean and population standard deviation per channel over every example and pixel of `data`,
    /// accumulated in Double (tens of millions of Float pixels would lose precision otherwise).
    /// In-memory data only; for image-folder data fit `decodedSample(of:)`.
    public static func fit(_ data: Dataset, minimumStd: Float = Normalization.minimumStd) -> Normalization {
        precondition(!data.isDecodedPerBatch, "fit a decoded sample of image-folder data")
        let plane = data.height * data.width
        let size = data.exampleSize
        var sum = [Double](repeating: 0, count: data.channels)
        var sumSquares = [Double](repeating: 0, count: data.channels)
        data.features.withUnsafeBufferPointer { x in
            for n in 0..<data.count {
                for c in 0..<data.channels {
                    let base = x.baseAddress! + n * size + c * plane
                    var s = 0.0
                    var q = 0.0
                    for i in 0..<plane {
                        let v = Double(base[i])
                        s += v
                        q += v * v
                    }
                    sum[c] += s
                    sumSquares[c] += q
                }
            }
        }
        let samples = Double(max(data.count * plane, 1))
        var mean = [Float](repeating: 0, count: data.channels)
        var std = [Float](repeating: 1, count: data.channels)
        for c in 0..<data.channels {
            let m = sum[c] / samples
            let variance = max(sumSquares[c] / samples - m * m, 0)
            mean[c] = Float(m)
            let s = Float(variance.squareRoot())
            std[c] = s < minimumStd ? 1 : s
        }
        return Normalization(mean: mean, std: std)
    }

    /// x ← (x − mean[c]) / std[c] for every value of channel c, in place (image-folder data: as decoded).
    public func apply(to data: inout Dataset) {
        precondition(data.channels == mean.count, "normalization has \(mean.count) channels, data has \(data.channels)")
        if data.isDecodedPerBatch {
            data.pixelNormalization = self
            return
        }
        let plane = data.height * data.width
        let size = data.exampleSize
        let inverseStd = std.map { 1 / $0 }
        let count = data.count
        let channels = data.channels
        data.features.withUnsafeMutableBufferPointer { x in
            for n in 0..<count {
                for c in 0..<channels {
                    let base = x.baseAddress! + n * size + c * plane
                    let m = mean[c]
                    let s = inverseStd[c]
                    for i in 0..<plane { base[i] = (base[i] - m) * s }
                }
            }
        }
    }
}

/// Regression target standardisation: y' = (y − mean) / std, fitted on the training targets.
/// Whether regression targets are standardized for training (`--target-scaling`).
public enum TargetScalingMode: String, CaseIterable, Codable, Sendable {
    /// (t − mean)/sd with training-set statistics; predictions and RMSE are reported in the target's units.
    case standardize
    /// The targets as they are (what the authors' code does: PyTorch's MSELoss on the raw target).
    case identity = "none"
}

public struct TargetScaling: Equatable, Sendable {
    public var mean: Float
    public var std: Float

    public init(mean: Float, std: Float) {
        self.mean = mean
        self.std = std
    }

    public static func fit(_ data: Dataset, minimumStd: Float = Normalization.minimumStd) -> TargetScaling {
        precondition(data.task == .regression, "target scaling applies to regression data")
        var s = 0.0
        var q = 0.0
        for y in data.targets {
            s += Double(y)
            q += Double(y) * Double(y)
        }
        let n = Double(max(data.targets.count, 1))
        let m = s / n
        let sd = Float(max(q / n - m * m, 0).squareRoot())
        return TargetScaling(mean: Float(m), std: sd < minimumStd ? 1 : sd)
    }

    /// The scaling that leaves targets unchanged (`--target-scaling none`).
    public static let identity = TargetScaling(mean: 0, std: 1)

    public func apply(to data: inout Dataset) {
        let m = mean
        let inverse = 1 / std
        for i in data.targets.indices { data.targets[i] = (data.targets[i] - m) * inverse }
    }

    /// A prediction in standardized units back in the target's original units.
    public func toOriginal(_ standardized: Float) -> Float { standardized * std + mean }

    /// An RMSE (or any error scale) measured in standardized units, in original units.
    public func rmseInOriginalUnits(_ standardizedRMSE: Double) -> Double { standardizedRMSE * Double(std) }
}
