// Re-creates a finished run's model from its directory (config.json, weights.safetensors and the
// posterior samples) and scores its test set with the normalization recorded at training time: the
// last weights, the Bayesian model average over the samples, and optionally out-of-distribution
// detection against a second data set.

import BayesPruneConfig
import BayesPruneData
import BayesPruneKernels
import BayesPruneNN
import BayesPruneRunIO
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

        var out: [String: Any] = [
            "model": c.model.rawValue, "data": c.data.rawValue, "sampler": c.sampler.rawValue,
            "examples": data.test.count,
        ]
        if data.test.task == .regression {
            let variance = c.noiseVariance ?? 1
            let r = Evaluator.regression(
                mean: last, samples: [], targets: data.test.targets, scaling: data.targetScaling!,
                noiseVariance: variance)
            out["last"] = ["rmse": r.rmse, "nll": r.nll]
            if let mean = average.mean {
                let b = Evaluator.regression(
                    mean: mean, samples: average.members, targets: data.test.targets, scaling: data.targetScaling!,
                    noiseVariance: variance)
                out["bma"] = ["rmse": b.rmse, "nll": b.nll, "samples": average.count] as [String: Any]
            } else {
                out["bma"] = ["samples": 0]
            }
        } else {
            func metrics(_ p: Predictions, samples: Int?) throws -> [String: Any] {
                let r = Evaluator.classification(p, labels: data.test.labels, bins: nbins)
                var d: [String: Any] = [
                    "accuracy": r.accuracy, "nll": r.nll, "brier": r.brier, "ece": r.ece, "mce": r.mce,
                    "bins": r.bins, "reliability": try encode(r.reliability),
                ]
                if let samples { d["samples"] = samples }
                return d
            }
            out["last"] = try metrics(last, samples: nil)
            out["bma"] = try average.mean.map { try metrics($0, samples: average.count) } ?? ["samples": 0]
            if m.config.pruning.enabled, let warning = chanceWarning(last, data.test) { out["warning"] = warning }
        }

        if m.config.pruning.enabled {
            out["pruning"] = try pruningReport(directory: directory, featureNames: data.train.featureNames)
        }
        if let ood, let oodSet {
            net.store.values.zero()
            try source.loadWeights(into: net)
            let oodLast = try Evaluator.predict(net, data: oodSet, batchSize: c.evalBatchSize)
            var report: [String: Any] = [
                "data": ood.data.rawValue, "transform": ood.transform.rawValue, "examples": oodSet.count,
            ]
            for (name, inP, outP) in [("last", last, oodLast), ("bma", average.mean, oodAverage.mean)] {
                guard let inP, let outP else { continue }
                report[name] = try detectionReport(inDistribution: inP, outOfDistribution: outP)
            }
            out["ood"] = report
        }
        let json = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
        return String(decoding: json, as: UTF8.self)
    }

    /// Said when a pruned classifier is no better than always predicting the most frequent class.
    static func chanceWarning(_ p: Predictions, _ test: Dataset) -> String? {
        let chance = test.majorityShare
        let accuracy = Evaluator.classification(p, labels: test.labels).accuracy
        guard accuracy <= chance + 0.01 else { return nil }
        return String(
            format: "the pruned network predicts no better than chance: accuracy %.4f, most frequent class %.4f",
            accuracy, chance)
    }

    /// The pruning summary of a run with the names of the inputs still connected.
    static func pruningReport(directory: String, featureNames: [String]) throws -> [String: Any] {
        let (_, _, pruner) = try CompactExport.loadPruned(directory: directory)
        var p = try encode(pruner.summary()) as! [String: Any]
        if !featureNames.isEmpty {
            p["connected_inputs"] = pruner.connectedInputs().map {
                $0 < featureNames.count ? featureNames[$0] : "\($0)"
            }
        }
        return p
    }

    /// AUROC and friends of every OOD score, in-distribution against out-of-distribution predictions.
    static func detectionReport(
        inDistribution inP: Predictions, outOfDistribution outP: Predictions
    ) throws
        -> [String: Any]
    {
        var byScore: [String: Any] = [:]
        for score in OODScore.allCases {
            byScore[score.rawValue] = try encode(
                OutOfDistribution.detection(
                    inScores: OutOfDistribution.scores(inP, by: score),
                    outScores: OutOfDistribution.scores(outP, by: score)))
        }
        return byScore
    }

    /// The OOD set's test split, transformed on raw values, normalized with the in-distribution statistics.
    static func loadOOD(
        _ r: OODRequest, like inDist: PreparedData, normalization: Normalization,
        config: TrainConfig
    ) throws -> Dataset {
        guard inDist.test.task != .regression else {
            throw SettingError("ood-data", "out-of-distribution scoring needs a classification run")
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
