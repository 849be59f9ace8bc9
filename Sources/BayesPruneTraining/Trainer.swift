// The training loop: per epoch, shuffle and batch the training set, take one sampler step per batch
// (gradient of the mean minibatch loss, weight decay added by the sampler), evaluate on the test set,
// append one line to metrics.jsonl, and finally write the weights. `run` reads as the loop itself;
// each piece is a named step below. Only this file knows the order of those steps; the numerics live
// in the NN, sampling and sparsity modules.

import BayesPruneConfig
import BayesPruneData
import BayesPruneDistributed
import BayesPruneEvaluation
import BayesPruneKernels
import BayesPruneNN
import BayesPruneRunIO
import BayesPruneSampling
import BayesPruneSparsity
import Foundation

/// A training failure that is not about a setting or a file (e.g. replicas that disagree); one line.
public struct TrainingError: Error, CustomStringConvertible {
    public let description: String
    /// True when every rank reaches the same error at the same point (divergence, a replica mismatch),
    /// so only rank 0 needs to report it.
    public var collective = false
    public init(description: String, collective: Bool = false) {
        self.description = description
        self.collective = collective
    }
}

public final class Trainer {
    public let config: TrainConfig
    public let controls: RunControls
    public let data: PreparedData
    public let network: Network
    public let schedule: Schedule
    public let sampler: SamplerConfig
    public let state: SamplerState
    public let average: ModelAverage
    /// The spike-and-slab EM, when `config.pruning.enabled`.
    public let pruner: Pruner?
    public internal(set) var samples = SampleManifest()
    /// The last epoch's scores of the final weights and of the model average (for the report).
    var finalScores: (last: TestScores, bma: TestScores?)?
    public let communicator: Communicator
    /// Test hooks for the multi-process failure tests: after step `step`, on rank `rank`.
    /// blowup multiplies the output layer by −10 at that step and by 10 after every later one: confident
    /// wrong predictions whose loss grows step after step (a divergence, for the detection tests).
    public enum Fault: String { case perturb, kill, stall, term, nan, blowup }
    public var fault: (kind: Fault, rank: Int, step: Int)? = nil
    /// Seconds spent in the gradient allreduce, summed over the run (this rank).
    public private(set) var allreduceSeconds = 0.0
    /// The bucketed gradient sum of the network the steps run on (rebuilt when that changes: compaction).
    var gradientReducer: BucketedAllreduce?
    /// The first error a bucket's start raised inside backward (which cannot throw), thrown after it.
    var backwardError: Error?
    /// Image-folder decoding counters when the current epoch began (the epoch's figures are the difference).
    var decodeAtEpochStart = DecodeStatistics()
    /// Set by `restore`: where the run continues.
    public internal(set) var resumePoint: CheckpointHeader?
    public var log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    public var showProgress = isatty(STDERR_FILENO) != 0
    /// Identifies this run in config.json and in every checkpoint; `restore` takes the resumed run's.
    public internal(set) var runId = UUID().uuidString
    /// A new run first removes a previous run's files from its directory (`train --overwrite`).
    public var replacePreviousRun = false
    public private(set) var history: [EpochMetrics] = []
    /// The divergence watch (checkpointed, so a resumed run watches as an uninterrupted one).
    var lossWatch = LossWatch()
    /// With `--shrink`, the compact copy the steps run on once units are removed (CompactTraining.swift).
    var compact: CompactCopy?
    /// Regression: the training targets' standard deviation in their units (the collapse warning's constant
    /// predictor), computed once.
    lazy var targetSpread = data.targetSpread
    /// Dead ReLU layers of the seed's first initial draw and the draws it took to get a live network.
    let redrawnStart: (dead: [String], attempts: Int, live: Bool)
    /// When the last checkpoint was written (the run's start before the first).
    var lastCheckpoint = monotonicSeconds()
    /// The network the steps run on: the compact copy when there is one, else `network`.
    var working: Network { compact?.network ?? network }

