// `bayesprune predict`: per-example BMA probabilities and their uncertainty, checked against the
// closed forms (probabilities sum to 1, the predicted class is their argmax, MI = H[p̄] − E[H[p]] ≥ 0 and
// exactly 0 for one member), against `evaluate`'s model-average accuracy (an independent path), on a
// compact export against its run, and its refusals.

import Foundation
import TestSupport
import Testing

@testable import BayesPruneEvaluation
@testable import BayesPruneRunIO

func csvRows(_ text: String) -> (header: [String], rows: [[Double]]) {
    let lines = text.split(separator: "\n")
    let header = lines[0].split(separator: ",").map(String.init)
    return (header, lines.dropFirst().map { $0.split(separator: ",").map { Double($0)! } })
}

@Suite(.serialized) struct PredictTests {
    static let images = try! quadrantDataset("predict-data", train: 192, test: 64)

    func trainImages(_ out: String, samples: Int) throws {
        let r = try runCLI([
            "train", "--data", "mnist", "--data-dir", Self.images, "--model", "mlp", "--hidden", "16",
            "--sampler", "adavb", "--epochs", "4", "--batch-size", "32", "--samples-per-cycle", "\(samples)",
            "--cycles", "2", "--threads", "1", "--out", out,
        ])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test func classificationColumnsFollowTheirDefinitions() throws {
        let base = try temporaryDirectory("predict")
        try trainImages(base + "/run", samples: 2)
        let p = try runCLI(["predict", base + "/run", "--out", base + "/p.csv"])
        #expect(p.status == 0 && p.stderr.contains("4 member(s)"), "\(p.stderr)")
        let (header, rows) = csvRows(try String(contentsOfFile: base + "/p.csv", encoding: .utf8))
        let K = header.count - 6
        #expect(header.prefix(3) == ["index", "label", "predicted"] && header[3] == "p0" && K >= 2 && rows.count == 64)
        #expect(header.suffix(3) == ["predictive_entropy", "expected_entropy", "mutual_information"])
        var correct = 0
        for r in rows {
            let probs = Array(r[3..<(3 + K)])
            #expect(abs(probs.reduce(0, +) - 1) < 1e-5)
            #expect(Int(r[2]) == probs.indices.max { probs[$0] < probs[$1] }!)
            let h = probs.reduce(0.0) { $1 > 0 ? $0 - $1 * log($1) : $0 }
            let (total, expected, mi) = (r[3 + K], r[4 + K], r[5 + K])
            #expect(abs(total - h) < 1e-9 && expected <= total + 1e-9 && mi >= 0 && abs(mi - (total - expected)) < 1e-9)
            if r[1] == r[2] { correct += 1 }
        }
        let json =
            try JSONSerialization.jsonObject(
                with: Data(try RunEvaluation.evaluate(directory: base + "/run").utf8)) as! [String: Any]
        let bma = (json["bma"] as! [String: Any])["accuracy"] as! Double
        #expect(abs(Double(correct) / 64 - bma) < 1e-9, "predict \(correct)/64, evaluate \(bma)")
    }

    /// Against a naive computation over the samples: each sample's probabilities from its own weights
    /// file, averaged and turned into the three entropies in Double here.
    @Test func matchesANaiveComputationOverTheSamples() throws {
        let base = try temporaryDirectory("predict-naive")
        try trainImages(base + "/run", samples: 2)
        let table = try RunPrediction.predict(directory: base + "/run")
        let run = try StoredRun(directory: base + "/run", dataDir: nil)
        let data = try run.data().test
        let net = try RunEvaluation.loadNetwork(run.manifest)
        var members: [[Float]] = []
        for s in try run.source.samples.samples {
            try WeightsFile.load(net, from: base + "/run/samples/" + s.file)
            members.append(try Evaluator.predict(net, data: data, batchSize: 7).values)
        }
        #expect(members.count == table.members && members.count == 4)
        let K = members[0].count / data.count
        for i in 0..<data.count {
            var mean = [Double](repeating: 0, count: K)
            var expected = 0.0
            for p in members {
                var h = 0.0
                for k in 0..<K {
                    let v = Double(p[i * K + k])
                    mean[k] += v / Double(members.count)
                    if v > 0 { h -= v * log(v) }
                }
                expected += h / Double(members.count)
            }
            var total = 0.0
            for v in mean where v > 0 { total -= v * log(v) }
            let row = table.rows[i]
            #expect(Int(row[1]) == Int(data.labels[i]))
            for k in 0..<K { #expect(abs(row[3 + k] - mean[k]) < 1e-6) }
            #expect(abs(row[3 + K] - total) < 1e-6 && abs(row[4 + K] - expected) < 1e-6)
            #expect(abs(row[5 + K] - max(0, total - expected)) < 1e-6)
        }
    }

    /// Without posterior samples the final weights are the only member: no epistemic part.
    @Test func oneMemberHasNoMutualInformation() throws {
        let base = try temporaryDirectory("predict-one")
        try trainImages(base + "/run", samples: 0)
        let p = try runCLI(["predict", base + "/run", "--format", "jsonl"])
        #expect(p.status == 0 && p.stderr.contains("1 member(s)"), "\(p.stderr)")
        for line in p.stdout.split(separator: "\n") {
            let d = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Double]
            #expect(d["mutual_information"] == 0)
            #expect(abs(d["predictive_entropy"]! - d["expected_entropy"]!) < 1e-6)
        }
    }

    /// A table: --input by column names; a compact export (final weights) predicts what its run predicts
    /// with its final weights; with posterior samples, total² − epistemic² is the likelihood's σ² (here 1)
    /// in the target's units, on every row.
    @Test func regressionOnACompactExport() throws {
        let data = try smallExampleData("predict-table")
        let base = try temporaryDirectory("predict-reg")
        func train(_ out: String, samples: Int) throws {
            let r = try runCLI([
                "train", "--data", "csv", "--train", data + "/train.csv", "--test", data + "/test.csv", "--model",
                "mlp", "--hidden", "8,4", "--sampler", "adavb", "--epochs", "8", "--batch-size", "64", "--prune",
                "--warm-up", "2", "--hard-threshold", "1e-2", "--samples-per-cycle", "\(samples)", "--cycles", "2",
                "--threads", "1", "--out", out,
            ])
            #expect(r.status == 0, "\(r.stderr)")
        }
        try train(base + "/final", samples: 0)
        #expect(try runCLI(["export", base + "/final", "--compact", base + "/compact"]).status == 0)
        let a = try runCLI(["predict", base + "/final", "--input", data + "/test.csv"])
        let b = try runCLI(["predict", base + "/compact", "--input", data + "/test.csv"])
        #expect(a.status == 0 && b.status == 0, "\(a.stderr)\(b.stderr)")
        let (ha, ra) = csvRows(a.stdout)
        let (_, rb) = csvRows(b.stdout)
        #expect(ha == ["index", "mean", "total_sd", "epistemic_sd"] && ra.count == 128 && rb.count == 128)
        for (x, y) in zip(ra, rb) { #expect(abs(x[1] - y[1]) <= 1e-4 * max(1, abs(x[1]))) }
        try train(base + "/sampled", samples: 2)
        let c = try runCLI(["predict", base + "/sampled"])
        let (hc, rc) = csvRows(c.stdout)
        #expect(hc == ["index", "target", "mean", "total_sd", "epistemic_sd"] && rc.count == 128)
        let config =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: base + "/sampled/config.json"))) as! [String: Any]
        let sd = try #require(config["targetStd"] as? Double)
        for r in rc { #expect(abs((r[3] * r[3] - r[4] * r[4]) - sd * sd) <= 1e-6 * sd * sd) }
        #expect(rc.contains { $0[4] > 0 })
    }

