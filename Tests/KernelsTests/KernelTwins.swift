// Fast kernels against their naive twins: OpenBLAS sgemm vs the triple loop, im2col + GEMM convolution
// vs direct convolution, col2im as the exact adjoint of im2col, and the RNG's basic laws.
import Testing
@testable import BayesPruneKernels

func randomArray(_ n: Int, seed: UInt64) -> [Float] {
    var rng = Xoshiro256(seed: seed)
    return (0..<n).map { _ in rng.nextGaussian() }
}

func maxRelativeError(_ a: [Float], _ b: [Float]) -> Float {
    let scale = max(b.map { abs($0) }.max() ?? 1, 1e-6)
    return zip(a, b).map { abs($0 - $1) }.max()! / scale
}

@Suite struct GEMMTwins {
    @Test(arguments: [(Transpose.no, Transpose.no), (.yes, .no), (.no, .yes), (.yes, .yes)])
    func sgemmMatchesNaive(ta: Transpose, tb: Transpose) {
        let m = 37, n = 29, k = 53
        let a = randomArray(m * k, seed: 1), b = randomArray(k * n, seed: 2)
        var c1 = randomArray(m * n, seed: 3), c2 = c1
        let lda = ta == .no ? k : m, ldb = tb == .no ? n : k
        gemm(ta, tb, m: m, n: n, k: k, alpha: 0.7, a: a, lda: lda, b: b, ldb: ldb, beta: 0.3, c: &c1, ldc: n)
        gemmNaive(ta, tb, m: m, n: n, k: k, alpha: 0.7, a: a, lda: lda, b: b, ldb: ldb, beta: 0.3, c: &c2, ldc: n)
        #expect(maxRelativeError(c1, c2) < 1e-5)
    }
}

@Suite struct ConvolutionTwins {
    @Test(arguments: [(3, 1, 1), (3, 2, 1), (5, 1, 2), (5, 1, 0), (1, 1, 0), (2, 2, 0), (3, 3, 2)])
    func im2colGemmMatchesDirect(kernel: Int, stride: Int, padding: Int) {
        let g = ConvGeometry(inChannels: 3, outChannels: 5, kernelH: kernel, kernelW: kernel, stride: stride,
                             padding: padding, inH: 9, inW: 8)
        let B = 4
        let x = randomArray(g.inChannels * B * g.inPlane, seed: 4)
        let w = randomArray(g.outChannels * g.colRows, seed: 5)
        var ref = [Float](repeating: 0, count: g.outChannels * B * g.outPlane)
        convForwardNaive(g, x: x, batch: B, w: w, bias: nil, y: &ref)
        var fast = [Float](repeating: 0, count: ref.count)
        // Two chunks of two images each, written into the full-batch output with ldc = B·P.
        var col = [Float](repeating: 0, count: g.colRows * 2 * g.outPlane)
        for b0 in Swift.stride(from: 0, to: B, by: 2) {
            im2col(g, x: x, batch: B, b0: b0, nb: 2, col: &col)
            fast.withUnsafeMutableBufferPointer { y in
                gemm(.no, .no, m: g.outChannels, n: 2 * g.outPlane, k: g.colRows, a: w, lda: g.colRows, b: col,
                     ldb: 2 * g.outPlane, c: y.baseAddress! + b0 * g.outPlane, ldc: B * g.outPlane)
            }
        }
        #expect(maxRelativeError(fast, ref) < 1e-5)
    }

    /// <im2col(x), c> = <x, col2im(c)> for random x and c: col2im is the exact adjoint.
    @Test(arguments: [(3, 1, 1), (3, 2, 1), (5, 1, 2), (2, 2, 0)])
    func col2imIsTheAdjointOfIm2col(kernel: Int, stride: Int, padding: Int) {
        let g = ConvGeometry(inChannels: 2, outChannels: 1, kernelH: kernel, kernelW: kernel, stride: stride,
                             padding: padding, inH: 7, inW: 6)
        let B = 3
        let x = randomArray(g.inChannels * B * g.inPlane, seed: 6)
        let c = randomArray(g.colRows * B * g.outPlane, seed: 7)
        var col = [Float](repeating: 0, count: c.count)
        im2col(g, x: x, batch: B, b0: 0, nb: B, col: &col)
        var back = [Float](repeating: 0, count: x.count)
        col2imAccumulate(g, col: c, batch: B, b0: 0, nb: B, dx: &back)
        let lhs = zip(col, c).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let rhs = zip(x, back).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(lhs - rhs) <= 1e-4 * max(1, abs(lhs)))
    }
}

@Suite struct RandomStreams {
    @Test func seedsAndStreamsReproduceAndDiffer() {
        var a = Xoshiro256(seed: 42), b = Xoshiro256(seed: 42), c = Xoshiro256(seed: 42, stream: 1)
        let xa = (0..<8).map { _ in a.next() }, xb = (0..<8).map { _ in b.next() }, xc = (0..<8).map { _ in c.next() }
        #expect(xa == xb)
        #expect(xa != xc)
        var d = Xoshiro256(state: a.stateWords)
        #expect(d.next() == a.next())
    }

    @Test func uniformIntegersAndGaussianMoments() {
        var rng = Xoshiro256(seed: 1)
        let n = 200_000
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<n { counts[rng.nextInt(below: 7)] += 1 }
        // Each count ~ Binomial(n, 1/7): sd ≈ 156; 5 sd bound.
        for c in counts { #expect(abs(Double(c) - Double(n) / 7) < 5 * (Double(n) * (1.0 / 7) * (6.0 / 7)).squareRoot()) }
        var s = 0.0, s2 = 0.0
        for _ in 0..<n { let g = Double(rng.nextGaussian()); s += g; s2 += g * g }
        let mean = s / Double(n), variance = s2 / Double(n) - mean * mean
        #expect(abs(mean) < 5 / Double(n).squareRoot())
        #expect(abs(variance - 1) < 5 * (2 / Double(n)).squareRoot())
        let p = rng.permutation(1000)
        #expect(Set(p).count == 1000 && p.min() == 0 && p.max() == 999)
    }
}
