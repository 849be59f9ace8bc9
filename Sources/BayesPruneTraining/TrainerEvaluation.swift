// The trainer's evaluation: metrics of the current weights on the test set at the end of every epoch, and
// at the steps of the sampling plan a posterior sample saved to the run directory and added to the BMA.

import BayesPruneEvaluation
import BayesPruneNN
import BayesPruneRunIO
import Foundation

extension Trainer {
    /// Metrics of the current weights, and after taking this epoch's sample (if it is a sampling epoch)
    /// of the model average (NaN until the first sample).
    func evaluateEpoch(sampleCycle: Int?, epoch: Int) throws -> EpochEvaluation {
        // The compact copy (when training one) predicts what the masked network predicts.
        let p = try predictTest()
        if let cycle = sampleCycle { try addSample(p, cycle: cycle, epoch: epoch) }
        var out = EpochEvaluation()
        out.bmaSamples = average.count
        if data.test.task == .regression {
            let scaling = data.targetScaling!
            let v = config.noiseVariance ?? 1
            let last = Evaluator.regression(
                mean: p, samples: [], targets: data.test.targets, scaling: scaling, noiseVariance: v)
            out.test = [.rmse: last.rmse, .nll: last.nll]
            let bma = average.mean.map {
                Evaluator.regression(
                    mean: $0, samples: average.members, targets: data.test.targets, scaling: scaling, noiseVariance: v)
            }
            out.bma = [.rmse: bma?.rmse ?? .nan, .nll: bma?.nll ?? .nan]
            if epoch == config.epochs { finalScores = (.regression(last), bma.map { .regression($0) }) }
            return out
        }
        let bins = config.calibrationBins
        out.calibrationBins = bins
        let last = Evaluator.classification(p, labels: data.test.labels, bins: bins)
        out.test = Self.classificationMetrics(last)
        let bma = average.mean.map { Evaluator.classification($0, labels: data.test.labels, bins: bins) }
        if epoch == config.epochs { finalScores = (.classification(last), bma.map { .classification($0) }) }
        out.bma =
            bma.map(Self.classificationMetrics)
            ?? Dictionary(uniqueKeysWithValues: [.accuracy, .nll, .brier, .ece, .mce].map { ($0, Double.nan) })
        return out
    }

    /// Predictions of the current weights on the test set (the compact copy, when training one, predicts
    /// what the masked network predicts).
    func predictTest() throws -> Predictions {
        try Evaluator.predict(
            working, data: compact?.test ?? data.test, batchSize: config.evalBatchSize, communicator: communicator)
    }

    /// Takes a posterior sample of the current weights: saved to the run directory (rank 0) and added to the
    /// model average. The full network must hold the current weights (after a compact copy's scatter).
    func takeSample(cycle: Int, epoch: Int) throws {
        try addSample(try predictTest(), cycle: cycle, epoch: epoch)
    }

    private func addSample(_ p: Predictions, cycle: Int, epoch: Int) throws {
        if communicator.isRoot { try saveSample(epoch: epoch, cycle: cycle) }
        average.add(p)
    }

    /// The final weights and the model average scored as `evaluate` scores them, from the last epoch's
    /// evaluation (rank 0, after the run; nil when this process did not evaluate the last epoch), so the
    /// report need not score the run again.
    public func scoresAtTheEnd() -> RunScores? {
        guard let (last, bma) = finalScores, history.last?.epoch == config.epochs else { return nil }
        var scores = RunScores(
            config: config, examples: data.test.count, last: last, bma: bma, samples: average.count,
            runDirectory: config.out, runId: runId)
        if let pruner {
            scores.describePruning(pruner, featureNames: data.train.featureNames, chance: data.test.majorityShare)
        }
        return scores
    }

    static func classificationMetrics(_ m: ClassificationMetrics) -> [EpochEvaluation.Metric: Double] {
        [.accuracy: m.accuracy, .nll: m.nll, .brier: m.brier, .ece: m.ece, .mce: m.mce]
    }

    /// Rank 0: writes the current weights as the next posterior sample and updates the sample list.
    func saveSample(epoch: Int, cycle: Int) throws {
        let directory = config.out
        try makeRunDirectory(directory + "/samples")
        let file = String(format: "sample-%04d.safetensors", samples.samples.count + 1)
        let metadata = [
            "model": config.model.rawValue, "epoch": "\(epoch)", "step": "\(state.step)",
            "cycle": "\(cycle)",
        ]
        try WeightsFile.write(network, to: directory + "/samples/" + file, metadata: metadata)
        samples.samples.append(SampleRecord(file: file, epoch: epoch, step: state.step, cycle: cycle))
        try samples.write(directory: directory)
    }
}
