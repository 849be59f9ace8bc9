// The multi-process layer: a Communicator sees only pointers and sizes (never a model), with an MPI
// implementation and a single-process one whose every call returns at once, so a run alone and a run
// under mpirun take the same code path (the llm.c / horovod split: this is the core, the trainer is
// the glue, launch/ is the launcher).
import CMPI

#if canImport(Glibc)
    import Glibc
#endif

public struct DistributedError: Error, CustomStringConvertible { public let description: String }

public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// In-place sum over ranks.
    func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int, what: String) throws
    func allreduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int, what: String) throws
    /// Starts an in-place sum over ranks and returns at once; the buffer is final after `waitForStarted`.
    func startAllreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int, what: String) throws
    /// Lets started sums progress (MPI moves data only inside its calls); true when all of them are done.
    @discardableResult func progress() -> Bool
    /// Waits for every started sum.
    func waitForStarted(what: String) throws
    func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, root: Int, what: String) throws
    /// Every rank's value, rank-major.
    func allgather(_ value: UInt64, what: String) throws -> [UInt64]
    /// Every rank's `bytes` bytes into `out` (size·bytes), rank-major.
    func allgather(_ value: UnsafeRawPointer, bytes: Int, into out: UnsafeMutableRawPointer, what: String) throws
    /// Ends every rank of the job (MPI_Abort); alone, exits.
    func abort(code: Int32) -> Never
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }
    public func allreduceSum(_ values: inout [Double], what: String) throws {
        try values.withUnsafeMutableBufferPointer { try allreduceSum($0.baseAddress!, count: $0.count, what: what) }
    }
}

public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int, what: String) throws {}
    public func allreduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int, what: String) throws {}
    public func startAllreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int, what: String) throws {}
    @discardableResult public func progress() -> Bool { true }
    public func waitForStarted(what: String) throws {}
    public func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, root: Int, what: String) throws {}
    public func allgather(_ value: UInt64, what: String) throws -> [UInt64] { [value] }
    public func allgather(_ value: UnsafeRawPointer, bytes: Int, into out: UnsafeMutableRawPointer, what: String) throws
    {
        out.copyMemory(from: value, byteCount: bytes)
    }
    public func abort(code: Int32) -> Never { exit(code) }
}

public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int

    /// Initialises MPI; call once per process, only when `launchedUnderMPI`.
    public init(timeoutSeconds: Double) throws {
        var r: Int32 = 0
        var s: Int32 = 0
        let rc = bp_mpi_init(&r, &s)
        guard rc == 0 else { throw DistributedError(description: "MPI_Init failed with error \(rc)") }
        rank = Int(r)
        size = Int(s)
        bp_mpi_set_timeout(timeoutSeconds)
    }

    public static var launchedUnderMPI: Bool { bp_mpi_launched() != 0 }

    public func setTimeout(_ seconds: Double) { bp_mpi_set_timeout(seconds) }

    private func check(_ rc: Int32, _ what: String) throws {
        if rc != 0 { throw DistributedError(description: "\(what): MPI error \(rc) on rank \(rank)") }
    }

    public func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int, what: String) throws {
        try check(bp_mpi_allreduce_sum_float(buffer, count, what), what)
    }
    public func allreduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int, what: String) throws {
        try check(bp_mpi_allreduce_sum_double(buffer, count, what), what)
    }
    public func startAllreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int, what: String) throws {
        try check(bp_mpi_start_allreduce_sum_float(buffer, count, what), what)
    }
    @discardableResult public func progress() -> Bool { bp_mpi_progress() == bp_mpi_pending() }
    public func waitForStarted(what: String) throws { try check(bp_mpi_wait_pending(what), what) }
    public func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, root: Int, what: String) throws {
        try check(bp_mpi_broadcast(buffer, bytes, Int32(root), what), what)
    }
    public func allgather(_ value: UInt64, what: String) throws -> [UInt64] {
        var v = value
        var out = [UInt64](repeating: 0, count: size)
        try check(bp_mpi_allgather(&v, 8, &out, what), what)
        return out
    }
    public func allgather(_ value: UnsafeRawPointer, bytes: Int, into out: UnsafeMutableRawPointer, what: String) throws
    {
        try check(bp_mpi_allgather(value, bytes, out, what), what)
    }
    public func abort(code: Int32) -> Never {
        bp_mpi_abort(code)
        exit(code)
    }
    public func finalize() { bp_mpi_finalize() }
}

/// FNV-1a over the bytes of a float buffer: replicas that agree bit for bit have equal checksums.
public func checksum(_ p: UnsafePointer<Float>, count: Int) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    let words = UnsafeRawPointer(p).assumingMemoryBound(to: UInt32.self)
    for i in 0..<count { h = (h ^ UInt64(words[i])) &* 0x0000_0100_0000_01B3 }
    return h
}
