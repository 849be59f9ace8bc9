// Divergence: a loss far above its running level stops the run while the blow-up starts (not only a
// non-finite one), the checkpoints kept are from before it, the message says what to run next, and that
// command works: --resume takes a new --lr, recorded in config.json and metrics.jsonl from then on.

import BayesPruneRunIO
import Foundation
import TestSupport
import Testing

@testable import BayesPruneTraining

@Suite(.serialized) struct Divergence {
    static let data = try! quadrantDataset("diverge-data", train: 128, test: 32)

    func args(_ out: String, _ extra: [String] = []) -> [String] {
        [
            "train", "--data", "mnist", "--data-dir", Self.data, "--model", "mlp", "--hidden", "16", "--epochs", "5",
            "--batch-size", "32", "--threads", "1", "--lr", "0.05", "--out", out,
        ] + extra
    }

    /// Weights × −1000 after step 10 (epoch 3 of 4 steps each): a finite loss far above its level, for the
    /// 3 steps that make a divergence (the third is epoch 4's first). The epoch-3 checkpoint, written after
    /// the rise began, is removed; the advice names epoch 2's.
    @Test func aBlowUpIsCaughtAndTheAdviceWorks() throws {
        let run = try temporaryDirectory("diverge") + "/run"
        let r = try runCLI(args(run, ["--debug-fault", "blowup:0:10"]))
        #expect(r.status == 2)
        let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("bayesprune:") }
        #expect(lines.count == 1, "\(r.stderr)")
        let line = String(lines.first ?? "")
        #expect(line.contains("diverged at epoch 4, step 1: loss") && line.contains("far above its running level"))
        #expect(line.contains("newest: epoch 2"), "\(line)")
        // Every checkpoint kept is from before the rise (metrics.jsonl keeps epoch 3's line, the record of it).
        #expect(try trainLosses(run).count == 3)
        #expect(CheckpointStore.list(run).allSatisfy { Checkpoint.readHeader(path: $0)!.epochsDone <= 2 })

        // The advice, as printed: --resume DIR --lr X.
        let advice = try #require(line.range(of: "bayesprune train ")).upperBound
        let command = line[advice...].split(separator: " ").map(String.init)
        #expect(command.first == "--resume" && command.contains("--lr"), "\(command)")
        let resumed = try runCLI(["train"] + command)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let newLR = Double(command[command.firstIndex(of: "--lr")! + 1])!
        #expect(newLR == 0.05 / 4)
        #expect(try RunManifest.load(directory: run).config.lr == newLR)
        let baseLRs = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .map { (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["base_lr"] as! Double }
        #expect(baseLRs == [0.05, 0.05, newLR, newLR, newLR])
    }

    /// In epoch 1 there is no checkpoint yet: the message says so and how to start again.
    @Test func aDivergenceBeforeAnyCheckpointSaysSo() throws {
        let run = try temporaryDirectory("diverge-early") + "/run"
        let r = try runCLI(args(run, ["--debug-fault", "nan:0:2"]))
        #expect(r.status == 2)
        #expect(
            r.stderr.contains("diverged at epoch 1") && r.stderr.contains("no checkpoint was written before it")
                && r.stderr.contains("--lr 0.0125 --overwrite"), "\(r.stderr)")
    }

    /// Other settings still must agree on resume; only lr may change.
    @Test func onlyTheStepSizeMayChangeOnResume() throws {
        let run = try temporaryDirectory("diverge-other") + "/run"
        #expect(try runCLI(args(run, ["--debug-fault", "kill:0:6"])).status != 0)
        let r = try runCLI(["train", "--resume", run, "--momentum", "0.5"])
        #expect(
            r.status == 2 && r.stderr.contains("--momentum: differs from the run being resumed (0.9)"),
            "\(r.stderr)")
    }

    /// The watch on its own: a decreasing loss never trips it, one spike does not, three in a row do, and
    /// the rise is dated from its first step.
    @Test func theLossWatch() {
        var w = LossWatch()
        func see(_ l: Double, _ step: Int) -> Bool { w.observe(l, step: step) }
        let calm: [Double] = [2.3, 1.9, 1.2, 0.8, 0.5, 0.3, 0.2, 0.1, 0.1, 0.1]
        for (i, l) in calm.enumerated() {
            let tripped = see(l, i)
            #expect(!tripped)
        }
        let spike = see(500, 10)
        #expect(!spike, "one spike is not a divergence")
        let calmAgain = see(0.1, 11)
        let rising = [see(30, 12), see(400, 13), see(5e3, 14)]  // the rise begins at 12 (above 1 + 2·level)
        let diverged = see(6e4, 15)
        #expect(!calmAgain && rising == [false, false, false] && diverged)
        #expect(w.risingSince == 12)
        var n = LossWatch()
        let nan = n.observe(.nan, step: 0)
        #expect(nan)
    }
}
