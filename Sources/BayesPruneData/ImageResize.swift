// Crop-and-resize of 8-bit RGB images into the network's normalized [C, H, W] floats, and the crop
// geometry of the standard ImageNet transforms (torchvision's RandomResizedCrop for training; resize of
// the shorter side then a center crop for evaluation).
//
// Resampling is antialiased bilinear, as PIL's: output pixel i of an axis covers source coordinates
// [lo + i·s, lo + (i+1)·s) with s = crop length / output length; the filter is a triangle of radius
// max(s, 1) source pixels around its centre, over the pixels inside the *image* (so a crop of a resized
// image equals the resize of the crop region), weights normalized to sum 1.
import BayesPruneKernels
import Foundation

/// A crop region in source pixels (fractional after a JPEG's DCT-domain downscale).
public struct CropRegion: Equatable, Sendable {
    public var x: Double, y: Double, width: Double, height: Double

    public init(x: Double, y: Double, width: Double, height: Double) {
        (self.x, self.y, self.width, self.height) = (x, y, width, height)
    }

    /// The same region in an image scaled by (sx, sy).
    public func scaled(x sx: Double, y sy: Double) -> CropRegion {
        CropRegion(x: x * sx, y: y * sy, width: width * sx, height: height * sy)
    }
}

public enum ImageGeometry {
    /// torchvision's RandomResizedCrop(scale: 0.08...1, ratio: 3/4...4/3) region of a width × height image:
    /// up to 10 draws of (area fraction, log aspect ratio) until the box fits, then the central crop at the
    /// nearest allowed ratio. RNG order per draw: area, log ratio; then the row offset, the column offset.
    public static func randomResizedCrop(
        width: Int, height: Int, rng: inout Xoshiro256,
        scale: ClosedRange<Double> = 0.08...1, ratio: ClosedRange<Double> = 0.75...(4.0 / 3.0)
    ) -> CropRegion {
        let area = Double(width * height)
        let logRatio = log(ratio.lowerBound)...log(ratio.upperBound)
        for _ in 0..<10 {
            let target = area * (scale.lowerBound + (scale.upperBound - scale.lowerBound) * rng.nextDouble())
            let aspect = exp(logRatio.lowerBound + (logRatio.upperBound - logRatio.lowerBound) * rng.nextDouble())
            let w = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && w <= width && h > 0 && h <= height {
                let top = rng.nextInt(below: height - h + 1)
                let left = rng.nextInt(below: width - w + 1)
                return CropRegion(x: Double(left), y: Double(top), width: Double(w), height: Double(h))
            }
        }
        let inRatio = Double(width) / Double(height)
        var (w, h) = (width, height)
        if inRatio < ratio.lowerBound {
            h = min(height, Int((Double(w) / ratio.lowerBound).rounded(.toNearestOrEven)))
        } else if inRatio > ratio.upperBound {
            w = min(width, Int((Double(h) * ratio.upperBound).rounded(.toNearestOrEven)))
        }
        return CropRegion(x: Double((width - w) / 2), y: Double((height - h) / 2), width: Double(w), height: Double(h))
    }

    /// Resize so the shorter side is `resize` (the longer one truncated, as torchvision), then a center crop of
    /// `crop` × `crop`: the region of the original image that lands in the crop.
    public static func resizeCenterCrop(width: Int, height: Int, resize: Int, crop: Int) -> CropRegion {
        let (newWidth, newHeight) =
            width <= height
            ? (resize, Int(Double(resize) * Double(height) / Double(width)))
            : (Int(Double(resize) * Double(width) / Double(height)), resize)
        // Python's round (half to even), as torchvision's center_crop.
        let top = (Double(newHeight - crop) / 2).rounded(.toNearestOrEven)
        let left = (Double(newWidth - crop) / 2).rounded(.toNearestOrEven)
        let sx = Double(width) / Double(newWidth)
        let sy = Double(height) / Double(newHeight)
        return CropRegion(x: left * sx, y: top * sy, width: Double(crop) * sx, height: Double(crop) * sy)
    }

    /// The largest JPEG DCT downscale d ∈ {8, 4, 2, 1} that still leaves at least `output` source pixels
    /// across the crop on both axes (so resampling never upsamples what full decoding would not).
    public static func dctScaleDenominator(for crop: CropRegion, outputWidth: Int, outputHeight: Int) -> Int {
        for d in [8, 4, 2] where crop.width / Double(d) >= Double(outputWidth) && crop.height / Double(d) >= Double(outputHeight) {
            return d
        }
        return 1
    }
}

/// One axis's filter: output i reads source pixels start[i] ..< start[i] + count[i] with weights
/// weights[i·maxTaps ..< i·maxTaps + count[i]].
struct ResampleAxis {
    var start: [Int32]
    var count: [Int32]
    var weights: [Float]
    var maxTaps: Int

