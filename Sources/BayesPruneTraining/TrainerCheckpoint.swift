// The trainer's side of checkpoints: gathering every buffer (and every rank's data-order state) into a
// Checkpoint, restoring from one, and the preemption signal (SIGTERM/SIGINT) that asks the ranks to
// stop at the next step boundary.
/// SIGTERM or SIGINT sets a flag the training loop reads at every step; a second signal exits at once.

import BayesPruneConfig
import BayesPruneData
import BayesPruneDistributed
import BayesPruneEvaluation
import BayesPruneKernels
import BayesPruneNN
import BayesPruneRunIO
import BayesPruneSampling
import BayesPruneSparsity
import CShims
import Foundation

public enum StopSignal {
    public static var requested: Bool { bp_stop_signal() != 0 }
    public static var signal: Int32 { Int32(bp_stop_signal()) }

    /// Exit status after a stop on a signal: 128 + the signal (143 for SIGTERM, 130 for SIGINT).
    public struct Stopped: Error, CustomStringConvertible {
        public let signal: Int32
        public let checkpoint: String
        /// The run directory, for the command that continues the run.
        public var run = ""
        public var exitStatus: Int32 { 128 + signal }
        public var description: String {
            "stopped on signal \(signal) at a step boundary; checkpoint \(checkpoint) written; continue with "
                + "bayesprune train --resume \(run)"
        }
    }

    public static func install() { bp_install_stop_handlers() }
}

extension Trainer {
    /// Gathers the state (every rank takes part); rank 0 writes it. Refuses to write non-finite weights,
    /// so the last good checkpoint is never replaced by a diverged one. Returns the path (rank 0) or "".
    @discardableResult
    func writeCheckpoint(epochsDone: Int, batchInEpoch: Int, lossSum: Double, loader: TrainBatchLoader) throws -> String
    {
        let comm = communicator
        let s = network.store
        var words = [UInt64](repeating: 0, count: 4 * comm.size)
        let mine = loader.augmentationRNG.stateWords
        try mine.withUnsafeBytes { m in
            try words.withUnsafeMutableBytes { w in
                try comm.allgather(m.baseAddress!, bytes: 32, into: w.baseAddress!, what: "checkpoint RNG states")
            }
        }
        // Mid-epoch, batch-norm running statistics still differ per rank (they are averaged at epoch end and
        // before a posterior sample).
        var rankStates = [Float](repeating: 0, count: s.stateCount * comm.size)
        if batchInEpoch > 0 && s.stateCount > 0 {
            try rankStates.withUnsafeMutableBytes { out in
                try comm.allgather(
                    UnsafeRawPointer(s.state.pointer), bytes: s.stateCount * 4, into: out.baseAddress!,
                    what: "checkpoint batch-norm state")
            }
        }
        // Every rank checks (the replicas are identical), so every rank stops together.
        for i in 0..<s.parameterCount where !s.values[i].isFinite {
            let epoch = epochsDone + (batchInEpoch > 0 ? 1 : 0)
            throw divergence(
                epoch: epoch, step: state.step, what: "non-finite weight \(i)",
                lr: schedule.learningRate(step: max(state.step - 1, 0)))
        }
        guard comm.isRoot else { return "" }
        var header = CheckpointHeader(
            model: config.model.rawValue, parameterCount: s.parameterCount, stateCount: s.stateCount,
            layoutHash: s.layoutHash,
            worldSize: comm.size, globalBatch: config.batchSize, epochsDone: epochsDone, batchInEpoch: batchInEpoch,
            samplerStep: state.step, lossSumInEpoch: lossSum,
            augmentationStates: (0..<comm.size).map { Array(words[($0 * 4)..<($0 * 4 + 4)]) },
            theta: pruner?.theta, eSteps: pruner?.eSteps, bmaCount: average.count, samples: samples, config: config,
            runId: runId)
        header.lossWatch = lossWatch.stored
        header.guarded = pruner?.lastGuarded
        var sections: [String: Data] = [
            "weights": Data(floats: s.values.pointer, count: s.parameterCount),
            "state": Data(floats: s.state.pointer, count: s.stateCount),
            "momentum": Data(floats: state.momentum.pointer, count: state.momentum.count),
            "rho": Data(floats: state.rho.pointer, count: state.rho.count),
            "previous_noise": Data(floats: state.previousNoise.pointer, count: state.previousNoise.count),
        ]
        if batchInEpoch > 0 && s.stateCount > 0 {
            sections["state_per_rank"] = rankStates.withUnsafeBufferPointer { Data(buffer: $0) }
        }
        if let pruner {
            sections["lambda"] = Data(floats: pruner.lambda.pointer, count: pruner.lambda.count)
            sections["mask"] = Data(floats: pruner.mask.pointer, count: pruner.mask.count)
        }
        sections["bma_sum"] = average.sums.withUnsafeBufferPointer { Data(buffer: $0) }
        if !average.members.isEmpty {
            sections["bma_members"] = average.members.flatMap(\.values).withUnsafeBufferPointer { Data(buffer: $0) }
        }
        return try CheckpointStore.write(
            Checkpoint(header: header, sections: sections), run: config.out, keep: controls.keepCheckpoints)
    }

