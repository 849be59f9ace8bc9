// Every matrix product goes through `gemm` (OpenBLAS cblas_sgemm, row-major); `gemmNaive` is the
// reference twin that tests compare it against.
import CShims

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

/// OpenBLAS thread count (process-wide); also oneDNN's OpenMP thread count (convolutions) and the
/// elementwise kernels' thread count.
public func setBLASThreads(_ n: Int) {
    openblas_set_num_threads(Int32(n))
    DNNLConv.setThreads(n)
    elementwiseThreads = max(1, n)
}
public func blasThreads() -> Int { Int(openblas_get_num_threads()) }
/// The kernel family OpenBLAS dispatched to at load time (e.g. "SkylakeX", "Prescott").
public func blasCoreName() -> String { String(cString: openblas_get_corename()) }
