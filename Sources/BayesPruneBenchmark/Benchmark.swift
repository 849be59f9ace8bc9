// `bayesprune bench`: training throughput on random data of a given shape (Fashion-MNIST's by default)
// at a fixed batch, the achieved GFLOPS per layer kind, the optimizer step's cost per weight, and the
// machine's sgemm GFLOPS measured in the same run. Figures are medians over repeats.

import BayesPruneDistributed
import BayesPruneEvaluation
import BayesPruneKernels
import BayesPruneNN
import BayesPruneRunIO
import BayesPruneRuntime
import BayesPruneSampling
import Foundation

public struct BenchOptions {
    public var models: [ModelKind] = [.mlp, .lenet, .resnet20]
    public var threads: [Int] = [1, 2]
    /// Batch per rank; nil: each model's own (`batch(for:)`).
    public var batch: Int?
    public var steps = 30
    public var warmup = 5
    public var repeats = 3
    public var classes = 10
    /// Under mpirun: every rank trains at `batch` (weak scaling) with one gradient allreduce per step.
    public var communicator: Communicator = SingleProcess()
    public init() {}
}

extension BenchOptions {
    /// The input each model is meant for: Fashion-MNIST's 1×28×28 for mlp, lenet and the CIFAR ResNets
    /// (comparable with the PyTorch peer and earlier figures), CIFAR's 3×32×32 for ResNet-18, PreAct-ResNet-18
    /// and the WideResNets, ImageNet's 3×224×224 for ResNet-50.
    public static func input(for kind: ModelKind) -> ActShape {
        switch kind {
        case .mlp, .lenet, .resnet20, .resnet32, .resnet56: return ActShape(1, 28, 28)
        case .resnet18, .preactResnet18, .wrn16x4, .wrn28x10: return ActShape(3, 32, 32)
        case .resnet50: return ActShape(3, 224, 224)
        }
    }

    /// `batch`, or 128 (32 for ResNet-50 at 224×224).
    public func batch(for kind: ModelKind) -> Int { batch ?? (kind == .resnet50 ? 32 : 128) }
}

public enum Benchmark {
    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? .nan : (s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2]))
    }

    public static func run(_ o: BenchOptions, log: (String) -> Void) throws -> [String: Any] {
        var results: [[String: Any]] = []
        var sgemm: [String: Double] = [:]
        for t in o.threads {
            setBLASThreads(t)
            if o.communicator.size == 1 {
                sgemm["threads_\(t)"] = measureSGEMMGFLOPS(size: 512, repeats: max(o.repeats, 3))
            }
            for kind in o.models {
                let name = kind.rawValue
                let r = try benchModel(kind, threads: t, o)
                results.append(r)
                log(String(format: "%@ threads=%d: %.0f images/s", name, t, r["images_per_second"] as! Double))
            }
        }
        setBLASThreads(o.threads.first ?? 1)
        return [
            "steps": o.steps, "repeats": o.repeats, "ranks": o.communicator.size, "sgemm_gflops_512": sgemm,
            "blas_core": blasCoreName(), "results": results,
        ]
    }

    static func benchModel(_ kind: ModelKind, threads: Int, _ o: BenchOptions) throws -> [String: Any] {
        let input = BenchOptions.input(for: kind)
        let B = o.batch(for: kind)
        let (net, x, labels) = try stepFixture(kind, input: input, batch: B, classes: o.classes)
        let store = net.store
        // Training steps use the paper's sampler (adavb), as the PyTorch peer uses preconditioned SGHMC.
        let adavb = SamplerConfig(kind: .adavb, weightDecay: 5e-4, momentum: 0.9, dataSize: 60_000, noiseSeed: 1)
        let state = SamplerState(config: adavb, parameterCount: store.parameterCount)
        let comm = o.communicator
        var allreduceSeconds = 0.0
        var steps = 0
        func step() {
            _ = net.lossAndGradient(x.pointer, batch: B, labels: labels, targets: nil)
            if comm.size > 1 {
                let t = monotonicSeconds()
                try? comm.allreduceSum(store.grads.pointer, count: store.parameterCount, what: "gradient allreduce")
                allreduceSeconds += monotonicSeconds() - t
            }
            steps += 1
            Sampler.step(
                adavb, state: state, weights: store.values.pointer, grads: store.grads.pointer,
                count: store.parameterCount, lr: 0.01, gradientScale: 1 / Float(comm.size))
        }
        for _ in 0..<o.warmup { step() }
        var rates: [Double] = []
        allreduceSeconds = 0
        steps = 0
        for _ in 0..<o.repeats {
            let t0 = monotonicSeconds()
            for _ in 0..<o.steps { step() }
            rates.append(Double(o.steps * B * comm.size) / (monotonicSeconds() - t0))
        }
        let allreducePerStep = allreduceSeconds / Double(max(steps, 1))
        // Per-layer-kind GFLOPS from a separate, profiled pass (timing calls perturb the throughput run).
        net.profiler.reset()
        net.profiler.enabled = true
        for _ in 0..<max(3, o.steps / 3) { step() }
        net.profiler.enabled = false
        var perKind: [String: Any] = [:]
        for (k, secs) in net.profiler.seconds {
            let f = net.profiler.flops[k] ?? 0
            var e: [String: Any] = ["seconds_per_step": secs / Double(max(3, o.steps / 3))]
            if f > 0 { e["gflops"] = f / secs / 1e9 }
            perKind[k.rawValue] = e
        }
        // Sampler update cost per weight per step (median of repeats), on this model's buffers.
        var perWeight: [String: Double] = [:]
        for kind in SamplerKind.allCases {
            let c = SamplerConfig(kind: kind, weightDecay: 5e-4, momentum: 0.9, dataSize: 60_000, noiseSeed: 2)
            let st = SamplerState(config: c, parameterCount: store.parameterCount)
            var ns: [Double] = []
            for _ in 0..<max(o.repeats, 3) {
                let reps = max(5, 4_000_000 / max(store.parameterCount, 1))
                let t0 = monotonicNanos()
                for _ in 0..<reps {
                    Sampler.step(
                        c, state: st, weights: store.values.pointer, grads: store.grads.pointer,
                        count: store.parameterCount, lr: 0.1)
                }
                ns.append(Double(monotonicNanos() - t0) / Double(reps * store.parameterCount))
            }
            perWeight[kind.rawValue] = median(ns)
        }
        let ips = median(rates)
        return [
            "model": kind.rawValue, "threads": threads, "parameters": store.parameterCount, "ranks": comm.size,
            "input": [input.c, input.h, input.w],
            "per_rank_batch": B, "allreduce_seconds_per_step": allreducePerStep,
            "images_per_second": ips, "step_seconds": Double(B * comm.size) / ips,
            "train_gflops": 3 * 2 * Double(net.macsPerExample) * ips / 1e9,
            "per_layer_kind": perKind, "sampler_ns_per_weight": perWeight,
            "adavb_share_of_step": perWeight["adavb"]! * 1e-9 * Double(store.parameterCount)
                / (Double(B * comm.size) / ips),
        ]
    }
}

