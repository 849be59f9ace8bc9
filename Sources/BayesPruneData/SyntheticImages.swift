// A synthetic image folder with a known, learnable rule (`make-data image-folder`, the tests, `bench
// --decode`): class k brightens colour channel k mod 3 in horizontal band ⌊k/3⌋ mod 3 of a noisy image;
// sizes cycle through a list and files alternate between PNG and JPEG.
import BayesPruneKernels
import Foundation

public enum SyntheticImages {
    /// One image of class `label`: width × height, noise in 0...63 plus 40 outside its band, 170 inside.
    public static func image(label: Int, width: Int, height: Int, seed: UInt64) -> RGBImage {
        var rng = Xoshiro256(seed: seed, stream: 0x494D_4147)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            let band = y * 3 / height
            for x in 0..<width {
                for c in 0..<3 {
                    let inBand = c == label % 3 && band == (label / 3) % 3
                    pixels[(y * width + x) * 3 + c] = UInt8(Int(rng.next() >> 58) + (inBand ? 170 : 40))
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// Writes DIR/train/classK/imgI.{png,jpg} and DIR/val/... (`trainPerClass`, `valPerClass` per class); the
    /// n-th image (counting from 1 over both splits) has size `sizes[n mod sizes.count]` and is a JPEG of
    /// `jpegQuality` when n is even, a PNG when odd (`allJPEG`: every one a JPEG).
    public static func writeFolder(
        _ dir: String, classes: Int, trainPerClass: Int, valPerClass: Int, sizes: [(Int, Int)], seed: UInt64 = 1,
        jpegQuality: Int = 92, allJPEG: Bool = false
    ) throws {
        var n = 0
        for (split, perClass) in [("train", trainPerClass), ("val", valPerClass)] {
            for k in 0..<classes {
                let classDir = "\(dir)/\(split)/class\(k)"
                try FileManager.default.createDirectory(atPath: classDir, withIntermediateDirectories: true)
                for i in 0..<perClass {
                    n += 1
                    let (w, h) = sizes[n % sizes.count]
                    let picture = image(label: k, width: w, height: h, seed: seed &+ UInt64(n))
                    let jpeg = allJPEG || n % 2 == 0
                    let bytes = ImageCodec.encode(picture, jpegQuality: jpeg ? jpegQuality : nil)
                    let path = "\(classDir)/img\(i).\(jpeg ? "jpg" : "png")"
                    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
                        throw DataError(path, "cannot write")
                    }
                }
            }
        }
    }
}
