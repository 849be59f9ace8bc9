// Re-creates a finished run's model from its directory (config.json + weights.safetensors) and scores
// its test set with the normalization recorded at training time.
import Foundation
import BayesPruneNN
import BayesPruneData

public enum RunEvaluation {
    public static func loadNetwork(_ m: RunManifest) throws -> Network {
        guard let kind = ModelKind(rawValue: m.config.model), m.inputShape.count == 3 else {
            throw OutputError(description: "config.json: unknown model \(m.config.model)")
        }
        let loss: LossKind = m.task == "multiclass" ? .softmaxCrossEntropy : (m.task == "binary" ? .logistic : .squaredError)
        let spec = ModelSpec(kind: kind, input: ActShape(m.inputShape[0], m.inputShape[1], m.inputShape[2]),
                             outputs: m.outputs, loss: loss, hidden: m.config.hidden)
        return try ModelBuilder.build(spec, seed: m.config.seed)
    }

    /// One JSON object with the test metrics.
    public static func evaluate(directory: String, dataDir: String? = nil) throws -> String {
        let m = try RunManifest.load(directory: directory)
        var c = m.config
        if let dataDir { c.dataDir = dataDir }
        let norm = Normalization(mean: m.normalizationMean, std: m.normalizationStd)
        let scaling = m.targetMean.map { TargetScaling(mean: $0, std: m.targetStd ?? 1) }
        let data = try PreparedData.load(c, normalization: norm, targetScaling: scaling)
        let net = try loadNetwork(m)
        try WeightsFile.load(net, from: directory + "/weights.safetensors")
        let p = try Evaluator.predict(net, data: data.test, batchSize: c.evalBatchSize)
        var out: [String: Any] = ["model": c.model, "data": c.data, "examples": data.test.count]
        if data.test.task == .regression {
            let r = Evaluator.regression(p, targets: data.test.targets, scaling: data.targetScaling!)
            out["test_rmse"] = r.rmse; out["test_nll"] = r.nll
        } else {
            let r = Evaluator.classification(p, labels: data.test.labels)
            out["test_accuracy"] = r.accuracy; out["test_nll"] = r.nll
        }
        let json = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
        return String(decoding: json, as: UTF8.self)
    }
}
