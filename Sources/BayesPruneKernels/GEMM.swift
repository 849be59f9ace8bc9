// Every matrix product goes through `gemm` (OpenBLAS cblas_sgemm, row-major); `gemmNaive` is the
// reference twin that tests compare it against.
import CShims
import Glibc

public enum Transpose { case no, yes }

/// C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, all row-major with leading dimensions.
@inline(__always)
public func gemm(
    _ ta: Transpose, _ tb: Transpose, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        if beta == 0 {
            for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) }
        } else if beta != 1 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } }
        }
        return
    }
    let threads = m * n * k >= gemmThreadingMinimumMACs ? gemmThreads : 1
    // The training loop calls gemm from one thread; a process that calls it from several (the tests) must
    // not change OpenBLAS's thread count under a running multi-threaded GEMM: such calls hold the lock.
    let exclusive = threads > 1 || threads != openBLASThreadsNow
    if exclusive { pthread_mutex_lock(&gemmThreadsLock) }
    defer { if exclusive { pthread_mutex_unlock(&gemmThreadsLock) } }
    if threads != openBLASThreadsNow {
        openblas_set_num_threads(Int32(threads))
        openBLASThreadsNow = threads
    }
    cblas_sgemm(
        CblasRowMajor, ta == .no ? CblasNoTrans : CblasTrans, tb == .no ? CblasNoTrans : CblasTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Naive triple loop with Double accumulation; the reference for `gemm`.
public func gemmNaive(
    _ ta: Transpose, _ tb: Transpose, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = ta == .no ? a[i * lda + p] : a[p * lda + i]
                let bv = tb == .no ? b[p * ldb + j] : b[j * ldb + p]
                s += Double(av) * Double(bv)
            }
            let prior = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
            c[i * ldc + j] = Float(Double(alpha) * s + prior)
        }
    }
}

/// The OpenBLAS threads a GEMM of at least `gemmThreadingMinimumMACs` multiply-adds runs on (smaller ones
/// run on one: their threads would only spin in `sched_yield` waiting for work).
/// Until `setBLASThreads`, OpenBLAS's own count at load (what `blasThreads()` reports and a caller restores).
public nonisolated(unsafe) var gemmThreads = Int(openblas_get_num_threads())
/// The threading crossover in multiply-adds (m·n·k), measured with `bayesprune bench --gemm-crossover`
/// (README, "BLAS threads"): in isolation a second thread gained nothing at 64³ (0.26M multiply-adds),
/// 1.3-1.8x at 2-5M and 1.6-2x from 8M up (AMD EPYC, 2 cores). In the loop of the paper's Example 1 the
/// 5M-multiply-add GEMMs made a dense epoch only 18 % faster with two threads, while the idle thread's
/// spinning cost 30 000 `sched_yield` calls and 1.7 s of system time in a 4 s run; so GEMMs below 8M
/// run on one thread.
public nonisolated(unsafe) var gemmThreadingMinimumMACs = 8_000_000
nonisolated(unsafe) private var openBLASThreadsNow = -1
nonisolated(unsafe) private var gemmThreadsLock = pthread_mutex_t()

/// The BLAS thread count (process-wide; see `gemmThreads`); also oneDNN's OpenMP thread count
/// (convolutions) and the elementwise kernels' thread count.
public func setBLASThreads(_ n: Int) {
    gemmThreads = max(1, n)
    openblas_set_num_threads(Int32(n))
    openBLASThreadsNow = n
    DNNLConv.setThreads(n)
    elementwiseThreads = max(1, n)
}
public func blasThreads() -> Int { gemmThreads }
/// The kernel family OpenBLAS dispatched to at load time (e.g. "SkylakeX", "Prescott").
public func blasCoreName() -> String { String(cString: openblas_get_corename()) }

/// dst[c·rows + r] = src[r·cols + c]: a [rows, cols] row-major matrix transposed to [cols, rows], in 32×32
/// tiles so both sides stay in cache (a plain double loop writes with a stride of `rows` floats and
/// thrashes the cache and TLB when both sides are large: 1024×1000 took ~6 ms that way, most of a step).
public func transpose(_ src: UnsafePointer<Float>, rows: Int, cols: Int, into dst: UnsafeMutablePointer<Float>) {
    let tile = 32
    for r0 in stride(from: 0, to: rows, by: tile) {
        let r1 = min(r0 + tile, rows)
        for c0 in stride(from: 0, to: cols, by: tile) {
            let c1 = min(c0 + tile, cols)
            for r in r0..<r1 {
                let s = src + r * cols
                for c in c0..<c1 { dst[c * rows + r] = s[c] }
            }
        }
    }
}

/// The plain double loop; the reference for `transpose`.
public func transposeNaive(_ src: UnsafePointer<Float>, rows: Int, cols: Int, into dst: UnsafeMutablePointer<Float>) {
    for r in 0..<rows { for c in 0..<cols { dst[c * rows + r] = src[r * cols + c] } }
}
