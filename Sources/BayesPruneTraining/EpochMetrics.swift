// One line of metrics.jsonl as a typed record: the only place that knows the key names. NaN (a metric
// not defined yet, e.g. the BMA before its first sample) is written as null, and read back as NaN.
/// Test-set metrics of one epoch: of the current weights ("test_*") and of the model average ("bma_*").

import BayesPruneRunIO
import BayesPruneSampling
import BayesPruneSparsity
import Foundation

public struct EpochEvaluation: Equatable {
    /// Classification: accuracy, NLL, Brier, ECE, MCE. Regression: RMSE and NLL (in target units).
    public var test: [Metric: Double] = [:]
    public var bma: [Metric: Double] = [:]
    public var bmaSamples = 0
    /// Equal-width confidence bins of ECE/MCE (classification only).
    public var calibrationBins: Int?

    public enum Metric: String, CaseIterable { case accuracy, nll, brier, ece, mce, rmse }

    public init() {}
}

/// One epoch of a run as recorded in metrics.jsonl (`jsonLine()`) and on the console (`consoleLine`).
public struct EpochMetrics {
    public var epoch: Int
    public var sampler: SamplerKind
    /// Mean minibatch loss over the epoch's steps.
    public var trainLoss: Double
    /// Wall time of the epoch's steps, and training examples per second over them.
    public var seconds: Double
    public var imagesPerSecond: Double
    /// The step size of the epoch's last step, and the schedule's base step size (the `lr` setting, which
    /// a resumed run may have changed).
    public var lr: Double
    public var baseLR: Double
    public var elapsedSeconds: Double
    public var evaluation: EpochEvaluation
    public var preconditioner: PreconditionerSummary?
    public var pruning: PruningSummary?
    public var pruningActive: Bool?
    /// The layers the E-step would have emptied, kept alive with their strongest channel (this epoch).
    public var pruningGuard: [String]?
    /// Set when the pruned network predicts no better than a constant (see `Trainer.collapseWarning`).
    public var pruningWarning: String?
    /// Names of the input features still connected (tabular data with pruning).
    public var connectedInputs: [String]?
    /// Under MPI: the rank count and the mean gradient-allreduce time per step of this rank.
    public var ranks: Int?
    public var allreduceSecondsPerStep: Double?
    /// Under MPI: the gradient's buckets, and how many of them the last step started during backward.
    public var allreduceBuckets: Int?
    public var allreduceBucketsDuringBackward: Int?
    public var checkpointSeconds: Double?
    /// Time spent inside the epoch on posterior samples taken between its steps (scoring the test set and
    /// writing the sample), which `seconds` and `imagesPerSecond` leave out.
    public var sampleSeconds: Double?
    /// Forward multiply-adds per example of the network the epoch's steps ran on: the compact copy with
    /// `--shrink` once channels are removed, else the full network (nil in runs of earlier versions).
    public var trainingMACsPerExample: Int?
    /// Image-folder data: seconds the epoch's steps waited for decoded batches, and the decoder's images
    /// per second per thread over the epoch.
    public var inputWaitSeconds: Double?
    public var decodeImagesPerSecondPerThread: Double?

    private enum Key: String, CodingKey {
        case epoch, sampler
        case trainLoss = "train_loss"
        case seconds
        case imagesPerSecond = "images_per_second"
        case lr
        case baseLR = "base_lr"
        case elapsedSeconds = "elapsed_seconds"
        case bmaSamples = "bma_samples"
        case calibrationBins = "calibration_bins"
        case pruningGuard = "pruning_guard"
        case pruningWarning = "pruning_warning"
        case tauMean = "tau_mean"
        case tauMin = "tau_min"
        case tauMax = "tau_max"
        case samplingTemperature = "sampling_temperature"
        case weightSparsity = "weight_sparsity"
        case channelSparsity = "channel_sparsity"
        case kernelSparsity = "kernel_sparsity"
        case macSavings = "mac_savings"
        case theta
        case eStep = "e_step"
        case eSteps = "e_steps"
        case pruningLayers = "pruning_layers"
        case pruningActive = "pruning_active"
        case connectedInputs = "connected_inputs"
        case ranks
        case allreduceSecondsPerStep = "allreduce_seconds_per_step"
        case allreduceBuckets = "allreduce_buckets"
        case allreduceBucketsDuringBackward = "allreduce_buckets_during_backward"
        case checkpointSeconds = "checkpoint_seconds"
        case sampleSeconds = "sample_seconds"
        case trainingMACsPerExample = "training_macs_per_example"
        case inputWaitSeconds = "input_wait_seconds"
        case decodeImagesPerSecondPerThread = "decode_images_per_second_per_thread"
    }

