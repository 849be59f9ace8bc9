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
        let m = 37
        let n = 29
        let k = 53
        let a = randomArray(m * k, seed: 1)
        let b = randomArray(k * n, seed: 2)
        var c1 = randomArray(m * n, seed: 3)
        var c2 = c1
        let lda = ta == .no ? k : m
        let ldb = tb == .no ? n : k
        gemm(ta, tb, m: m, n: n, k: k, alpha: 0.7, a: a, lda: lda, b: b, ldb: ldb, beta: 0.3, c: &c1, ldc: n)
        gemmNaive(ta, tb, m: m, n: n, k: k, alpha: 0.7, a: a, lda: lda, b: b, ldb: ldb, beta: 0.3, c: &c2, ldc: n)
        #expect(maxRelativeError(c1, c2) < 1e-5)
    }
}

@Suite struct ConvolutionTwins {
    @Test(arguments: [(3, 1, 1), (3, 2, 1), (5, 1, 2), (5, 1, 0), (1, 1, 0), (2, 2, 0), (3, 3, 2)])
    func im2colGemmMatchesDirect(kernel: Int, stride: Int, padding: Int) {
        let g = ConvGeometry(
            inChannels: 3, outChannels: 5, kernelH: kernel, kernelW: kernel, stride: stride,
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
                gemm(
                    .no, .no, m: g.outChannels, n: 2 * g.outPlane, k: g.colRows, a: w, lda: g.colRows, b: col,
                    ldb: 2 * g.outPlane, c: y.baseAddress! + b0 * g.outPlane, ldc: B * g.outPlane)
            }
        }
        #expect(maxRelativeError(fast, ref) < 1e-5)
    }

    /// <im2col(x), c> = <x, col2im(c)> for random x and c: col2im is the exact adjoint.
    @Test(arguments: [(3, 1, 1), (3, 2, 1), (5, 1, 2), (2, 2, 0)])
    func col2imIsTheAdjointOfIm2col(kernel: Int, stride: Int, padding: Int) {
        let g = ConvGeometry(
            inChannels: 2, outChannels: 1, kernelH: kernel, kernelW: kernel, stride: stride,
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
        var a = Xoshiro256(seed: 42)
        var b = Xoshiro256(seed: 42)
        var c = Xoshiro256(seed: 42, stream: 1)
        let xa = (0..<8).map { _ in a.next() }
        let xb = (0..<8).map { _ in b.next() }
        let xc = (0..<8).map { _ in c.next() }
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
        for c in counts {
            #expect(abs(Double(c) - Double(n) / 7) < 5 * (Double(n) * (1.0 / 7) * (6.0 / 7)).squareRoot())
        }
        var s = 0.0
        var s2 = 0.0
        for _ in 0..<n {
            let g = Double(rng.nextGaussian())
            s += g
            s2 += g * g
        }
        let mean = s / Double(n)
        let variance = s2 / Double(n) - mean * mean
        #expect(abs(mean) < 5 / Double(n).squareRoot())
        #expect(abs(variance - 1) < 5 * (2 / Double(n)).squareRoot())
        let p = rng.permutation(1000)
        #expect(Set(p).count == 1000 && p.min() == 0 && p.max() == 999)
    }
}

