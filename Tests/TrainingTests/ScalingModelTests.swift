// The scaling model (docs/SCALING.md): the allreduce algorithms' rounds and bytes against their closed
// forms, the link fit recovering known α and β, the bucket schedule against a naive tick-by-tick twin,
// the measured step profile's shape, link files' errors, and `bench --link-profile` / `bench --scaling`
// end to end under mpirun.
import BayesPruneBenchmark
import BayesPruneNN
import Foundation
import TestSupport
import Testing

@Suite struct AllreduceAlgorithms {
    @Test func roundsAndBytesFollowTheClosedForms() {
        let n = 1_000_000.0
        #expect(AllreduceAlgorithm.ring.rounds(ranks: 4) == 6)
        #expect(AllreduceAlgorithm.ring.bytesSent(n, ranks: 4) == 1.5 * n)
        #expect(AllreduceAlgorithm.binomial.rounds(ranks: 4) == 4)
        #expect(AllreduceAlgorithm.binomial.bytesSent(n, ranks: 5) == 6 * n)  // ⌈log2 5⌉ = 3
        #expect(AllreduceAlgorithm.reduceScatterAllgather.rounds(ranks: 8) == 6)
        #expect(AllreduceAlgorithm.reduceScatterAllgather.bytesSent(n, ranks: 8) == 1.75 * n)
        // 6 ranks: the 4 of the power of two, plus two half-buffer rounds folding the other 2 in and one
        // whole-buffer round handing them the result.
        #expect(AllreduceAlgorithm.reduceScatterAllgather.rounds(ranks: 6) == 7)
        #expect(AllreduceAlgorithm.reduceScatterAllgather.bytesSent(n, ranks: 6) == 1.5 * n + 2 * n)
        for a in AllreduceAlgorithm.allCases {
            #expect(a.rounds(ranks: 1) == 0 && a.bytesSent(n, ranks: 1) == 0)
        }
    }

    @Test func libnbcChoiceFollowsOpenMPI41() {
        #expect(AllreduceAlgorithm.libnbcChoice(bytes: 1 << 20, ranks: 2) == .binomial)
        #expect(AllreduceAlgorithm.libnbcChoice(bytes: 32768, ranks: 8) == .binomial)
        #expect(AllreduceAlgorithm.libnbcChoice(bytes: 65536, ranks: 8) == .reduceScatterAllgather)
        #expect(AllreduceAlgorithm.libnbcChoice(bytes: 1 << 20, ranks: 64) == .reduceScatterAllgather)
        #expect(AllreduceAlgorithm.libnbcChoice(bytes: 1 << 20, ranks: 3) == .binomial)
        #expect(AllreduceAlgorithm.libnbcChoice(bytes: 65535, ranks: 4) == .binomial)
        #expect(AllreduceAlgorithm.libnbcChoice(bytes: 65536, ranks: 4) == .reduceScatterAllgather)
        #expect(AllreduceAlgorithm.libnbcChoice(bytes: 65536, ranks: 6) == .reduceScatterAllgather)
        // Fewer floats than the power of two below p: the ring (16384 floats, 32768 ranks).
        #expect(AllreduceAlgorithm.libnbcChoice(bytes: 65536, ranks: 32768) == .ring)
    }

    @Test func fitRecoversKnownLatencyAndBandwidth() {
        let truth = LinkModel(name: "t", latencySeconds: 37e-6, bytesPerSecond: 1.1e9)
        var samples: [AllreduceSample] = []
        for p in [2, 4, 8] {
            for bytes in [65536, 262_144, 1 << 20, 1 << 22] {
                let t = truth.allreduceSeconds(bytes: bytes, ranks: p)
                samples.append(
                    AllreduceSample(bytes: bytes, ranks: p, seconds: t, cpuSeconds: 0.3 * t, sleepingSeconds: t))
            }
        }
        let fit = LinkModel.fit(name: "t", samples: samples)
        #expect(abs(fit.latencySeconds / truth.latencySeconds - 1) < 1e-6)
        #expect(abs(fit.bytesPerSecond / truth.bytesPerSecond - 1) < 1e-6)
        #expect(abs(fit.cpuShare - 0.3) < 1e-9)
        #expect(fit.worstRelativeError(samples) < 1e-6)
        // No latency in the data: α is clamped at 0, β still right.
        let flat = samples.map {
            AllreduceSample(
                bytes: $0.bytes, ranks: $0.ranks,
                seconds: AllreduceAlgorithm.libnbcChoice(bytes: $0.bytes, ranks: $0.ranks)
                    .bytesSent(Double($0.bytes), ranks: $0.ranks) / 2e9)
        }
        let f2 = LinkModel.fit(name: "flat", samples: flat)
        #expect(f2.latencySeconds >= 0 && f2.latencySeconds < 1e-9)
        #expect(abs(f2.bytesPerSecond / 2e9 - 1) < 1e-6)
    }
}

