// CIFAR-10/100 binary loading: records round-trip (batches concatenated in order, fine vs coarse
// labels), the archive subdirectory is found, and malformed files are reported with their name.
import BayesPruneData
import Foundation
import TestSupport
import Testing

@Suite struct CIFARTests {
    static let image = 3 * 32 * 32

    /// Writes CIFAR-10 records and returns (pixels, labels) as written.
    func writeCIFAR10(_ path: String, records: Int, seed: UInt32) throws -> (pixels: [UInt8], labels: [UInt8]) {
        let pixels = testBytes(records * Self.image, seed: seed)
        let labels = (0..<records).map { UInt8((Int(seed) * 3 + $0) % 10) }
        var bytes = [UInt8]()
        for r in 0..<records {
            bytes.append(labels[r])
            bytes += pixels[(r * Self.image)..<((r + 1) * Self.image)]
        }
        try writeBytes(bytes, to: path)
        return (pixels, labels)
    }

    func writeCIFAR100(
        _ path: String, records: Int, seed: UInt32
    ) throws -> (pixels: [UInt8], coarse: [UInt8], fine: [UInt8]) {
        let pixels = testBytes(records * Self.image, seed: seed)
        let fine = (0..<records).map { UInt8((Int(seed) * 11 + $0 * 37) % 100) }
        let coarse = fine.map { $0 / 5 }
        var bytes = [UInt8]()
        for r in 0..<records {
            bytes += [coarse[r], fine[r]]
            bytes += pixels[(r * Self.image)..<((r + 1) * Self.image)]
        }
        try writeBytes(bytes, to: path)
        return (pixels, coarse, fine)
    }

    func writeAllCIFAR10(
        _ dir: String
    ) throws -> (trainPixels: [UInt8], trainLabels: [UInt8], testPixels: [UInt8], testLabels: [UInt8]) {
        var trainPixels = [UInt8]()
        var trainLabels = [UInt8]()
        for (k, records) in [3, 1, 2, 2, 4].enumerated() {
            let written = try writeCIFAR10(dir + "/data_batch_\(k + 1).bin", records: records, seed: UInt32(k + 1))
            trainPixels += written.pixels
            trainLabels += written.labels
        }
        let test = try writeCIFAR10(dir + "/test_batch.bin", records: 3, seed: 77)
        return (trainPixels, trainLabels, test.pixels, test.labels)
    }

    @Test func cifar10BatchesConcatenateInOrder() throws {
        try withTemporaryDirectory { dir in
            let written = try writeAllCIFAR10(dir)
            let (train, test) = try CIFARReader.loadCIFAR10(directory: dir)
            #expect(train.count == 12 && test.count == 3)
            #expect((train.channels, train.height, train.width, train.classes) == (3, 32, 32, 10))
            #expect(train.features == written.trainPixels.map { Float($0) / 255 })
            #expect(train.labels == written.trainLabels.map { Int32($0) })
            #expect(test.features == written.testPixels.map { Float($0) / 255 })
            #expect(test.labels == written.testLabels.map { Int32($0) })
        }
    }

    @Test func cifar10ArchiveSubdirectoryIsFound() throws {
        try withTemporaryDirectory { dir in
            let inner = dir + "/cifar-10-batches-bin"
            try FileManager.default.createDirectory(atPath: inner, withIntermediateDirectories: true)
            let written = try writeAllCIFAR10(inner)
            let (train, _) = try DataSource.load(kind: .cifar10, dataDir: dir, seed: 1)
            #expect(train.labels == written.trainLabels.map { Int32($0) })
        }
    }

