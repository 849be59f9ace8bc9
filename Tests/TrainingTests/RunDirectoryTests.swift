// A run directory is the user's record: a second run never mixes into it or destroys it, a bad option
// writes nothing, checkpoints of another run are never used or deleted, and resume restores the thread
// count that the results depend on.
import Foundation
import TestSupport
import Testing

@testable import BayesPruneRunIO

@Suite(.serialized) struct RunDirectories {
    static let data = try! quadrantDataset("rundir-data", train: 128, test: 32)

    func args(_ out: String, _ extra: [String] = []) -> [String] {
        [
            "train", "--data", "mnist", "--data-dir", Self.data, "--model", "mlp", "--hidden", "16", "--epochs", "2",
            "--batch-size", "32", "--threads", "1", "--out", out,
        ] + extra
    }

    /// Fault 1: a second run into a finished run's directory is refused, naming both ways on; the first
    /// run is untouched; --overwrite replaces it completely.
    @Test func aSecondRunNeverMixesIntoARun() throws {
        let run = try temporaryDirectory("rundir-mix") + "/run"
        #expect(try runCLI(args(run)).status == 0)
        let before = try snapshot(run)
        let second = try runCLI(args(run, ["--seed", "2", "--epochs", "1"]))
        #expect(second.status == 2)
        let lines = second.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("already holds a run"), "\(second.stderr)")
        #expect(second.stderr.contains("--resume \(run)") && second.stderr.contains("--overwrite"))
        #expect(try snapshot(run) == before, "the refused run changed the directory")

