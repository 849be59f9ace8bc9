// IDX loading: raw and gzip files round-trip to pixels/255 and labels, the directory loader accepts
// either form, and every malformed file yields a DataError naming the file and the problem.
import BayesPruneData
import Foundation
import TestSupport
import Testing

@Suite struct IDXTests {
    let rows = 4, cols = 3

    func writeSplit(
        _ dir: String, imagesName: String, labelsName: String, count: Int, seed: UInt32, gzip: Bool
    ) throws -> (pixels: [UInt8], labels: [UInt8]) {
        let pixels = testBytes(count * rows * cols, seed: seed)
        let labels = (0..<count).map { UInt8(($0 * 7 + Int(seed)) % 10) }
        let write = gzip ? writeGzip : writeBytes
        let suffix = gzip ? ".gz" : ""
        try write(idxImages(count: count, rows: rows, cols: cols, pixels: pixels), dir + "/" + imagesName + suffix)
        try write(idxLabels(labels), dir + "/" + labelsName + suffix)
        return (pixels, labels)
    }

    func check(_ data: Dataset, pixels: [UInt8], labels: [UInt8]) {
        #expect(data.count == labels.count)
        #expect((data.channels, data.height, data.width) == (1, rows, cols))
        #expect(data.task == .multiclass && data.classes == 10)
        #expect(data.features == pixels.map { Float($0) / 255 })
        #expect(data.labels == labels.map { Int32($0) })
        #expect(data.targets.isEmpty && data.featureNames.isEmpty)
    }

    @Test func rawAndGzipFilesLoadTheWrittenValues() throws {
        try withTemporaryDirectory { dir in
            for gzip in [false, true] {
                let written = try writeSplit(
                    dir, imagesName: "img\(gzip)", labelsName: "lab\(gzip)", count: 9,
                    seed: gzip ? 3 : 4, gzip: gzip)
                let suffix = gzip ? ".gz" : ""
                let data = try IDXReader.load(
                    imagesPath: dir + "/img\(gzip)" + suffix,
                    labelsPath: dir + "/lab\(gzip)" + suffix, name: "t")
                check(data, pixels: written.pixels, labels: written.labels)
            }
        }
    }

    @Test func directoryLoaderAcceptsGzipAndRawFiles() throws {
        try withTemporaryDirectory { dir in
            let train = try writeSplit(
                dir, imagesName: IDXReader.trainImagesName, labelsName: IDXReader.trainLabelsName,
                count: 12, seed: 1, gzip: true)
            let test = try writeSplit(
                dir, imagesName: IDXReader.testImagesName, labelsName: IDXReader.testLabelsName,
                count: 5, seed: 2, gzip: false)
            let (trainSet, testSet) = try IDXReader.loadDirectory(dir, name: "mnist")
            check(trainSet, pixels: train.pixels, labels: train.labels)
            check(testSet, pixels: test.pixels, labels: test.labels)
        }
    }

    @Test func missingFileInDirectoryIsNamed() throws {
        try withTemporaryDirectory { dir in
            _ = try writeSplit(
                dir, imagesName: IDXReader.trainImagesName, labelsName: IDXReader.trainLabelsName,
                count: 2, seed: 1, gzip: true)
            _ = try writeSplit(
                dir, imagesName: IDXReader.testImagesName, labelsName: "unrelated", count: 2, seed: 2, gzip: true)
            expectDataError(containing: ["t10k-labels-idx1-ubyte", "missing file"]) {
                _ = try IDXReader.loadDirectory(dir, name: "mnist")
            }
        }
    }

    @Test func missingAndEmptyFiles() throws {
        try withTemporaryDirectory { dir in
            expectDataError(containing: ["nothere-idx3", "missing file"]) {
                _ = try IDXReader.readImages(path: dir + "/nothere-idx3")
            }
            try writeBytes([], to: dir + "/empty-idx1")
            expectDataError(containing: ["empty-idx1", "empty file"]) {
                _ = try IDXReader.readLabels(path: dir + "/empty-idx1")
            }
        }
    }

    @Test func badMagicIsReported() throws {
        try withTemporaryDirectory { dir in
            // A label file where images are expected, and a raw byte soup.
            try writeBytes(idxLabels([1, 2]), to: dir + "/swapped.idx")
            expectDataError(containing: ["swapped.idx", "bad magic", "0x00000801", "0x00000803"]) {
                _ = try IDXReader.readImages(path: dir + "/swapped.idx")
            }
            try writeGzip([0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0], to: dir + "/soup.gz")
            expectDataError(containing: ["soup.gz", "bad magic 0x12345678"]) {
                _ = try IDXReader.readLabels(path: dir + "/soup.gz")
            }
        }
    }

