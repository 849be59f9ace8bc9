// Multi-process training through mpirun with the built binary: R = 1, 2, 4 ranks agree with each other,
// replicas stay identical (a perturbed rank is caught), a killed or stalled rank ends the whole job.

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

func allWeights(_ dir: String) throws -> [Float] {
    let t = try Safetensors.read(path: dir + "/weights.safetensors").tensors
    return t.keys.sorted().flatMap { t[$0]!.values }
}

// Never disabled: without mpirun on PATH every test here fails, naming what to install.
@Suite(.serialized) struct Distributed {
    static let data = try! quadrantDataset("mpi-data", train: 256, test: 64)

    @Test func mpirunIsOnPath() throws {
        let mpirun = try requireMPIRun()
        let r = try runProcess(mpirun, ["--version"])
        #expect(
            r.status == 0 && (r.stdout + r.stderr).contains("Open MPI"), "\(mpirun) --version: \(r.stdout)\(r.stderr)")
    }

    func trainArgs(_ out: String, sampler: String, extra: [String] = []) -> [String] {
        [
            "train", "--data", "mnist", "--data-dir", Self.data, "--model", "mlp", "--hidden", "16", "--sampler",
            sampler,
            "--epochs", "2", "--batch-size", "32", "--threads", "1", "--out", out, "--seed", "5",
        ] + extra
    }

    /// Global batch B over R ranks equals one process with batch B up to summation order. One step's
    /// gradient differs by rounding, relative ~u·⌈log2 B⌉ (u = 2^−24); over S = 16 steps of a
    /// near-identity map such differences add up at most linearly: tol = 10·S·u·⌈log2 B⌉ ≈ 5e-5 for S = 16
    /// relative (10 as a margin for the sampler's and loss's own rounding), on weights of size ~1.
    /// A run that exits 0 under mpirun also passed the final replica check: bitwise identical replicas.
    /// With pruning the masks must be identical, whatever the rank count.
    @Test(arguments: [("sgd", false), ("adavb", false), ("sgd", true), ("adavb", true)])
    func rankCountsAgree(sampler: String, prune: Bool) throws {
        let base = try temporaryDirectory("mpi-eq")
        var losses: [[Double]] = []
        var weights: [[Float]] = []
        var masks: [[Float]] = []
        let pruning =
            prune
            ? ["--prune", "--warm-up", "1", "--soft-threshold", "2e-2", "--hard-threshold", "1e-2", "--epochs", "3"]
            : []
        for ranks in [0, 2, 4] {
            let out = "\(base)/r\(ranks)"
            let r = try runRanks(ranks, trainArgs(out, sampler: sampler, extra: pruning))
            #expect(r.status == 0, "ranks \(ranks): \(r.stderr)")
            losses.append(try trainLosses(out))
            weights.append(try allWeights(out))
            if prune {
                let t = try Safetensors.read(path: out + "/mask.safetensors").tensors
                masks.append(t.keys.sorted().flatMap { t[$0]!.values })
            }
        }
        if prune {
            #expect(masks[0] == masks[1] && masks[0] == masks[2])
            #expect(masks[0].contains(0), "the settings should prune something")
        }
        let steps = Double(losses[0].count * 8)
        let tol: Double = 10.0 * steps * pow(2.0, -24.0) * 5
        for k in 1..<3 {
            for (a, b) in zip(losses[0], losses[k]) { #expect(abs(a - b) <= tol * max(1, abs(a)), "loss \(a) vs \(b)") }
            let worst = zip(weights[0], weights[k]).map { Double(abs($0 - $1)) / max(1, Double(abs($0))) }.max()!
            #expect(worst <= tol, "weights differ by \(worst) (R = \([1, 2, 4][k]))")
        }
    }

    /// The gradient summed in buckets started during backward equals the same buckets started after it,
    /// bitwise (same sums in the same order), on 2 and 4 ranks; the metrics show buckets really started early.
    @Test(arguments: [2, 4])
    func overlappedAllreduceIsBitwiseThePlainOne(ranks: Int) throws {
        let base = try temporaryDirectory("mpi-overlap")
        var weights: [[Float]] = []
        var losses: [[Double]] = []
        for overlap in ["on", "off"] {
            let out = "\(base)/\(overlap)"
            // 0.004 MB = 1048 floats: lenet's gradient in many buckets, most of them ready before conv1's.
            let args = [
                "train", "--data", "mnist", "--data-dir", Self.data, "--model", "lenet", "--sampler", "adavb",
                "--epochs", "2", "--batch-size", "32", "--threads", "1", "--out", out, "--seed", "5",
                "--allreduce-bucket-mb", "0.004", "--allreduce-overlap", overlap,
            ]
            let r = try runRanks(ranks, args)
            #expect(r.status == 0, "ranks \(ranks), overlap \(overlap): \(r.stderr)")
            weights.append(try allWeights(out))
            losses.append(try trainLosses(out))
            let m = try lastMetrics(out)
            let buckets = m["allreduce_buckets"] as? Int ?? 0
            let parameters = try allWeights(out).count
            #expect(buckets == (parameters + 1047) / 1048, "\(buckets) buckets for \(parameters) parameters")
            let early = m["allreduce_buckets_during_backward"] as? Int ?? -1
            // fc1 (400×120) and everything after it is final before conv2's and conv1's backward run.
            #expect(overlap == "on" ? early >= buckets / 2 : early == 0, "buckets started during backward: \(early)")
        }
        #expect(weights[0] == weights[1], "overlapped and plain sums differ")
        #expect(losses[0] == losses[1])
    }

    @Test func perturbedReplicaIsCaught() throws {
        let out = try temporaryDirectory("mpi-perturb") + "/run"
        let r = try runRanks(
            2, trainArgs(out, sampler: "sgd", extra: ["--sync-check-every", "1", "--debug-fault", "perturb:1:3"]))
        #expect(r.status != 0)
        #expect(r.stderr.contains("replicas disagree at step 3") && r.stderr.contains("rank 1 differ"), "\(r.stderr)")
        let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("bayesprune:") }
        #expect(lines.count == 1, "the message is shown once: \(r.stderr)")
    }

    @Test func killedRankEndsTheJob() throws {
        let out = try temporaryDirectory("mpi-kill") + "/run"
        let r = try runRanks(
            2, trainArgs(out, sampler: "sgd", extra: ["--collective-timeout", "20", "--debug-fault", "kill:1:3"]))
        #expect(r.status != 0)
        #expect(r.seconds < 60, "the job must end well within the timeout, took \(r.seconds) s")
    }

    @Test func stalledRankIsNamedAfterTheTimeout() throws {
        let out = try temporaryDirectory("mpi-stall") + "/run"
        let r = try runRanks(
            3,
            trainArgs(
                out, sampler: "sgd",
                extra: ["--batch-size", "33", "--collective-timeout", "3", "--debug-fault", "stall:2:2"]))
        #expect(r.status != 0)
        #expect(
            r.stderr.contains("did not complete within 3 s") && r.stderr.contains("rank 2 did not arrive"),
            "\(r.stderr)")
        #expect(r.seconds < 40)
    }

    @Test func badInputOnEveryRankIsReportedOnce() throws {
        let out = try temporaryDirectory("mpi-bad") + "/run"
        var args = trainArgs(out, sampler: "sgd")
        args[args.firstIndex(of: Self.data)!] = "/nonexistent-bp-data"
        let r = try runRanks(2, args)
        #expect(r.status != 0)
        let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("bayesprune:") }
        #expect(lines.count == 1 && lines[0].contains("/nonexistent-bp-data"), "\(r.stderr)")
        let odd = try runRanks(2, trainArgs(out, sampler: "sgd", extra: ["--batch-size", "33"]))
        #expect(odd.status != 0 && odd.stderr.contains("not divisible by the 2 ranks"), "\(odd.stderr)")
    }
}