    init(sourceLength: Int, cropStart: Double, cropLength: Double, outputLength: Int) {
        let scale = cropLength / Double(outputLength)
        let support = max(scale, 1)
        maxTaps = Int(ceil(support)) * 2 + 2
        start = [Int32](repeating: 0, count: outputLength)
        count = [Int32](repeating: 0, count: outputLength)
        weights = [Float](repeating: 0, count: outputLength * maxTaps)
        var w = [Double](repeating: 0, count: maxTaps)
        for i in 0..<outputLength {
            let centre = cropStart + (Double(i) + 0.5) * scale
            var lo = max(Int((centre - support).rounded(.down)), 0)
            let hi = min(Int((centre + support).rounded(.up)), sourceLength)
            lo = min(lo, sourceLength - 1)
            var total = 0.0
            var taps = 0
            for j in lo..<max(hi, lo + 1) where taps < maxTaps {
                let v = max(0, 1 - abs(Double(j) + 0.5 - centre) / support)
                w[taps] = v
                total += v
                taps += 1
            }
            if total == 0 {
                // The centre lies outside the image (a crop past the edge): take the nearest pixel.
                let nearest = min(max(Int(centre), 0), sourceLength - 1)
                start[i] = Int32(nearest)
                count[i] = 1
                weights[i * maxTaps] = 1
                continue
            }
            start[i] = Int32(lo)
            count[i] = Int32(taps)
            for k in 0..<taps { weights[i * maxTaps + k] = Float(w[k] / total) }
        }
    }
}

public enum ImageResampler {
    /// Writes `crop` of `image`, resized to `outputHeight` × `outputWidth`, as [3, H, W] floats
    /// ((pixel/255 − mean[c]) · inverseStd[c]), mirrored left-right when `flip`.
    public static func cropResize(
        _ image: RGBImage, crop: CropRegion, outputWidth: Int, outputHeight: Int, flip: Bool,
        mean: [Float] = [0, 0, 0], inverseStd: [Float] = [1, 1, 1], into destination: UnsafeMutablePointer<Float>
    ) {
        let horizontal = ResampleAxis(
            sourceLength: image.width, cropStart: crop.x, cropLength: crop.width, outputLength: outputWidth)
        let vertical = ResampleAxis(
            sourceLength: image.height, cropStart: crop.y, cropLength: crop.height, outputLength: outputHeight)
        // Source rows the vertical filter reads.
        let firstRow = Int(vertical.start.min()!)
        let lastRow = (0..<outputHeight).map { Int(vertical.start[$0] + vertical.count[$0]) }.max()!
        let rows = lastRow - firstRow
        // Horizontal pass: rows × outputWidth × 3 (interleaved), in 0...255.
        var temporary = [Float](repeating: 0, count: rows * outputWidth * 3)
        let plane = outputWidth * outputHeight
        image.pixels.withUnsafeBufferPointer { source in
            temporary.withUnsafeMutableBufferPointer { t in
                horizontal.weights.withUnsafeBufferPointer { hw in
                    for r in 0..<rows {
                        let row = source.baseAddress! + (firstRow + r) * image.width * 3
                        let out = t.baseAddress! + r * outputWidth * 3
                        for i in 0..<outputWidth {
                            let s = Int(horizontal.start[i])
                            let taps = Int(horizontal.count[i])
                            let weights = hw.baseAddress! + i * horizontal.maxTaps
                            var (red, green, blue): (Float, Float, Float) = (0, 0, 0)
                            for k in 0..<taps {
                                let p = row + (s + k) * 3
                                let w = weights[k]
                                red += w * Float(p[0])
                                green += w * Float(p[1])
                                blue += w * Float(p[2])
                            }
                            out[i * 3] = red
                            out[i * 3 + 1] = green
                            out[i * 3 + 2] = blue
                        }
                    }
                }
                // Vertical pass into [C, H, W], scaled, normalized, optionally mirrored.
                let scale = (0..<3).map { inverseStd[$0] / 255 }
                let offset = (0..<3).map { -mean[$0] * inverseStd[$0] }
                vertical.weights.withUnsafeBufferPointer { vw in
                    for y in 0..<outputHeight {
                        let s = Int(vertical.start[y]) - firstRow
                        let taps = Int(vertical.count[y])
                        let weights = vw.baseAddress! + y * vertical.maxTaps
                        for x in 0..<outputWidth {
                            var (red, green, blue): (Float, Float, Float) = (0, 0, 0)
                            for k in 0..<taps {
                                let p = t.baseAddress! + ((s + k) * outputWidth + x) * 3
                                let w = weights[k]
                                red += w * p[0]
                                green += w * p[1]
                                blue += w * p[2]
                            }
                            let column = flip ? outputWidth - 1 - x : x
                            let o = destination + y * outputWidth + column
                            o[0] = red * scale[0] + offset[0]
                            o[plane] = green * scale[1] + offset[1]
                            o[2 * plane] = blue * scale[2] + offset[2]
                        }
                    }
                }
            }
        }
    }
}
