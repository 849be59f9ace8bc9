// The training loop: per epoch, shuffle and batch the training set, take one sampler step per batch
// (gradient of the mean minibatch loss, weight decay added by the sampler), evaluate on the test set,
// append one JSON line to metrics.jsonl, and finally write the weights. Only this file knows the order
// of those steps; the numerics live in the NN and sampler modules.
import Foundation
import BayesPruneKernels
import BayesPruneNN
import BayesPruneData
import BayesPruneDistributed

public struct TrainingError: Error, CustomStringConvertible {
    public let description: String
    /// True when every rank reaches the same error at the same point (divergence, a replica mismatch),
    /// so only rank 0 needs to report it.
    public var collective = false
    public init(description: String, collective: Bool = false) { self.description = description; self.collective = collective }
}

public struct EpochRecord {
    public var epoch: Int
    public var trainLoss: Double
    public var seconds: Double
    public var imagesPerSecond: Double
    public var lr: Double
    public var test: [String: Double]
}

public final class Trainer {
    public let config: TrainConfig
    public let data: PreparedData
    public let network: Network
    public let schedule: Schedule
    public let sampler: SamplerConfig
    public let state: SamplerState
    public let average: ModelAverage
    /// The spike-and-slab EM, when `config.pruning.enabled`.
    public let pruner: Pruner?
    public internal(set) var samples = SampleManifest()
    public let communicator: Communicator
    /// Replica agreement is checked every this many steps (0: never).
    public var syncCheckEvery = 100
    /// Test hooks for the multi-process failure tests: after step `step`, on rank `rank`.
    public enum Fault: String { case perturb, kill, stall, term, nan }
    public var fault: (kind: Fault, rank: Int, step: Int)? = nil
    /// Seconds spent in the gradient allreduce, summed over the run (this rank).
    public private(set) var allreduceSeconds = 0.0
    /// Checkpoints every this many epochs (0: only at the end), keeping the newest `keepCheckpoints`.
    public var checkpointEvery = 1
    public var keepCheckpoints = 2
    /// Set by `restore`: where the run continues.
    public internal(set) var resumePoint: CheckpointHeader?
    public var log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    public var showProgress = isatty(STDERR_FILENO) != 0
    public private(set) var history: [EpochRecord] = []