    /// Builds the model, schedule, sampler state and (with pruning) the pruner for `config` on `data`.
    /// Throws `SettingError` for a model that does not fit the data or an override naming no prunable layer.
    public init(
        config: TrainConfig, controls: RunControls = RunControls(), data: PreparedData,
        communicator: Communicator = SingleProcess()
    ) throws {
        self.config = config
        self.controls = controls
        self.data = data
        self.communicator = communicator
        let input = ActShape(data.train.channels, data.train.height, data.train.width)
        let spec = config.modelSpec(input: input, outputs: data.outputs, loss: data.modelSpecLoss)
        network = try ModelBuilder.build(spec, seed: config.seed)
        redrawnStart = Self.redrawDeadStart(network, spec: spec, seed: config.seed, data: data.train)
        let steps = config.epochs * (data.train.count / config.batchSize)
        schedule = Schedule(kind: config.schedule, baseLR: config.lr, totalSteps: steps, cycles: config.cycles)
        sampler = SamplerConfig(
            kind: config.sampler, weightDecay: Float(config.weightDecay), momentum: Float(config.momentum),
            beta1: Float(config.beta1), beta2: Float(config.beta2), eta: Float(config.eta),
            temperature: config.temperature.map(Float.init), dataSize: data.train.count, noiseSeed: config.seed)
        state = SamplerState(config: sampler, parameterCount: network.store.parameterCount)
        average = ModelAverage(keepMembers: data.train.task == .regression)
        pruner =
            config.pruning.enabled
            ? Pruner(
                network: network, config: config.pruning, dataSize: data.train.count,
                lambda1: Float(config.weightDecay), stepsPerEpoch: data.train.count / config.batchSize)
            : nil
        try pruner?.config.checkOverrides(prunableLayers: Set(pruner!.prunable.map(\.layer)))
        pruner?.inputFeaturesDroppable = data.train.isTabular
        // Everything that can refuse the settings does so here, before the run directory is touched.
        _ = try makeLoader()
        try Self.checkRegressionSettings(config, task: data.train.task)
        try RunDirectory.checkUsable(config.out)
    }

    /// A network whose initial draw has a ReLU layer that is zero on every one of the first training
    /// examples (up to 512) can never learn: nothing reaches the layers before it. Draw again from the same
    /// seed (another stream), at most 10 times; every rank decides alike on the same data.
    static func redrawDeadStart(
        _ net: Network, spec: ModelSpec, seed: UInt64, data: Dataset
    )
        -> (dead: [String], attempts: Int, live: Bool)
    {
        // Image folders are decoded per batch; their models (deep ResNets) have batch norm before every ReLU.
        if data.isDecodedPerBatch { return ([], 0, true) }
        let n = min(data.count, 512)
        return data.features.withUnsafeBufferPointer { f in
            let first = net.deadReLULayers(f.baseAddress!, batch: n)
            var (dead, attempt) = (first, 0)
            while !dead.isEmpty && attempt < 10 {
                attempt += 1
                net.initialize(seed: seed, scheme: spec.initScheme, attempt: attempt)
                dead = net.deadReLULayers(f.baseAddress!, batch: n)
            }
            return (first, attempt, dead.isEmpty)
        }
    }

    /// The regression likelihood's settings are refused on classification data, where they would be
    /// silently ignored. Throws `SettingError` naming the setting.
    static func checkRegressionSettings(_ c: TrainConfig, task: TaskKind) throws {
        guard task != .regression else { return }
        if c.targetScaling == .identity {
            throw SettingError("target-scaling", "only for regression targets; this data is \(task.rawValue)")
        }
        if let v = c.noiseVariance, v != 1 {
            throw SettingError("noise-variance", "only for regression targets; this data is \(task.rawValue)")
        }
    }

    /// This rank's batch loader. Throws `SettingError("batch-size", ...)` when the global batch does not
    /// split over the ranks or exceeds the training set.
    func makeLoader(_ dataset: Dataset? = nil) throws -> TrainBatchLoader {
        let augmentation: Augmentation? = config.augment.map { $0 ? .cropAndFlip() : .none }
        return try TrainBatchLoader(
            dataset: dataset ?? data.train, globalBatchSize: config.batchSize, rank: communicator.rank,
            worldSize: communicator.size, seed: config.seed, augmentation: augmentation)
    }

    /// What config.json records for this run: the configuration, the data's shape, task and normalization,
    /// the parameter count, the OpenBLAS kernel `blasCore` and the run identifier.
    public func manifest(blasCore: String) -> RunManifest {
        RunManifest(
            config: config, inputShape: [data.train.channels, data.train.height, data.train.width],
            outputs: network.outputs, task: data.train.task.rawValue, classes: data.train.classes,
            featureNames: data.train.featureNames, normalizationMean: data.normalization.mean,
            normalizationStd: data.normalization.std, targetMean: data.targetScaling?.mean,
            targetStd: data.targetScaling?.std, parameterCount: network.store.parameterCount,
            blasCore: blasCore, runId: runId)
    }

