// JPEG and PNG files as 8-bit RGB images, through the CImage shim (Debian's libjpeg-turbo and libpng).
// Every failure is a DataError naming the file; the format is decided by the file's first bytes.
import CImage
import Foundation

/// An 8-bit RGB image, interleaved: pixel (y, x) channel c at `pixels[(y·width + x)·3 + c]`.
public struct RGBImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "pixels do not match \(width)x\(height)x3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

public enum ImageCodec {
    /// The largest side accepted (larger images are refused rather than risking a huge allocation).
    public static let maximumSide = 1 << 15

    /// The bytes of `path`, read with POSIX calls (the decoder threads read tens of thousands of files).
    /// Throws `DataError` naming the file when it is missing, a directory, unreadable or empty.
    public static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw DataError(path, errno == ENOENT ? "missing file" : "cannot read (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            throw DataError(path, "not a regular file")
        }
        let size = Int(status.st_size)
        guard size > 0 else { throw DataError(path, "empty file") }
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        try bytes.withUnsafeMutableBytes { buffer in
            while done < size {
                let got = read(fd, buffer.baseAddress! + done, size - done)
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else { throw DataError(path, "cannot read (\(String(cString: strerror(errno))))") }
                done += got
            }
        }
        return bytes
    }

    /// Width and height from the header. Throws `DataError(path, ...)` for a non-image or broken header.
    public static func probe(_ bytes: [UInt8], path: String) throws -> (width: Int, height: Int) {
        var (width, height): (Int32, Int32) = (0, 0)
        var message = [CChar](repeating: 0, count: 256)
        let status = bytes.withUnsafeBufferPointer {
            bp_image_probe($0.baseAddress, $0.count, &width, &height, &message, message.count)
        }
        guard status == 0 else { throw DataError(path, String(cString: message)) }
        try checkSides(Int(width), Int(height), path: path)
        return (Int(width), Int(height))
    }

    /// The decoded image; `scaleDenominator` (1, 2, 4, 8) decodes a JPEG at 1/d size in the DCT domain
    /// (⌈width/d⌉ × ⌈height/d⌉), PNG always at full size. Throws `DataError(path, ...)`.
    public static func decode(_ bytes: [UInt8], path: String, scaleDenominator: Int = 1) throws -> RGBImage {
        var (width, height): (Int32, Int32) = (0, 0)
        var message = [CChar](repeating: 0, count: 256)
        var pixels: UnsafeMutablePointer<UInt8>? = nil
        let status = bytes.withUnsafeBufferPointer {
            bp_image_decode(
                $0.baseAddress, $0.count, Int32(scaleDenominator), &pixels, &width, &height, &message, message.count)
        }
        guard status == 0, let pixels else { throw DataError(path, String(cString: message)) }
        defer { bp_image_free(pixels) }
        try checkSides(Int(width), Int(height), path: path)
        let count = Int(width) * Int(height) * 3
        return RGBImage(
            width: Int(width), height: Int(height), pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }

    static func checkSides(_ width: Int, _ height: Int, path: String) throws {
        guard width >= 1, height >= 1 else { throw DataError(path, "image has no pixels (\(width)x\(height))") }
        guard width <= maximumSide, height <= maximumSide else {
            throw DataError(path, "image of \(width)x\(height) exceeds the largest side read, \(maximumSide)")
        }
    }

    /// `image` as a JPEG of `quality` (1-100) or, with `quality` nil, a PNG (lossless).
    public static func encode(_ image: RGBImage, jpegQuality quality: Int? = nil) -> [UInt8] {
        var bytes: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        let status = image.pixels.withUnsafeBufferPointer { p in
            quality.map {
                bp_jpeg_encode(p.baseAddress, Int32(image.width), Int32(image.height), 3, Int32($0), &bytes, &size)
            } ?? bp_png_encode(p.baseAddress, Int32(image.width), Int32(image.height), 3, &bytes, &size)
        }
        precondition(status == 0 && bytes != nil, "encoding a \(image.width)x\(image.height) image failed")
        defer { bp_image_free(bytes) }
        return Array(UnsafeBufferPointer(start: bytes, count: size))
    }
}
