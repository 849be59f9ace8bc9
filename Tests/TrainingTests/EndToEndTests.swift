// Training end to end on small data sets the tests generate (IDX images, CSV tables): the run learns,
// the run directory has what the README promises, and `evaluate` reproduces the last epoch's metrics.
/// A trainer for `c` that prints nothing.

import BayesPruneKernels
import Foundation
import TestSupport
import Testing

@testable import BayesPruneBenchmark
@testable import BayesPruneConfig
@testable import BayesPruneData
@testable import BayesPruneDistributed
@testable import BayesPruneEvaluation
@testable import BayesPruneNN
@testable import BayesPruneRunIO
@testable import BayesPruneSampling
@testable import BayesPruneSparsity
@testable import BayesPruneTraining

func quietTrainer(_ c: TrainConfig) throws -> Trainer {
    let t = try Trainer(config: c, data: try PreparedData.load(c))
    t.showProgress = false
    t.log = { _ in }
    return t
}

@Suite(.serialized) struct EndToEnd {
    @Test(arguments: ["mlp", "lenet", "resnet20"])
    func imagesFromIDXLearnAndEvaluateReproduces(model: String) throws {
        let dir = try quadrantDataset("idx", train: 256, test: 128)
        var c = quadrantConfig(
            dir, model: ModelKind(rawValue: model)!, epochs: model == "resnet20" ? 6 : 4, hidden: [32],
            sampler: model == "lenet" ? .adavb : .sgd, samplesPerCycle: 3, out: dir + "/run")
        c.evalBatchSize = 50
        let trainer = try quietTrainer(c)
        try trainer.run(blasCore: blasCoreName())
        let h = trainer.history
        #expect(h.count == c.epochs)
        #expect(h.last!.trainLoss < h.first!.trainLoss)
        // Four well-separated classes: every model should be nearly perfect.
        #expect(h.last!.evaluation.test[.accuracy]! >= 0.9, "\(model): \(h.last!.evaluation.test)")

        let lines = try String(contentsOfFile: c.out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == c.epochs)
        let last = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as! [String: Any]
        for key in [
            "epoch", "train_loss", "test_accuracy", "test_nll", "images_per_second", "seconds", "test_brier",
            "test_ece",
            "bma_accuracy", "bma_nll", "bma_brier", "bma_ece", "bma_samples",
        ] {
            #expect(last[key] != nil, "metrics.jsonl lacks \(key)")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: c.out).sorted()
        #expect(files == ["checkpoints", "config.json", "metrics.jsonl", "samples", "weights.safetensors"])
        let manifest = try SampleManifest.load(directory: c.out)
        #expect(manifest.samples.map(\.epoch) == Array(max(1, c.epochs - 2)...c.epochs))

        let evaluated =
            try JSONSerialization.jsonObject(with: Data(try RunEvaluation.evaluate(directory: c.out).utf8))
            as! [String: Any]
        let lastEval = evaluated["last"] as! [String: Any]
        let bmaEval = evaluated["bma"] as! [String: Any]
        #expect(lastEval["accuracy"] as? Double == last["test_accuracy"] as? Double)
        #expect(abs((lastEval["nll"] as! Double) - (last["test_nll"] as! Double)) < 1e-9)
        #expect(abs((lastEval["ece"] as! Double) - (last["test_ece"] as! Double)) < 1e-9)
        // The model average over the saved samples reproduces the training-time BMA.
        #expect(bmaEval["samples"] as? Int == Int(last["bma_samples"] as! Double))
        #expect(abs((bmaEval["nll"] as! Double) - (last["bma_nll"] as! Double)) < 1e-6)
        #expect((bmaEval["reliability"] as? [[String: Any]])?.count == 15)
    }

    /// A sampling stage takes samples inside epochs: the saved samples are the plan's steps, and the model
    /// average that `evaluate` rebuilds from the sample files reproduces the training-time BMA.
    @Test func samplingStageTakesSamplesInsideEpochs() throws {
        let dir = try quadrantDataset("stage", train: 256, test: 128)
        var c = quadrantConfig(  // 8 steps per epoch
            dir, model: .mlp, epochs: 2, hidden: [32], sampler: .adavb, samplesPerCycle: 4, out: dir + "/run")
        c.samplingStage = 0.75  // the last 12 of 16 steps: samples after steps 7, 10, 13, 16
        let trainer = try quietTrainer(c)
        try trainer.run(blasCore: blasCoreName())
        let manifest = try SampleManifest.load(directory: c.out)
        #expect(manifest.samples.map(\.step) == [7, 10, 13, 16])
        #expect(manifest.samples.map(\.epoch) == [1, 2, 2, 2])
        let lines = try String(contentsOfFile: c.out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let first = try JSONSerialization.jsonObject(with: Data(lines.first!.utf8)) as! [String: Any]
        let last = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as! [String: Any]
        #expect(first["bma_samples"] as? Int == 1)
        #expect(last["bma_samples"] as? Int == 4)
        let evaluated =
            try JSONSerialization.jsonObject(with: Data(try RunEvaluation.evaluate(directory: c.out).utf8))
            as! [String: Any]
        let bma = evaluated["bma"] as! [String: Any]
        #expect(bma["samples"] as? Int == 4)
        let nll = try #require(bma["nll"] as? Double)
        let recorded = try #require(last["bma_nll"] as? Double)
        #expect(abs(nll - recorded) <= 1e-6 * max(1, abs(recorded)))
        // The end-of-run summary names both, with the recorded figures.
        let summary = trainer.history.last!.summaryLine()
        let lastAccuracy = try #require(last["test_accuracy"] as? Double)
        let bmaAccuracy = try #require(last["bma_accuracy"] as? Double)
        #expect(summary.hasPrefix("final (epoch 2): last weights accuracy " + String(format: "%.4f", lastAccuracy)))
        #expect(summary.contains("| model average of 4 samples accuracy " + String(format: "%.4f", bmaAccuracy)))
        #expect(summary.contains(String(format: "NLL %.4f", recorded)))
        // Time spent on the mid-epoch sample is recorded apart from the epoch's training time.
        #expect((first["sample_seconds"] as? Double ?? 0) > 0 && last["sample_seconds"] != nil)
    }

    /// Out-of-distribution scoring end to end: a model of the quadrant images tells them from uniform noise.
    @Test func outOfDistributionScoringSeparatesNoise() throws {
        let dir = try quadrantDataset("ood", train: 512, test: 200)
        let c = quadrantConfig(
            dir, model: .mlp, epochs: 4, hidden: [32], sampler: .sghmc, lr: 0.02, samplesPerCycle: 2, out: dir + "/run")
        let trainer = try quietTrainer(c)
        try trainer.run(blasCore: "")
        let json = try RunEvaluation.evaluate(
            directory: c.out,
            ood: OODRequest(
                data: .mnist, dataDir: dir, trainFile: nil,
                testFile: nil, transform: .noise))
        let out = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        let ood = out["ood"] as! [String: Any]
        #expect(ood["examples"] as? Int == 200)
        for model in ["last", "bma"] {
            for score in ["max_probability", "entropy"] {
                let d = (ood[model] as! [String: Any])[score] as! [String: Double]
                #expect(d["auroc"]! > 0.9, "\(model) \(score): \(d)")
                #expect(d["aupr"]! > 0.9 && d["fpr_at_95_tpr"]! < 0.5, "\(model) \(score): \(d)")
            }
        }
    }

    @Test func csvRegressionReachesTheNoiseLevel() throws {
        let dir = try temporaryDirectory("csv")
        var rng = Xoshiro256(seed: 3)
        var text = "x1,x2,x3,y\n"
        for _ in 0..<1200 {
            let x = (0..<3).map { _ in Double(rng.nextGaussian()) }
            let y = 3 + 2 * x[0] - x[1] + 0.1 * Double(rng.nextGaussian())
            text += "\(x[0]),\(x[1]),\(x[2]),\(y)\n"
        }
        try text.write(toFile: dir + "/data.csv", atomically: true, encoding: .utf8)
        var c = TrainConfig()
        c.data = .csv
        c.trainFile = dir + "/data.csv"
        c.model = .mlp
        c.hidden = [16]
        c.epochs = 30
        c.batchSize = 32
        c.lr = 0.02
        c.out = dir + "/run"
        let trainer = try quietTrainer(c)
        try trainer.run(blasCore: blasCoreName())
        let rmse = trainer.history.last!.evaluation.test[.rmse]!
        // Noise sd 0.1 on a target of sd ≈ 2.24: a fitted model lands near 0.1 in original units.
        #expect(rmse < 0.2, "test RMSE \(rmse)")
        #expect(trainer.data.test.count == 240)
    }

    @Test func nonFiniteLossStopsWithAnErrorNamingTheStep() throws {
        let dir = try quadrantDataset("div", train: 128, test: 32)
        var c = TrainConfig()
        c.data = .mnist
        c.dataDir = dir
        c.model = .mlp
        c.epochs = 3
        c.batchSize = 32
        c.lr = 1e6
        c.schedule = .constant
        c.out = dir + "/run"
        let trainer = try quietTrainer(c)
        #expect { try trainer.run(blasCore: "") } throws: {
            "\($0)".contains("diverged at epoch 1") && "\($0)".contains("non-finite loss")
        }
    }
}