/// Two hosts over TCP (network namespaces joined by a veth pair). Needs root, iproute2's `ip` and mpirun
/// on PATH (Tests/scripts/two-hosts.sh calls both by name); without them the test fails, saying so.
@Suite(.serialized)
struct TwoHosts {
    @Test func trainingAcrossTwoNetworkNamespaces() throws {
        try requireMPIRun()
        try requireExecutable("ip", "install iproute2 (network namespaces for the two hosts)")
        try #require(getuid() == 0, "creating network namespaces needs root: run `swift test` as root (CI does)")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/two-hosts.sh").path
        try requireExecutable("tc", "install iproute2 (the shaped link between the two hosts)")
        let out = try temporaryDirectory("netns") + "/run"
        let profile = try temporaryDirectory("netns-link") + "/link.json"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [script, try requireBayesprune(), Distributed.data, out, profile]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(e)")
        let single = try temporaryDirectory("netns-single") + "/run"
        let r = try runRanks(
            0,
            [
                "train", "--data", "mnist", "--data-dir", Distributed.data, "--model", "mlp", "--hidden", "16",
                "--epochs", "2", "--batch-size", "32", "--threads", "1", "--out", single,
            ])
        #expect(r.status == 0)
        // Same result as one process, up to summation order (the tolerance of rankCountsAgree).
        let a = try trainLosses(out)
        let b = try trainLosses(single)
        #expect(a.count == 2 && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) }, "\(a) vs \(b)")
        // The link is really shaped: on 2 ranks libnbc's binomial sum sends 4 MB one way, then the result
        // back, each at 1 Gb/s at most (an unshaped veth pair does it in about 2 ms); the fitted bandwidth
        // stays below the rate.
        let m = try LinkMeasurementFile.load(profile)
        let big = try #require(m.allreduce.first { $0.bytes == 1 << 22 })
        #expect(big.seconds >= 1.6 * Double(1 << 22) / 125e6, "4 MB summed in \(big.seconds) s over a 1 Gb/s link")
        let fit = LinkModel.fit(name: m.link, samples: Benchmark.fitSamples(m.link, [m]))
        #expect(fit.bytesPerSecond <= 1.1 * 125e6, "fitted \(fit.bytesPerSecond) B/s over a 1 Gb/s link")
    }
}