@Suite struct VectorKernelTwins {
    @Test(arguments: [1, 15, 16, 17, 4095, 4096, 10_001])
    func elementwiseAndReductionsMatchLoops(n: Int) {
        let x = randomArray(n, seed: 21)
        let dy = randomArray(n, seed: 22)
        var y = [Float](repeating: 0, count: n)
        var d = y
        vReLU(x, &y, count: n)
        #expect(y == x.map { $0 > 0 ? $0 : 0 })
        vReLUBackward(y: y, dy: dy, dx: &d, count: n)
        #expect(d == zip(y, dy).map { $0 > 0 ? $1 : 0 })
        vAddReLU(x, dy, &y, count: n)
        #expect(y == zip(x, dy).map { max($0 + $1, 0) })
        var acc = x
        vAdd(&acc, dy, count: n)
        #expect(acc == zip(x, dy).map { $0 + $1 })
        vAdd(x, dy, &y, count: n)
        #expect(y == acc)
        vScaleShift(x, &y, count: n, scale: 0.5, shift: -2)
        #expect(maxRelativeError(y, x.map { $0 * 0.5 - 2 }) < 1e-6)
        let s = x.reduce(0.0) { $0 + Double($1) }
        #expect(abs(vSum(x, count: n) - s) <= 1e-4 * max(1, Double(n).squareRoot()))
        let m: Float = 0.3
        let ss = x.reduce(0.0) { $0 + Double(($1 - m) * ($1 - m)) }
        #expect(abs(vSumSquaredDeviation(x, count: n, mean: m) - ss) <= 1e-5 * max(1, ss))
        let (a, b) = vBatchNormBackwardSums(x: x, dy: dy, count: n, mean: m)
        let rb = zip(x, dy).reduce(0.0) { $0 + Double($1.1) * Double($1.0 - m) }
        #expect(abs(a - dy.reduce(0.0) { $0 + Double($1) }) <= 1e-4 * max(1, Double(n).squareRoot()))
        #expect(abs(b - rb) <= 1e-4 * max(1, Double(n).squareRoot()))
        vBatchNormBackwardDx(
            x: x, dy: dy, dx: &d, count: n, mean: m, invStd: 1.5, k: 0.7, meanDy: 0.1,
            meanDyXhat: -0.2)
        let rd = zip(x, dy).map { 0.7 * ($1 - 0.1 - (($0 - m) * 1.5) * -0.2) }
        #expect(maxRelativeError(d, rd) < 1e-5)
    }
}

@Suite struct MaxPoolTwins {
    @Test(arguments: [(6, 6), (7, 5), (2, 2), (28, 28)])
    func maxPool2x2MatchesLoop(h: Int, w: Int) {
        let planes = 3
        let oh = h / 2
        let ow = w / 2
        // Quantised values so ties occur: the first maximum in row-major window order must win.
        let x = randomArray(planes * h * w, seed: 31).map { ($0 * 2).rounded() }
        var y = [Float](repeating: 0, count: planes * oh * ow)
        var am = [Int32](repeating: -1, count: y.count)
        vMaxPool2x2(x, &y, argmax: &am, planes: planes, h: h, w: w)
        for p in 0..<planes {
            for i in 0..<oh {
                for j in 0..<ow {
                    var best = -Float.infinity
                    var idx = 0
                    for di in 0..<2 {
                        for dj in 0..<2 where x[p * h * w + (2 * i + di) * w + 2 * j + dj] > best {
                            best = x[p * h * w + (2 * i + di) * w + 2 * j + dj]
                            idx = (2 * i + di) * w + 2 * j + dj
                        }
                    }
                    #expect(y[(p * oh + i) * ow + j] == best)
                    #expect(am[(p * oh + i) * ow + j] == Int32(idx))
                }
            }
        }
    }
}

@Suite struct TransposeTwin {
    /// The tiled transpose equals the plain double loop on shapes around the 32-wide tiles.
    @Test(arguments: [(1, 1), (3, 7), (32, 32), (33, 65), (1024, 50), (7, 1000)])
    func tiledEqualsNaive(shape: (Int, Int)) {
        let (rows, cols) = shape
        let src = (0..<(rows * cols)).map { Float($0) * 0.5 - 3 }
        var fast = [Float](repeating: -1, count: rows * cols)
        var naive = [Float](repeating: -2, count: rows * cols)
        transpose(src, rows: rows, cols: cols, into: &fast)
        transposeNaive(src, rows: rows, cols: cols, into: &naive)
        #expect(fast == naive)
    }
}