    /// What the ranks of a job must agree on before training: one digest per setting (threads aside: a
    /// rank's thread count follows its host) and of the data it loaded. Names are the settings' keys.
    public func setupDigests() -> [(name: String, digest: UInt64)] {
        var out = TrainSettings(resolved: config, controls: controls).digests
            .filter { $0.key != .threads }.map { (name: $0.key.rawValue, digest: $0.digest) }
        func digest(_ words: [UInt64]) -> UInt64 {
            var h = FNV1a()
            for w in words { h.add(w) }
            return h.value
        }
        let d = data
        out.append(
            (
                "data (example counts and shape)",
                digest(
                    [d.train.count, d.test.count, d.train.channels, d.train.height, d.train.width, d.train.classes]
                        .map { UInt64($0) })
            ))
        out.append(("data (training set content)", contentDigest(d.train)))
        out.append(("data (test set content)", contentDigest(d.test)))
        return out
    }

    /// A digest of every feature, label and target value of a data set (as loaded and normalized): one
    /// pixel or label that differs between two ranks' copies changes it.
    func contentDigest(_ d: Dataset) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        func mix(_ w: UInt64) { h = (h ^ w) &* 0xBF58_476D_1CE4_E5B9 &+ 0x94D0_49BB_1331_11EB }
        d.features.withUnsafeBufferPointer { for x in $0 { mix(UInt64(x.bitPattern)) } }
        if let images = d.images {
            // Files by path relative to the split and header size (the pixels are decoded per batch).
            for (file, size) in zip(images.files, images.sizes) {
                for byte in file.utf8 { mix(UInt64(byte)) }
                mix(UInt64(UInt32(bitPattern: size.width)) << 32 | UInt64(UInt32(bitPattern: size.height)))
            }
            for x in d.pixelNormalization?.mean ?? [] { mix(UInt64(x.bitPattern)) }
        }
        for l in d.labels { mix(UInt64(UInt32(bitPattern: l))) }
        for t in d.targets { mix(UInt64(t.bitPattern)) }
        return h
    }

    /// Trains for `config.epochs` epochs, writing the run directory as it goes; after `restore`, the run
    /// continues from the restored checkpoint.
    public func run(blasCore: String) throws {
        var run = try beginRun(blasCore: blasCore)
        defer { try? run.metrics?.close() }
        for epoch in stride(from: run.firstEpoch, through: config.epochs, by: 1) {
            var e = try beginEpoch(epoch, &run)
            for batch in e.firstBatch..<run.steps {
                try step(batch: batch, &e, &run)
            }
            try endEpoch(e, &run)
        }
        try finishRun()
    }

    // MARK: - The run

    /// What lives for the whole run: the loader, the batch buffers, the metrics file.
    struct RunState {
        var loader: TrainBatchLoader
        let x: FloatBuffer
        var labels: [Int32]
        var targets: [Float]
        var metrics: FileHandle?
        let steps: Int
        let firstEpoch: Int
        /// Step count → cycle for the steps after which a posterior sample is taken.
        let samplePlan: [Int: Int]
        let started: Double
    }

    /// What lives for one epoch.
    struct EpochState {
        let epoch: Int
        let firstBatch: Int
        let pruningActive: Bool
        var lossSum: Double
        /// The step size of the latest step (before the first: the one it will take).
        var lr: Double
        let started = monotonicSeconds()
        var lastProgress = 0.0
        /// Time spent on samples taken between this epoch's steps (left out of its training time).
        var sampleSeconds = 0.0
    }

    /// Opens the run directory (rank 0), agrees the initial weights across ranks, makes the loader.
    func beginRun(blasCore: String) throws -> RunState {
        let comm = communicator
        let metrics = comm.isRoot ? try openRunDirectory(blasCore: blasCore) : nil
        if !comm.isRoot { showProgress = false }
        if resumePoint == nil && redrawnStart.attempts > 0 {
            let outcome =
                redrawnStart.live
                ? "drew the weights again (draw \(redrawnStart.attempts + 1) of seed \(config.seed))"
                : "still dead after \(redrawnStart.attempts + 1) draws of seed \(config.seed); training it anyway "
                    + "(try another seed or --init)"
            log(
                "initialisation: \(redrawnStart.dead.joined(separator: ", ")) output zero for every one of the first "
                    + "training examples (a dead network); " + outcome)
        }
        if comm.size > 1 && resumePoint == nil { try broadcastInitialState() }
        let loader = try makeLoader()
        let B = loader.localBatchSize
        let plan =
            config.samplingStage.map {
                SamplingPlan.sampleSteps(
                    totalSteps: config.epochs * loader.batchesPerEpoch, schedule: schedule,
                    perCycle: config.samplesPerCycle, stage: $0)
            }
            ?? SamplingPlan.epochEndSteps(
                epochs: config.epochs, stepsPerEpoch: loader.batchesPerEpoch, schedule: schedule,
                perCycle: config.samplesPerCycle)
        return RunState(
            loader: loader, x: FloatBuffer(count: B * data.train.exampleSize),
            labels: [Int32](repeating: 0, count: B), targets: [Float](repeating: 0, count: B), metrics: metrics,
            steps: loader.batchesPerEpoch, firstEpoch: (resumePoint?.epochsDone ?? 0) + 1, samplePlan: plan,
            started: monotonicSeconds())
    }

    /// Rank 0's initial weights and batch-norm state for everyone (the sampler's initial state is a pure
    /// function of the seed, identical everywhere).
    func broadcastInitialState() throws {
        let s = network.store
        try communicator.broadcast(
            UnsafeMutableRawPointer(s.values.pointer), bytes: s.parameterCount * 4, root: 0,
            what: "initial weights")
        try communicator.broadcast(
            UnsafeMutableRawPointer(s.state.pointer), bytes: max(s.stateCount, 1) * 4,
            root: 0, what: "initial state")
    }

    /// Rank 0: creates the run directory, writes config.json (a new run) or trims metrics.jsonl to the
    /// checkpoint's epochs (a resumed one), and opens metrics.jsonl for appending.
    func openRunDirectory(blasCore: String) throws -> FileHandle {
        let dir = config.out
        let metricsPath = config.out + "/metrics.jsonl"
        // --overwrite replaces a run; a directory that holds none keeps every file it has.
        if replacePreviousRun && resumePoint == nil && !RunDirectory.runFilesPresent(dir).isEmpty {
            try RunDirectory.clearPreviousRun(dir)
        }
        try makeRunDirectory(dir)
        if let r = resumePoint {
            // Keep the epochs the checkpoint covers; later lines belong to the interrupted attempt.
            let old = (try? String(contentsOfFile: metricsPath, encoding: .utf8)) ?? ""
            let kept = old.split(separator: "\n").filter { line in
                let d = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return (d?["epoch"] as? Int ?? Int.max) <= r.epochsDone
            }
            try AtomicFile.write(kept.map { $0 + "\n" }.joined(), to: metricsPath)
            // A resumed run may have a new base step size (after a divergence), and a run of an earlier
            // version gets its identifier now: config.json records both.
            var m = try RunManifest.load(directory: dir)
            if m.config != config || m.runId != runId {
                m.config = config
                m.runId = runId
                try m.write(directory: dir)
            }
        } else {
            try manifest(blasCore: blasCore).write(directory: dir)
            try AtomicFile.write("", to: metricsPath)
        }
        guard let handle = FileHandle(forWritingAtPath: metricsPath) else {
            throw OutputError(description: "\(metricsPath): cannot open for appending")
        }
        handle.seekToEndOfFile()
        return handle
    }

    /// After the last epoch: the final replica check, then rank 0 writes the weights and the mask.
    func finishRun() throws {
        if communicator.size > 1 { try checkReplicas(step: state.step, epoch: config.epochs) }
        guard communicator.isRoot else { return }
        try saveWeights(to: config.out + "/weights.safetensors")
        if let pruner {
            try MaskFile.write(pruner.mask, layout: network.store, to: config.out + "/mask.safetensors")
        }
        if let last = history.last { log(last.summaryLine()) }
    }

    // MARK: - One epoch

    /// Shuffles, and either continues a restored mid-epoch checkpoint or (after the warm-up) runs the E-step.
    func beginEpoch(_ epoch: Int, _ run: inout RunState) throws -> EpochState {
        run.loader.startEpoch(epoch - 1)
        decodeAtEpochStart = run.loader.decodeStatistics ?? DecodeStatistics()
        let pruningActive = pruner != nil && epoch > config.pruning.warmUp
        if let r = resumePoint, r.batchInEpoch > 0, epoch == run.firstEpoch {
            // Mid-epoch: this epoch's E-step is in the restored masks; the loader continues where it was.
            if communicator.rank < r.augmentationStates.count {
                run.loader.augmentationRNG = Xoshiro256(state: r.augmentationStates[communicator.rank])
            }
            if pruningActive { try updateCompactCopy(epoch: epoch, &run) }
            return EpochState(
                epoch: epoch, firstBatch: r.batchInEpoch, pruningActive: pruningActive,
                lossSum: r.lossSumInEpoch, lr: schedule.learningRate(step: state.step))
        }
        if pruningActive, let pruner {
            // The E-step (and structured pruning) once per epoch, at its first batch, after the warm-up;
            // removed weights are zero from here on (the sampler keeps them so).
            try pruner.step(communicator)
            vApplyMask(network.store.values.pointer, mask: pruner.mask.pointer, count: network.store.parameterCount)
            try updateCompactCopy(epoch: epoch, &run)
            if !pruner.lastGuarded.isEmpty {
                log(
                    "warning: epoch \(epoch): the E-step would have removed every channel of a layer; kept the "
                        + "strongest: \(pruner.lastGuarded.joined(separator: "; "))")
            }
        }
        return EpochState(
            epoch: epoch, firstBatch: 0, pruningActive: pruningActive, lossSum: 0,
            lr: schedule.learningRate(step: state.step))
    }

    /// Averages batch-norm statistics, evaluates, takes the epoch's posterior sample, checkpoints and
    /// appends the metrics line.
    func endEpoch(_ e: EpochState, _ run: inout RunState) throws {
        let seconds = monotonicSeconds() - e.started - e.sampleSeconds
        if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
        try bringFullNetworkUpToDate()
        let evaluation = try evaluateEpoch(sampleCycle: run.samplePlan[state.step], epoch: e.epoch)
        var m = EpochMetrics(
            epoch: e.epoch, sampler: config.sampler, trainLoss: e.lossSum / Double(max(run.steps, 1)),
            seconds: seconds, imagesPerSecond: Double((run.steps - e.firstBatch) * config.batchSize) / seconds,
            lr: e.lr, baseLR: config.lr, elapsedSeconds: monotonicSeconds() - run.started, evaluation: evaluation,
            preconditioner: Sampler.preconditionerSummary(sampler, state: compact?.state ?? state, lr: Float(e.lr)))
        m.trainingMACsPerExample = (compact?.network ?? network).macsPerExample
        if e.sampleSeconds > 0 { m.sampleSeconds = e.sampleSeconds }
        if let now = run.loader.decodeStatistics {
            let images = now.images - decodeAtEpochStart.images
            let decodeSeconds = now.decodeSeconds - decodeAtEpochStart.decodeSeconds
            m.inputWaitSeconds = now.waitSeconds - decodeAtEpochStart.waitSeconds
            m.decodeImagesPerSecondPerThread = decodeSeconds > 0 ? Double(images) / decodeSeconds : nil
        }
        if let pruner { describePruning(pruner, active: e.pruningActive, into: &m) }
        if communicator.size > 1 {
            m.ranks = communicator.size
            m.allreduceSecondsPerStep = allreduceSeconds / Double(max(state.step, 1))
            if let r = gradientReducer {
                m.allreduceBuckets = r.bucketCount
                m.allreduceBucketsDuringBackward = r.startedEarly
            }
        }
        let checkpointing = try checkpointDue(epoch: e.epoch)
        if checkpointing {
            let t = monotonicSeconds()
            try writeCheckpoint(epochsDone: e.epoch, batchInEpoch: 0, lossSum: 0, loader: run.loader)
            m.checkpointSeconds = monotonicSeconds() - t
            lastCheckpoint = monotonicSeconds()
        }
        history.append(m)
        if let metrics = run.metrics {
            let path = config.out + "/metrics.jsonl"
            do {
                try metrics.write(contentsOf: try m.jsonLine() + Data("\n".utf8))
                // On disk with each checkpoint: a resumed run keeps the lines its checkpoint covers.
                if checkpointing { try metrics.synchronize() }
            } catch let e as EncodingError {
                throw OutputError(description: "\(path): cannot record a non-finite value (\(encodingProblem(e)))")
            } catch {
                throw OutputError(description: "\(path): cannot append (\(systemReason(error)))")
            }
            log(m.consoleLine(epochs: config.epochs))
        }
    }

    /// Before the full network is evaluated or saved: batch-norm running statistics averaged across ranks,
    /// and a compact copy's values scattered back into it.
    func bringFullNetworkUpToDate() throws {
        try averageBatchNormStatistics()
        compact?.scatter(into: network, state: state)
    }

    /// Whether this epoch ends with a checkpoint: the last epoch, every `checkpointEvery` epochs, or the
    /// first epoch end `checkpointMinutes` after the previous checkpoint (by rank 0's clock, so every rank
    /// agrees).
    func checkpointDue(epoch: Int) throws -> Bool {
        let every = controls.checkpointEvery
        if epoch == config.epochs || (every > 0 && epoch % every == 0) { return true }
        guard controls.checkpointMinutes > 0 else { return false }
        var due: Int64 = monotonicSeconds() - lastCheckpoint >= controls.checkpointMinutes * 60 ? 1 : 0
        if communicator.size > 1 {
            try withUnsafeMutableBytes(of: &due) {
                try communicator.broadcast($0.baseAddress!, bytes: 8, root: 0, what: "checkpoint decision")
            }
        }
        return due != 0
    }

    func describePruning(_ pruner: Pruner, active: Bool, into m: inout EpochMetrics) {
        m.pruning = pruner.summary()
        m.pruningActive = active
        if active && !pruner.lastGuarded.isEmpty && pruner.eSteps > 0 { m.pruningGuard = pruner.lastGuarded }
        if active, let warning = collapseWarning(m) {
            m.pruningWarning = warning
            log("warning: " + warning)
        }
        let t = data.train
        if t.task != .multiclass || t.height == 1 && t.width == 1 && !t.featureNames.isEmpty {
            m.connectedInputs = pruner.connectedInputs().map { i in
                i < t.featureNames.count ? t.featureNames[i] : "\(i)"
            }
        }
    }

    /// A warning when the pruned network is no better than a constant predictor: test accuracy at the
    /// chance level of the most frequent class (classification), or RMSE at the targets' standard deviation
    /// (regression), naming the layers that lost the largest share of their multiply-adds.
    func collapseWarning(_ m: EpochMetrics) -> String? {
        let test = data.test
        let collapsed: String
        if test.task == .regression {
            let sd = targetSpread
            guard let rmse = m.evaluation.test[.rmse], rmse >= 0.99 * sd else { return nil }
            collapsed = String(format: "test RMSE %.4g is no better than predicting the mean (sd %.4g)", rmse, sd)
        } else {
            let chance = test.majorityShare
            guard let accuracy = m.evaluation.test[.accuracy], accuracy <= chance + 0.01 else { return nil }
            collapsed = String(format: "test accuracy %.4f is at chance level (%.4f)", accuracy, chance)
        }
        let worst = (m.pruning?.layers ?? []).sorted { $0.macShareSaved > $1.macShareSaved }.prefix(3)
            .map { String(format: "%@ (%.0f%% removed)", $0.layer, 100 * $0.macShareSaved) }
        return "epoch \(m.epoch): the pruned network predicts no better than a constant: \(collapsed); "
            + "layers that lost most: \(worst.joined(separator: ", ")); try a smaller lambda0 or lower thresholds"
    }

    // MARK: - One step

    /// Local gradient → allreduce (gradient mean, loss, stop flag) → sampler step → checks.
    func step(batch b: Int, _ e: inout EpochState, _ run: inout RunState) throws {
        let n = try run.labels.withUnsafeMutableBufferPointer { l in
            try run.targets.withUnsafeMutableBufferPointer { t in
                try run.loader.fill(batchIndex: b, into: run.x.pointer, labels: l.baseAddress!, targets: t.baseAddress!)
            }
        }
        let lr = schedule.learningRate(step: state.step)
        e.lr = lr
        // [loss, stop requested]: one scalar allreduce carries both, so every rank stops at the same step.
        let net = working
        // Dropout masks of this step (and rank): the same again after a resume.
        net.setStochasticState(seed: config.seed, step: state.step, rank: communicator.rank)
        reducer(for: net)?.beginStep()
        var loss = [
            net.lossAndGradient(run.x.pointer, batch: n, labels: run.labels, targets: run.targets),
            StopSignal.requested ? 1 : 0,
        ]
        try reduceAcrossRanks(&loss)
        try watchForDivergence(loss: loss[0], epoch: e.epoch, batch: b, lr: lr)
        e.lossSum += loss[0]
        let store = net.store
        let masked = e.pruningActive ? pruner : nil
        // The compact copy brings its own λ and mask, and draws each weight's noise at its full-network index.
        let lambda = compact?.lambda ?? masked?.lambda
        let mask = compact?.mask ?? masked?.mask
        (compact?.layout.parameterSource ?? []).withUnsafeBufferPointer { index in
            Sampler.step(
                sampler, state: compact?.state ?? state, weights: store.values.pointer, grads: store.grads.pointer,
                count: store.parameterCount, lr: Float(lr), lambda: lambda.map { UnsafePointer($0.pointer) },
                mask: mask.map { UnsafePointer($0.pointer) }, gradientScale: 1 / Float(communicator.size),
                noiseIndex: compact == nil ? nil : index.baseAddress)
        }
        if let c = compact { state.step = c.state.step }
        try afterStep(epoch: e.epoch)
        // A sample inside the epoch (the epoch's last step samples with the end-of-epoch evaluation).
        if b + 1 < run.steps, let cycle = run.samplePlan[state.step] {
            let t = monotonicSeconds()
            try bringFullNetworkUpToDate()
            try takeSample(cycle: cycle, epoch: e.epoch)
            e.sampleSeconds += monotonicSeconds() - t
        }
        if loss[1] > 0 { try stopAtStepBoundary(e, batch: b, run) }
        if showProgress { progress(&e, batch: b, run) }
    }

    /// The bucketed sum over `net`'s gradient (nil alone), hooked into its backward pass when overlapping.
    @discardableResult
    func reducer(for net: Network) -> BucketedAllreduce? {
        guard communicator.size > 1 else { return nil }
        if let r = gradientReducer, r.buffer == net.store.grads.pointer, r.count == net.store.parameterCount {
            return r
        }
        let r = BucketedAllreduce(
            communicator: communicator, buffer: net.store.grads.pointer, count: net.store.parameterCount,
            bucketBytes: Int(controls.allreduceBucketMB * 1_048_576), overlap: controls.allreduceOverlap)
        net.gradientsReady =
            controls.allreduceOverlap
            ? { [weak self, weak r] offset in
                guard let self, let r, self.backwardError == nil else { return }
                do { try r.gradientsReady(from: offset) } catch { self.backwardError = error }
            } : nil
        gradientReducer = r
        return r
    }

    /// The ranks' local mean gradients summed (the sampler scales by 1/R as it reads them: g is the global
    /// minibatch mean) and the loss averaged.
    func reduceAcrossRanks(_ loss: inout [Double]) throws {
        let comm = communicator
        guard comm.size > 1 else { return }
        let t = monotonicSeconds()
        if let e = backwardError { throw e }
        // With overlap most buckets are under way already: this waits for the rest (the exposed time).
        try reducer(for: working)!.finish()
        allreduceSeconds += monotonicSeconds() - t
        try comm.allreduceSum(&loss, what: "loss allreduce")
        loss[0] /= Double(comm.size)
    }

    /// Stops the run when the loss is not finite or far above its running level (an exponential average
    /// over about 100 steps): a blow-up is caught while it starts, before an epoch-end checkpoint could
    /// record it. Every rank sees the same reduced loss, so every rank stops at the same step.
    func watchForDivergence(loss: Double, epoch: Int, batch b: Int, lr: Double) throws {
        let level = lossWatch.level
        guard lossWatch.observe(loss, step: state.step) else { return }
        let what =
            loss.isFinite
            ? String(format: "loss %.3g far above its running level %.3g for %d steps", loss, level, LossWatch.streak)
            : "non-finite loss"
        throw divergence(epoch: epoch, step: b + 1, what: what, lr: lr)
    }

    /// The divergence error, with the newest checkpoint of this run from before the rise began (rank 0
    /// reports it). Rank 0 removes the run's checkpoints written after the rise began: their weights were
    /// already on the way up, and `--resume` takes the newest checkpoint.
    func divergence(epoch: Int, step: Int, what: String, lr: Double) -> DivergenceError {
        var good: CheckpointHeader? = nil
        if communicator.isRoot {
            let since = lossWatch.risingSince ?? state.step
            for path in CheckpointStore.list(config.out, runId: runId) {
                guard let h = Checkpoint.readHeader(path: path) else { continue }
                if h.samplerStep >= since {
                    try? FileManager.default.removeItem(atPath: path)
                } else if good == nil {
                    good = h
                }
            }
        }
        return DivergenceError(
            epoch: epoch, step: step, what: what, lr: lr, baseLR: config.lr, run: config.out, lastCheckpoint: good)
    }

    /// Test faults, and under MPI the periodic replica check.
    func afterStep(epoch: Int) throws {
        if let f = fault, f.rank == communicator.rank, f.step == state.step || f.kind == .blowup && state.step > f.step
        {
            inject(f.kind)
        }
        let every = controls.syncCheckEvery
        if communicator.size > 1, every > 0, state.step % every == 0 {
            try checkReplicas(step: state.step, epoch: epoch)
        }
    }

    /// Preemption: every rank agreed at this step; checkpoint mid-epoch and stop.
    func stopAtStepBoundary(_ e: EpochState, batch b: Int, _ run: RunState) throws -> Never {
        if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
        compact?.scatter(into: network, state: state)
        let path = try writeCheckpoint(
            epochsDone: e.epoch - 1, batchInEpoch: b + 1, lossSum: e.lossSum,
            loader: run.loader)
        // Non-root ranks may not have seen the signal themselves: report SIGTERM's status then.
        var stopped = StopSignal.Stopped(signal: StopSignal.signal != 0 ? StopSignal.signal : SIGTERM, checkpoint: path)
        stopped.run = config.out
        throw stopped
    }

    /// The progress line on a terminal, at most four times a second.
    func progress(_ e: inout EpochState, batch b: Int, _ run: RunState) {
        let now = monotonicSeconds()
        guard now - e.lastProgress > 0.25 || b == run.steps - 1 else { return }
        e.lastProgress = now
        let rate = Double((b + 1 - e.firstBatch) * config.batchSize) / (now - e.started)
        let left = Double((run.steps - b - 1) + (config.epochs - e.epoch) * run.steps) * Double(config.batchSize)
        let line = String(
            format: "\repoch %d/%d  step %d/%d  loss %.4f  %.0f img/s  ETA %@   ", e.epoch,
            config.epochs, b + 1, run.steps, e.lossSum / Double(b + 1), rate,
            formatDuration(left / rate))
        FileHandle.standardError.write(Data(line.utf8))
    }

    func inject(_ kind: Fault) {
        let network = working
        switch kind {
        case .perturb: network.store.values[0] += 1e-3
        case .kill: kill(getpid(), SIGKILL)
        case .stall: while true { sleep(3600) }
        case .term: raise(SIGTERM)
        case .nan: network.store.values[0] = .nan
        case .blowup:
            let first = fault.map { $0.step == state.step } ?? false
            for e in network.store.entries where e.isLastLayer {
                vScale(network.store.value(e.offset), count: e.count, by: first ? -10 : 10)
            }
        }
    }

    /// Every rank's weights checksum must equal rank 0's; a mismatch is an error naming the step and ranks.
    public func checkReplicas(step: Int, epoch: Int) throws {
        let store = working.store
        let sums = try communicator.allgather(
            checksum(store.values.pointer, count: store.parameterCount),
            what: "replica check")
        let differing = sums.indices.filter { sums[$0] != sums[0] }
        guard differing.isEmpty else {
            let ranks = "rank\(differing.count == 1 ? "" : "s") \(differing.map(String.init).joined(separator: ", "))"
            throw TrainingError(
                description: "replicas disagree at step \(step) (epoch \(epoch)): \(ranks) differ from rank 0",
                collective: true)
        }
    }

    /// Batch-norm running statistics are per rank while training; average them before evaluating or saving.
    func averageBatchNormStatistics() throws {
        let store = working.store
        let comm = communicator
        guard comm.size > 1, store.stateCount > 0 else { return }
        try comm.allreduceSum(store.state.pointer, count: store.stateCount, what: "batch-norm statistics")
        vScale(store.state.pointer, count: store.stateCount, by: 1 / Float(comm.size))
    }

    /// Writes the current weights and batch-norm statistics as safetensors (atomically). Throws
    /// `OutputError` naming the file.
    public func saveWeights(to path: String) throws {
        try WeightsFile.write(
            network, to: path,
            metadata: [
                "model": config.model.rawValue,
                "format": "bayesprune-weights-1",
            ])
    }
}

func formatDuration(_ s: Double) -> String {
    guard s.isFinite, s >= 0 else { return "--:--" }
    let t = Int(s.rounded())
    return t >= 3600
        ? String(format: "%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60)
        : String(format: "%d:%02d", t / 60, t % 60)
}
