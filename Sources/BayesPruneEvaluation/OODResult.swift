// Out-of-distribution scoring as a record: the detection metrics of both scores and a histogram of the
// predictive entropy, for the last weights and for the model average. `evaluate --ood-data` prints it and
// saves it in the run directory as ood-<data>[-<transform>].json (atomically; a second evaluation of the
// same set replaces its own file only), where `report` finds it.

import BayesPruneData
import BayesPruneKernels
import BayesPruneRunIO
import Foundation

/// Counts of the predictive entropy H[p] (nats) of the in-distribution and the out-of-distribution
/// examples over fixed, equal-width bins from 0 to ln K (K classes; a binary model has K = 2).
public struct EntropyHistogram: Codable, Equatable {
    /// bins + 1 edges, 0 ... ln K; bin i holds [edges[i], edges[i+1]), the last bin also ln K itself.
    public var edges: [Double]
    public var inDistribution: [Int]
    public var outOfDistribution: [Int]

    enum CodingKeys: String, CodingKey {
        case edges
        case inDistribution = "in_distribution"
        case outOfDistribution = "out_of_distribution"
    }

    /// The histogram of two sets of entropies; values outside [0, ln K] by rounding go to the end bins.
    public init(inDistribution: [Double], outOfDistribution: [Double], classes: Int, bins: Int) {
        let top = _log(Double(max(classes, 2)))
        let edges = (0...bins).map { top * Double($0) / Double(bins) }
        func counts(_ values: [Double]) -> [Int] {
            var c = [Int](repeating: 0, count: bins)
            for h in values { c[Self.bin(h, edges: edges)] += 1 }
            return c
        }
        self.edges = edges
        self.inDistribution = counts(inDistribution)
        self.outOfDistribution = counts(outOfDistribution)
    }

    /// The bin of `h`: the number of inner edges at or below it (so an edge starts its bin exactly).
    static func bin(_ h: Double, edges: [Double]) -> Int {
        var lo = 0
        var hi = edges.count - 2  // the last bin
        while lo < hi {  // the largest i in 0...bins−1 with i == 0 or edges[i] <= h
            let mid = (lo + hi + 1) / 2
            if edges[mid] <= h { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }
}

/// One model's out-of-distribution figures.
public struct OODModelScores: Codable, Equatable {
    public var maxProbability: DetectionMetrics
    public var entropy: DetectionMetrics
    public var entropyHistogram: EntropyHistogram

    enum CodingKeys: String, CodingKey {
        case maxProbability = "max_probability"
        case entropy
        case entropyHistogram = "entropy_histogram"
    }

    /// In-distribution predictions are the positive class; `bins` entropy bins.
    public init(inDistribution inP: Predictions, outOfDistribution outP: Predictions, bins: Int) {
        let inEntropy = OutOfDistribution.scores(inP, by: .entropy)
        let outEntropy = OutOfDistribution.scores(outP, by: .entropy)
        maxProbability = OutOfDistribution.detection(
            inScores: OutOfDistribution.scores(inP, by: .maxProbability),
            outScores: OutOfDistribution.scores(outP, by: .maxProbability))
        entropy = OutOfDistribution.detection(inScores: inEntropy, outScores: outEntropy)
        // The scores are −H (higher = more in-distribution); the histogram is of H itself.
        entropyHistogram = EntropyHistogram(
            inDistribution: inEntropy.map { -$0 }, outOfDistribution: outEntropy.map { -$0 }, classes: inP.width,
            bins: bins)
    }
}

/// What `evaluate --ood-data` found: the run it scored, the second set, and both models' figures.
public struct OODResult: Codable, Equatable {
    /// The scored run's identifier (config.json), so a report never shows another run's result.
    public var runId: String?
    public var data: DataKind
    public var transform: OODTransform
    /// Where the second set came from (as given): its data directory, or its CSV test file.
    public var dataDir: String?
    public var testFile: String?
    /// Out-of-distribution and in-distribution (the run's test split) examples.
    public var examples: Int
    public var inDistributionExamples: Int
    public var last: OODModelScores
    /// The model average over the run's posterior samples (nil: the run has none).
    public var bma: OODModelScores?
    public var bmaSamples: Int

    /// Entropy bins of the saved histograms.
    public static let histogramBins = 20

    enum CodingKeys: String, CodingKey {
        case runId = "run_id"
        case data, transform
        case dataDir = "data_dir"
        case testFile = "test_file"
        case examples
        case inDistributionExamples = "in_distribution_examples"
        case last, bma
        case bmaSamples = "bma_samples"
    }

    /// ood-<data>[-<transform>].json: one file per second set, named only from the two enums' values, so
    /// it can never be one of the run's other files.
    public var fileName: String {
        "ood-\(data.rawValue)\(transform == .none ? "" : "-" + transform.rawValue).json"
    }

    /// Writes the result into `directory` atomically (temporary name, then rename); returns the path.
    @discardableResult
    public func save(directory: String) throws -> String {
        let path = directory + "/" + fileName
        try AtomicFile.write(try encodeJSON(self, for: path), to: path)
        return path
    }

    /// The results saved in a run directory, by file name. Throws `OutputError` naming a file that does not
    /// read as a result.
    public static func loadAll(directory: String) throws -> [OODResult] {
        try RunDirectory.oodFiles(directory).map { path in
            guard let bytes = FileManager.default.contents(atPath: path) else {
                throw OutputError(description: "\(path): cannot read")
            }
            do { return try JSONDecoder().decode(OODResult.self, from: bytes) } catch {
                throw OutputError(
                    description: "\(path): not an out-of-distribution result (\(decodingProblem(error)))")
            }
        }
    }
}
