// The measured inputs of the scaling model (ScalingModel.swift): a node's step profile (compute and
// the moments gradients become final during backward), the cost of the non-blocking allreduce the
// buckets use, and, under mpirun, whole distributed steps with and without overlap to check the model
// against. Random data; the sampler is the paper's adaptive one (adavb), as in `bench`.

import BayesPruneDistributed
import BayesPruneKernels
import BayesPruneNN
import BayesPruneRunIO
import BayesPruneSampling
import Foundation

/// Measured distributed steps on one link: what the model's predictions are checked against.
public struct DistributedStepSample: Codable, Equatable, Sendable {
    /// `ModelKind` raw value.
    public var model: String
    /// Examples per rank per step.
    public var batch: Int
    /// Ranks of the run.
    public var ranks: Int
    /// BLAS threads per rank.
    public var threads: Int
    /// Gradient bucket size (bytes).
    public var bucketBytes: Int
    /// Whether buckets started during backward.
    public var overlap: Bool
    /// Median seconds per step.
    public var stepSeconds: Double
    /// Median seconds per step spent waiting for the allreduces after backward.
    public var exposedSeconds: Double
}

/// One `bench --link-profile` run: a link's allreduce costs and distributed steps over it.
public struct LinkMeasurement: Codable, Equatable, Sendable {
    /// What the ranks were joined by, e.g. "shared memory" or "tcp 1gbit".
    public var link: String
    /// The link's nominal rate (bits/s) when it was shaped; nil for shared memory.
    public var nominalBitsPerSecond: Double?
    /// Ranks of the run.
    public var ranks: Int
    /// Cores of the machine the ranks shared (ranks above it were oversubscribed).
    public var cores: Int
    /// Allreduce costs, 4 KB to 4 MB.
    public var allreduce: [AllreduceSample]
    /// Distributed steps per model, overlap off and on.
    public var steps: [DistributedStepSample]

    /// A measurement from its parts.
    public init(
        link: String, nominalBitsPerSecond: Double?, ranks: Int, cores: Int, allreduce: [AllreduceSample],
        steps: [DistributedStepSample]
    ) {
        self.link = link
        self.nominalBitsPerSecond = nominalBitsPerSecond
        self.ranks = ranks
        self.cores = cores
        self.allreduce = allreduce
        self.steps = steps
    }
}

/// User and system CPU seconds of this process so far.
func processCPUSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6
}

extension Benchmark {
    /// The input the scaling model uses per model: CIFAR's 3×32×32, ImageNet's 3×224×224 for ResNet-50,
    /// Fashion-MNIST's for mlp and lenet.
    public static func scalingInput(for kind: ModelKind) -> ActShape {
        switch kind {
        case .mlp, .lenet: return ActShape(1, 28, 28)
        case .resnet50: return ActShape(3, 224, 224)
        default: return ActShape(3, 32, 32)
        }
    }

    /// A model on `input` (default: `scalingInput`) with random inputs and labels of `classes` for steps at
    /// `batch` (the `bench` throughput runs use it too).
    static func stepFixture(
        _ kind: ModelKind, input: ActShape? = nil, batch: Int, classes: Int = 10
    ) throws -> (Network, FloatBuffer, [Int32]) {
        let input = input ?? scalingInput(for: kind)
        let net = try ModelBuilder.build(ModelSpec(kind: kind, input: input, outputs: classes), seed: 1)
        var rng = Xoshiro256(seed: 99)
        let x = FloatBuffer(count: batch * input.size)
        for i in 0..<x.count { x[i] = rng.nextGaussian() }
        let labels = (0..<batch).map { _ in Int32(rng.nextInt(below: classes)) }
        return (net, x, labels)
    }

    /// Lines the ranks up before a timed stretch.
    static func barrier(_ comm: Communicator, _ what: String) throws {
        var sync = [0.0]
        try comm.allreduceSum(&sync, what: what)
    }

