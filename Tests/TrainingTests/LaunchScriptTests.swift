// launch/mpi, the launcher users run, end to end: 2 ranks train a tiny data set and the script prints
// the exact mpirun command it runs. launch/mpi always runs <its repository>/.build/release/bayesprune
// (building it when missing) and has no option or variable naming another binary, so the test runs an
// unmodified copy of the script in a scratch tree laid out like the repository, whose
// .build/release/bayesprune is a link to the debug binary `swift build --build-tests` made.

import BayesPruneRunIO
import Foundation
import TestSupport
import Testing

/// A scratch repository for launch/mpi: the script (byte for byte), hosts/localhost, and
/// .build/release/bayesprune linked to the debug binary. Returns the tree's path.
func launchTree(_ bin: String) throws -> String {
    let fm = FileManager.default
    let tree = URL(fileURLWithPath: try temporaryDirectory("launch")).resolvingSymlinksInPath().path
    for dir in ["launch", "hosts", ".build/release"] {
        try fm.createDirectory(atPath: tree + "/" + dir, withIntermediateDirectories: true)
    }
    try fm.copyItem(atPath: packageRoot + "/launch/mpi", toPath: tree + "/launch/mpi")
    try fm.copyItem(atPath: packageRoot + "/hosts/localhost", toPath: tree + "/hosts/localhost")
    try fm.createSymbolicLink(atPath: tree + "/.build/release/bayesprune", withDestinationPath: bin)
    return tree
}

