// OpenBLAS thread control and machine facts for bench JSON.

import BayesPruneKernels
import CShims
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Environment variables that tell how many ranks share this node (OpenMPI, Slurm, MPICH).
public let localRankVariables = ["OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE", "MPI_LOCALNRANKS"]

/// Ranks sharing this node according to the launcher's environment, nil when not launched as ranks.
public func localRankCount(environment: [String: String]) -> Int? {
    for v in localRankVariables {
        // Slurm may give "4(x2)"-style lists in related variables; take the leading number.
        if let s = environment[v], let n = Int(s.prefix(while: { $0.isNumber })), n > 0 { return n }
    }
    return nil
}

/// Pure thread-count policy: an explicit request (≥ 1) wins; otherwise the cores divided among the
/// ranks on this node, at least 1.
public func chooseThreadCount(requested: Int?, cores: Int, environment: [String: String]) -> Int {
    if let r = requested, r > 0 { return r }
    let ranks = localRankCount(environment: environment) ?? 1
    return max(1, max(1, cores) / ranks)
}

/// Cores this process may use: online cores, limited by the CPU affinity mask.
public func usableCoreCount() -> Int {
    let online = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    let affinity = Int(bp_affinity_cpu_count())
    return affinity > 0 ? min(online, affinity) : online
}

/// Sets the OpenBLAS thread count (see `chooseThreadCount`) and returns it.
@discardableResult
public func configureThreads(requested: Int? = nil) -> Int {
    let n = chooseThreadCount(
        requested: requested, cores: usableCoreCount(),
        environment: ProcessInfo.processInfo.environment)
    setBLASThreads(n)
    return n
}

/// Machine facts recorded with benchmarks.
public struct MachineInfo: Codable, Equatable, Sendable {
    public var hostname: String
    public var cpuModel: String
    public var onlineCores: Int
    public var usableCores: Int
    public var memoryBytes: Int
    public var blasCore: String
    public var blasConfig: String
    public var blasThreads: Int

    enum CodingKeys: String, CodingKey {
        case hostname
        case cpuModel = "cpu_model"
        case onlineCores = "online_cores"
        case usableCores = "usable_cores"
        case memoryBytes = "memory_bytes"
        case blasCore = "blas_core"
        case blasConfig = "blas_config"
        case blasThreads = "blas_threads"
    }

    public static func current() -> MachineInfo {
        var host = [CChar](repeating: 0, count: 256)
        let hostname = gethostname(&host, host.count) == 0 ? String(cString: host) : "unknown"
        let pages = sysconf(Int32(_SC_PHYS_PAGES))
        let pageSize = sysconf(Int32(_SC_PAGESIZE))
        return MachineInfo(
            hostname: hostname,
            cpuModel: cpuModelName(),
            onlineCores: max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))),
            usableCores: usableCoreCount(),
            memoryBytes: pages > 0 && pageSize > 0 ? pages * pageSize : 0,
            blasCore: blasCoreName(),
            blasConfig: openblas_get_config().map { String(cString: $0) } ?? "",
            blasThreads: BayesPruneKernels.blasThreads())
    }

    /// "model name" from /proc/cpuinfo (x86), else "Model"/"Hardware"-style lines, else "unknown".
    public static func cpuModelName(cpuinfo path: String = "/proc/cpuinfo") -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "unknown" }
        return parseCPUModel(text) ?? "unknown"
    }

    static func parseCPUModel(_ text: String) -> String? {
        for key in ["model name", "Model", "Hardware", "cpu model"] {
            for line in text.split(separator: "\n") where line.hasPrefix(key) {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == key {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }

    public func json() -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        guard let data = try? enc.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Median sgemm throughput (GFLOPS) for size×size×size with the current kernel and threads. Each
/// repeat runs enough back-to-back products to last ≥ 50 ms; one warm-up product precedes timing.
public func measureSGEMMGFLOPS(size: Int = 512, repeats: Int) -> Double {
    measureSGEMMGFLOPS(m: size, n: size, k: size, repeats: repeats)
}

/// GFLOPS of an m×k by k×n sgemm (median of `repeats`, each at least ~50 ms).
public func measureSGEMMGFLOPS(m: Int, n: Int, k: Int, repeats: Int) -> Double {
    let (m, n, k) = (max(1, m), max(1, n), max(1, k))
    var rng = Xoshiro256(seed: 0xB3AC4)
    let a = FloatBuffer(count: m * k)
    let b = FloatBuffer(count: k * n)
    let c = FloatBuffer(count: m * n)
    for i in 0..<(m * k) { a[i] = rng.nextUniform() - 0.5 }
    for i in 0..<(k * n) { b[i] = rng.nextUniform() - 0.5 }
    func run() {
        gemm(.no, .no, m: m, n: n, k: k, a: a.pointer, lda: k, b: b.pointer, ldb: n, c: c.pointer, ldc: n)
    }
    func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
    run()
    // Calibrate the inner count so one repeat takes at least ~50 ms.
    var inner = 1
    while true {
        let t0 = now()
        for _ in 0..<inner { run() }
        let dt = now() - t0
        if dt >= 0.05 || inner >= 1 << 20 { break }
        inner = dt > 0 ? max(inner * 2, Int((0.05 / dt * Double(inner)).rounded(.up))) : inner * 2
    }
    let flops = 2.0 * Double(m) * Double(n) * Double(k) * Double(inner)
    var rates: [Double] = []
    for _ in 0..<max(1, repeats) {
        let t0 = now()
        for _ in 0..<inner { run() }
        rates.append(flops / max(now() - t0, 1e-9) / 1e9)
    }
    rates.sort()
    let mid = rates.count / 2
    return rates.count % 2 == 1 ? rates[mid] : (rates[mid - 1] + rates[mid]) / 2
}
