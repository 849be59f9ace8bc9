// IDX files as used by MNIST and Fashion-MNIST: idx3 ubyte images (magic 0x00000803) and idx1 ubyte
// labels (magic 0x00000801), big-endian headers, gzip or raw. Pixels are scaled to [0, 1].

/// A byte → Float table for `byte / 255`: exact division, one load per pixel.
let unitScaleTable: [Float] = (0..<256).map { Float($0) / 255 }

/// Converts raw 8-bit pixels to [0, 1] Floats, writing `count` values at `destination`.
@inline(__always)
func scalePixels(_ source: UnsafePointer<UInt8>, _ destination: UnsafeMutablePointer<Float>, count: Int) {
    unitScaleTable.withUnsafeBufferPointer { table in
        let t = table.baseAddress!
        for i in 0..<count { destination[i] = t[Int(source[i])] }
    }
}

public enum IDXReader {
    /// The four standard file names, without the optional `.gz` suffix.
    public static let trainImagesName = "train-images-idx3-ubyte"
    public static let trainLabelsName = "train-labels-idx1-ubyte"
    public static let testImagesName = "t10k-images-idx3-ubyte"
    public static let testLabelsName = "t10k-labels-idx1-ubyte"
    /// Where Debian's `dataset-fashion-mnist` package installs the gzipped files.
    public static let fashionMNISTSystemDirectory = "/usr/share/datasets/fashion-mnist"

    /// Parses the magic and dimensions and checks the data length the header promises.
    /// Returns the dimensions and the offset of the first data byte.
    static func header(_ bytes: [UInt8], path: String, expectedDims: Int) throws -> (dims: [Int], offset: Int) {
        let expectedMagic = UInt32(0x0800) | UInt32(expectedDims)
        let kind = expectedDims == 3 ? "an idx3 ubyte image file" : "an idx1 ubyte label file"
        guard bytes.count >= 4 else {
            throw DataError(path, "truncated: \(bytes.count) bytes is shorter than the 4-byte magic")
        }
        let magic = readBigEndian32(bytes, at: 0)
        guard magic == expectedMagic else {
            throw DataError(path, "bad magic \(hex32(magic)) (expected \(hex32(expectedMagic)) for \(kind))")
        }
        let offset = 4 + 4 * expectedDims
        guard bytes.count >= offset else {
            throw DataError(path, "truncated: \(bytes.count) bytes is shorter than the \(offset)-byte header")
        }
        let dims = (0..<expectedDims).map { Int(readBigEndian32(bytes, at: 4 + 4 * $0)) }
        let present = bytes.count - offset
        if dims.contains(0) {
            throw DataError(path, "header dims \(dims) hold a zero: no data (\(kind) needs at least one entry)")
        }
        // The product of four-byte dims can overflow Int: saturate, which any real file is below.
        let promised = dims.reduce(1) { p, d in
            let (r, overflow) = p.multipliedReportingOverflow(by: d)
            return overflow ? Int.max : r
        }
        if present < promised {
            throw DataError(
                path, "truncated: header dims \(dims) promise \(promised) data bytes but only \(present) follow")
        }
        if present > promised {
            throw DataError(
                path,
                "\(present - promised) trailing bytes after the \(promised) data bytes the header dims \(dims) promise")
        }
        return (dims, offset)
    }

    /// Images as [0, 1] Floats, one channel, example-major.
    public static func readImages(path: String) throws -> (count: Int, rows: Int, cols: Int, pixels: [Float]) {
        let bytes = try FileBytes.read(path)
        let (dims, offset) = try header(bytes, path: path, expectedDims: 3)
        let total = dims[0] * dims[1] * dims[2]
        var pixels = [Float](repeating: 0, count: total)
        bytes.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                scalePixels(src.baseAddress! + offset, dst.baseAddress!, count: total)
            }
        }
        return (dims[0], dims[1], dims[2], pixels)
    }

    /// Labels, each checked to be below `classes`.
    public static func readLabels(path: String, classes: Int = 10) throws -> [Int32] {
        let bytes = try FileBytes.read(path)
        let (dims, offset) = try header(bytes, path: path, expectedDims: 1)
        var labels = [Int32](repeating: 0, count: dims[0])
        for i in 0..<dims[0] {
            let label = Int(bytes[offset + i])
            if label >= classes {
                throw DataError(path, "label \(label) at index \(i) is out of range 0..<\(classes)")
            }
            labels[i] = Int32(label)
        }
        return labels
    }

    /// One split from an image file and its label file.
    public static func load(imagesPath: String, labelsPath: String, name: String, classes: Int = 10) throws -> Dataset {
        let images = try readImages(path: imagesPath)
        let labels = try readLabels(path: labelsPath, classes: classes)
        guard labels.count == images.count else {
            throw DataError(
                labelsPath, "count mismatch: \(labels.count) labels but \(imagesPath) holds \(images.count) images")
        }
        return Dataset(
            name: name, count: images.count, channels: 1, height: images.rows, width: images.cols,
            features: images.pixels, labels: labels, targets: [], task: .multiclass, classes: classes)
    }

    /// The path of a standard file in `directory`, preferring `<name>.gz` over the raw `<name>`.
    public static func locate(_ name: String, in directory: String) throws -> String {
        let base = joinPath(directory, name)
        if fileExists(base + ".gz") { return base + ".gz" }
        if fileExists(base) { return base }
        throw DataError(base + "[.gz]", "missing file")
    }

    /// Train and test splits from a directory holding the four standard files (gzip or raw).
    public static func loadDirectory(
        _ directory: String, name: String, classes: Int = 10
    ) throws -> (train: Dataset, test: Dataset) {
        guard directoryExists(directory) else { throw DataError(directory, "missing directory") }
        let train = try load(
            imagesPath: locate(trainImagesName, in: directory), labelsPath: locate(trainLabelsName, in: directory),
            name: name + " train", classes: classes)
        let test = try load(
            imagesPath: locate(testImagesName, in: directory), labelsPath: locate(testLabelsName, in: directory),
            name: name + " test", classes: classes)
        guard train.height == test.height, train.width == test.width else {
            throw DataError(
                directory,
                "train images are \(train.height)x\(train.width) but test images are \(test.height)x\(test.width)")
        }
        return (train, test)
    }

    /// Fashion-MNIST from the Debian package's directory, with a message saying how to get it.
    public static func loadSystemFashionMNIST() throws -> (train: Dataset, test: Dataset) {
        let directory = fashionMNISTSystemDirectory
        guard
            fileExists(joinPath(directory, trainImagesName + ".gz")) || fileExists(joinPath(directory, trainImagesName))
        else {
            throw DataError(
                directory, "Fashion-MNIST not found; run `apt-get install dataset-fashion-mnist` or set data-dir")
        }
        return try loadDirectory(directory, name: "fashion-mnist")
    }

    @inline(__always)
    static func readBigEndian32(_ bytes: [UInt8], at i: Int) -> UInt32 {
        UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8 | UInt32(bytes[i + 3])
    }

    static func hex32(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }
}
