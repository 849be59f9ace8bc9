// The oneDNN convolution (forward, backward data, backward weights, bias) against the naive direct
// convolution and direct-loop adjoints, over kernels 1/3/5, strides 1/2, paddings 0/1/2, with and
// without bias, and channel counts on and off oneDNN's 16-wide blocks.
import Testing

@testable import BayesPruneKernels

/// Direct-loop reference gradients (Double accumulation): dx = Wᵀ ⋆ dy, dw = dy ⋆ x, db = Σ dy.
func convBackwardNaive(
    _ g: ConvGeometry, x: [Float], dy: [Float], w: [Float], batch B: Int
)
    -> (dx: [Float], dw: [Float], db: [Float])
{
    var dx = [Double](repeating: 0, count: g.inChannels * B * g.inPlane)
    var dw = [Double](repeating: 0, count: g.outChannels * g.colRows)
    var db = [Double](repeating: 0, count: g.outChannels)
    for o in 0..<g.outChannels {
        for b in 0..<B {
            for oh in 0..<g.outH {
                for ow in 0..<g.outW {
                    let gy = Double(dy[((o * B + b) * g.outH + oh) * g.outW + ow])
                    db[o] += gy
                    for c in 0..<g.inChannels {
                        for ki in 0..<g.kernelH {
                            let ih = oh * g.stride - g.padding + ki
                            if ih < 0 || ih >= g.inH { continue }
                            for kj in 0..<g.kernelW {
                                let iw = ow * g.stride - g.padding + kj
                                if iw < 0 || iw >= g.inW { continue }
                                let xi = ((c * B + b) * g.inH + ih) * g.inW + iw
                                let wi = ((o * g.inChannels + c) * g.kernelH + ki) * g.kernelW + kj
                                dx[xi] += gy * Double(w[wi])
                                dw[wi] += gy * Double(x[xi])
                            }
                        }
                    }
                }
            }
        }
    }
    return (dx.map(Float.init), dw.map(Float.init), db.map(Float.init))
}

@Suite struct DNNLConvolutionTwins {
    // (channels in, channels out, kernel, stride, padding, bias, H, W)
    static let cases: [(Int, Int, Int, Int, Int, Bool, Int, Int)] = [
        (3, 5, 3, 1, 1, true, 9, 8), (3, 5, 3, 2, 1, false, 9, 8), (3, 5, 5, 1, 2, true, 9, 8),
        (3, 5, 5, 1, 0, false, 9, 8), (3, 5, 1, 1, 0, true, 9, 8), (3, 5, 1, 2, 0, false, 9, 8),
        (2, 4, 5, 2, 2, true, 11, 10), (1, 6, 5, 1, 2, true, 12, 12), (16, 16, 3, 1, 1, false, 8, 8),
        (16, 32, 3, 2, 1, false, 8, 8), (6, 16, 5, 1, 0, true, 14, 14), (17, 7, 3, 1, 2, true, 6, 7),
    ]

    @Test(arguments: cases)
    func matchesNaive(c: (Int, Int, Int, Int, Int, Bool, Int, Int)) throws {
        let (cin, cout, k, s, p, bias, H, W) = c
        let g = ConvGeometry(
            inChannels: cin, outChannels: cout, kernelH: k, kernelW: k, stride: s, padding: p,
            inH: H, inW: W)
        let B = 3
        let conv = try #require(DNNLConv(g, batch: B, hasBias: bias))
        let x = randomArray(cin * B * g.inPlane, seed: 11)
        let w = randomArray(cout * g.colRows, seed: 12)
        let b = randomArray(cout, seed: 13)
        let dy = randomArray(cout * B * g.outPlane, seed: 14)
        var ref = [Float](repeating: 0, count: dy.count)
        var y = ref
        convForwardNaive(g, x: x, batch: B, w: w, bias: bias ? b : nil, y: &ref)
        conv.forward(x: x, w: w, bias: bias ? b : nil, y: &y)
        #expect(maxRelativeError(y, ref) < 1e-5)

        // Gradients accumulate into dw/db (start from non-zero values) and set dx (start from garbage).
        let (rdx, rdw, rdb) = convBackwardNaive(g, x: x, dy: dy, w: w, batch: B)
        var dx = [Float](repeating: .nan, count: x.count)
        var dw = [Float](repeating: 1, count: w.count)
        var db = [Float](repeating: 1, count: cout)
        db.withUnsafeMutableBufferPointer { dbp in
            conv.backward(x: x, dy: dy, w: w, dx: &dx, dw: &dw, db: bias ? dbp.baseAddress! : nil)
        }
        #expect(maxRelativeError(dx, rdx) < 1e-5)
        #expect(maxRelativeError(dw.map { $0 - 1 }, rdw) < 1e-5)
        if bias { #expect(maxRelativeError(db.map { $0 - 1 }, rdb) < 1e-5) }

        // Backward without the input gradient still accumulates dw (a second time).
        db.withUnsafeMutableBufferPointer { dbp in
            conv.backward(x: x, dy: dy, w: w, dx: nil, dw: &dw, db: bias ? dbp.baseAddress! : nil)
        }
        #expect(maxRelativeError(dw.map { ($0 - 1) / 2 }, rdw) < 1e-5)

        // An evaluation-mode forward does not keep x; backward reorders it again and still matches.
        var y2 = [Float](repeating: .nan, count: dy.count)
        conv.forward(x: x, w: w, bias: bias ? b : nil, y: &y2, training: false)
        #expect(y2 == y)
        var dw2 = [Float](repeating: 0, count: w.count)
        var dx2 = [Float](repeating: .nan, count: x.count)
        conv.backward(x: x, dy: dy, w: w, dx: &dx2, dw: &dw2, db: nil)
        #expect(maxRelativeError(dw2, rdw) < 1e-5)
        #expect(maxRelativeError(dx2, rdx) < 1e-5)
    }

    @Test func versionIsReported() { #expect(DNNLConv.version >= 20000) }
}