    /// Dims with a zero (found by fuzzing: a zero column count made the dims' product pass the length
    /// check while the pixel count overflowed) are refused by name.
    @Test func zeroDimsAreRefused() throws {
        try withTemporaryDirectory { dir in
            try writeBytes(idxImages(count: 0x7FFF_FFFF, rows: 0xFFFF_FFFF, cols: 0, pixels: []), to: dir + "/zero")
            expectDataError(containing: ["zero", "hold a zero"]) { _ = try IDXReader.readImages(path: dir + "/zero") }
            try writeBytes(idxLabels([]), to: dir + "/no-labels")
            expectDataError(containing: ["no-labels", "hold a zero"]) {
                _ = try IDXReader.readLabels(path: dir + "/no-labels")
            }
        }
    }

    @Test func truncatedFilesAreReported() throws {
        try withTemporaryDirectory { dir in
            let full = idxImages(count: 3, rows: rows, cols: cols, pixels: testBytes(3 * rows * cols, seed: 9))
            try writeBytes(Array(full.dropLast(5)), to: dir + "/short-images")
            expectDataError(containing: ["short-images", "truncated", "promise 36", "only 31"]) {
                _ = try IDXReader.readImages(path: dir + "/short-images")
            }
            try writeGzip(Array(idxLabels([1, 2, 3]).dropLast(1)), to: dir + "/short-labels.gz")
            expectDataError(containing: ["short-labels.gz", "truncated"]) {
                _ = try IDXReader.readLabels(path: dir + "/short-labels.gz")
            }
            try writeBytes(Array(full.prefix(10)), to: dir + "/short-header")
            expectDataError(containing: ["short-header", "truncated", "16-byte header"]) {
                _ = try IDXReader.readImages(path: dir + "/short-header")
            }
            // A gzip stream cut in half must not pass as a shorter file.
            try writeGzip(full, to: dir + "/cut.gz")
            let compressed = try FileBytesProbe.raw(dir + "/cut.gz")
            try writeBytes(Array(compressed.prefix(compressed.count / 2)), to: dir + "/cut.gz")
            expectDataError(containing: ["cut.gz", "truncated"]) {
                _ = try IDXReader.readImages(path: dir + "/cut.gz")
            }
        }
    }

    @Test func countMismatchIsReported() throws {
        try withTemporaryDirectory { dir in
            try writeBytes(idxImages(count: 3, rows: 1, cols: 1, pixels: [1, 2, 3]), to: dir + "/images")
            try writeBytes(idxLabels([1, 2]), to: dir + "/labels")
            expectDataError(containing: ["labels", "count mismatch", "2 labels", "3 images"]) {
                _ = try IDXReader.load(imagesPath: dir + "/images", labelsPath: dir + "/labels", name: "t")
            }
        }
    }

    @Test func labelOutOfRangeIsReported() throws {
        try withTemporaryDirectory { dir in
            try writeGzip(idxLabels([0, 9, 10, 3]), to: dir + "/bad-labels.gz")
            expectDataError(containing: ["bad-labels.gz", "label 10 at index 2", "out of range"]) {
                _ = try IDXReader.readLabels(path: dir + "/bad-labels.gz")
            }
        }
    }
}

/// Reads a file's stored bytes without decompression (to corrupt a gzip file on purpose).
enum FileBytesProbe {
    static func raw(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

/// The real handwritten digits shipped for out-of-distribution checks (Tests/data/sklearn-digits, made by
/// Tests/scripts/make-digits-idx.py from scikit-learn's 1,797 8×8 digits): present, MNIST-shaped, every
/// class, each digit inside the 20×20 box of its 28×28 frame.
@Suite struct ShippedDigits {
    @Test func digitsLoadAsMNISTShapedImages() throws {
        let dir = packageRoot + "/Tests/data/sklearn-digits"
        let (train, test) = try DataSource.load(
            kind: .mnist, dataDir: dir, trainFile: nil, testFile: nil, target: nil, task: nil, seed: 1)
        #expect(test.count == 1797 && train.count == 100)
        #expect((test.channels, test.height, test.width) == (1, 28, 28) && test.classes == 10)
        var perClass = [Int](repeating: 0, count: 10)
        for l in test.labels { perClass[Int(l)] += 1 }
        #expect(perClass.allSatisfy { (170...190).contains($0) }, "\(perClass)")
        for i in 0..<test.count {
            let image = test.features[(i * 784)..<((i + 1) * 784)]
            let inside = image.enumerated().filter { (k, v) in
                v != 0 && ((4..<24).contains(k / 28) && (4..<24).contains(k % 28))
            }
            let outside = image.enumerated().filter { (k, v) in
                v != 0 && !((4..<24).contains(k / 28) && (4..<24).contains(k % 28))
            }
            #expect(outside.isEmpty && inside.count > 20, "digit \(i)")
            #expect(image.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
    }
}