    public init(config: TrainConfig, data: PreparedData, communicator: Communicator = SingleProcess()) throws {
        self.communicator = communicator
        guard let kind = ModelKind(rawValue: config.model) else {
            throw TrainingError(description: "--model: unknown model \"\(config.model)\"; expected one of \(ModelKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let samplerKind = SamplerKind(rawValue: config.sampler) else {
            throw TrainingError(description: "--sampler: unknown sampler \"\(config.sampler)\"; expected one of \(SamplerKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let scheduleKind = ScheduleKind(rawValue: config.schedule) else {
            throw TrainingError(description: "--schedule: expected constant or cyclical, got \"\(config.schedule)\"")
        }
        self.config = config
        self.data = data
        let input = ActShape(data.train.channels, data.train.height, data.train.width)
        network = try ModelBuilder.build(ModelSpec(kind: kind, input: input, outputs: data.outputs,
                                                   loss: data.modelSpecLoss, hidden: config.hidden, widths: config.widths),
                                         seed: config.seed)
        let steps = config.epochs * (data.train.count / config.batchSize)
        schedule = Schedule(kind: scheduleKind, baseLR: config.lr, totalSteps: steps, cycles: config.cycles)
        sampler = SamplerConfig(kind: samplerKind, weightDecay: Float(config.weightDecay), momentum: Float(config.momentum),
                                beta1: Float(config.beta1), beta2: Float(config.beta2), eta: Float(config.eta),
                                temperature: config.temperature.map(Float.init), dataSize: data.train.count,
                                noiseSeed: config.seed)
        state = SamplerState(config: sampler, parameterCount: network.store.parameterCount)
        average = ModelAverage(keepMembers: data.train.task == .regression)
        pruner = config.pruning.enabled
            ? Pruner(network: network, config: config.pruning, dataSize: data.train.count, lambda1: Float(config.weightDecay))
            : nil
        if let pruner, let problem = config.pruning.unknownOverride(prunableLayers: Set(pruner.prunable.map(\.layer))) {
            throw TrainingError(description: problem)
        }
    }

    public func manifest(blasCore: String) -> RunManifest {
        RunManifest(config: config, inputShape: [data.train.channels, data.train.height, data.train.width],
                    outputs: network.outputs, task: data.train.task.rawValue, classes: data.train.classes,
                    featureNames: data.train.featureNames, normalizationMean: data.normalization.mean,
                    normalizationStd: data.normalization.std, targetMean: data.targetScaling?.mean,
                    targetStd: data.targetScaling?.std, parameterCount: network.store.parameterCount,
                    blasCore: blasCore)
    }

    /// Trains for `config.epochs` epochs, writing the run directory as it goes. With `resumeFrom`, the run
    /// continues from that checkpoint (already restored with `restore`).
    public func run(blasCore: String) throws {
        let dir = config.out
        let comm = communicator, root = comm.isRoot
        var metrics: FileHandle? = nil
        let resuming = resumePoint != nil
        if root {
            try makeRunDirectory(dir)
            let metricsPath = dir + "/metrics.jsonl"
            if let r = resumePoint {
                // Keep the epochs the checkpoint covers; later lines belong to the interrupted attempt.
                let old = (try? String(contentsOfFile: metricsPath, encoding: .utf8)) ?? ""
                let kept = old.split(separator: "\n").filter { line in
                    let d = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                    return (d?["epoch"] as? Int ?? Int.max) <= r.epochsDone
                }
                try AtomicFile.write(kept.map { $0 + "\n" }.joined(), to: metricsPath)
            } else {
                try manifest(blasCore: blasCore).write(directory: dir)
                try AtomicFile.write("", to: metricsPath)
            }
            guard let handle = FileHandle(forWritingAtPath: metricsPath) else {
                throw OutputError(description: "\(metricsPath): cannot open for appending")
            }
            handle.seekToEndOfFile()
            metrics = handle
        } else {
            showProgress = false
        }
        defer { try? metrics?.close() }
        if comm.size > 1 && !resuming {
            // Rank 0's initial weights and batch-norm state for everyone (the sampler's initial state is a
            // pure function of the seed, identical everywhere).
            let s = network.store
            try comm.broadcast(UnsafeMutableRawPointer(s.values.pointer), bytes: s.parameterCount * 4, root: 0, what: "initial weights")
            try comm.broadcast(UnsafeMutableRawPointer(s.state.pointer), bytes: max(s.stateCount, 1) * 4, root: 0, what: "initial state")
        }

        let augmentation: Augmentation? = config.augment.map { $0 ? .cropAndFlip() : .none }
        var loader = try TrainBatchLoader(dataset: data.train, globalBatchSize: config.batchSize, rank: comm.rank,
                                          worldSize: comm.size, seed: config.seed, augmentation: augmentation)
        let B = loader.localBatchSize
        let x = FloatBuffer(count: B * data.train.exampleSize)
        var labels = [Int32](repeating: 0, count: B)
        var targets = [Float](repeating: 0, count: B)
        let store = network.store
        let steps = loader.batchesPerEpoch
        let runStart = monotonicSeconds()
        let plan = SamplingPlan.sampleEpochs(epochs: config.epochs, stepsPerEpoch: steps, schedule: schedule,
                                             perCycle: config.samplesPerCycle)
        let firstEpoch = (resumePoint?.epochsDone ?? 0) + 1

        for epoch in firstEpoch...max(config.epochs, firstEpoch) where epoch <= config.epochs {
            loader.startEpoch(epoch - 1)
            var firstBatch = 0
            var lossSum = 0.0
            let pruningActive = pruner != nil && epoch > config.pruning.warmUp
            if let r = resumePoint, r.batchInEpoch > 0, epoch == firstEpoch {
                // Mid-epoch: this epoch's E-step is in the restored masks; the loader continues where it was.
                firstBatch = r.batchInEpoch
                lossSum = r.lossSumInEpoch
                if comm.rank < r.augmentationStates.count { loader.augmentationRNG = Xoshiro256(state: r.augmentationStates[comm.rank]) }
            } else if pruningActive {
                // The E-step (and structured pruning) once per epoch, at its first batch, after the warm-up.
                try pruner!.step(comm)
            }
            let t0 = monotonicSeconds()
            var lastProgress = t0
            var lr = schedule.learningRate(step: state.step)
            for b in firstBatch..<steps {
                let n = labels.withUnsafeMutableBufferPointer { l in
                    targets.withUnsafeMutableBufferPointer { t in
                        loader.fill(batchIndex: b, into: x.pointer, labels: l.baseAddress!, targets: t.baseAddress!)
                    }
                }
                // [loss, stop requested]: one scalar allreduce carries both, so every rank stops at the same step.
                var loss = [network.lossAndGradient(x.pointer, batch: n, labels: labels, targets: targets),
                            StopSignal.requested ? 1 : 0]
                if comm.size > 1 {
                    // g = the global minibatch mean: sum of the ranks' local means, divided by R.
                    let t = monotonicSeconds()
                    try comm.allreduceSum(store.grads.pointer, count: store.parameterCount, what: "gradient allreduce")
                    allreduceSeconds += monotonicSeconds() - t
                    scale(store.grads.pointer, count: store.parameterCount, by: 1 / Float(comm.size))
                    try comm.allreduceSum(&loss, what: "loss allreduce")
                    loss[0] /= Double(comm.size)
                }
                guard loss[0].isFinite else {
                    throw TrainingError(description: "training diverged: non-finite loss at epoch \(epoch), step \(b + 1) (lr \(lr)); try a smaller --lr; the last good checkpoint is kept",
                                        collective: true)
                }
                lossSum += loss[0]
                lr = schedule.learningRate(step: state.step)
                Sampler.step(sampler, state: state, weights: store.values.pointer, grads: store.grads.pointer,
                             count: store.parameterCount, lr: Float(lr),
                             lambda: pruningActive ? UnsafePointer(pruner!.lambda.pointer) : nil,
                             mask: pruningActive ? UnsafePointer(pruner!.mask.pointer) : nil)
                if let f = fault, f.rank == comm.rank, f.step == state.step { inject(f.kind) }
                if comm.size > 1, syncCheckEvery > 0, state.step % syncCheckEvery == 0 {
                    try checkReplicas(step: state.step, epoch: epoch)
                }
                if loss[1] > 0 {
                    // Preemption: every rank agreed at this step; checkpoint mid-epoch and stop.
                    if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
                    let path = try writeCheckpoint(epochsDone: epoch - 1, batchInEpoch: b + 1, lossSum: lossSum, loader: loader)
                    // Non-root ranks may not have seen the signal themselves: report SIGTERM's status then.
                    throw StopSignal.Stopped(signal: StopSignal.signal != 0 ? StopSignal.signal : SIGTERM, checkpoint: path)
                }
                if showProgress {
                    let now = monotonicSeconds()
                    if now - lastProgress > 0.25 || b == steps - 1 {
                        lastProgress = now
                        let rate = Double((b + 1 - firstBatch) * config.batchSize) / (now - t0)
                        let remaining = Double((steps - b - 1) + (config.epochs - epoch) * steps) * Double(config.batchSize) / rate
                        let line = String(format: "\repoch %d/%d  step %d/%d  loss %.4f  %.0f img/s  ETA %@   ",
                                          epoch, config.epochs, b + 1, steps, lossSum / Double(b + 1), rate, formatDuration(remaining))
                        FileHandle.standardError.write(Data(line.utf8))
                    }
                }
            }
            let seconds = monotonicSeconds() - t0
            if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
            try averageBatchNormStatistics()
            var test = try evaluateEpoch(sampleCycle: plan[epoch], epoch: epoch, directory: dir)
            if let tau = Sampler.preconditionerSummary(sampler, state: state, lr: Float(lr)) {
                for (k, v) in tau { test[k] = v }
            }
            let record = EpochRecord(epoch: epoch, trainLoss: lossSum / Double(max(steps, 1)), seconds: seconds,
                                     imagesPerSecond: Double((steps - firstBatch) * config.batchSize) / seconds, lr: lr, test: test)
            history.append(record)
            var line: [String: Any] = ["epoch": epoch, "sampler": config.sampler, "train_loss": record.trainLoss, "seconds": seconds,
                                       "images_per_second": record.imagesPerSecond, "lr": lr,
                                       "elapsed_seconds": monotonicSeconds() - runStart]
            for (k, v) in test { line[k] = v.isNaN ? NSNull() : v }
            if let pruner {
                let summary = pruner.summary()
                for (k, v) in summary where k != "layers" { line[k] = v }
                line["pruning_layers"] = summary["layers"]
                line["pruning_active"] = pruningActive
                if data.train.task != .multiclass || data.train.height == 1 && data.train.width == 1 && !data.train.featureNames.isEmpty {
                    line["connected_inputs"] = pruner.connectedInputs().map { i in
                        i < data.train.featureNames.count ? data.train.featureNames[i] : "\(i)"
                    }
                }
            }
            if comm.size > 1 {
                line["ranks"] = comm.size
                line["allreduce_seconds_per_step"] = allreduceSeconds / Double(max(state.step, 1))
            }
            if epoch == config.epochs || (checkpointEvery > 0 && epoch % checkpointEvery == 0) {
                let t = monotonicSeconds()
                _ = try writeCheckpoint(epochsDone: epoch, batchInEpoch: 0, lossSum: 0, loader: loader)
                line["checkpoint_seconds"] = monotonicSeconds() - t
            }
            if let metrics {
                let json = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
                metrics.write(json + Data("\n".utf8))
                try metrics.synchronize()
                var text = summaryLine(record)
                if let pruner {
                    let sm = pruner.summary()
                    text += String(format: "  sparsity %.3f  channels %.3f  MACs saved %.3f", sm["weight_sparsity"] as! Double,
                                   sm["channel_sparsity"] as! Double, sm["mac_savings"] as! Double)
                }
                log(text)
            }
        }
        if comm.size > 1 { try checkReplicas(step: state.step, epoch: config.epochs) }
        if root {
            try saveWeights(to: dir + "/weights.safetensors")
            if let pruner { try MaskFile.write(pruner, to: dir + "/mask.safetensors") }
        }
    }

    func inject(_ kind: Fault) {
        switch kind {
        case .perturb: network.store.values[0] += 1e-3
        case .kill: kill(getpid(), SIGKILL)
        case .stall: while true { sleep(3600) }
        case .term: raise(SIGTERM)
        case .nan: network.store.values[0] = .nan
        }
    }

    /// Every rank's weights checksum must equal rank 0's; a mismatch is an error naming the step and ranks.
    public func checkReplicas(step: Int, epoch: Int) throws {
        let store = network.store
        let sums = try communicator.allgather(checksum(store.values.pointer, count: store.parameterCount), what: "replica check")
        let differing = sums.indices.filter { sums[$0] != sums[0] }
        if !differing.isEmpty {
            throw TrainingError(description: "replicas disagree at step \(step) (epoch \(epoch)): rank\(differing.count == 1 ? "" : "s") \(differing.map(String.init).joined(separator: ", ")) differ from rank 0",
                                collective: true)
        }
    }

    /// Batch-norm running statistics are per rank while training; average them before evaluating or saving.
    func averageBatchNormStatistics() throws {
        let store = network.store, comm = communicator
        guard comm.size > 1, store.stateCount > 0 else { return }
        try comm.allreduceSum(store.state.pointer, count: store.stateCount, what: "batch-norm statistics")
        scale(store.state.pointer, count: store.stateCount, by: 1 / Float(comm.size))
    }

    /// Metrics of the current weights ("test_*"), and after taking this epoch's sample (if it is a
    /// sampling epoch) of the model average ("bma_*"; NaN until the first sample).
    func evaluateEpoch(sampleCycle: Int?, epoch: Int, directory: String) throws -> [String: Double] {
        let p = try Evaluator.predict(network, data: data.test, batchSize: config.evalBatchSize, communicator: communicator)
        if let cycle = sampleCycle {
            if communicator.isRoot { try saveSample(epoch: epoch, cycle: cycle, directory: directory) }
            average.add(p)
        }
        var out: [String: Double] = ["bma_samples": Double(average.count)]
        if data.test.task == .regression {
            let last = Evaluator.regression(mean: p, samples: [], targets: data.test.targets, scaling: data.targetScaling!)
            out["test_rmse"] = last.rmse; out["test_nll"] = last.nll
            if let m = average.mean {
                let b = Evaluator.regression(mean: m, samples: average.members, targets: data.test.targets, scaling: data.targetScaling!)
                out["bma_rmse"] = b.rmse; out["bma_nll"] = b.nll
            } else { out["bma_rmse"] = .nan; out["bma_nll"] = .nan }
            return out
        }
        let bins = config.calibrationBins
        out["calibration_bins"] = Double(bins)
        let last = Evaluator.classification(p, labels: data.test.labels, bins: bins)
        out["test_accuracy"] = last.accuracy; out["test_nll"] = last.nll; out["test_brier"] = last.brier
        out["test_ece"] = last.ece; out["test_mce"] = last.mce
        let bma = average.mean.map { Evaluator.classification($0, labels: data.test.labels, bins: bins) }
        out["bma_accuracy"] = bma?.accuracy ?? .nan; out["bma_nll"] = bma?.nll ?? .nan
        out["bma_brier"] = bma?.brier ?? .nan; out["bma_ece"] = bma?.ece ?? .nan; out["bma_mce"] = bma?.mce ?? .nan
        return out
    }

    func saveSample(epoch: Int, cycle: Int, directory: String) throws {
        try makeRunDirectory(directory + "/samples")
        let file = String(format: "sample-%04d.safetensors", samples.samples.count + 1)
        try WeightsFile.write(network, to: directory + "/samples/" + file,
                              metadata: ["model": config.model, "epoch": "\(epoch)", "step": "\(state.step)", "cycle": "\(cycle)"])
        samples.samples.append(SampleRecord(file: file, epoch: epoch, step: state.step, cycle: cycle))
        try samples.write(directory: directory)
    }

    private func summaryLine(_ r: EpochRecord) -> String {
        var s = String(format: "epoch %d/%d  train_loss %.4f", r.epoch, config.epochs, r.trainLoss)
        for k in ["test_accuracy", "test_nll", "test_ece", "test_rmse", "bma_accuracy", "bma_nll", "bma_ece", "bma_rmse", "tau_mean"]
        where r.test[k] != nil && !r.test[k]!.isNaN {
            s += String(format: "  %@ %.4f", k, r.test[k]!)
        }
        if let n = r.test["bma_samples"], n > 0 { s += "  samples \(Int(n))" }
        s += String(format: "  %.0f img/s  %.1f s", r.imagesPerSecond, r.seconds)
        return s
    }

    public func saveWeights(to path: String) throws {
        try WeightsFile.write(network, to: path, metadata: ["model": config.model, "format": "bayesprune-weights-1"])
    }
}

/// The pruning mask as safetensors: one 0/1 tensor per trainable tensor, under the weights' names.
public enum MaskFile {
    public static func write(_ pruner: Pruner, to path: String) throws {
        let s = pruner.network.store
        let tensors = s.entries.map { e in
            NamedTensor(name: e.name, shape: e.shape, values: Array(UnsafeBufferPointer(start: pruner.mask.pointer + e.offset, count: e.count)))
        }
        try Safetensors.write(tensors, metadata: ["format": "bayesprune-mask-1"], to: path)
    }

    /// Loads a mask into `pruner` (and recomputes which channels are dead).
    public static func load(_ pruner: Pruner, from path: String) throws {
        let (tensors, _) = try Safetensors.read(path: path)
        for e in pruner.network.store.entries {
            guard let t = tensors[e.name], t.shape == e.shape else {
                throw OutputError(description: "\(path): mask for \(e.name) missing or of the wrong shape")
            }
            (pruner.mask.pointer + e.offset).update(from: t.values, count: e.count)
        }
        pruner.refreshDeadChannels()
    }
}

/// Weights as safetensors: every trainable tensor under its layer name plus batch-norm running statistics.
public enum WeightsFile {
    public static func write(_ net: Network, to path: String, metadata: [String: String]) throws {
        let s = net.store
        var tensors: [NamedTensor] = s.entries.map { e in
            NamedTensor(name: e.name, shape: e.shape, values: Array(UnsafeBufferPointer(start: s.value(e.offset), count: e.count)))
        }
        tensors += s.stateEntries.map { e in
            NamedTensor(name: e.name, shape: [e.count], values: Array(UnsafeBufferPointer(start: s.stateValue(e.offset), count: e.count)))
        }
        try Safetensors.write(tensors, metadata: metadata, to: path)
    }

    public static func load(_ net: Network, from path: String) throws {
        let (tensors, _) = try Safetensors.read(path: path)
        let s = net.store
        for e in s.entries {
            guard let t = tensors[e.name], t.shape == e.shape else {
                throw OutputError(description: "\(path): tensor \(e.name) missing or of the wrong shape for \(net.modelName)")
            }
            s.value(e.offset).update(from: t.values, count: e.count)
        }
        for e in s.stateEntries {
            guard let t = tensors[e.name], t.values.count == e.count else {
                throw OutputError(description: "\(path): state \(e.name) missing or of the wrong size")
            }
            s.stateValue(e.offset).update(from: t.values, count: e.count)
        }
    }
}

@inline(__always)
func scale(_ p: UnsafeMutablePointer<Float>, count: Int, by f: Float) {
    for i in 0..<count { p[i] *= f }
}

func formatDuration(_ s: Double) -> String {
    guard s.isFinite, s >= 0 else { return "--:--" }
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
}
