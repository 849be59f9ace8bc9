// The built `bayesprune` binary on bad input: one line naming the option or file, a non-zero exit,
// and no run directory left behind.

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

@Suite(.serialized) struct CommandLine {
    @Test func binaryWasBuilt() throws {
        try requireBayesprune()
    }

    @Test(arguments: [
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--model", "vgg16", "--data", "mnist", "--data-dir", "/"], "--model"),
        (["train", "--lr=-1"], "--lr"),
        (["train", "--sampler", "adam"], "--sampler"),
        (["train", "--hidden", "300,x"], "--hidden"),
        (["train", "--prune", "--soft-threshold", "1e-4,1e-2,3e-2"], "--soft-threshold"),
        (["train", "--prune", "--lambda0", "fc1=0"], "--lambda0"),
        (["train", "--prune", "--hard-threshold", "fc1=1e-3,1e-2"], "--hard-threshold"),
        (["train", "--augment", "maybe"], "--augment"),
        (["train", "--target-sparsity", "0.9"], "--target-sparsity: needs prune"),
        (["train", "--prune", "--target-sparsity", "1.5"], "--target-sparsity: must be in (0, 1)"),
        (["train", "--prune", "--target-sparsity", "0.5", "--target-epoch", "9"], "--target-epoch"),
        (["train", "--data", "imagenet"], "imagenet"),
        (["train", "--data", "mnist", "--data-dir", "/nonexistent-bp"], "/nonexistent-bp"),
        (["train", "--data", "csv"], "--train"),
        (["train", "--data", "csv", "--train", "/nonexistent-bp.csv"], "/nonexistent-bp.csv"),
        (["evaluate", "/nonexistent-bp-run"], "/nonexistent-bp-run: no such run directory or checkpoint"),
    ])
    func badInputGivesOneLineAndNonZeroExit(args: [String], mentions: String) throws {
        try requireBayesprune()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("bp-cli-\(UUID())").path
        let r = try runCLI(args + (args[0] == "train" ? ["--out", out] : []))
        #expect(r.status != 0)
        let lines = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("OpenBLAS") }
        #expect(lines.count == 1, "expected one line, got: \(r.stderr)")
        #expect(lines.first?.contains(mentions) == true, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out), "a failed run must not leave a run directory")
    }

    @Test func outputPathThatIsAFileIsRejected() throws {
        try requireBayesprune()
        let dir = try quadrantDataset("cli", train: 64, test: 16)
        try "x".write(toFile: dir + "/file", atomically: true, encoding: .utf8)
        let r = try runCLI([
            "train", "--data", "mnist", "--data-dir", dir, "--model", "mlp", "--epochs", "1",
            "--batch-size", "16", "--out", dir + "/file",
        ])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--out") && r.stderr.contains("not a directory"), "\(r.stderr)")
    }

    /// Like train's --out, export --compact never replaces an earlier export or a run.
    @Test func exportNeverReplacesAnExport() throws {
        let dir = try quadrantDataset("cli-export", train: 64, test: 16)
        let run = dir + "/run"
        let out = dir + "/compact"
        let trained = try runCLI([
            "train", "--data", "mnist", "--data-dir", dir, "--model", "mlp", "--hidden", "8",
            "--epochs", "1", "--batch-size", "16", "--prune", "--out", run,
        ])
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(try runCLI(["export", run, "--compact", out]).status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: out + "/weights.safetensors"))
        let again = try runCLI(["export", run, "--compact", out])
        #expect(again.status == 2 && again.stderr.contains("--compact: \(out) already holds"), "\(again.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/weights.safetensors")) == before)
    }
}