@Suite(.serialized) struct LaunchScript {
    /// A scheduler's SIGTERM to launch/mpi: the ranks checkpoint and stop, and the script exits 143 (what a
    /// requeue-on-signal policy expects), although mpirun itself exits 1 when signalled.
    @Test func sigtermToTheLauncherExits143WithACheckpoint() throws {
        let bin = try requireBayesprune()
        try requireMPIRun()
        let tree = try launchTree(bin)
        let data = try quadrantDataset("launch-term", train: 128, test: 32)
        let out = try temporaryDirectory("launch-term-run") + "/run"
        let log = try temporaryDirectory("launch-term-log") + "/output"
        let pid = try spawnWithDefaultSignals(
            "/bin/bash",
            [
                tree + "/launch/mpi", "-n", "2", "--", "--data", "mnist", "--data-dir", data, "--epochs", "100000",
                "--model", "mlp", "--hidden", "16", "--batch-size", "32", "--checkpoint-every", "0", "--out", out,
            ],
            log: log)
        // Wait until training runs (metrics.jsonl has lines), then signal the launcher only.
        let started = Date()
        while Date().timeIntervalSince(started) < 60 {
            if let m = try? String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8), m.count > 0 { break }
            usleep(100_000)
        }
        kill(pid, SIGTERM)
        // A launcher that ignores the signal would train for 100000 epochs: give it 60 s, then kill it.
        var status: Int32 = -1
        for _ in 0..<600 where status < 0 {
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid {
                status = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
            } else {
                usleep(100_000)
            }
        }
        if status < 0 {
            kill(pid, SIGKILL)
            _ = waitForExit(pid)
            _ = try? runProcess("/usr/bin/pkill", ["-KILL", "-f", out])
        }
        let stderr = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(status == 143, "launch/mpi exited \(status): \(stderr)")
        #expect(stderr.contains("stopped on signal 15"), "\(stderr)")
        // The checkpoint is a mid-epoch one (the run was far from its end): the ranks stopped on the signal.
        #expect(CheckpointStore.list(out).contains { !$0.contains("-b000000-") }, "no mid-epoch checkpoint")
    }

    @Test func launchMPITrainsOnTwoRanksAndPrintsItsCommand() throws {
        let bin = try requireBayesprune()
        try requireMPIRun()  // launch/mpi calls mpirun by name, from PATH
        let script = packageRoot + "/launch/mpi"
        let hostfile = packageRoot + "/hosts/localhost"
        try #require(FileManager.default.isExecutableFile(atPath: script), "\(script) is missing or not executable")
        try #require(FileManager.default.fileExists(atPath: hostfile), "\(hostfile) is missing")

        let fm = FileManager.default
        let tree = try launchTree(bin)
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: tree + "/launch/mpi"))
                == Data(contentsOf: URL(fileURLWithPath: script)))

        let data = try quadrantDataset("launch-data", train: 128, test: 32)
        let out = try temporaryDirectory("launch-run") + "/run"
        let trainArgs = [
            "--data", "mnist", "--data-dir", data, "--epochs", "1", "--model", "mlp", "--hidden", "16",
            "--batch-size", "32", "--out", out,
        ]
        // Nothing from the caller's Slurm job or MPIRUN_ARGS may change the command under test.
        let r = try runProcess(
            "/bin/bash", [tree + "/launch/mpi", "-n", "2", "--"] + trainArgs,
            environment: [
                "SLURM_NTASKS": nil, "SLURM_JOB_ID": nil, "MPIRUN_ARGS": nil,
                "OPENBLAS_CORETYPE": nil,
            ])
        #expect(r.status == 0, "launch/mpi exited \(r.status)\nstdout: \(r.stdout)\nstderr: \(r.stderr)")

        // The command, exactly as launch/mpi builds it: hosts/localhost has 2 slots, so 2 ranks need no
        // --oversubscribe; --allow-run-as-root only as root; the OpenBLAS kernel the binary reports.
        let core =
            try runProcess(bin, ["blas-core"], environment: ["OPENBLAS_CORETYPE": ""])
            .stdout.split(separator: "\n").last.map(String.init) ?? ""
        var expected = ["mpirun", "-np", "2", "--bind-to", "none"]
        if getuid() == 0 { expected.append("--allow-run-as-root") }
        expected += ["--hostfile", "hosts/localhost", "-x", "OPENBLAS_NUM_THREADS=1", "-x", "OMP_NUM_THREADS=1"]
        if !core.isEmpty { expected += ["-x", "OPENBLAS_CORETYPE=\(core)"] }
        expected += [tree + "/.build/release/bayesprune", "train", "--threads", "1"] + trainArgs
        let firstLine = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init)
        #expect(firstLine == "+ " + expected.joined(separator: " "), "stdout: \(r.stdout)")

        #expect((r.stdout + r.stderr).contains("2 ranks"), "the run did not report 2 ranks: \(r.stdout)\(r.stderr)")
        let metrics = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8)
        #expect(metrics.split(separator: "\n").count == 1, "metrics.jsonl: \(metrics)")
        #expect(fm.fileExists(atPath: out + "/weights.safetensors"))
    }

    /// Image-folder data under launch/mpi: each of 2 ranks decodes its half of every global batch (its own
    /// decoder thread, crops drawn per example), and the run equals one process at the same global batch up to
    /// summation order (mlp: no batch norm, whose statistics are per rank). Tolerance as in
    /// `Distributed.rankCountsAgree`: 10·S·u·⌈log2 B⌉ relative over S steps.
    @Test func launchMPIOnAnImageFolderEqualsOneRank() throws {
        let bin = try requireBayesprune()
        try requireMPIRun()
        let tree = try launchTree(bin)
        let data = try writeImageFolder(
            temporaryDirectory("launch-images") + "/d", classes: 3, trainPerClass: 16, valPerClass: 4)
        let base = try temporaryDirectory("launch-images-run")
        let args = [
            "--data", "image-folder", "--data-dir", data, "--image-size", "12", "--model", "mlp", "--hidden", "16",
            "--epochs", "2", "--batch-size", "16", "--seed", "3",
        ]
        let one = try runProcess(bin, ["train", "--threads", "1"] + args + ["--out", base + "/r1"])
        #expect(one.status == 0, "one process: \(one.stderr)")
        let two = try runProcess(
            "/bin/bash", [tree + "/launch/mpi", "-n", "2", "--"] + args + ["--out", base + "/r2"],
            environment: ["SLURM_NTASKS": nil, "SLURM_JOB_ID": nil, "MPIRUN_ARGS": nil, "OPENBLAS_CORETYPE": nil])
        #expect(two.status == 0, "launch/mpi: \(two.stdout)\(two.stderr)")
        #expect((two.stdout + two.stderr).contains("2 ranks"), "\(two.stdout)\(two.stderr)")
        let (l1, l2) = (try trainLosses(base + "/r1"), try trainLosses(base + "/r2"))
        #expect(l1.count == 2 && l2.count == 2)
        let steps = 6.0  // 48 training images / 16 × 2 epochs
        let tol = 10.0 * steps * pow(2.0, -24.0) * 4
        for (a, b) in zip(l1, l2) { #expect(abs(a - b) <= tol * max(1, abs(a)), "loss \(a) vs \(b)") }
        let (w1, w2) = (try allWeights(base + "/r1"), try allWeights(base + "/r2"))
        #expect(w1.count == w2.count && !w1.isEmpty)
        let worst = zip(w1, w2).map { Double(abs($0 - $1)) / max(1, Double(abs($0))) }.max() ?? .infinity
        #expect(worst <= tol, "weights differ by \(worst)")
        // And the images were really decoded per batch on both: the metrics say how fast.
        let line = try String(contentsOfFile: base + "/r2/metrics.jsonl", encoding: .utf8)
        #expect(line.contains("decode_images_per_second_per_thread"), "\(line)")
    }
}

/// A real Slurm job (Tests/scripts/slurm-job.sh): a one-node Slurm with munge started on this machine, the
/// README's `sbatch -n 2 --wrap "launch/mpi ..."` submitted from a launch tree, the run directory checked.
@Suite(.serialized) struct SlurmJob {
    @Test func sbatchOfLaunchMPIRunsTwoRanks() throws {
        let bin = try requireBayesprune()
        try requireMPIRun()
        try #require(getuid() == 0, "starting slurmctld, slurmd and munged needs root: run `swift test` as root (CI does)")
        let tree = try launchTree(bin)
        let data = try quadrantDataset("slurm-data", train: 128, test: 32)
        let out = try temporaryDirectory("slurm-run") + "/run"
        let r = try runProcess("/bin/bash", [packageRoot + "/Tests/scripts/slurm-job.sh", tree, data, out])
        #expect(r.status == 0, "slurm-job.sh exited \(r.status)\nstdout: \(r.stdout)\nstderr: \(r.stderr)")
        #expect(r.stdout.contains("slurm-job: ok"), "\(r.stdout)")
        let metrics = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8)
        #expect(metrics.contains("\"ranks\":2"), "\(metrics)")
    }
}