@Suite struct ScalingPrediction {
    /// A profile whose gradient becomes final in `layers` equal slices, evenly over backward.
    func profile(parameters: Int, forwardBackward: Double, backwardStart: Double, layers: Int) -> StepProfile {
        let points = (1...layers).map { k in
            ReadyPoint(
                offset: parameters - parameters * k / layers,
                seconds: backwardStart + (forwardBackward - backwardStart) * Double(k) / Double(layers))
        }
        return StepProfile(
            model: "synthetic", batch: 16, threads: 1, parameterCount: parameters,
            forwardBackwardSeconds: forwardBackward,
            samplerSeconds: 0.5e-3, readiness: points)
    }

    /// The naive twin: time advances in 1 µs ticks; the link serves one bucket at a time, in order, each once
    /// the tick has reached its ready time.
    func naiveExposed(_ p: StepProfile, link: LinkModel, ranks: Int, bucketBytes: Int, overlap: Bool) -> Double {
        var buckets: [(ready: Double, cost: Double)] = []
        var end = p.parameterCount
        while end > 0 {
            let start = max(0, end - bucketBytes / 4)
            let ready =
                overlap
                ? (p.readiness.first { $0.offset <= start }?.seconds ?? p.forwardBackwardSeconds)
                : p.forwardBackwardSeconds
            buckets.append((ready, link.allreduceSeconds(bytes: 4 * (end - start), ranks: ranks)))
            end = start
        }
        buckets.append((p.forwardBackwardSeconds, link.allreduceSeconds(bytes: ScalingModel.lossBytes, ranks: ranks)))
        let tick = 1e-6
        var t = 0.0
        var k = 0
        var remaining = buckets[0].cost
        while k < buckets.count {
            if t + tick / 2 >= buckets[k].ready {
                remaining -= tick
                if remaining <= tick / 2 {
                    k += 1
                    if k < buckets.count { remaining = buckets[k].cost }
                }
            }
            t += tick
        }
        return t - p.forwardBackwardSeconds
    }

    @Test(arguments: [false, true])
    func bucketScheduleMatchesTheNaiveTwin(overlap: Bool) {
        let p = profile(parameters: 270_000, forwardBackward: 30e-3, backwardStart: 12e-3, layers: 20)
        let link = LinkModel(name: "l", latencySeconds: 50e-6, bytesPerSecond: 125e6)
        for ranks in [2, 8, 64] {
            let model = ScalingModel.predict(p, link: link, ranks: ranks, bucketBytes: 262_144, overlap: overlap)
            let twin = naiveExposed(p, link: link, ranks: ranks, bucketBytes: 262_144, overlap: overlap)
            #expect(abs(model.exposedSeconds - twin) < 2e-5, "ranks \(ranks): \(model.exposedSeconds) vs \(twin)")
        }
    }

    @Test func stepIsComputePlusExposedPlusHiddenCPU() {
        let p = profile(parameters: 100_000, forwardBackward: 50e-3, backwardStart: 20e-3, layers: 10)
        // A free link: the step is the compute alone.
        let free = LinkModel(name: "free", latencySeconds: 0, bytesPerSecond: .infinity, cpuShare: 0.5)
        let f = ScalingModel.predict(p, link: free, ranks: 64, bucketBytes: 40_000, overlap: true)
        #expect(f.stepSeconds == p.computeSeconds && f.efficiency == 1)
        // Without overlap, everything is exposed: compute + Σ bucket costs + the loss allreduce.
        let link = LinkModel(name: "l", latencySeconds: 10e-6, bytesPerSecond: 1e9, cpuShare: 0.4)
        let off = ScalingModel.predict(p, link: link, ranks: 4, bucketBytes: 400_000, overlap: false)
        let whole = link.allreduceSeconds(bytes: 400_000, ranks: 4) + link.allreduceSeconds(bytes: 16, ranks: 4)
        #expect(abs(off.exposedSeconds / whole - 1) < 1e-12 && off.overlapCPUSeconds == 0)
        #expect(abs(off.stepSeconds - (p.computeSeconds + whole)) < 1e-12)
        // With overlap on a fast link almost all is hidden, and costs ρ of its time in CPU.
        let on = ScalingModel.predict(p, link: link, ranks: 4, bucketBytes: 40_000, overlap: true)
        #expect(on.exposedSeconds < off.exposedSeconds)
        let hidden = on.communicationSeconds - on.exposedSeconds
        #expect(abs(on.overlapCPUSeconds - 0.4 * hidden) < 1e-12)
        #expect(abs(on.stepSeconds - (p.computeSeconds + on.exposedSeconds + 0.4 * hidden)) < 1e-12)
        // One node: no communication at all.
        #expect(
            ScalingModel.predict(p, link: link, ranks: 1, bucketBytes: 40_000, overlap: true).stepSeconds
                == p.computeSeconds)
    }

    @Test func measuredProfileHasTheBackwardShape() throws {
        let p = try withExclusiveThreadSettings {
            try Benchmark.stepProfile(.lenet, batch: 8, threads: 1, steps: 2, warmup: 1)
        }
        let net = try ModelBuilder.build(ModelSpec(kind: .lenet, input: ActShape(1, 28, 28), outputs: 10), seed: 1)
        #expect(p.parameterCount == net.store.parameterCount)
        #expect(p.readiness.last?.offset == 0)
        // The first point comes after forward (backward has begun), well inside the step.
        #expect(p.readiness.first!.seconds > 0.05 * p.forwardBackwardSeconds)
        // Offsets fall and times rise along backward; some gradients are final before the end.
        #expect(
            zip(p.readiness, p.readiness.dropFirst()).allSatisfy { $0.offset >= $1.offset && $0.seconds <= $1.seconds })
        #expect(p.readiness.contains { $0.offset > 0 && $0.offset < p.parameterCount })
        #expect(p.samplerSeconds > 0 && p.forwardBackwardSeconds > 0)
    }
}