    static let scalingSampler = SamplerConfig(
        kind: .adavb, weightDecay: 5e-4, momentum: 0.9, dataSize: 50_000, noiseSeed: 1)

    /// One node's step profile at `batch` with `threads` BLAS threads: medians over `steps` timed steps
    /// after `warmup` untimed ones (each readiness point's median separately).
    public static func stepProfile(
        _ kind: ModelKind, batch: Int, threads: Int, steps: Int, warmup: Int
    ) throws -> StepProfile {
        setBLASThreads(threads)
        let (net, x, labels) = try stepFixture(kind, batch: batch)
        let store = net.store
        let state = SamplerState(config: scalingSampler, parameterCount: store.parameterCount)
        var points: [ReadyPoint] = []
        var start: UInt64 = 0
        net.gradientsReady = { points.append(ReadyPoint(offset: $0, seconds: Double(monotonicNanos() - start) * 1e-9)) }
        defer { net.gradientsReady = nil }
        var timelines: [[ReadyPoint]] = []
        var sampler: [Double] = []
        for i in 0..<(warmup + steps) {
            points = []
            start = monotonicNanos()
            _ = net.lossAndGradient(x.pointer, batch: batch, labels: labels, targets: nil)
            let t = monotonicNanos()
            Sampler.step(
                scalingSampler, state: state, weights: store.values.pointer, grads: store.grads.pointer,
                count: store.parameterCount, lr: 0.01)
            guard i >= warmup else { continue }
            sampler.append(Double(monotonicNanos() - t) * 1e-9)
            timelines.append(points)
        }
        let readiness = timelines[0].indices.map { k in
            ReadyPoint(offset: timelines[0][k].offset, seconds: median(timelines.map { $0[k].seconds }))
        }
        return StepProfile(
            model: kind.rawValue, batch: batch, threads: threads, parameterCount: store.parameterCount,
            forwardBackwardSeconds: readiness.last?.seconds ?? 0, samplerSeconds: median(sampler),
            readiness: readiness)
    }

    /// Under mpirun: seconds per non-blocking allreduce (started, then waited for, as the buckets run) of
    /// each size in `bytes`, the median over `repeats` of the mean over enough calls to move about 16 MB,
    /// averaged over ranks.
    public static func allreduceSamples(_ comm: Communicator, bytes: [Int], repeats: Int) throws -> [AllreduceSample] {
        try bytes.map { size in
            let n = max(1, size / 4)
            let buffer = FloatBuffer(count: n)
            let calls = min(200, max(5, 16_000_000 / (4 * n)))
            func run(_ k: Int) throws {
                for _ in 0..<k {
                    try comm.startAllreduceSum(buffer.pointer, count: n, what: "allreduce benchmark")
                    try comm.waitForStarted(what: "allreduce benchmark")
                }
            }
            try run(3)
            var times: [Double] = []
            for _ in 0..<repeats {
                try barrier(comm, "allreduce benchmark")
                let t0 = monotonicSeconds()
                try run(calls)
                times.append((monotonicSeconds() - t0) / Double(calls))
            }
            // The CPU the sums take: the same calls waited for by sleeping between polls (no spinning counted).
            try barrier(comm, "allreduce benchmark")
            let c0 = processCPUSeconds()
            let t0 = monotonicSeconds()
            for _ in 0..<calls {
                try comm.startAllreduceSum(buffer.pointer, count: n, what: "allreduce benchmark")
                // Sleeping polls for at most 10 s; then the shim's own wait, with its timeout and report.
                let deadline = monotonicSeconds() + 10
                while !comm.progress() && monotonicSeconds() < deadline { usleep(50) }
                try comm.waitForStarted(what: "allreduce benchmark")
            }
            var mean = [
                median(times), (processCPUSeconds() - c0) / Double(calls), (monotonicSeconds() - t0) / Double(calls),
            ]
            try comm.allreduceSum(&mean, what: "allreduce benchmark")
            return AllreduceSample(
                bytes: 4 * n, ranks: comm.size, seconds: mean[0] / Double(comm.size),
                cpuSeconds: mean[1] / Double(comm.size), sleepingSeconds: mean[2] / Double(comm.size))
        }
    }

