// Shared helpers for the data tests: a scratch directory per test, writers for IDX (raw and gzip via
// zlib), CIFAR binary records and text files, and an assertion for one-line DataErrors.
import BayesPruneData
import CShims
import Foundation
import Testing
import BayesPruneKernels

/// A fresh directory under the system temp dir, removed when the test's closure returns.
func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("bayesprune-data-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    try body(path)
}

func writeBytes(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func writeText(_ text: String, to path: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

/// Writes `bytes` gzip-compressed with zlib's gzwrite.
func writeGzip(_ bytes: [UInt8], to path: String) throws {
    guard let file = gzopen(path, "wb") else { throw DataError(path, "test could not open gzip file") }
    let written = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
    let closed = gzclose(file)
    guard written == Int32(bytes.count), closed == Z_OK else { throw DataError(path, "test gzip write failed") }
}

func bigEndian32(_ value: Int) -> [UInt8] {
    [UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
}

/// An idx3 ubyte image file's bytes (magic 0x00000803).
func idxImages(count: Int, rows: Int, cols: Int, pixels: [UInt8]) -> [UInt8] {
    [0, 0, 8, 3] + bigEndian32(count) + bigEndian32(rows) + bigEndian32(cols) + pixels
}

/// An idx1 ubyte label file's bytes (magic 0x00000801).
func idxLabels(_ labels: [UInt8]) -> [UInt8] {
    [0, 0, 8, 1] + bigEndian32(labels.count) + labels
}

/// Deterministic pseudo-random bytes from a simple LCG, independent of the library's RNG.
func testBytes(_ count: Int, seed: UInt32) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 1_664_525 &+ 1_013_904_223
        return UInt8(state >> 24)
    }
}

/// Runs `body` and checks it throws a one-line DataError containing every phrase.
func expectDataError(
    containing phrases: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected a DataError containing \(phrases)", sourceLocation: sourceLocation)
    } catch let error as SettingError {
        for phrase in phrases {
            #expect(error.description.contains(phrase), "\"\(error.description)\" lacks \"\(phrase)\"",
                    sourceLocation: sourceLocation)
        }
        #expect(!error.description.contains("\n"), "message is not one line", sourceLocation: sourceLocation)
    } catch let error as DataError {
        for phrase in phrases {
            #expect(error.description.contains(phrase), "\"\(error.description)\" lacks \"\(phrase)\"",
                    sourceLocation: sourceLocation)
        }
        #expect(!error.description.contains("\n"), "message is not one line", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected a DataError, got \(error)", sourceLocation: sourceLocation)
    }
}
