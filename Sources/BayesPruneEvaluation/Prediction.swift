// `bayesprune predict RUN`: the model average's prediction for every example, with its uncertainty.
// Classification: the BMA probabilities p̄ = (1/S)·Σ_s p_s over the posterior samples, the predicted class
// argmax p̄, the predictive entropy H[p̄] (total uncertainty), the expected entropy (1/S)·Σ_s H[p_s]
// (aleatoric) and their difference, the mutual information between the prediction and the weights
// (epistemic; zero for one member). Regression: the mean of the members' means, the epistemic variance
// (their variance) and the total variance (epistemic + the likelihood's σ²), in the target's units.
// A run without posterior samples predicts with its final weights as the only member.

import BayesPruneConfig
import BayesPruneData
import BayesPruneKernels
import BayesPruneNN
import BayesPruneRunIO
import Foundation

/// Per-example predictions of a run, ready to write.
public struct PredictionTable {
    /// Column names, in order (`index`, then the truth when known, then the predictions).
    public var columns: [String]
    /// One row per example, as numbers (the class index and the truth as whole numbers).
    public var rows: [[Double]]
    /// Members averaged: posterior samples, or 1 (the final weights) when the run has none.
    public var members: Int
}

public enum RunPrediction {
    /// Predictions of the run (or compact export) `directory` for the test split of its data, or of `kind`
    /// (images of the same shape: e.g. MNIST for a Fashion-MNIST run; `dataDir` overrides the directory),
    /// or, for a run on a table, for the rows of the CSV file `input` (read by the run's column names; other
    /// columns are ignored). Throws `DataError`/`SettingError`/`OutputError` naming the file or option.
    public static func predict(
        directory: String, data kind: DataKind? = nil, dataDir: String? = nil, input: String? = nil
    ) throws -> PredictionTable {
        let run = try StoredRun(directory: directory, dataDir: dataDir, data: kind)
        let (source, m, c, norm, scaling) = (run.source, run.manifest, run.config, run.normalization, run.targetScaling)
        let data: Dataset
        if let input {
            guard !m.featureNames.isEmpty else {
                throw SettingError("input", "only for runs on a table (CSV); for images give --data-dir")
            }
            data = try rows(of: input, columns: m.featureNames, task: m.task, classes: m.outputs, normalization: norm)
        } else {
            data = try run.data().test
        }
        let net = try RunEvaluation.loadNetwork(m)
        var members: [Predictions] = []
        for s in try source.samples.samples {
            try WeightsFile.load(net, from: source.runDirectory + "/samples/" + s.file)
            members.append(try Evaluator.predict(net, data: data, batchSize: c.evalBatchSize))
        }
        if members.isEmpty {
            try source.loadWeights(into: net)
            members.append(try Evaluator.predict(net, data: data, batchSize: c.evalBatchSize))
        }
        let truth = input == nil
        if data.task == .regression {
            let variance = (c.noiseVariance ?? 1)
            return regressionTable(members, data: data, scaling: scaling ?? .identity, noise: variance, truth: truth)
        }
        return classificationTable(members, data: data, truth: truth)
    }

    /// The rows of a CSV file as a data set of the run's feature columns, normalized as the run was.
    static func rows(
        of path: String, columns: [String], task: String, classes: Int, normalization: Normalization
    )
        throws -> Dataset
    {
        let table = try CSVReader.readTable(path: path)
        let kind = TaskKind(rawValue: task) ?? .regression
        let n = table.rowCount
        // Every column as a feature, then the model's columns by name (refused by name when one is missing).
        var d = try Dataset(
            name: path, count: n, channels: table.header.count, height: 1, width: 1,
            features: table.values.map(Float.init), labels: kind == .regression ? [] : [Int32](repeating: 0, count: n),
            targets: kind == .regression ? [Float](repeating: 0, count: n) : [], task: kind,
            classes: kind == .multiclass ? classes : (kind == .binary ? 2 : 1), featureNames: table.header
        ).selectingFeatures(columns)
        normalization.apply(to: &d)
        return d
    }

    static func classificationTable(_ members: [Predictions], data: Dataset, truth: Bool) -> PredictionTable {
        let K = members[0].width
        var columns = ["index"] + (truth ? ["label"] : []) + ["predicted"]
        columns += (0..<K).map { "p\($0)" } + ["predictive_entropy", "expected_entropy", "mutual_information"]
        let S = Double(members.count)
        var rows: [[Double]] = []
        rows.reserveCapacity(data.count)
        for i in 0..<data.count {
            var mean = [Double](repeating: 0, count: K)
            var expected = 0.0
            for p in members {
                let row = p.values[(i * K)..<((i + 1) * K)]
                for k in 0..<K { mean[k] += Double(row[row.startIndex + k]) / S }
                expected += entropy(row) / S
            }
            let total = entropy(mean)
            let predicted = mean.indices.max { mean[$0] < mean[$1] }!
            var r = [Double(i)] + (truth ? [Double(data.labels[i])] : []) + [Double(predicted)] + mean
            r += [total, expected, max(0, total - expected)]
            rows.append(r)
        }
        return PredictionTable(columns: columns, rows: rows, members: members.count)
    }

    static func regressionTable(
        _ members: [Predictions], data: Dataset, scaling: TargetScaling, noise: Double, truth: Bool
    ) -> PredictionTable {
        let columns = ["index"] + (truth ? ["target"] : []) + ["mean", "total_sd", "epistemic_sd"]
        let S = Double(members.count)
        let unit = Double(scaling.std)
        var rows: [[Double]] = []
        for i in 0..<data.count {
            let means = members.map { Double($0.values[i]) }
            let mean = means.reduce(0, +) / S
            let epistemic = means.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / S
            let original = mean * unit + Double(scaling.mean)
            var r = [Double(i)]
            if truth { r.append(Double(data.targets[i]) * unit + Double(scaling.mean)) }
            r += [original, ((epistemic + noise) * unit * unit).squareRoot(), (epistemic * unit * unit).squareRoot()]
            rows.append(r)
        }
        return PredictionTable(columns: columns, rows: rows, members: members.count)
    }
}

extension PredictionTable {
    /// CSV with a header row; whole-number columns (index, label, predicted) without a fraction.
    public func csv() -> String {
        var out = columns.joined(separator: ",") + "\n"
        for r in rows { out += r.map(Self.text).joined(separator: ",") + "\n" }
        return out
    }

    /// One JSON object per line, keys in column order.
    public func jsonLines() -> String {
        var out = ""
        for r in rows {
            out += "{" + zip(columns, r).map { "\"\($0)\":\(Self.text($1))" }.joined(separator: ",") + "}\n"
        }
        return out
    }

    static func text(_ v: Double) -> String {
        v.isFinite && v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : (v.isFinite ? "\(v)" : "null")
    }
}