    /// Under mpirun: data-parallel steps as the trainer runs them (forward and backward with the gradient
    /// summed in buckets of `bucketBytes`, started during backward when `overlap`; the loss allreduce; the
    /// sampler step at 1/ranks gradient scale). Medians over `repeats` of `steps` steps.
    public static func distributedSteps(
        _ kind: ModelKind, batch: Int, threads: Int, comm: Communicator, bucketBytes: Int, overlap: Bool,
        steps: Int, warmup: Int, repeats: Int
    ) throws -> DistributedStepSample {
        setBLASThreads(threads)
        let (net, x, labels) = try stepFixture(kind, batch: batch)
        let store = net.store
        let state = SamplerState(config: scalingSampler, parameterCount: store.parameterCount)
        let reducer = BucketedAllreduce(
            communicator: comm, buffer: store.grads.pointer, count: store.parameterCount, bucketBytes: bucketBytes,
            overlap: overlap)
        var hookError: Error?
        if overlap {
            net.gradientsReady = { offset in
                do { try reducer.gradientsReady(from: offset) } catch { hookError = error }
            }
        }
        defer { net.gradientsReady = nil }
        var exposed = 0.0
        func step() throws {
            reducer.beginStep()
            let loss = net.lossAndGradient(x.pointer, batch: batch, labels: labels, targets: nil)
            if let hookError { throw hookError }
            let t = monotonicSeconds()
            try reducer.finish()
            var l = [loss, 1]
            try comm.allreduceSum(&l, what: "loss allreduce")
            exposed += monotonicSeconds() - t
            Sampler.step(
                scalingSampler, state: state, weights: store.values.pointer, grads: store.grads.pointer,
                count: store.parameterCount, lr: 0.01, gradientScale: 1 / Float(comm.size))
        }
        for _ in 0..<warmup { try step() }
        var stepTimes: [Double] = []
        var exposedTimes: [Double] = []
        for _ in 0..<repeats {
            exposed = 0
            try barrier(comm, "step benchmark")
            let t0 = monotonicSeconds()
            for _ in 0..<steps { try step() }
            stepTimes.append((monotonicSeconds() - t0) / Double(steps))
            exposedTimes.append(exposed / Double(steps))
        }
        return DistributedStepSample(
            model: kind.rawValue, batch: batch, ranks: comm.size, threads: threads, bucketBytes: bucketBytes,
            overlap: overlap, stepSeconds: median(stepTimes), exposedSeconds: median(exposedTimes))
    }
}

/// Reading `bench --link-profile` output for `bench --scaling --links`.
public enum LinkMeasurementFile {
    /// The measurement in `path`. Throws `OutputError` (one line naming the file) when it cannot be read
    /// or is not a link measurement with at least one allreduce sample of two or more ranks.
    public static func load(_ path: String) throws -> LinkMeasurement {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OutputError(description: "\(path): cannot read it (missing or not a readable file)")
        }
        guard let m = try? JSONDecoder().decode(LinkMeasurement.self, from: data) else {
            throw OutputError(description: "\(path): not a link measurement written by bayesprune bench --link-profile")
        }
        guard m.ranks >= 2, m.cores >= 1, !m.allreduce.isEmpty,
            m.allreduce.allSatisfy({ $0.bytes > 0 && $0.ranks >= 2 && $0.seconds > 0 && $0.seconds.isFinite }),
            m.steps.allSatisfy({ $0.batch >= 1 && $0.threads >= 1 && $0.stepSeconds > 0 && $0.bucketBytes >= 4 })
        else {
            throw OutputError(description: "\(path): link measurement with impossible values (ranks, times or sizes)")
        }
        return m
    }
}
