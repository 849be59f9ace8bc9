// Re-creates a finished run's model from its directory (config.json, weights.safetensors and the
// posterior samples) and scores its test set with the normalization recorded at training time: the
// last weights, the Bayesian model average over the samples, and optionally out-of-distribution
// detection against a second data set.

import BayesPruneConfig
import BayesPruneData
import BayesPruneKernels
import BayesPruneNN
import BayesPruneRunIO
import BayesPruneSparsity
import Foundation

public struct OODRequest {
    public var data: DataKind
    public var dataDir: String?
    public var trainFile: String?
    public var testFile: String?
    public var transform: OODTransform
    public init(data: DataKind, dataDir: String?, trainFile: String?, testFile: String?, transform: OODTransform) {
        self.data = data
        self.dataDir = dataDir
        self.trainFile = trainFile
        self.testFile = testFile
        self.transform = transform
    }
}

/// A run (or checkpoint, or compact export) as stored: where its files are, its record and configuration
/// (with `dataDir` overriding the recorded data directory), and the normalization it was trained with.
struct StoredRun {
    let source: RunSource
    let manifest: RunManifest
    let config: TrainConfig
    let normalization: Normalization
    let targetScaling: TargetScaling?

    /// `data`: another data set of the same shape than the recorded one (its test split is used).
    init(directory: String, dataDir: String?, data: DataKind? = nil) throws {
        source = try RunSource.open(directory)
        let m = try RunManifest.load(directory: source.runDirectory)
        manifest = m
        var c = m.config
        if let data, data != c.data {
            guard data != .csv, c.data != .csv else {
                throw SettingError("data", "another data set than the run's must be images (for tables give --input)")
            }
            (c.data, c.dataDir) = (data, nil)
        }
        if let dataDir { c.dataDir = dataDir }
        config = c
        normalization = Normalization(mean: m.normalizationMean, std: m.normalizationStd)
        targetScaling = m.targetMean.map { TargetScaling(mean: $0, std: m.targetStd ?? 1) }
    }

    /// The run's data, normalized as it was trained (a table: only the columns the model reads).
    func data() throws -> PreparedData {
        let d = try PreparedData.load(
            config, normalization: normalization, targetScaling: targetScaling,
            featureNames: manifest.featureNames.isEmpty ? nil : manifest.featureNames)
        let shape = [d.test.channels, d.test.height, d.test.width]
        guard shape == manifest.inputShape else {
            throw SettingError(
                "data",
                "\(config.data.rawValue) has shape \(shape.map(String.init).joined(separator: "x")), the model "
                    + "expects \(manifest.inputShape.map(String.init).joined(separator: "x"))")
        }
        return d
    }
}

public enum RunEvaluation {
    public static func loadNetwork(_ m: RunManifest) throws -> Network {
        guard m.inputShape.count == 3 else {
            throw OutputError(description: "config.json: input shape \(m.inputShape) is not channels, height, width")
        }
        let loss: LossKind =
            m.task == "multiclass" ? .softmaxCrossEntropy : (m.task == "binary" ? .logistic : .squaredError)
        let spec = m.config.modelSpec(
            input: ActShape(m.inputShape[0], m.inputShape[1], m.inputShape[2]), outputs: m.outputs, loss: loss)
        return try ModelBuilder.build(spec, seed: m.config.seed)
    }

    static func encode<T: Encodable>(_ v: T) throws -> Any {
        try JSONSerialization.jsonObject(with: JSONEncoder().encode(v))
    }

    /// One JSON object: {"last": {...}, "bma": {..., "samples", "reliability"}, "ood": {...}}.
    public static func evaluate(
        directory: String, dataDir: String? = nil, ood: OODRequest? = nil,
        bins: Int? = nil
    ) throws -> String {
        try score(directory: directory, dataDir: dataDir, ood: ood, bins: bins).json()
    }

