// The settings a user gives for a `train` run, from a TOML file, the command line or both, before
// defaults: every field optional (nil = not given), keyed by the long option's name ("batch-size"),
// which is also the TOML key. `resolve()` is the one place that applies defaults and validates; the
// command line and config files only parse values into their types.

import BayesPruneData
import BayesPruneKernels
import BayesPruneNN
import BayesPruneSampling
import BayesPruneSparsity
import Foundation

public struct TrainSettings: Codable, Equatable, Sendable {
    // Data
    public var data: DataKind?
    public var dataDir: String?
    public var train: String?
    public var test: String?
    public var target: String?
    public var task: TaskKind?
    public var cifar100Labels: CIFAR100LabelKind?
    public var imageSize: Int?
    public var decodeThreads: Int?
    public var augment: OnOff?
    public var targetScaling: TargetScalingMode?
    // Model, sampler, schedule
    public var model: ModelKind?
    public var hidden: Widths?
    public var dropout: Double?
    public var initialization: InitScheme?
    public var noiseVariance: Double?
    public var sampler: SamplerKind?
    public var temperature: Double?
    public var beta1: Double?
    public var beta2: Double?
    public var eta: Double?
    public var samplesPerCycle: Int?
    public var samplingStage: Double?
    public var calibrationBins: Int?
    public var epochs: Int?
    public var batchSize: Int?
    public var evalBatchSize: Int?
    public var lr: Double?
    public var momentum: Double?
    public var weightDecay: Double?
    public var schedule: ScheduleKind?
    public var cycles: Int?
    public var seed: UInt64?
    public var threads: Int?
    public var out: String?
    // Run controls (do not change the numbers)
    public var syncCheckEvery: Int?
    public var collectiveTimeout: Double?
    public var checkpointEvery: Int?
    public var keepCheckpoints: Int?
    public var checkpointMinutes: Double?
    public var allreduceBucketMb: Double?
    public var allreduceOverlap: OnOff?
    // Pruning
    public var prune: Bool?
    public var warmUp: Int?
    public var lambda1: Double?
    public var lambda0: PerFamily?
    public var lambda0Steps: Int?
    public var eStep: EStepMode?
    public var softThreshold: PerFamily?
    public var hardThreshold: PerFamily?
    public var thetaPrior: BetaPrior?
    public var pruneKernels: Bool?
    public var convGroups: ConvGroups?
    public var preset: Preset?
    public var targetSparsity: Double?
    public var targetEpoch: Int?
    public var pruneFirstLayer: OnOff?
    public var pruneLastLayer: OnOff?
    public var shrink: OnOff?

    public init() {}