@Suite(.serialized) struct ScalingCommand {
    @Test func badLinkFilesAreNamed() throws {
        let dir = try temporaryDirectory("scaling-bad")
        let junk = dir + "/junk.json"
        try Data("{\"link\": 3}".utf8).write(to: URL(fileURLWithPath: junk))
        let impossible = dir + "/impossible.json"
        let m = LinkMeasurement(
            link: "x", nominalBitsPerSecond: nil, ranks: 2, cores: 2,
            allreduce: [AllreduceSample(bytes: 4096, ranks: 2, seconds: -1)], steps: [])
        try JSONEncoder().encode(m).write(to: URL(fileURLWithPath: impossible))
        for (file, words) in [
            (dir + "/missing.json", "cannot read"), (junk, "not a link measurement"), (impossible, "impossible values"),
        ] {
            let r = try runCLI(["bench", "--scaling", "--models", "mlp", "--links", file])
            #expect(r.status == 2, "\(r.stderr)")
            #expect(
                r.stderr.split(separator: "\n").count == 1 && r.stderr.contains(file) && r.stderr.contains(words),
                "\(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
        let alone = try runCLI(["bench", "--link-profile", "x", "--models", "mlp"])
        #expect(alone.status == 2 && alone.stderr.contains("under mpirun"), "\(alone.stderr)")
        let none = try runCLI(["bench", "--scaling", "--models", ","])
        #expect(none.status != 0 && none.stderr.contains("--models"), "\(none.stderr)")
        // Checked before anything is measured: each a single line naming its option.
        let link = dir + "/link.json"
        try JSONEncoder().encode(
            LinkMeasurement(
                link: "x", nominalBitsPerSecond: nil, ranks: 2, cores: 2,
                allreduce: [AllreduceSample(bytes: 65536, ranks: 2, seconds: 1e-4)], steps: [])
        ).write(to: URL(fileURLWithPath: link))
        for (args, option) in [
            (["--links", link, "--nodes", "64", "--global-batch", "1000"], "--global-batch"),
            (["--links", link, "--hop-latency-us", "-5"], "--hop-latency-us"),
            ([String](), "--links"),
            (["--links", link, "--out", dir + "/no/such/dir/r.json"], "--out"),
        ] {
            let r = try runCLI(["bench", "--scaling", "--models", "mlp"] + args)
            #expect(r.status != 0 && r.stdout.isEmpty, "\(args): \(r.stdout)")
            #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains(option), "\(args): \(r.stderr)")
        }
    }

    /// `bench --link-profile` on 2 ranks writes a measurement that `bench --scaling` fits, checks and
    /// projects from: every measured step gets a prediction, every node count and link a row.
    @Test func linkProfileFeedsTheScalingTables() throws {
        let dir = try temporaryDirectory("scaling-cli")
        let link = dir + "/shm.json"
        let r = try runRanks(
            2,
            [
                "bench", "--link-profile", "shared memory", "--models", "mlp", "--batch-size", "16", "--threads", "1",
                "--steps", "2", "--warmup", "1", "--repeats", "1", "--out", link,
            ])
        #expect(r.status == 0, "\(r.stderr)")
        let m = try LinkMeasurementFile.load(link)
        #expect(m.ranks == 2 && m.allreduce.count == 6 && m.steps.count == 2)
        #expect(Set(m.steps.map(\.overlap)) == [false, true])
        let out = dir + "/scaling.json"
        let s = try runCLI([
            "bench", "--scaling", "--models", "mlp", "--links", link, "--nodes", "2,8", "--global-batch", "64",
            "--batch-size", "16", "--steps", "2", "--warmup", "1", "--out", out,
        ])
        #expect(s.status == 0, "\(s.stderr)")
        #expect(
            s.stdout.contains("### Model against measurement") && s.stdout.contains("| shared memory | 2 | mlp | 16 |"))
        let result = try JSONDecoder().decode(ScalingResult.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        #expect(result.checks.count == 2)
        // 1 model × 3 links × 2 batch modes × 2 node counts × overlap off/on.
        #expect(result.rows.count == 24)
        #expect(result.fits.count == 1 && result.fits[0].latencySeconds >= 0 && result.fits[0].bytesPerSecond > 0)
        for row in result.rows where row.mode == "global" { #expect(row.nodeBatch * row.nodes == 64) }
    }
}
