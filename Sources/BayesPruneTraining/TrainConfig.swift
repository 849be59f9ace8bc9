// The resolved configuration of a run: everything needed to rebuild the data pipeline and the model,
// written to the run directory as config.json so `evaluate` (and a later resume) can reload it.
import Foundation
import BayesPruneNN
import BayesPruneData

public struct TrainConfig: Codable, Equatable, Sendable {
    public var data: String = "fashion-mnist"
    public var dataDir: String?
    public var trainFile: String?
    public var testFile: String?
    public var target: String?
    public var task: String?
    public var cifar100Labels: String = "fine"
    public var augment: Bool?
    public var model: String = "lenet"
    public var hidden: [Int] = [300, 100]
    public var sampler: String = "sgd"
    public var epochs: Int = 5
    public var batchSize: Int = 128
    public var evalBatchSize: Int = 1000
    public var lr: Double = 0.05
    public var momentum: Double = 0.9
    public var weightDecay: Double = 5e-4
    public var schedule: String = "cyclical"
    public var cycles: Int = 1
    /// adavb: β1, β2, η; temperature: T for adavb (nil = 1/N), Temp for sghmc/sgld (nil = 1).
    public var beta1: Double = 0.1
    public var beta2: Double = 1
    public var eta: Double = 0.1
    public var temperature: Double?
    /// Posterior samples: taken at the end of each of the last `samplesPerCycle` epochs of every cycle.
    public var samplesPerCycle: Int = 3
    /// Equal-width confidence bins for ECE/MCE and the reliability diagram.
    public var calibrationBins: Int = 15
    /// EM-MCMC spike-and-slab pruning.
    public var pruning = PruningConfig()
    /// Channel widths of a compacted network (see ModelSpec.widths); nil for the standard architecture.
    public var widths: [Int]?
    public var seed: UInt64 = 1
    public var threads: Int?
    public var out: String = "runs/latest"

    public init() {}

    /// Per-model defaults for the options the user did not give (documented in the README with the
    /// runs that chose them: 5 Fashion-MNIST epochs of lenet gave 89.7% at batch 128 for lr 0.02-0.1
    /// and 90.4% at batch 32, lr 0.02).
    public static func defaults(model: String, sampler: String = "sgd") -> (lr: Double, momentum: Double, weightDecay: Double, batchSize: Int) {
        let small = model == "mlp" || model == "lenet"
        switch sampler {
        case "adavb": return (small ? 0.3 : 0.2, 0.9, 5e-4, small ? 32 : 128)   // lr is C²₀
        default: return (small ? 0.02 : 0.1, 0.9, 5e-4, small ? 32 : 128)
        }
    }
}

/// What the run directory records besides the configuration: the data's shape and the input
/// normalization fitted on the training set, so evaluation applies exactly the same transform.
public struct RunManifest: Codable, Equatable {
    public var format = "bayesprune-run"
    public var version = 1
    public var config: TrainConfig
    public var inputShape: [Int]          // channels, height, width
    public var outputs: Int
    public var task: String
    public var classes: Int
    public var featureNames: [String]
    public var normalizationMean: [Float]
    public var normalizationStd: [Float]
    public var targetMean: Float?
    public var targetStd: Float?
    public var parameterCount: Int
    public var blasCore: String

    public static func load(directory: String) throws -> RunManifest {
        let path = directory + "/config.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OutputError(description: "\(path): missing (is \(directory) a bayesprune run directory?)")
        }
        do { return try JSONDecoder().decode(RunManifest.self, from: data) }
        catch { throw OutputError(description: "\(path): not a valid run configuration (\(error))") }
    }

    public func write(directory: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(self), to: directory + "/config.json")
    }
}

/// Data sets ready for training: loaded, normalized with training-set statistics.
public struct PreparedData {
    public var train: Dataset
    public var test: Dataset
    public var normalization: Normalization
    public var targetScaling: TargetScaling?

    public static func load(_ c: TrainConfig, normalization stored: Normalization? = nil,
                            targetScaling storedScaling: TargetScaling? = nil) throws -> PreparedData {
        let task: TaskKind?
        if let t = c.task {
            guard let k = TaskKind(rawValue: t) else {
                throw DataError("--task", "unknown task \"\(t)\"; expected regression, binary or multiclass")
            }
            task = k
        } else { task = nil }
        guard let labels = CIFAR100LabelKind(rawValue: c.cifar100Labels) else {
            throw DataError("--cifar100-labels", "expected fine or coarse, got \"\(c.cifar100Labels)\"")
        }
        var (train, test) = try DataSource.load(kind: c.data, dataDir: c.dataDir, trainFile: c.trainFile,
                                                testFile: c.testFile, target: c.target, task: task, seed: c.seed,
                                                cifar100Labels: labels)
        let norm = stored ?? Normalization.fit(train)
        norm.apply(to: &train)
        norm.apply(to: &test)
        var scaling: TargetScaling? = nil
        if train.task == .regression {
            let s = storedScaling ?? TargetScaling.fit(train)
            s.apply(to: &train)
            s.apply(to: &test)
            scaling = s
        }
        return PreparedData(train: train, test: test, normalization: norm, targetScaling: scaling)
    }

    public var modelSpecLoss: LossKind {
        switch train.task {
        case .multiclass: return .softmaxCrossEntropy
        case .binary: return .logistic
        case .regression: return .squaredError
        }
    }

    public var outputs: Int { train.task == .multiclass ? train.classes : 1 }
}
