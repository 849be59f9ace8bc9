// Splitting memory-bound elementwise work (ReLU, batch norm, residual sums) across the threads that
// `setBLASThreads` grants; with one thread everything runs inline.
import CDNNL
import Dispatch

/// Threads for the elementwise kernels; `setBLASThreads` keeps it equal to the BLAS thread count.
public nonisolated(unsafe) var elementwiseThreads = 1

/// Calls body(lo, hi) on `elementwiseThreads` disjoint, contiguous parts of 0..<count, in parallel when
/// the total work (`work`, in elements touched; default `count`) is at least `minWork` per thread.
@inline(__always)
public func parallelRanges(_ count: Int, work: Int? = nil, minWork: Int = 1 << 15, _ body: (Int, Int) -> Void) {
    let t = min(elementwiseThreads, count, (work ?? count) / minWork)
    if t <= 1 {
        body(0, count)
        return
    }
    // oneDNN's OpenMP threads when it is loaded (one pool for convolutions and element-wise layers, so
    // their workers do not wake and sleep against each other), else Dispatch's.
    let ranOnOpenMP = withoutActuallyEscaping(body) { body -> Bool in
        var job = RangeJob(count: count, parts: t, body: body)
        return withUnsafeMutablePointer(to: &job) { p in
            bp_omp_run(Int32(t), { raw, part in
                let job = raw!.assumingMemoryBound(to: RangeJob.self).pointee
                let i = Int(part)
                job.body(job.count * i / job.parts, job.count * (i + 1) / job.parts)
            }, p) != 0
        }
    }
    if ranOnOpenMP { return }
    DispatchQueue.concurrentPerform(iterations: t) { i in body(count * i / t, count * (i + 1) / t) }
}

private struct RangeJob {
    let count: Int, parts: Int
    let body: (Int, Int) -> Void
}
