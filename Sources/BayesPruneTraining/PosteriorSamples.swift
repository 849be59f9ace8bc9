// Posterior samples: which epochs take one (the last K epochs of every cycle of the schedule), their
// files in the run directory (samples/sample-NNNN.safetensors plus samples/manifest.json), and Bayesian
// model averaging of their predictive probabilities (probabilities, never logits).
import Foundation
import BayesPruneNN

public struct SampleRecord: Codable, Equatable {
    public var file: String
    public var epoch: Int
    public var step: Int
    public var cycle: Int
}

public struct SampleManifest: Codable, Equatable {
    public var format = "bayesprune-samples"
    public var version = 1
    public var samples: [SampleRecord] = []

    public static func load(directory: String) throws -> SampleManifest {
        let path = directory + "/samples/manifest.json"
        guard let data = FileManager.default.contents(atPath: path) else { return SampleManifest() }
        do { return try JSONDecoder().decode(SampleManifest.self, from: data) }
        catch { throw OutputError(description: "\(path): not a valid sample manifest (\(error))") }
    }

    public func write(directory: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(self), to: directory + "/samples/manifest.json")
    }
}

public enum SamplingPlan {
    /// Epochs (1-based) at whose end a sample is taken: the last `perCycle` epochs of every cycle, where
    /// an epoch belongs to the cycle of its last step.
    public static func sampleEpochs(epochs: Int, stepsPerEpoch: Int, schedule: Schedule, perCycle: Int) -> [Int: Int] {
        guard perCycle > 0, epochs > 0, stepsPerEpoch > 0 else { return [:] }
        let spc = schedule.kind == .cyclical ? schedule.stepsPerCycle : epochs * stepsPerEpoch
        func cycle(_ e: Int) -> Int { (e * stepsPerEpoch - 1) / spc }
        var lastEpochOfCycle: [Int: Int] = [:]
        for e in 1...epochs { lastEpochOfCycle[cycle(e)] = e }
        var out: [Int: Int] = [:]
        for e in 1...epochs where lastEpochOfCycle[cycle(e)]! - e < perCycle { out[e] = cycle(e) }
        return out
    }
}

/// Running Bayesian model average of predictive distributions.
public final class ModelAverage {
    public private(set) var count = 0
    private var sum: [Double] = []
    /// Per-sample predictions, kept for regression (the mixture likelihood needs each member).
    public private(set) var members: [Predictions] = []
    private var shape: (count: Int, width: Int) = (0, 0)
    public let keepMembers: Bool

    public init(keepMembers: Bool) { self.keepMembers = keepMembers }

    /// The running sums and members, for a checkpoint.
    public var sums: [Double] { sum }
    public func restore(count: Int, sums: [Double], width: Int, examples: Int, members: [Predictions]) {
        self.count = count; sum = sums; shape = (examples, width); self.members = members
    }

    public func add(_ p: Predictions) {
        if count == 0 { sum = [Double](repeating: 0, count: p.values.count); shape = (p.count, p.width) }
        precondition(p.values.count == sum.count, "model average: prediction shapes differ")
        for i in 0..<sum.count { sum[i] += Double(p.values[i]) }
        count += 1
        if keepMembers { members.append(p) }
    }

    /// The average prediction (probabilities averaged over samples), or nil before the first sample.
    public var mean: Predictions? {
        guard count > 0 else { return nil }
        let inv = 1 / Double(count)
        return Predictions(count: shape.count, values: sum.map { Float($0 * inv) }, width: shape.width)
    }
}