    /// Scores a run (a run directory, a checkpoint file or a compact export) on its test set: the last
    /// weights, the model average over the posterior samples, the pruning summary, and with `ood` the
    /// out-of-distribution figures. `bins`: calibration bins (default: the run's).
    public static func score(
        directory: String, dataDir: String? = nil, ood: OODRequest? = nil,
        bins: Int? = nil
    ) throws -> RunScores {
        let run = try StoredRun(directory: directory, dataDir: dataDir)
        let (source, m, c, norm) = (run.source, run.manifest, run.config, run.normalization)
        let data = try run.data()
        let net = try loadNetwork(m)
        let nbins = bins ?? c.calibrationBins

        // Every model to score: the final weights, then each posterior sample.
        let sampleManifest = try source.samples
        try source.loadWeights(into: net)
        let last = try Evaluator.predict(net, data: data.test, batchSize: c.evalBatchSize)
        let average = ModelAverage(keepMembers: data.test.task == .regression)
        var oodSet: Dataset? = nil
        if let ood {
            oodSet = try loadOOD(ood, like: data, normalization: norm, config: c)
        }
        let oodAverage = ModelAverage(keepMembers: false)
        for s in sampleManifest.samples {
            try WeightsFile.load(net, from: source.runDirectory + "/samples/" + s.file)
            average.add(try Evaluator.predict(net, data: data.test, batchSize: c.evalBatchSize))
            if let oodSet { oodAverage.add(try Evaluator.predict(net, data: oodSet, batchSize: c.evalBatchSize)) }
        }

        let lastScores: TestScores
        let bmaScores: TestScores?
        if data.test.task == .regression {
            let variance = c.noiseVariance ?? 1
            lastScores = .regression(
                Evaluator.regression(
                    mean: last, samples: [], targets: data.test.targets, scaling: data.targetScaling!,
                    noiseVariance: variance))
            bmaScores = average.mean.map {
                .regression(
                    Evaluator.regression(
                        mean: $0, samples: average.members, targets: data.test.targets, scaling: data.targetScaling!,
                        noiseVariance: variance))
            }
        } else {
            lastScores = .classification(Evaluator.classification(last, labels: data.test.labels, bins: nbins))
            bmaScores = average.mean.map {
                .classification(Evaluator.classification($0, labels: data.test.labels, bins: nbins))
            }
        }
        var scores = RunScores(
            config: c, examples: data.test.count, last: lastScores, bma: bmaScores, samples: average.count,
            runDirectory: source.runDirectory, fromCheckpoint: source.checkpoint != nil, runId: m.runId)

        if m.config.pruning.enabled {
            let (_, _, pruner) = try CompactExport.loadPruned(directory: directory)
            scores.describePruning(pruner, featureNames: data.train.featureNames, chance: data.test.majorityShare)
        }
        if let ood, let oodSet {
            net.store.values.zero()
            try source.loadWeights(into: net)
            let oodLast = try Evaluator.predict(net, data: oodSet, batchSize: c.evalBatchSize)
            let histogramBins = OODResult.histogramBins
            scores.ood = OODResult(
                runId: m.runId, data: ood.data, transform: ood.transform, dataDir: ood.dataDir,
                testFile: ood.testFile ?? ood.trainFile, examples: oodSet.count,
                inDistributionExamples: data.test.count,
                last: OODModelScores(inDistribution: last, outOfDistribution: oodLast, bins: histogramBins),
                bma: average.mean.flatMap { inP in
                    oodAverage.mean.map {
                        OODModelScores(inDistribution: inP, outOfDistribution: $0, bins: histogramBins)
                    }
                },
                bmaSamples: average.count)
        }
        return scores
    }

    /// Said when a pruned classifier is no better than always predicting the most frequent class, from its
    /// test accuracy and the share of the most frequent test class.
    static func chanceWarning(accuracy: Double, chance: Double) -> String? {
        guard accuracy <= chance + 0.01 else { return nil }
        return String(
            format: "the pruned network predicts no better than chance: accuracy %.4f, most frequent class %.4f",
            accuracy, chance)
    }

    /// The OOD set's test split, transformed on raw values, normalized with the in-distribution statistics.
    static func loadOOD(
        _ r: OODRequest, like inDist: PreparedData, normalization: Normalization,
        config: TrainConfig
    ) throws -> Dataset {
        guard inDist.test.task != .regression else {
            throw SettingError("ood-data", "out-of-distribution scoring needs a classification run")
        }
        if r.data == .imageFolder || inDist.test.isDecodedPerBatch {
            throw SettingError("ood-data", "out-of-distribution scoring reads in-memory data sets, not image folders")
        }
        var test: Dataset
        do {
            test = try DataSource.load(
                kind: r.data, dataDir: r.dataDir, trainFile: r.trainFile, testFile: r.testFile,
                target: nil, task: nil, seed: config.seed
            ).test
        } catch let e as SettingError {
            throw SettingError("ood-" + e.key, e.message)  // the OOD set's settings are ood-data-dir, ...
        }
        let want = (inDist.test.channels, inDist.test.height, inDist.test.width)
        guard (test.channels, test.height, test.width) == want else {
            throw SettingError(
                "ood-data",
                "\(r.data.rawValue) has shape \(test.channels)x\(test.height)x\(test.width), the model expects "
                    + "\(want.0)x\(want.1)x\(want.2)"
            )
        }
        r.transform.apply(to: &test, seed: config.seed)
        normalization.apply(to: &test)
        return test
    }
}

