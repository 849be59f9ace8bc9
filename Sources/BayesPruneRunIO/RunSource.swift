// Reading runs back: the newest intact checkpoint of a run (for --resume), and a run directory or one
// checkpoint file as the source of weights, mask and samples for `evaluate` and `export`.

import BayesPruneKernels
import BayesPruneNN
import Foundation

public enum ResumeSearch {
    /// The newest checkpoint of run `runId` (nil: of any run, for runs of earlier versions) in `run` that
    /// reads back intact; damaged ones are reported through `warn` and skipped, other runs' never used.
    /// Throws `SettingError("resume", ...)` when there is none.
    public static func newestValid(
        run: String, runId: String?, warn: (String) -> Void
    ) throws
        -> (Checkpoint, String)
    {
        let all = CheckpointStore.list(run, runId: runId)
        guard !all.isEmpty else {
            throw SettingError(
                "resume", "\(run) has no checkpoints of its run (\(CheckpointStore.directory(run)) is empty or missing)"
            )
        }
        for (i, path) in all.enumerated() {
            do { return (try Checkpoint.read(path: path), path) } catch {
                warn(
                    "bayesprune: \(error); "
                        + "\(i + 1 < all.count ? "falling back to the previous checkpoint" : "no older checkpoint")"
                )
            }
        }
        throw SettingError("resume", "no valid checkpoint in \(CheckpointStore.directory(run))")
    }
}

/// What `evaluate` and `export` read: a finished run directory, or one checkpoint file of a run
/// (run/checkpoints/ckpt-….bpck), whose weights, batch-norm state, mask and sample list are used.
public struct RunSource {
    public let runDirectory: String
    public let checkpoint: Checkpoint?
    public let checkpointPath: String?

    public static func open(_ path: String) throws -> RunSource {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw OutputError(description: "\(path): no such run directory or checkpoint")
        }
        if isDir.boolValue { return RunSource(runDirectory: path, checkpoint: nil, checkpointPath: nil) }
        let c = try Checkpoint.read(path: path)
        let run = URL(fileURLWithPath: path).deletingLastPathComponent().deletingLastPathComponent().path
        return RunSource(runDirectory: run, checkpoint: c, checkpointPath: path)
    }

    public var samples: SampleManifest {
        get throws { try checkpoint?.header.samples ?? SampleManifest.load(directory: runDirectory) }
    }

    public func loadWeights(into net: Network) throws {
        guard let c = checkpoint, let path = checkpointPath else {
            try WeightsFile.load(net, from: runDirectory + "/weights.safetensors")
            return
        }
        let s = net.store
        guard c.header.layoutHash == s.layoutHash else {
            throw CheckpointError(description: "\(path): checkpoint of another model")
        }
        s.values.pointer.update(
            from: try c.floats("weights", count: s.parameterCount, path: path), count: s.parameterCount)
        s.state.pointer.update(from: try c.floats("state", count: s.stateCount, path: path), count: s.stateCount)
    }

    /// Loads the pruning mask (the store's layout) into `mask` if the source has one; returns whether it did.
    public func loadMask(into mask: FloatBuffer, layout s: ParameterStore) throws -> Bool {
        if let c = checkpoint, let path = checkpointPath {
            guard c.sections["mask"] != nil else { return false }
            mask.pointer.update(from: try c.floats("mask", count: mask.count, path: path), count: mask.count)
            return true
        }
        let p = runDirectory + "/mask.safetensors"
        guard FileManager.default.fileExists(atPath: p) else { return false }
        try MaskFile.load(into: mask, layout: s, from: p)
        return true
    }
}
