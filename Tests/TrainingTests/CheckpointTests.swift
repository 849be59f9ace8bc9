// Checkpoints: a run killed (SIGKILL) or stopped (SIGTERM) mid-epoch and resumed ends bitwise identical
// to the uninterrupted run, alone and on 2 ranks; damaged checkpoints are named and skipped; a
// diverging run stops with the error and keeps the last good checkpoint.

import Foundation
import TestSupport
import Testing

@testable import BayesPruneBenchmark
@testable import BayesPruneConfig
@testable import BayesPruneData
@testable import BayesPruneDistributed
@testable import BayesPruneEvaluation
@testable import BayesPruneKernels
@testable import BayesPruneNN
@testable import BayesPruneRunIO
@testable import BayesPruneSampling
@testable import BayesPruneSparsity
@testable import BayesPruneTraining

func metricValues(_ dir: String) throws -> [[String: Double]] {
    let timing: Set<String> = [
        "seconds", "images_per_second", "elapsed_seconds", "checkpoint_seconds", "sample_seconds",
        "allreduce_seconds_per_step", "input_wait_seconds", "decode_images_per_second_per_thread",
    ]
    return try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map { line in
        let d = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        var out: [String: Double] = [:]
        for (k, v) in d where !timing.contains(k) { if let x = v as? Double { out[k] = x } }
        return out
    }
}

@Suite(.serialized) struct Checkpoints {
    static let data = try! quadrantDataset("ckpt-data", train: 256, test: 64)

    func args(_ out: String, _ extra: [String] = []) -> [String] {
        [
            "train", "--data", "mnist", "--data-dir", Self.data, "--model", "lenet", "--sampler", "adavb", "--epochs",
            "3",
            "--batch-size", "32", "--threads", "1", "--samples-per-cycle", "2", "--prune", "--warm-up", "1",
            "--soft-threshold", "5e-3,5e-3", "--out", out, "--seed", "9",
        ] + extra
    }