/// The metrics of one model on the test set.
public enum TestScores: Equatable {
    case classification(ClassificationMetrics)
    case regression(RegressionMetrics)

    /// The classification metrics (nil for a regression run).
    public var classification: ClassificationMetrics? {
        if case .classification(let c) = self { return c }
        return nil
    }

    /// The regression metrics (nil for a classification run).
    public var regression: RegressionMetrics? {
        if case .regression(let r) = self { return r }
        return nil
    }
}

/// A run scored on its test set again (`RunEvaluation.score`); `json()` is what `evaluate` prints.
public struct RunScores {
    /// The run's configuration (with an overriding data directory, if one was given).
    public var config: TrainConfig
    /// Test examples scored.
    public var examples: Int
    /// The final weights (or the checkpoint's).
    public var last: TestScores
    /// The Bayesian model average over the posterior samples (nil: the run has none).
    public var bma: TestScores?
    /// Posterior samples in the average.
    public var samples: Int
    /// Said when a pruned classifier predicts no better than the most frequent class.
    public var warning: String?
    /// The pruning summary of a pruned run, and the names of the input columns still connected (tables).
    public var pruning: PruningSummary?
    public var connectedInputs: [String]?
    /// Out-of-distribution figures, when a second set was given.
    public var ood: OODResult?
    /// The run directory, and whether one of its checkpoint files was scored instead of its final weights.
    public var runDirectory: String
    public var fromCheckpoint: Bool
    /// The run's identifier (config.json).
    public var runId: String?

    /// Scores of a run's final weights and model average (the other figures unset: no pruning summary, no
    /// OOD result, not from a checkpoint).
    public init(
        config: TrainConfig, examples: Int, last: TestScores, bma: TestScores?, samples: Int, warning: String? = nil,
        runDirectory: String, fromCheckpoint: Bool = false, runId: String?
    ) {
        self.config = config
        self.examples = examples
        self.last = last
        self.bma = bma
        self.samples = samples
        self.warning = warning
        self.runDirectory = runDirectory
        self.fromCheckpoint = fromCheckpoint
        self.runId = runId
    }

    /// A pruned run's figures: the pruner's summary, the input columns still connected (runs on a table:
    /// `featureNames` not empty) and the warning when the final weights classify no better than the most
    /// frequent class (`chance`: its share of the test set).
    public mutating func describePruning(_ pruner: Pruner, featureNames names: [String], chance: Double) {
        pruning = pruner.summary()
        if !names.isEmpty {
            connectedInputs = pruner.connectedInputs().map { $0 < names.count ? names[$0] : "\($0)" }
        }
        if let accuracy = last.classification?.accuracy {
            warning = RunEvaluation.chanceWarning(accuracy: accuracy, chance: chance)
        }
    }

    /// One JSON object: {"model", "data", "sampler", "examples", "last": {...}, "bma": {..., "samples"},
    /// "pruning", "warning", "ood"}; classification metrics carry "bins" and "reliability".
    public func json() throws -> String {
        var out: [String: Any] = [
            "model": config.model.rawValue, "data": config.data.rawValue, "sampler": config.sampler.rawValue,
            "examples": examples,
        ]
        func metrics(_ s: TestScores, samples: Int?) throws -> [String: Any] {
            var d: [String: Any]
            switch s {
            case .regression(let r): d = ["rmse": r.rmse, "nll": r.nll]
            case .classification(let r):
                d = [
                    "accuracy": r.accuracy, "nll": r.nll, "brier": r.brier, "ece": r.ece, "mce": r.mce,
                    "bins": r.bins, "reliability": try RunEvaluation.encode(r.reliability),
                ]
            }
            if let samples { d["samples"] = samples }
            return d
        }
        out["last"] = try metrics(last, samples: nil)
        out["bma"] = try bma.map { try metrics($0, samples: samples) } ?? ["samples": 0]
        if let warning { out["warning"] = warning }
        if let pruning {
            var p = try RunEvaluation.encode(pruning) as! [String: Any]
            if let connectedInputs { p["connected_inputs"] = connectedInputs }
            out["pruning"] = p
        }
        if let ood { out["ood"] = try RunEvaluation.encode(ood) }
        let json = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
        return String(decoding: json, as: UTF8.self)
    }
}
