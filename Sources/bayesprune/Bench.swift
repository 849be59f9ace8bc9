// `bayesprune bench`: training throughput, GFLOPS per layer kind and sgemm GFLOPS as JSON.
import ArgumentParser
import BayesPruneBenchmark
import BayesPruneDistributed
import BayesPruneKernels
import BayesPruneNN
import BayesPruneRunIO
import BayesPruneRuntime
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training throughput on random data (JSON on stdout).")

    @Option(
        help:
            "Models, comma-separated (default mlp,lenet,resnet20; with --scaling resnet20,resnet56,resnet50; with --link-profile resnet20)."
    )
    var models: String?
    @Option(help: "BLAS thread counts to measure, comma-separated (default 1,2; with --scaling this machine's cores).")
    var threads: String?
    @Option(
        parsing: .unconditional,
        help:
            "Batch size per rank (default 128, resnet50 32; with --link-profile 32; with --scaling the per-node batch)."
    )
    var batchSize: Int?
    @Option(parsing: .unconditional, help: "Timed steps per repeat.") var steps: Int = 30
    @Option(parsing: .unconditional, help: "Untimed warm-up steps.") var warmup: Int = 5
    @Option(parsing: .unconditional, help: "Repeats (the median is reported).") var repeats: Int = 3
    @Option(
        name: [.customLong("out"), .customLong("output")],
        help: "Write the JSON here as well (atomically; --output is the former name).")
    var output: String?
    @Option(
        help:
            ArgumentHelp(
                "Instead of training throughput: inference images/s of this compact export (bayesprune export "
                    + "--compact) against its dense run.")
    ) var compact: String?
    @Flag(
        help:
            ArgumentHelp(
                "Under mpirun: weak scaling, every rank at --batch-size with one gradient allreduce per step (see "
                    + "launch/bench-mpi).")
    ) var distributed = false
    @Flag(
        help:
            ArgumentHelp(
                "Instead of training throughput: sgemm GFLOPS of the shapes the models run, at 1 and 2 threads, "
                    + "to place the BLAS threading crossover.")
    ) var gemmCrossover = false
    @Option(
        help:
            ArgumentHelp(
                "Instead of training throughput: decoding rate of this image folder's training images (random-resized "
                    + "crop to --image-size), per --threads count.")
    ) var decode: String?
    @Option(parsing: .unconditional, help: "With --decode: the crop side (default 224).") var imageSize: Int = 224
    @Option(parsing: .unconditional, help: "With --decode: images decoded per repeat (default 512).")
    var decodeImages: Int = 512

    @Flag(
        help:
            ArgumentHelp(
                "Instead of training throughput: the scaling model (docs/SCALING.md). Profiles each model's step, "
                    + "fits the --links measurements, checks the model against their distributed steps and prints "
                    + "projected images/s and efficiency per node count as Markdown tables.")
    ) var scaling = false
    @Option(
        help:
            ArgumentHelp(
                "Under mpirun, instead of training throughput: measure this link (a name, e.g. \"tcp 1gbit\"): "
                    + "non-blocking allreduce times from 4 KB to 4 MB and distributed steps of --models with overlap "
                    + "off and on, as JSON for --scaling --links.")
    ) var linkProfile: String?
    @Option(
        parsing: .unconditional, help: "With --link-profile: the link's nominal rate in Gb/s (omit for shared memory).")
    var nominalGbps: Double?
    @Option(help: "With --scaling: link measurement files (from --link-profile), comma-separated.") var links: String?
    @Option(parsing: .unconditional, help: "With --scaling: node counts to project.")
    var nodes: String = "2,4,8,16,32,64"
    @Option(parsing: .unconditional, help: "With --scaling: the fixed global batch (a multiple of every node count).")
    var globalBatch: Int = 1024
    @Option(
        parsing: .unconditional,
        help: "With --scaling: latency (µs) a real link adds per allreduce round over the measured one.")
    var hopLatencyUs: Double = 50
    @Option(
        parsing: .unconditional,
        help: "With --scaling and --link-profile: the allreduce bucket size in MB (as train's).")
    var allreduceBucketMb: Double = 0.25

    func run() throws {
        try reportingErrors {
            var o = BenchOptions()
            let defaultModels =
                scaling ? "resnet20,resnet56,resnet50" : (linkProfile != nil ? "resnet20" : "mlp,lenet,resnet20")
            o.models = try (models ?? defaultModels).split(separator: ",").map {
                guard let kind = ModelKind(rawValue: String($0)) else {
                    throw ValidationError("--models: unknown model \"\($0)\"; expected one of \(ModelKind.names)")
                }
                return kind
            }
            guard !o.models.isEmpty else { throw ValidationError("--models: expected at least one model") }
            o.threads = try (threads ?? "1,2").split(separator: ",").map {
                guard let t = Int($0), t >= 1 else {
                    throw ValidationError("--threads: expected positive integers, got \(threads ?? "")")
                }
                return t
            }
            guard batchSize ?? 1 >= 1, steps >= 1, repeats >= 1, warmup >= 0 else {
                throw ValidationError("--batch-size, --steps, --repeats must be positive and --warmup non-negative")
            }
            o.batch = batchSize
            o.steps = steps
            o.warmup = warmup
            o.repeats = repeats
            guard allreduceBucketMb > 0, allreduceBucketMb <= 1024 else {
                throw ValidationError("--allreduce-bucket-mb must be in (0, 1024], got \(allreduceBucketMb)")
            }
            let bucketBytes = max(4, Int(allreduceBucketMb * 1_048_576))
            if let output {
                // Checked before measuring: a run of minutes must not fail at its last step.
                let dir = (output as NSString).deletingLastPathComponent
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: dir.isEmpty ? "." : dir, isDirectory: &isDirectory),
                    isDirectory.boolValue
                else { throw ValidationError("--out: directory \(dir) does not exist") }
            }
            if scaling {
                try runScaling(o, bucketBytes: bucketBytes)
                return
            }
            if let linkProfile {
                try runLinkProfile(linkProfile, o, bucketBytes: bucketBytes)
                return
            }
            if let decode {
                guard (8...4096).contains(imageSize), decodeImages >= 1 else {
                    throw ValidationError("--image-size must be in 8...4096 and --decode-images positive")
                }
                let r = try Benchmark.decodeRate(
                    directory: decode, imageSize: imageSize, threads: o.threads, images: decodeImages,
                    repeats: repeats, log: { self.log($0) })
                try printJSON(r)
                return
            }
            if gemmCrossover {
                try printJSON(Benchmark.gemmCrossover(repeats: max(repeats, 3), log: { self.log($0) }))
                return
            }
            if let compact {
                setBLASThreads(o.threads.first ?? 1)
                let r = try Benchmark.compareCompact(
                    exportDirectory: compact, batch: batchSize ?? 128, steps: steps, repeats: repeats)
                try printJSON(r)
                return
            }
            var mpi: MPICommunicator? = nil
            if distributed && MPICommunicator.launchedUnderMPI {
                mpi = try MPICommunicator(timeoutSeconds: 300)
                o.communicator = mpi!
            }
            defer { mpi?.finalize() }
            let root = o.communicator.isRoot
            if root { FileHandle.standardError.write(Data("\(kernelReport.summary)\n".utf8)) }
            var result = try Benchmark.run(o) { if root { FileHandle.standardError.write(Data(($0 + "\n").utf8)) } }
            guard root else { return }
            result["machine"] = try JSONSerialization.jsonObject(with: Data(MachineInfo.current().json().utf8))
            try printJSON(result)
        }
    }

    func runScaling(_ b: BenchOptions, bucketBytes: Int) throws {
        var o = ScalingOptions()
        o.models = b.models
        o.cores = ProcessInfo.processInfo.activeProcessorCount
        o.threads = threads == nil ? o.cores : b.threads[0]
        o.nodes = try nodes.split(separator: ",").map {
            guard let n = Int($0), (2...100_000).contains(n) else {
                throw ValidationError("--nodes: expected node counts of at least 2, got \(nodes)")
            }
            return n
        }
        guard globalBatch >= 1, o.nodes.allSatisfy({ globalBatch % $0 == 0 }) else {
            throw ValidationError(
                "--global-batch: \(globalBatch) is not a positive multiple of every --nodes count (\(nodes))")
        }
        guard hopLatencyUs >= 0, hopLatencyUs.isFinite else {
            throw ValidationError(
                "--hop-latency-us: expected a non-negative number of microseconds, got \(hopLatencyUs)")
        }
        guard let links, !links.isEmpty else {
            throw ValidationError(
                "--links: expected link measurement files (from bench --link-profile), comma-separated")
        }
        o.globalBatch = globalBatch
        o.nodeBatch = batchSize
        o.hopLatencySeconds = hopLatencyUs * 1e-6
        o.bucketBytes = bucketBytes
        o.steps = min(steps, 10)
        o.warmup = min(warmup, 3)
        o.links = try links.split(separator: ",").map { try LinkMeasurementFile.load(String($0)) }
        let result = try Benchmark.scaling(o, log: { self.log($0) })
        if let output { try AtomicFile.write(try encodedJSON(result), to: output) }
        print(result.markdown(o), terminator: "")
    }

    func runLinkProfile(_ name: String, _ b: BenchOptions, bucketBytes: Int) throws {
        guard MPICommunicator.launchedUnderMPI else {
            throw ValidationError("--link-profile: run it under mpirun (it measures the link between ranks)")
        }
        if let nominalGbps, !(nominalGbps > 0) {
            throw ValidationError("--nominal-gbps must be positive, got \(nominalGbps)")
        }
        let comm = try MPICommunicator(timeoutSeconds: 300)
        defer { comm.finalize() }
        let threads = b.threads[0]
        let sizes = [4096, 16384, 65536, 262_144, 1_048_576, 4_194_304]
        let samples = try Benchmark.allreduceSamples(comm, bytes: sizes, repeats: max(repeats, 3))
        var steps: [DistributedStepSample] = []
        for kind in b.models {
            for overlap in [false, true] {
                let s = try Benchmark.distributedSteps(
                    kind, batch: batchSize ?? 32, threads: threads, comm: comm, bucketBytes: bucketBytes,
                    overlap: overlap, steps: self.steps, warmup: warmup, repeats: repeats)
                if comm.isRoot {
                    log(
                        String(
                            format: "%@ overlap %@: step %.1f ms, exposed allreduce %.2f ms", kind.rawValue,
                            overlap ? "on" : "off", 1e3 * s.stepSeconds, 1e3 * s.exposedSeconds))
                }
                steps.append(s)
            }
        }
        guard comm.isRoot else { return }
        let m = LinkMeasurement(
            link: name, nominalBitsPerSecond: nominalGbps.map { $0 * 1e9 }, ranks: comm.size,
            cores: ProcessInfo.processInfo.activeProcessorCount, allreduce: samples, steps: steps)
        try emit(try encodedJSON(m))
    }

    func log(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

    func printJSON(_ value: Any) throws {
        try emit(try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys]))
    }

    func encodedJSON<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(value)
    }

    /// The result on stdout, and atomically in --out when given.
    func emit(_ json: Data) throws {
        if let output { try AtomicFile.write(json, to: output) }
        print(String(decoding: json, as: UTF8.self))
    }
}