    @Test func cifar100FineAndCoarseLabels() throws {
        try withTemporaryDirectory { dir in
            let train = try writeCIFAR100(dir + "/train.bin", records: 7, seed: 5)
            let test = try writeCIFAR100(dir + "/test.bin", records: 4, seed: 6)
            let fine = try CIFARReader.loadCIFAR100(directory: dir, labels: .fine)
            let coarse = try CIFARReader.loadCIFAR100(directory: dir, labels: .coarse)
            #expect(fine.train.classes == 100 && coarse.train.classes == 20)
            #expect(fine.train.labels == train.fine.map { Int32($0) })
            #expect(fine.test.labels == test.fine.map { Int32($0) })
            #expect(coarse.train.labels == train.coarse.map { Int32($0) })
            #expect(coarse.test.labels == test.coarse.map { Int32($0) })
            #expect(fine.train.features == train.pixels.map { Float($0) / 255 })
            #expect(coarse.test.features == test.pixels.map { Float($0) / 255 })
        }
    }

    @Test func truncatedRecordsAreReported() throws {
        try withTemporaryDirectory { dir in
            _ = try writeAllCIFAR10(dir)
            let path = dir + "/data_batch_3.bin"
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            try writeBytes(Array(bytes.dropLast(10)), to: path)
            expectDataError(containing: [
                "data_batch_3.bin", "truncated: \(2 * 3073 - 10) bytes is not a whole number of 3073-byte records",
            ]) {
                _ = try CIFARReader.loadCIFAR10(directory: dir)
            }
            _ = try writeCIFAR100(dir + "/train.bin", records: 2, seed: 1)
            try writeBytes(testBytes(3075, seed: 1), to: dir + "/test.bin")
            expectDataError(containing: ["test.bin", "3075 bytes is not a whole number of 3074-byte records"]) {
                _ = try CIFARReader.loadCIFAR100(directory: dir)
            }
        }
    }

    @Test func labelsOutOfRangeAreReported() throws {
        try withTemporaryDirectory { dir in
            _ = try writeAllCIFAR10(dir)
            var record = [UInt8(10)] + testBytes(Self.image, seed: 3)
            try writeBytes(record, to: dir + "/test_batch.bin")
            expectDataError(containing: ["test_batch.bin", "label 10 in record 0", "out of range"]) {
                _ = try CIFARReader.loadCIFAR10(directory: dir)
            }
            // Coarse label 20 is invalid, but only when coarse labels are requested.
            record = [UInt8(20), UInt8(99)] + testBytes(Self.image, seed: 3)
            try writeBytes(record, to: dir + "/train.bin")
            try writeBytes(record, to: dir + "/test.bin")
            _ = try CIFARReader.loadCIFAR100(directory: dir, labels: .fine)
            expectDataError(containing: ["train.bin", "label 20", "out of range 0..<20"]) {
                _ = try CIFARReader.loadCIFAR100(directory: dir, labels: .coarse)
            }
            record = [UInt8(1), UInt8(100)] + testBytes(Self.image, seed: 3)
            try writeBytes(record, to: dir + "/test.bin")
            expectDataError(containing: ["test.bin", "label 100", "out of range 0..<100"]) {
                _ = try CIFARReader.loadCIFAR100(directory: dir, labels: .fine)
            }
        }
    }

    @Test func missingAndEmptyFilesAreReported() throws {
        try withTemporaryDirectory { dir in
            _ = try writeAllCIFAR10(dir)
            try FileManager.default.removeItem(atPath: dir + "/data_batch_4.bin")
            expectDataError(containing: ["data_batch_4.bin", "missing file"]) {
                _ = try CIFARReader.loadCIFAR10(directory: dir)
            }
            try writeBytes([], to: dir + "/data_batch_4.bin")
            expectDataError(containing: ["data_batch_4.bin", "empty file"]) {
                _ = try CIFARReader.loadCIFAR10(directory: dir)
            }
            expectDataError(containing: ["train.bin", "missing file"]) {
                _ = try CIFARReader.loadCIFAR100(directory: dir)
            }
            expectDataError(containing: ["no-such-dir", "missing directory"]) {
                _ = try CIFARReader.loadCIFAR10(directory: dir + "/no-such-dir")
            }
        }
    }
}