    /// Restores every buffer from a checkpoint; `run` then continues where it stopped.
    public func restore(_ c: Checkpoint, path: String) throws {
        let s = network.store
        let h = c.header
        guard h.model == config.model.rawValue, h.parameterCount == s.parameterCount, h.stateCount == s.stateCount,
            h.layoutHash == s.layoutHash
        else {
            throw CheckpointError(
                description:
                    "\(path): checkpoint of another model (\(h.model), \(h.parameterCount) parameters) than this "
                    + "run's \(config.model) (\(s.parameterCount))"
            )
        }
        if h.batchInEpoch > 0 && h.worldSize != communicator.size {
            throw CheckpointError(
                description:
                    "\(path): a mid-epoch checkpoint of \(h.worldSize) rank(s) resumes only on \(h.worldSize) rank(s) "
                    + "(this job has \(communicator.size))"
            )
        }
        guard config.batchSize % communicator.size == 0 else {
            throw CheckpointError(
                description:
                    "\(path): the global batch \(config.batchSize) is not divisible by \(communicator.size) ranks")
        }
        s.values.pointer.update(
            from: try c.floats("weights", count: s.parameterCount, path: path), count: s.parameterCount)
        s.state.pointer.update(from: try c.floats("state", count: s.stateCount, path: path), count: s.stateCount)
        if let perRank = c.sections["state_per_rank"], perRank.count == s.stateCount * 4 * h.worldSize {
            let all = perRank.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            s.state.pointer.update(
                from: Array(all[(communicator.rank * s.stateCount)..<((communicator.rank + 1) * s.stateCount)]),
                count: s.stateCount)
        }
        state.step = h.samplerStep
        state.momentum.pointer.update(
            from: try c.floats("momentum", count: state.momentum.count, path: path), count: state.momentum.count)
        state.rho.pointer.update(from: try c.floats("rho", count: state.rho.count, path: path), count: state.rho.count)
        state.previousNoise.pointer.update(
            from: try c.floats("previous_noise", count: state.previousNoise.count, path: path),
            count: state.previousNoise.count)
        if let pruner {
            pruner.lambda.pointer.update(
                from: try c.floats("lambda", count: pruner.lambda.count, path: path), count: pruner.lambda.count)
            pruner.mask.pointer.update(
                from: try c.floats("mask", count: pruner.mask.count, path: path), count: pruner.mask.count)
            pruner.theta = h.theta ?? pruner.theta
            pruner.eSteps = h.eSteps ?? 0
            pruner.refreshDeadChannels()
        }
        let width = data.test.task == .regression ? 1 : max(data.test.classes, 2)
        let sums = (c.sections["bma_sum"] ?? Data()).withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
        var members: [Predictions] = []
        if let m = c.sections["bma_members"] {
            let all = m.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let per = data.test.count * width
            members = stride(from: 0, to: all.count, by: per).map {
                Predictions(count: data.test.count, values: Array(all[$0..<($0 + per)]), width: width)
            }
        }
        average.restore(count: h.bmaCount, sums: sums, width: width, examples: data.test.count, members: members)
        samples = h.samples
        runId = h.runId ?? runId
        lossWatch = h.lossWatch.map(LossWatch.init(stored:)) ?? LossWatch()
        pruner?.lastGuarded = h.guarded ?? []
        resumePoint = h
    }
}
