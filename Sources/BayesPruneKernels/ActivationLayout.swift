// The channel-blocked activation layout: [B][C/k][H][W][k] (oneDNN's nChw16c with k = 16 on AVX-512,
// nChw8c with k = 8 on AVX2), which oneDNN's convolutions read and write without reorders. A network
// keeps a residual network's activations in it between convolutions (see `Network`), and the layers in
// between (batch norm, ReLU, residual sums, global average pooling) work on it directly. The plain layout
// is the layers' [C, B, H, W]. Block 0 means plain. The conversions below are the reference the blocked
// kernels are tested against, and what the im2col convolution uses around a blocked layer.

/// The blocked layout's index of channel c, example b, position p (C channels, P positions, block k).
@inline(__always) public func blockedIndex(c: Int, b: Int, p: Int, channels C: Int, plane P: Int, block k: Int) -> Int {
    ((b * C + c / k * k) * P + p * k) + c % k
}

/// dst (blocked, block k) from src ([C, B, P]); C must be a multiple of k.
public func blockedFromPlain(
    _ src: UnsafePointer<Float>, channels C: Int, batch B: Int, plane P: Int, block k: Int,
    into dst: UnsafeMutablePointer<Float>
) {
    copyBetweenLayouts(src, dst, channels: C, batch: B, plane: P, block: k, toBlocked: true)
}

/// dst ([C, B, P]) from src (blocked, block k).
public func plainFromBlocked(
    _ src: UnsafePointer<Float>, channels C: Int, batch B: Int, plane P: Int, block k: Int,
    into dst: UnsafeMutablePointer<Float>
) {
    copyBetweenLayouts(src, dst, channels: C, batch: B, plane: P, block: k, toBlocked: false)
}

private func copyBetweenLayouts(
    _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, channels C: Int, batch B: Int, plane P: Int,
    block k: Int, toBlocked: Bool
) {
    precondition(k > 0 && C % k == 0)
    for c in 0..<C {
        for b in 0..<B {
            let plain = (c * B + b) * P
            let blocked = blockedIndex(c: c, b: b, p: 0, channels: C, plane: P, block: k)
            for p in 0..<P {
                if toBlocked { dst[blocked + p * k] = src[plain + p] } else { dst[plain + p] = src[blocked + p * k] }
            }
        }
    }
}