    /// The keys: `train`'s long options without the dashes, in the order `--print-config` lists them.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case data
        case dataDir = "data-dir"
        case train, test, target, task
        case cifar100Labels = "cifar100-labels"
        case imageSize = "image-size"
        case decodeThreads = "decode-threads"
        case augment
        case targetScaling = "target-scaling"
        case model, hidden, dropout
        case initialization = "init"
        case noiseVariance = "noise-variance"
        case sampler, temperature, beta1, beta2, eta
        case samplesPerCycle = "samples-per-cycle"
        case samplingStage = "sampling-stage"
        case calibrationBins = "calibration-bins"
        case epochs
        case batchSize = "batch-size"
        case evalBatchSize = "eval-batch-size"
        case lr, momentum
        case weightDecay = "weight-decay"
        case schedule, cycles, seed, threads, out
        case syncCheckEvery = "sync-check-every"
        case collectiveTimeout = "collective-timeout"
        case checkpointEvery = "checkpoint-every"
        case keepCheckpoints = "keep-checkpoints"
        case checkpointMinutes = "checkpoint-minutes"
        case allreduceBucketMb = "allreduce-bucket-mb"
        case allreduceOverlap = "allreduce-overlap"
        case prune
        case warmUp = "warm-up"
        case lambda1, lambda0
        case lambda0Steps = "lambda0-steps"
        case eStep = "e-step"
        case softThreshold = "soft-threshold"
        case hardThreshold = "hard-threshold"
        case thetaPrior = "theta-prior"
        case pruneKernels = "prune-kernels"
        case convGroups = "conv-groups"
        case preset
        case targetSparsity = "target-sparsity"
        case targetEpoch = "target-epoch"
        case pruneFirstLayer = "prune-first-layer"
        case pruneLastLayer = "prune-last-layer"
        case shrink
    }

    /// Settings that change no number of the run (a resumed run may give them anew).
    /// (`preset` is here because the values it fills in are compared one by one.)
    public static let numericallyFree: Set<CodingKeys> = [
        .threads, .out, .syncCheckEvery, .collectiveTimeout, .checkpointEvery, .keepCheckpoints, .evalBatchSize,
        .checkpointMinutes, .preset, .decodeThreads, .allreduceBucketMb, .allreduceOverlap,
    ]

    /// `self` with every setting `other` gives replaced by `other`'s (the command line over a file).
    public func overridden(by other: TrainSettings) -> TrainSettings {
        var merged = Self.fields(of: self)
        merged.merge(Self.fields(of: other)) { $1 }
        return Self.from(fields: merged)
    }

    /// The given settings as key → JSON value (only the keys that are set).
    /// Non-finite numbers (`--lr nan`) travel as these strings so they reach `resolve()`'s range checks.
    static let nonFinite = (positiveInfinity: "+inf", negativeInfinity: "-inf", nan: "nan")

    static func fields(of s: TrainSettings) -> [String: Any] {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: nonFinite.positiveInfinity, negativeInfinity: nonFinite.negativeInfinity,
            nan: nonFinite.nan)
        let data = try! encoder.encode(s)  // every field encodes as a number, string, bool or array
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    static func from(fields: [String: Any]) -> TrainSettings {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: nonFinite.positiveInfinity, negativeInfinity: nonFinite.negativeInfinity,
            nan: nonFinite.nan)
        let data = try! JSONSerialization.data(withJSONObject: fields)
        return try! decoder.decode(TrainSettings.self, from: data)  // values came from `fields(of:)`
    }

    /// One 64-bit digest per key (FNV-1a of its JSON value; 0 when not set), in `CodingKeys` order: what
    /// the ranks of a job compare to agree they were given the same settings.
    public var digests: [(key: CodingKeys, digest: UInt64)] {
        let set = Self.fields(of: self)
        return CodingKeys.allCases.map { key in
            guard let value = set[key.rawValue],
                let json = try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys])
            else { return (key, 0) }
            var h = FNV1a()
            h.add(json)
            return (key, h.value)
        }
    }

    /// The keys that are set, in declaration order.
    public var givenKeys: [CodingKeys] {
        let set = Self.fields(of: self)
        return CodingKeys.allCases.filter { set[$0.rawValue] != nil }
    }
}

// MARK: - Compound setting values (each parses from its option text and from its TOML form)

/// "on"/"off" (TOML: also true/false).
public enum OnOff: String, Codable, CaseIterable, Sendable {
    case on, off
    /// `on` as a Bool.
    public var isOn: Bool { self == .on }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) {
            self = b ? .on : .off
            return
        }
        let s = try c.decode(String.self)
        guard let v = OnOff(rawValue: s) else { throw SettingError(decoder.key, "expected on or off, got \(s)") }
        self = v
    }
}

/// Hidden widths of mlp: "300,100" (TOML: also [300, 100]).
public struct Widths: Codable, Equatable, Sendable {
    public var values: [Int]

    public init(_ values: [Int]) { self.values = values }

    /// Parses "300,100"; throws `SettingError("hidden", ...)` unless every entry is a positive integer.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
            .map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw SettingError("hidden", "expected positive comma-separated widths like 300,100, got \(text)")
        }
        values = parts.map { $0! }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        guard let a = try? c.decode([Int].self) else {
            try self.init(parsing: try decoder.string())
            return
        }
        guard !a.isEmpty, a.allSatisfy({ $0 > 0 }) else {
            throw SettingError("hidden", "expected positive widths like [300, 100], got \(a)")
        }
        self.init(a)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(values)
    }
}