    /// Keys of the line: the fixed ones (`Key`) and "test_"/"bma_" + a metric's name.
    private struct MetricKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
        init(_ key: Key) { stringValue = key.rawValue }
    }

    /// The JSON line (keys sorted, no trailing newline).
    public func jsonLine() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(Line(self))
    }

    /// NaN (undefined) is written as null; JSON has no NaN.
    static func finite(_ x: Double) -> Double? { x.isNaN ? nil : x }

    /// The encodable form: a wrapper so the record itself stays a plain value.
    private struct Line: Encodable {
        let m: EpochMetrics
        init(_ m: EpochMetrics) { self.m = m }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: MetricKey.self)
            try c.encode(m.epoch, forKey: .init(Key.epoch))
            try c.encode(m.sampler, forKey: .init(Key.sampler))
            try c.encode(m.trainLoss, forKey: .init(Key.trainLoss))
            try c.encode(m.seconds, forKey: .init(Key.seconds))
            try c.encode(m.imagesPerSecond, forKey: .init(Key.imagesPerSecond))
            try c.encode(m.lr, forKey: .init(Key.lr))
            try c.encode(m.baseLR, forKey: .init(Key.baseLR))
            try c.encode(m.elapsedSeconds, forKey: .init(Key.elapsedSeconds))
            try c.encode(Double(m.evaluation.bmaSamples), forKey: .init(Key.bmaSamples))
            try c.encodeIfPresent(m.evaluation.calibrationBins.map(Double.init), forKey: .init(Key.calibrationBins))
            for (prefix, values) in [("test_", m.evaluation.test), ("bma_", m.evaluation.bma)] {
                for (k, v) in values {
                    try c.encode(v.isNaN ? nil : v, forKey: MetricKey(stringValue: prefix + k.rawValue))
                }
            }
            if let p = m.preconditioner {
                try c.encode(EpochMetrics.finite(p.tauMean), forKey: .init(Key.tauMean))
                try c.encode(EpochMetrics.finite(p.tauMin), forKey: .init(Key.tauMin))
                try c.encode(EpochMetrics.finite(p.tauMax), forKey: .init(Key.tauMax))
                try c.encode(EpochMetrics.finite(p.samplingTemperature), forKey: .init(Key.samplingTemperature))
            }
            try encodePruning(&c)
            try c.encodeIfPresent(m.ranks, forKey: .init(Key.ranks))
            try c.encodeIfPresent(m.allreduceSecondsPerStep, forKey: .init(Key.allreduceSecondsPerStep))
            try c.encodeIfPresent(m.allreduceBuckets, forKey: .init(Key.allreduceBuckets))
            try c.encodeIfPresent(m.allreduceBucketsDuringBackward, forKey: .init(Key.allreduceBucketsDuringBackward))
            try c.encodeIfPresent(m.checkpointSeconds, forKey: .init(Key.checkpointSeconds))
            try c.encodeIfPresent(m.sampleSeconds, forKey: .init(Key.sampleSeconds))
            try c.encodeIfPresent(m.inputWaitSeconds, forKey: .init(Key.inputWaitSeconds))
            try c.encodeIfPresent(
                m.decodeImagesPerSecondPerThread, forKey: .init(Key.decodeImagesPerSecondPerThread))
            try c.encodeIfPresent(m.trainingMACsPerExample, forKey: .init(Key.trainingMACsPerExample))
        }

        private func encodePruning(_ c: inout KeyedEncodingContainer<MetricKey>) throws {
            guard let p = m.pruning else { return }
            try c.encode(p.weightSparsity, forKey: .init(Key.weightSparsity))
            try c.encode(p.channelSparsity, forKey: .init(Key.channelSparsity))
            try c.encode(p.kernelSparsity, forKey: .init(Key.kernelSparsity))
            try c.encode(p.macSavings, forKey: .init(Key.macSavings))
            try c.encode(EpochMetrics.finite(p.theta), forKey: .init(Key.theta))
            try c.encode(p.eStep, forKey: .init(Key.eStep))
            try c.encode(p.eSteps, forKey: .init(Key.eSteps))
            try c.encode(p.layers, forKey: .init(Key.pruningLayers))
            try c.encodeIfPresent(m.pruningActive, forKey: .init(Key.pruningActive))
            try c.encodeIfPresent(m.connectedInputs, forKey: .init(Key.connectedInputs))
            try c.encodeIfPresent(m.pruningGuard, forKey: .init(Key.pruningGuard))
            try c.encodeIfPresent(m.pruningWarning, forKey: .init(Key.pruningWarning))
        }
    }

    /// The one-line console summary of the epoch.
    public func consoleLine(epochs: Int) -> String {
        var s = String(format: "epoch %d/%d  train_loss %.4f", epoch, epochs, trainLoss)
        let e = evaluation
        let shown: [(String, Double?)] = [
            ("test_accuracy", e.test[.accuracy]), ("test_nll", e.test[.nll]), ("test_ece", e.test[.ece]),
            ("test_rmse", e.test[.rmse]), ("bma_accuracy", e.bma[.accuracy]), ("bma_nll", e.bma[.nll]),
            ("bma_ece", e.bma[.ece]), ("bma_rmse", e.bma[.rmse]), ("tau_mean", preconditioner?.tauMean),
        ]
        for (name, value) in shown {
            if let value, !value.isNaN { s += String(format: "  %@ %.4f", name, value) }
        }
        if e.bmaSamples > 0 { s += "  samples \(e.bmaSamples)" }
        s += String(format: "  %.0f img/s  %.1f s", imagesPerSecond, seconds)
        if let rate = decodeImagesPerSecondPerThread {
            s += String(format: "  decode %.0f img/s per thread, waited %.1f s", rate, inputWaitSeconds ?? 0)
        }
        if let p = pruning {
            s += String(
                format: "  sparsity %.3f  channels %.3f  MACs saved %.3f",
                p.weightSparsity, p.channelSparsity, p.macSavings)
        }
        return s
    }

    /// The end-of-run summary: the last weights against the model average, e.g. `final (epoch 6): last weights
    /// accuracy 0.9041 NLL 0.2636 ECE 0.0167 | model average of 6 samples accuracy 0.9050 NLL 0.2622 ECE 0.0135`
    /// (regression: RMSE and NLL), and the sparsity of a pruned run.
    public func summaryLine() -> String {
        let e = evaluation
        let keys: [(String, EpochEvaluation.Metric)] =
            e.test[.rmse] != nil
            ? [("RMSE", .rmse), ("NLL", .nll)] : [("accuracy", .accuracy), ("NLL", .nll), ("ECE", .ece)]
        func figures(_ m: [EpochEvaluation.Metric: Double]) -> String {
            keys.map { String(format: "%@ %.4f", $0.0, m[$0.1] ?? .nan) }.joined(separator: " ")
        }
        var s = "final (epoch \(epoch)): last weights " + figures(e.test)
        s +=
            e.bmaSamples > 0
            ? " | model average of \(e.bmaSamples) sample\(e.bmaSamples == 1 ? "" : "s") " + figures(e.bma)
            : " | no posterior samples (--samples-per-cycle 0)"
        if let p = pruning {
            s += String(
                format: " | %.1f%% of prunable weights removed, %.1f%% of MACs", 100 * p.weightSparsity,
                100 * p.macSavings)
        }
        return s
    }
}