    func expectIdentical(_ a: String, _ b: String) throws {
        #expect(try allWeights(a) == allWeights(b), "final weights differ")
        #expect(try metricValues(a) == metricValues(b), "metrics differ")
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: a + "/mask.safetensors"))
                == Data(contentsOf: URL(fileURLWithPath: b + "/mask.safetensors")))
        let sa = try SampleManifest.load(directory: a)
        let sb = try SampleManifest.load(directory: b)
        #expect(sa == sb)
        for s in sa.samples {
            #expect(
                try Data(contentsOf: URL(fileURLWithPath: a + "/samples/" + s.file))
                    == Data(contentsOf: URL(fileURLWithPath: b + "/samples/" + s.file)))
        }
    }

    @Test(arguments: [0, 2])
    func killedMidEpochAndResumedIsBitwiseIdentical(ranks: Int) throws {
        let base = try temporaryDirectory("ckpt-kill")
        let full = base + "/full"
        let cut = base + "/cut"
        #expect(try runRanks(ranks, args(full)).status == 0)
        // Step 12 is inside epoch 2 (8 steps per epoch): the epoch-1 checkpoint is the newest one.
        let killed = try runRanks(ranks, args(cut, ["--debug-fault", "kill:\(ranks == 0 ? 0 : 1):12"]))
        #expect(killed.status != 0)
        let resumed = try runRanks(ranks, ["train", "--resume", cut, "--threads", "1"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming"))
        try expectIdentical(full, cut)
    }

    /// Image-folder data (crops drawn per example, decoded on background threads with prefetch): killed in
    /// epoch 2 and resumed, the run ends bitwise identical to the uninterrupted one; also a WideResNet with
    /// dropout, whose masks follow the training step.
    @Test(arguments: [["--model", "mlp", "--hidden", "24"], ["--model", "wrn-16-4", "--dropout", "0.3"]])
    func imageFolderRunKilledAndResumedIsBitwiseIdentical(model: [String]) throws {
        let base = try temporaryDirectory("ckpt-images")
        let data = try writeImageFolder(base + "/d", classes: 3, trainPerClass: 16, valPerClass: 4)
        func imageArgs(_ out: String, _ extra: [String] = []) -> [String] {
            [
                "train", "--data", "image-folder", "--data-dir", data, "--image-size", "12", "--sampler", "adavb",
                "--epochs", "3", "--batch-size", "8", "--threads", "1", "--decode-threads", "2",
                "--samples-per-cycle", "2", "--prune", "--warm-up", "1", "--out", out, "--seed", "4",
            ] + model + extra
        }
        #expect(try runRanks(0, imageArgs(base + "/full")).status == 0)
        // 48 images / 8 = 6 steps per epoch: step 9 is inside epoch 2.
        let killed = try runRanks(0, imageArgs(base + "/cut", ["--debug-fault", "kill:0:9"]))
        #expect(killed.status != 0)
        let resumed = try runRanks(0, ["train", "--resume", base + "/cut", "--threads", "1"])
        #expect(resumed.status == 0 && resumed.stderr.contains("resuming"), "\(resumed.stderr)")
        try expectIdentical(base + "/full", base + "/cut")
    }

    /// Also with a sampling stage that takes a sample inside epoch 2 right at the stop (the last 12 of 24
    /// steps, 6 samples: after steps 14, 16, ..., 24): the checkpoint carries that sample and the average.
    @Test(arguments: [0, 2], [false, true])
    func terminatedRunCheckpointsAndResumesIdentically(ranks: Int, sampleAtTheStop: Bool) throws {
        let base = try temporaryDirectory("ckpt-term")
        let full = base + "/full"
        let cut = base + "/cut"
        let stage = sampleAtTheStop ? ["--sampling-stage", "0.5", "--samples-per-cycle", "6"] : []
        #expect(try runRanks(ranks, args(full, stage)).status == 0)
        // SIGTERM reaches rank 0 only, after step 13: the ranks agree through the next step's allreduce and
        // stop together after step 14, the 6th batch of epoch 2.
        let stopped = try runRanks(ranks, args(cut, stage + ["--debug-fault", "term:0:13"]))
        #expect(stopped.status == 143, "\(stopped.stderr)")
        #expect(stopped.stderr.contains("checkpoint") && stopped.stderr.contains("b000006"), "\(stopped.stderr)")
        if sampleAtTheStop { #expect(try SampleManifest.load(directory: cut).samples.map(\.step) == [14]) }
        let resumed = try runRanks(ranks, ["train", "--resume", cut, "--threads", "1"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try expectIdentical(full, cut)
        if sampleAtTheStop {
            #expect(try SampleManifest.load(directory: cut).samples.map(\.step) == [14, 16, 18, 20, 22, 24])
        }
    }

    /// An epoch-boundary checkpoint of 1 process resumes on 2 ranks: equal up to summation order.
    @Test func resumesAtAnotherWorldSize() throws {
        let base = try temporaryDirectory("ckpt-world")
        let full = base + "/full"
        let cut = base + "/cut"
        #expect(try runRanks(0, args(full)).status == 0)
        #expect(try runRanks(0, args(cut, ["--debug-fault", "kill:0:12"])).status != 0)
        let r = try runRanks(2, ["train", "--resume", cut, "--threads", "1"])
        #expect(r.status == 0 && r.stderr.contains("was 1 rank"), "\(r.stderr)")
        let a = try allWeights(full)
        let b = try allWeights(cut)
        let worst = zip(a, b).map { Double(abs($0 - $1)) / max(1, Double(abs($0))) }.max()!
        #expect(worst < 1e-3, "weights differ by \(worst)")
    }

    @Test func damagedCheckpointsAreNamedAndSkipped() throws {
        let base = try temporaryDirectory("ckpt-damage")
        let run = base + "/run"
        #expect(try runRanks(0, args(run, ["--keep-checkpoints", "3"])).status == 0)
        let files = CheckpointStore.list(run)
        #expect(files.count == 3)
        let newest = files[0]
        let good = try Data(contentsOf: URL(fileURLWithPath: newest))
        func damaged(_ d: Data, _ phrase: String) throws {
            try d.write(to: URL(fileURLWithPath: newest))
            #expect { try Checkpoint.read(path: newest) } throws: {
                "\($0)".contains(newest) && "\($0)".contains(phrase)
            }
        }
        try damaged(good.prefix(good.count / 2), "truncated")
        var flipped = good
        flipped[good.count / 2] ^= 0x40
        try damaged(flipped, "checksum mismatch")
        var magic = good
        magic[0] = 0x58
        try damaged(magic, "bad magic")
        var version = good
        version[8] = 9
        try damaged(version, "unsupported checkpoint version 9")
        // A checkpoint of another model: intact, but its layout does not match.
        let other = base + "/other"
        var otherArgs = args(other)
        otherArgs[otherArgs.firstIndex(of: "lenet")!] = "mlp"
        #expect(try runRanks(0, otherArgs).status == 0)
        let foreign = try Checkpoint.read(path: CheckpointStore.list(other)[0])
        let t = try Trainer(
            config: RunManifest.load(directory: run).config,
            data: PreparedData.load(RunManifest.load(directory: run).config))
        #expect { try t.restore(foreign, path: "foreign.bpck") } throws: { "\($0)".contains("another model") }
        // --resume falls back past the damaged newest checkpoint and says so.
        try flipped.write(to: URL(fileURLWithPath: newest))
        let r = try runRanks(0, ["train", "--resume", run, "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(
            r.stderr.contains("checksum mismatch") && r.stderr.contains("falling back to the previous checkpoint"),
            "\(r.stderr)")
        // Options given again must agree (lr aside: a resumed run may lower its step size).
        let bad = try runRanks(0, ["train", "--resume", run, "--seed", "4"])
        #expect(bad.status != 0 && bad.stderr.contains("--seed: differs from the run being resumed"), "\(bad.stderr)")
    }

    @Test func divergenceKeepsTheLastGoodCheckpoint() throws {
        let run = try temporaryDirectory("ckpt-nan") + "/run"
        let r = try runRanks(0, args(run, ["--debug-fault", "nan:0:10"]))
        #expect(r.status != 0)
        #expect(
            r.stderr.contains("diverged at epoch 2") && r.stderr.contains("newest: epoch 1")
                && r.stderr.contains("bayesprune train --resume \(run) --lr "),
            "\(r.stderr)")
        let files = CheckpointStore.list(run)
        #expect(files.count == 1 && files[0].contains("e00001-b000000"))
        let c = try Checkpoint.read(path: files[0])
        #expect(try c.floats("weights", count: c.header.parameterCount, path: files[0]).allSatisfy(\.isFinite))
        // evaluate and export accept a checkpoint.
        let json =
            try JSONSerialization.jsonObject(with: Data(try RunEvaluation.evaluate(directory: files[0]).utf8))
            as! [String: Any]
        #expect((json["last"] as! [String: Any])["accuracy"] != nil)
        let s = try CompactExport.export(directory: files[0], to: run + "-compact")
        #expect(s.compactParameters <= s.denseParameters)
    }
}