/// A per-layer-family value with optional per-layer overrides: "X" (both families), "CONV,FC"
/// (convolution kernels, fully connected units), then "LAYER=Z" entries, e.g. "1e-3,1e-1,fc2=5e-2".
/// TOML: a number, or the same text as a string.
public struct PerFamily: Codable, Equatable, Sendable {
    /// (convolution, fully connected), nil when only layer entries were given.
    public var conv: Double?
    public var fc: Double?
    public var layers: [String: Double]

    /// Parses the option text; `key` names the setting in errors; `positive`: zero is refused.
    public init(parsing text: String, key: String, positive: Bool) throws {
        let kind = positive ? "positive" : "non-negative"
        func number(_ s: Substring) throws -> Double {
            guard let v = Double(s.trimmingCharacters(in: .whitespaces)), v.isFinite, positive ? v > 0 : v >= 0 else {
                throw SettingError(key, "expected \(kind) numbers as X, CONV,FC and/or LAYER=X entries, got \(text)")
            }
            return v
        }
        var plain: [Double] = []
        var layers: [String: Double] = [:]
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            if let eq = item.firstIndex(of: "=") {
                let layer = item[..<eq].trimmingCharacters(in: .whitespaces)
                guard !layer.isEmpty, layers[layer] == nil else {
                    throw SettingError(key, "empty or repeated layer name in \(text)")
                }
                layers[layer] = try number(item[item.index(after: eq)...])
            } else {
                guard layers.isEmpty else {
                    throw SettingError(
                        key, "family values (X or CONV,FC) must come before LAYER=X entries, got \(text)")
                }
                plain.append(try number(item))
            }
        }
        guard plain.count <= 2 else {
            throw SettingError(key, "expected one value or CONV,FC before any LAYER=X entries, got \(text)")
        }
        conv = plain.first
        fc = plain.count == 2 ? plain[1] : plain.first
        self.layers = layers
    }

    /// The option text this value parses from.
    public var text: String {
        var parts: [String] = []
        if let conv, let fc { parts = conv == fc ? ["\(conv)"] : ["\(conv)", "\(fc)"] }
        parts += layers.keys.sorted().map { "\($0)=\(layers[$0]!)" }
        return parts.joined(separator: ",")
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let key = decoder.key
        let positive = key == "lambda0"
        if let v = try? c.decode(Double.self) {
            try self.init(parsing: "\(v)", key: key, positive: positive)
        } else {
            try self.init(parsing: try decoder.string(), key: key, positive: positive)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(text)
    }
}

/// The Beta(a, b) prior on θ: "A,B" (TOML: also [A, B]).
public struct BetaPrior: Codable, Equatable, Sendable {
    public var a: Double
    public var b: Double

    public init(a: Double, b: Double) {
        self.a = a
        self.b = b
    }

    /// Parses "A,B". Throws `SettingError("theta-prior", ...)` unless both are finite and positive.
    public init(parsing text: String) throws {
        let ab = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard ab.count == 2, let a = ab[0], let b = ab[1], a > 0, b > 0, a.isFinite, b.isFinite else {
            throw SettingError("theta-prior", "expected A,B with A, B > 0, got \(text)")
        }
        self.init(a: a, b: b)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode([Double].self) {
            try self.init(parsing: v.map { "\($0)" }.joined(separator: ","))
        } else {
            try self.init(parsing: try decoder.string())
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode("\(a),\(b)")
    }
}

extension Decoder {
    /// The setting being decoded (the last coding-path key).
    var key: String { codingPath.last?.stringValue ?? "?" }

    /// The value as a string, or a `SettingError` saying what was expected instead.
    func string() throws -> String {
        guard let s = try? singleValueContainer().decode(String.self) else {
            let expected =
                key == "hidden"
                ? "an array of positive integers or a string like \"300,100\""
                : key == "theta-prior" ? "an array [A, B] or a string \"A,B\"" : "a string or a number"
            throw SettingError(key, "expected \(expected)")
        }
        return s
    }
}
