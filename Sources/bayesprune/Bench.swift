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

    @Option(help: "Models, comma-separated.") var models: String = "mlp,lenet,resnet20"
    @Option(help: "BLAS thread counts to measure, comma-separated.") var threads: String = "1,2"
    @Option(parsing: .unconditional, help: "Batch size per rank (default 128; resnet50 32).") var batchSize: Int?
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

    func run() throws {
        try reportingErrors {
            var o = BenchOptions()
            o.models = try models.split(separator: ",").map {
                guard let kind = ModelKind(rawValue: String($0)) else {
                    throw ValidationError("--models: unknown model \"\($0)\"; expected one of \(ModelKind.names)")
                }
                return kind
            }
            o.threads = try threads.split(separator: ",").map {
                guard let t = Int($0), t >= 1 else {
                    throw ValidationError("--threads: expected positive integers, got \(threads)")
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
                let json = try JSONSerialization.data(withJSONObject: r, options: [.prettyPrinted, .sortedKeys])
                if let output { try AtomicFile.write(json, to: output) }
                print(String(decoding: json, as: UTF8.self))
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
            let json = try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys])
            if let output { try AtomicFile.write(json, to: output) }
            print(String(decoding: json, as: UTF8.self))
        }
    }

    func log(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

    func printJSON(_ value: Any) throws {
        let json = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys])
        if let output { try AtomicFile.write(json, to: output) }
        print(String(decoding: json, as: UTF8.self))
    }
}
