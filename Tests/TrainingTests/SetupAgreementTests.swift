// Ranks that were given different settings or data stop before training, with one line naming what
// differs and on which ranks (an MPMD mpirun line gives each rank its own command).
import Foundation
import TestSupport
import Testing

@Suite(.serialized) struct SetupAgreement {
    static let data = try! quadrantDataset("agree-data", train: 128, test: 32)
    static let other = try! quadrantDataset("agree-other", train: 160, test: 32)

    func command(_ out: String, _ extra: [String]) throws -> [String] {
        [
            try requireBayesprune(), "train", "--data", "mnist", "--data-dir", Self.data, "--model", "mlp", "--hidden",
            "16",
            "--epochs", "1", "--batch-size", "32", "--threads", "1", "--out", out,
        ] + extra
    }

    /// Rank 0 gets `first`, rank 1 `second` (appended to the same command).
    func mpmd(_ out: String, _ first: [String], _ second: [String]) throws -> ProcessResult {
        var args = ["--oversubscribe", "--bind-to", "none"]
        if getuid() == 0 { args.append("--allow-run-as-root") }
        args += ["-np", "1"] + (try command(out, first)) + [":", "-np", "1"] + (try command(out, second))
        return try runProcess(try requireMPIRun(), args)
    }

    @Test(arguments: [
        ([], ["--seed", "7"], "seed (rank 1)"),
        (["--lr", "0.05"], ["--lr", "0.06", "--sampler", "sgd"],
            "sampler (rank 1); beta1 (rank 1); lr (rank 1); weight-decay (rank 1)"),
        ([], ["--data-dir", SetupAgreement.other], "data-dir (rank 1)"),
    ])
    func differingRanksStopBeforeTraining(first: [String], second: [String], names: String) throws {
        let out = try temporaryDirectory("agree") + "/run"
        let r = try mpmd(out, first, second)
        #expect(r.status != 0)
        let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("bayesprune:") }
        #expect(
            lines.count == 1 && lines[0].contains("differing from rank 0") && lines[0].contains(names),
            "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out), "a refused job wrote its run directory")
    }

    @Test func identicalRanksTrain() throws {
        let out = try temporaryDirectory("agree-same") + "/run"
        let r = try mpmd(out, [], [])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try trainLosses(out).count == 1)
    }

    /// A bad option is shown once under mpirun, whichever stage refuses it: the argument parser (before
    /// MPI starts), a config file, or the settings' validation; with MPMD only the failing rank reports.
    @Test(arguments: [
        (["--model", "vgg"], ["--model", "vgg"], "bayesprune: The value 'vgg' is invalid for '--model"),
        (["--epochs", "0"], ["--epochs", "0"], "bayesprune: --epochs: must be at least 1"),
        (
            ["--config", "/nonexistent-bp.toml"], ["--config", "/nonexistent-bp.toml"],
            "bayesprune: /nonexistent-bp.toml"
        ),
        ([], ["--model", "vgg"], "bayesprune: rank 1: The value 'vgg' is invalid"),
        ([], ["--epochs", "0"], "bayesprune: rank 1: --epochs: must be at least 1"),
    ])
    func aBadOptionIsShownOnce(first: [String], second: [String], line: String) throws {
        let out = try temporaryDirectory("agree-bad") + "/run"
        let r = try mpmd(out, first, second)
        #expect(r.status != 0)
        let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("bayesprune:") }
        #expect(lines.count == 1 && lines[0].hasPrefix(line), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