extension Benchmark {
    /// Inference images/s (evaluation mode, batch `batch`) of a compact export against its dense source run.
    public static func compareCompact(
        exportDirectory: String, batch: Int, steps: Int, repeats: Int
    ) throws -> [String: Any] {
        let arch = try JSONDecoder().decode(
            CompactSummary.self,
            from: FileManager.default.contents(atPath: exportDirectory + "/architecture.json")
                ?? {
                    throw OutputError(
                        description: "\(exportDirectory)/architecture.json: missing (not a compact export)")
                }())
        let (_, dense, _) = try CompactExport.loadPruned(directory: arch.source)
        let compact = try RunEvaluation.loadNetwork(try RunManifest.load(directory: exportDirectory))
        try WeightsFile.load(compact, from: exportDirectory + "/weights.safetensors")
        var rng = Xoshiro256(seed: 3)
        let x = FloatBuffer(count: batch * dense.inputShape.size)
        for i in 0..<x.count { x[i] = rng.nextGaussian() }
        func rate(_ net: Network) -> Double {
            for _ in 0..<3 { _ = net.forward(x.pointer, batch: batch, training: false) }
            var r: [Double] = []
            for _ in 0..<repeats {
                let t0 = monotonicSeconds()
                for _ in 0..<steps { _ = net.forward(x.pointer, batch: batch, training: false) }
                r.append(Double(steps * batch) / (monotonicSeconds() - t0))
            }
            return median(r)
        }
        // Interleave the two so machine noise hits both alike.
        let d1 = rate(dense)
        let c1 = rate(compact)
        let d2 = rate(dense)
        let c2 = rate(compact)
        let d = median([d1, d2])
        let c = median([c1, c2])
        return [
            "model": arch.model, "batch": batch, "dense_images_per_second": d, "compact_images_per_second": c,
            "speedup": c / d, "dense_parameters": arch.denseParameters, "compact_parameters": arch.compactParameters,
            "dense_macs_per_example": arch.denseMACsPerExample, "compact_macs_per_example": arch.compactMACsPerExample,
        ]
    }

    /// sgemm GFLOPS at 1 and 2 OpenBLAS threads for the GEMM shapes of the models (m×k by k×n, from
    /// the paper examples' first layer to resnet20's convolutions) and squares, with the threading
    /// threshold lifted so every call uses the thread count asked for. Medians of `repeats`.
    public static func gemmCrossover(repeats: Int, log: (String) -> Void) -> [[String: Any]] {
        let shapes: [(String, Int, Int, Int)] = [
            ("example-1 fc1 forward", 5, 1024, 1000), ("example-1 fc1 weight gradient", 5, 1000, 1024),
            ("mlp fc1 forward, batch 32", 300, 32, 784), ("mlp fc1 forward, batch 128", 300, 128, 784),
            ("lenet conv2 forward, batch 32", 16, 32 * 64, 150),
            ("resnet20 stage-1 conv, batch 128", 16, 128 * 1024, 144),
            ("resnet20 stage-3 conv, batch 128", 64, 128 * 64, 576),
            ("square 64", 64, 64, 64), ("square 128", 128, 128, 128), ("square 256", 256, 256, 256),
            ("square 512", 512, 512, 512),
        ]
        let saved = (gemmThreads, gemmThreadingMinimumMACs)
        defer {
            gemmThreadingMinimumMACs = saved.1
            setBLASThreads(saved.0)
        }
        gemmThreadingMinimumMACs = 0
        return shapes.map { name, m, n, k in
            var row: [String: Any] = ["shape": name, "m": m, "n": n, "k": k, "macs": m * n * k]
            var rates: [Int: Double] = [:]
            for t in [1, 2] {
                setBLASThreads(t)
                rates[t] = measureSGEMMGFLOPS(m: m, n: n, k: k, repeats: repeats)
                row["gflops_threads_\(t)"] = rates[t]
            }
            row["speedup_2_threads"] = rates[2]! / rates[1]!
            log(
                String(
                    format: "%@ (%d×%d×%d, %.2g MACs): %.1f / %.1f GFLOPS at 1 / 2 threads", name, m, n, k,
                    Double(m * n * k), rates[1]!, rates[2]!))
            return row
        }
    }
}