        let replaced = try runCLI(args(run, ["--seed", "2", "--epochs", "1", "--overwrite"]))
        #expect(replaced.status == 0, "\(replaced.stderr)")
        let m = try RunManifest.load(directory: run)
        #expect(m.config.seed == 2 && m.config.epochs == 1)
        // Only the new run's files: one metrics line, one checkpoint, all of its run.
        #expect(try trainLosses(run).count == 1)
        let checkpoints = CheckpointStore.list(run)
        #expect(checkpoints.count == 1)
        #expect(checkpoints.allSatisfy { Checkpoint.readHeader(path: $0)?.runId == m.runId })
    }

    /// --overwrite replaces a run, never a user's files: into a folder that holds no run it removes nothing
    /// (not even a file named like a report or an OOD result), and over a run it keeps files that only look
    /// like the run's (ood-notes.json is not an `evaluate` result).
    @Test func overwriteKeepsFilesThatAreNotARun() throws {
        let dir = try temporaryDirectory("rundir-user") + "/mine"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for name in ["ood-notes.json", "report.html", "notes.txt"] {
            try Data("mine\n".utf8).write(to: URL(fileURLWithPath: dir + "/" + name))
        }
        #expect(try runCLI(args(dir, ["--epochs", "1", "--overwrite"])).status == 0)
        #expect(try String(contentsOfFile: dir + "/ood-notes.json", encoding: .utf8) == "mine\n")
        #expect(try String(contentsOfFile: dir + "/notes.txt", encoding: .utf8) == "mine\n")
        // Now a run is there: --overwrite replaces its files (its report included) and keeps the user's.
        try Data("{}".utf8).write(to: URL(fileURLWithPath: dir + "/ood-mnist.json"))
        #expect(try runCLI(args(dir, ["--epochs", "1", "--seed", "2", "--overwrite"])).status == 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/ood-mnist.json"))
        #expect(try String(contentsOfFile: dir + "/ood-notes.json", encoding: .utf8) == "mine\n")
        #expect(try String(contentsOfFile: dir + "/notes.txt", encoding: .utf8) == "mine\n")
        #expect(try RunManifest.load(directory: dir).config.seed == 2)
    }

    /// Fault 1, the other half: a checkpoint of another run in the folder (copied in by hand, or left by
    /// an earlier version) is neither resumed from nor rotated away.
    @Test func checkpointsOfAnotherRunAreNeverUsedOrDeleted() throws {
        let base = try temporaryDirectory("rundir-foreign")
        let other = base + "/other"
        let run = base + "/run"
        #expect(try runCLI(args(other, ["--epochs", "3", "--seed", "5"])).status == 0)
        #expect(try runCLI(args(run, ["--debug-fault", "kill:0:6"])).status != 0)  // dies in epoch 2
        let foreign = CheckpointStore.list(other).first!
        let planted = CheckpointStore.directory(run) + "/" + URL(fileURLWithPath: foreign).lastPathComponent
        try FileManager.default.copyItem(atPath: foreign, toPath: planted)  // epoch 3: newer than the run's
        let resumed = try runCLI(["train", "--resume", run])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains(": epoch 1, step 4"), "resumed from the wrong checkpoint: \(resumed.stderr)")
        #expect(FileManager.default.fileExists(atPath: planted), "another run's checkpoint was deleted")
        #expect(try trainLosses(run).count == 2)
    }

    /// Fault 2: a bad option never touches a finished run, not even with --overwrite: validation (data,
    /// options, sizes) happens before the first byte is written.
    @Test(arguments: [
        ["--batch-size", "4096"], ["--batch-size", "4096", "--overwrite"], ["--lr=-1", "--overwrite"],
        ["--lr", "-1", "--overwrite"], ["--samples-per-cycle", "-1"], ["--sampling-stage", "1.5", "--overwrite"],
        ["--model", "lenet", "--data-dir", "/nonexistent-bp", "--overwrite"],
    ])
    func aBadOptionNeverDestroysAFinishedRun(bad: [String]) throws {
        let run = try temporaryDirectory("rundir-bad") + "/run"
        #expect(try runCLI(args(run)).status == 0)
        let before = try snapshot(run)
        let r = try runCLI(args(run) + bad)
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        // A negative number is the option's value, judged by its range (not "Missing value").
        if bad.contains(where: { $0.hasPrefix("-") && Double($0) != nil }) || bad[0] == "--sampling-stage" {
            #expect(r.stderr.hasPrefix("bayesprune: \(bad[0]): "), "\(r.stderr)")
        }
        #expect(try snapshot(run) == before, "\(bad) changed the finished run")
    }

    /// Fault 3: resume uses the run's recorded thread count, not this machine's default, so the result is
    /// bitwise the uninterrupted run's. `taskset -c 0` makes the default 1 while the run used 2.
    @Test func resumeRestoresTheThreadCount() throws {
        let base = try temporaryDirectory("rundir-threads")
        let full = base + "/full"
        let cut = base + "/cut"
        let two = ["--threads", "2", "--model", "lenet", "--epochs", "3"]
        var a = args(full) + two
        a.removeAll { $0 == "--hidden" || $0 == "16" }
        #expect(try runCLI(a).status == 0)
        var b = args(cut) + two + ["--debug-fault", "term:0:5"]
        b.removeAll { $0 == "--hidden" || $0 == "16" }
        let stopped = try runCLI(b)
        #expect(stopped.status == 143, "\(stopped.stderr)")
        let taskset = try requireExecutable("taskset", "install util-linux")
        let resumed = try runProcess(taskset, ["-c", "0", try requireBayesprune(), "train", "--resume", cut])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("2 BLAS thread(s)"), "\(resumed.stderr)")
        #expect(try allWeights(full) == allWeights(cut))
        #expect(try metricValues(full) == metricValues(cut))
    }

    /// Another tool's files in folders named like a run's are neither a run nor removed by --overwrite.
    @Test func onlyARunsOwnFilesCountAndGo() throws {
        let out = try temporaryDirectory("rundir-foreign-files")
        try FileManager.default.createDirectory(atPath: out + "/checkpoints", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: out + "/samples", withIntermediateDirectories: true)
        try "notes".write(toFile: out + "/checkpoints/notes.txt", atomically: true, encoding: .utf8)
        try "x".write(toFile: out + "/samples/photo.png", atomically: true, encoding: .utf8)
        #expect(try runCLI(args(out)).status == 0, "a folder without a run is not a run")
        let again = try runCLI(args(out, ["--overwrite", "--seed", "3"]))
        #expect(again.status == 0, "\(again.stderr)")
        #expect(FileManager.default.fileExists(atPath: out + "/checkpoints/notes.txt"))
        #expect(FileManager.default.fileExists(atPath: out + "/samples/photo.png"))
        #expect(try RunManifest.load(directory: out).config.seed == 3)
    }

    /// A run of an earlier version (no identifier in config.json or its checkpoints) resumes, and gets an
    /// identifier then, so its new checkpoints are rotated as its own.
    @Test func aRunWithoutIdentifierResumesAndAdoptsOne() throws {
        let run = try temporaryDirectory("rundir-old") + "/run"
        #expect(try runCLI(args(run, ["--epochs", "3", "--debug-fault", "kill:0:6"])).status != 0)
        var m = try RunManifest.load(directory: run)
        m.runId = nil
        try m.write(directory: run)
        for path in CheckpointStore.list(run) {  // strip the identifier from the checkpoints too
            var c = try Checkpoint.read(path: path)
            c.header.runId = nil
            try AtomicFile.write(try c.encode(), to: path)
        }
        let r = try runCLI(["train", "--resume", run])
        #expect(r.status == 0, "\(r.stderr)")
        let adopted = try #require(try RunManifest.load(directory: run).runId)
        #expect(CheckpointStore.list(run, runId: adopted).count == 2)
    }
}
