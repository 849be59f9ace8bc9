// im2col / col2im for 2-D convolution on the channel-major batch layout [C, B, H, W] used by every
// layer (so one GEMM covers a whole chunk of the batch: Y[O, b·P] = W[O, C·kh·kw] · col[C·kh·kw, b·P]).

/// Geometry of one 2-D convolution (square stride and padding on both axes).
public struct ConvGeometry: Equatable {
    public let inChannels: Int, outChannels: Int
    public let kernelH: Int, kernelW: Int
    public let stride: Int, padding: Int
    public let inH: Int, inW: Int
    public var outH: Int { (inH + 2 * padding - kernelH) / stride + 1 }
    public var outW: Int { (inW + 2 * padding - kernelW) / stride + 1 }
    /// Rows of the column matrix: one per (input channel, kernel row, kernel column).
    public var colRows: Int { inChannels * kernelH * kernelW }
    public var outPlane: Int { outH * outW }
    public var inPlane: Int { inH * inW }

    /// The output columns ow with 0 <= ow·stride − padding + kj < inW: one contiguous range (maybe empty).
    @inline(__always)
    func validColumns(kj: Int) -> Range<Int> {
        let lo = max(0, (padding - kj + stride - 1) / stride)
        let hi = min(outW, (inW + padding - kj + stride - 1) / stride)
        return lo..<max(lo, hi)
    }

    public init(
        inChannels: Int, outChannels: Int, kernelH: Int, kernelW: Int, stride: Int, padding: Int, inH: Int, inW: Int
    ) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelH = kernelH
        self.kernelW = kernelW
        self.stride = stride
        self.padding = padding
        self.inH = inH
        self.inW = inW
    }
}

/// Fills col[colRows, nb·outPlane] from images b0..<b0+nb of x[C, B, H, W].
public func im2col(
    _ g: ConvGeometry, x: UnsafePointer<Float>, batch: Int, b0: Int, nb: Int,
    col: UnsafeMutablePointer<Float>
) {
    let outH = g.outH
    let outW = g.outW
    let P = g.outPlane
    let rowLen = nb * P
    for c in 0..<g.inChannels {
        for ki in 0..<g.kernelH {
            for kj in 0..<g.kernelW {
                let row = col + ((c * g.kernelH + ki) * g.kernelW + kj) * rowLen
                let cols = g.validColumns(kj: kj)
                let owLo = cols.lowerBound
                let owHi = cols.upperBound
                for bi in 0..<nb {
                    let plane = x + (c * batch + b0 + bi) * g.inPlane
                    let dstImage = row + bi * P
                    for oh in 0..<outH {
                        let ih = oh * g.stride - g.padding + ki
                        let dst = dstImage + oh * outW
                        if ih < 0 || ih >= g.inH || owLo >= owHi {
                            dst.update(repeating: 0, count: outW)
                            continue
                        }
                        if owLo > 0 { dst.update(repeating: 0, count: owLo) }
                        if owHi < outW { (dst + owHi).update(repeating: 0, count: outW - owHi) }
                        let src = plane + ih * g.inW - g.padding + kj
                        if g.stride == 1 {
                            (dst + owLo).update(from: src + owLo, count: owHi - owLo)
                        } else {
                            var ow = owLo
                            while ow < owHi {
                                dst[ow] = src[ow * g.stride]
                                ow += 1
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Accumulates col[colRows, nb·outPlane] back into dx[C, B, H, W] (images b0..<b0+nb); the adjoint of im2col.
/// The caller zeroes dx first.
public func col2imAccumulate(
    _ g: ConvGeometry, col: UnsafePointer<Float>, batch: Int, b0: Int, nb: Int,
    dx: UnsafeMutablePointer<Float>
) {
    let outH = g.outH
    let outW = g.outW
    let P = g.outPlane
    let rowLen = nb * P
    for c in 0..<g.inChannels {
        for ki in 0..<g.kernelH {
            for kj in 0..<g.kernelW {
                let row = col + ((c * g.kernelH + ki) * g.kernelW + kj) * rowLen
                let cols = g.validColumns(kj: kj)
                let owLo = cols.lowerBound
                let owHi = cols.upperBound
                if cols.isEmpty { continue }
                for bi in 0..<nb {
                    let plane = dx + (c * batch + b0 + bi) * g.inPlane
                    let srcImage = row + bi * P
                    for oh in 0..<outH {
                        let ih = oh * g.stride - g.padding + ki
                        if ih < 0 || ih >= g.inH { continue }
                        let src = srcImage + oh * outW
                        let dst = plane + ih * g.inW - g.padding + kj
                        var ow = owLo
                        if g.stride == 1 {
                            while ow < owHi {
                                dst[ow] += src[ow]
                                ow += 1
                            }
                        } else {
                            while ow < owHi {
                                dst[ow * g.stride] += src[ow]
                                ow += 1
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Naive direct convolution (the reference twin of im2col + GEMM): y[O, B, oh, ow] over x[C, B, H, W],
/// weights w[O, C, kh, kw], optional bias[O]; Double accumulation.
public func convForwardNaive(
    _ g: ConvGeometry, x: UnsafePointer<Float>, batch: Int,
    w: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>
) {
    for o in 0..<g.outChannels {
        for b in 0..<batch {
            for oh in 0..<g.outH {
                for ow in 0..<g.outW {
                    var s = Double(bias?[o] ?? 0)
                    for c in 0..<g.inChannels {
                        for ki in 0..<g.kernelH {
                            let ih = oh * g.stride - g.padding + ki
                            if ih < 0 || ih >= g.inH { continue }
                            for kj in 0..<g.kernelW {
                                let iw = ow * g.stride - g.padding + kj
                                if iw < 0 || iw >= g.inW { continue }
                                s +=
                                    Double(x[((c * batch + b) * g.inH + ih) * g.inW + iw])
                                    * Double(w[((o * g.inChannels + c) * g.kernelH + ki) * g.kernelW + kj])
                            }
                        }
                    }
                    y[((o * batch + b) * g.outH + oh) * g.outW + ow] = Float(s)
                }
            }
        }
    }
}