// MARK: - Reading metrics.jsonl back

extension EpochMetrics {
    /// One line of metrics.jsonl read back (the keys `jsonLine()` writes). `epoch`, `sampler` and `train_loss`
    /// are required; a key a run of an earlier version did not write takes its default (NaN for a number,
    /// nil for an optional record), and null (a metric not defined yet) reads as NaN. Throws the decoder's
    /// error; `read(path:)` turns it into a message naming the file, the line and the key.
    public init(jsonLine: Data) throws {
        self = try JSONDecoder().decode(DecodedLine.self, from: jsonLine).metrics
    }

    /// Every epoch of a run's metrics.jsonl, in order. Throws `OutputError` naming the file, and for a bad
    /// line its number and what is wrong with it (never a decoder's own text).
    public static func read(path: String) throws -> [EpochMetrics] {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw OutputError(
                description: exists
                    ? "\(path): cannot read" : "\(path): missing (not a run directory written by `bayesprune train`?)")
        }
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        var out: [EpochMetrics] = []
        for (i, line) in lines.enumerated() {
            // The file ends with a newline: the empty piece after it is not a line.
            if line.isEmpty && i == lines.count - 1 { continue }
            let m: EpochMetrics
            do { m = try EpochMetrics(jsonLine: Data(line)) } catch {
                throw OutputError(description: "\(path): line \(i + 1): \(decodingProblem(error))")
            }
            if let previous = out.last, m.epoch <= previous.epoch {
                throw OutputError(description: "\(path): line \(i + 1): epoch \(m.epoch) after epoch \(previous.epoch)")
            }
            out.append(m)
        }
        return out
    }

    /// The decodable form of a line (the mirror of `Line`).
    private struct DecodedLine: Decodable {
        let metrics: EpochMetrics

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: MetricKey.self)
            func number(_ k: Key) throws -> Double { try c.decodeIfPresent(Double.self, forKey: .init(k)) ?? .nan }
            func optional<T: Decodable>(_ type: T.Type, _ k: Key) throws -> T? {
                try c.decodeIfPresent(type, forKey: .init(k))
            }
            var e = EpochEvaluation()
            for metric in EpochEvaluation.Metric.allCases {
                for (prefix, isTest) in [("test_", true), ("bma_", false)] {
                    let key = MetricKey(stringValue: prefix + metric.rawValue)
                    guard c.contains(key) else { continue }
                    let v = try c.decodeIfPresent(Double.self, forKey: key) ?? .nan
                    if isTest { e.test[metric] = v } else { e.bma[metric] = v }
                }
            }
            e.bmaSamples = Int(try optional(Double.self, .bmaSamples) ?? 0)
            e.calibrationBins = try optional(Double.self, .calibrationBins).map { Int($0) }
            var m = EpochMetrics(
                epoch: try c.decode(Int.self, forKey: .init(Key.epoch)),
                sampler: try c.decode(SamplerKind.self, forKey: .init(Key.sampler)),
                trainLoss: try c.decode(Double.self, forKey: .init(Key.trainLoss)), seconds: try number(.seconds),
                imagesPerSecond: try number(.imagesPerSecond), lr: try number(.lr), baseLR: try number(.baseLR),
                elapsedSeconds: try number(.elapsedSeconds), evaluation: e)
            if c.contains(.init(Key.tauMean)) {
                m.preconditioner = PreconditionerSummary(
                    tauMean: try number(.tauMean), tauMin: try number(.tauMin), tauMax: try number(.tauMax),
                    samplingTemperature: try number(.samplingTemperature))
            }
            if c.contains(.init(Key.weightSparsity)) {
                m.pruning = PruningSummary(
                    weightSparsity: try number(.weightSparsity), channelSparsity: try number(.channelSparsity),
                    kernelSparsity: try number(.kernelSparsity), macSavings: try number(.macSavings),
                    theta: try number(.theta), eStep: try optional(EStepMode.self, .eStep) ?? .threshold,
                    eSteps: try optional(Int.self, .eSteps) ?? 0,
                    layers: try optional([PruningSummary.Layer].self, .pruningLayers) ?? [])
                m.pruningActive = try optional(Bool.self, .pruningActive)
                m.connectedInputs = try optional([String].self, .connectedInputs)
                m.pruningGuard = try optional([String].self, .pruningGuard)
                m.pruningWarning = try optional(String.self, .pruningWarning)
            }
            m.ranks = try optional(Int.self, .ranks)
            m.allreduceSecondsPerStep = try optional(Double.self, .allreduceSecondsPerStep)
            m.allreduceBuckets = try optional(Int.self, .allreduceBuckets)
            m.allreduceBucketsDuringBackward = try optional(Int.self, .allreduceBucketsDuringBackward)
            m.checkpointSeconds = try optional(Double.self, .checkpointSeconds)
            m.sampleSeconds = try optional(Double.self, .sampleSeconds)
            m.inputWaitSeconds = try optional(Double.self, .inputWaitSeconds)
            m.decodeImagesPerSecondPerThread = try optional(Double.self, .decodeImagesPerSecondPerThread)
            m.trainingMACsPerExample = try optional(Int.self, .trainingMACsPerExample)
            metrics = m
        }
    }
}