    @Test func refusals() throws {
        let base = try temporaryDirectory("predict-bad")
        try trainImages(base + "/run", samples: 0)
        let img = try runCLI(["predict", base + "/run", "--input", "x.csv"])
        #expect(img.status != 0 && img.stderr.contains("--input: only for runs on a table"), "\(img.stderr)")
        try writeText("a,b\n1,2\n", to: base + "/p.csv")
        let exists = try runCLI(["predict", base + "/run", "--out", base + "/p.csv"])
        #expect(exists.status != 0 && exists.stderr.contains("--out:"), "\(exists.stderr)")
        let format = try runCLI(["predict", base + "/run", "--format", "xml"])
        #expect(format.status != 0 && format.stderr.contains("--format:"), "\(format.stderr)")
    }
}

@Suite(.serialized) struct PredictOtherData {
    /// --data names another image set of the model's shape (here Fashion-MNIST's reader on the same IDX
    /// files, so the predictions equal the run's own); a table cannot stand in for images.
    @Test func anotherImageSet() throws {
        let base = try temporaryDirectory("predict-other")
        let r = try runCLI([
            "train", "--data", "mnist", "--data-dir", PredictTests.images, "--model", "mlp", "--hidden", "16",
            "--epochs", "2", "--batch-size", "32", "--threads", "1", "--out", base + "/run",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let own = try runCLI(["predict", base + "/run"])
        let other = try runCLI(["predict", base + "/run", "--data", "fashion-mnist", "--data-dir", PredictTests.images])
        #expect(own.status == 0 && other.status == 0, "\(own.stderr)\(other.stderr)")
        #expect(own.stdout == other.stdout && !own.stdout.isEmpty)
        let table = try runCLI(["predict", base + "/run", "--data", "csv"])
        #expect(table.status != 0 && table.stderr.contains("--data:"), "\(table.stderr)")
    }
}
