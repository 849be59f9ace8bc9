// Scratch directories and file writers shared by the test targets: temporary directories, raw and
// gzip bytes, text, IDX headers, deterministic test bytes, the quadrant image data set in MNIST layout,
// and a snapshot of a directory's files.
import BayesPruneKernels
import CShims
import Foundation

/// This test process's scratch root, <temp>/bp-tests-PID, removed when the process exits. Runs leave
/// gigabytes (ResNet-50 checkpoints, image folders), which /tmp does not clear while the machine is up,
/// so creating the root first removes the roots of test processes no longer alive (killed or crashed
/// before their exit handler ran).
private let scratchRoot: String = {
    let fm = FileManager.default
    let base = fm.temporaryDirectory.path
    for name in (try? fm.contentsOfDirectory(atPath: base)) ?? [] where name.hasPrefix("bp-tests-") {
        if let pid = Int32(name.dropFirst("bp-tests-".count)), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH {
            try? fm.removeItem(atPath: base + "/" + name)
        }
    }
    let root = base + "/bp-tests-\(getpid())"
    try? fm.createDirectory(atPath: root, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: FileManager.default.temporaryDirectory.path + "/bp-tests-\(getpid())") }
    return root
}()

/// A fresh directory named after `tag` under this test process's scratch root (removed at exit).
public func temporaryDirectory(_ tag: String) throws -> String {
    let dir = scratchRoot + "/bp-\(tag)-\(UUID())"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// A fresh directory under the system temp dir, removed when the test's closure returns.
public func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("bayesprune-data-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    try body(path)
}

public func writeBytes(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

public func writeText(_ text: String, to path: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

public struct TestFileError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Writes `bytes` gzip-compressed with zlib's gzwrite.
public func writeGzip(_ bytes: [UInt8], to path: String) throws {
    guard let file = gzopen(path, "wb") else { throw TestFileError("\(path): test could not open gzip file") }
    let written = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
    let closed = gzclose(file)
    guard written == Int32(bytes.count), closed == Z_OK else { throw TestFileError("\(path): test gzip write failed") }
}

public func bigEndian32(_ value: Int) -> [UInt8] {
    [UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
}

/// An idx3 ubyte image file's bytes (magic 0x00000803).
public func idxImages(count: Int, rows: Int, cols: Int, pixels: [UInt8]) -> [UInt8] {
    [0, 0, 8, 3] + bigEndian32(count) + bigEndian32(rows) + bigEndian32(cols) + pixels
}

/// An idx1 ubyte label file's bytes (magic 0x00000801).
public func idxLabels(_ labels: [UInt8]) -> [UInt8] {
    [0, 0, 8, 1] + bigEndian32(labels.count) + labels
}

/// Deterministic pseudo-random bytes from a simple LCG, independent of the library's RNG.
public func testBytes(_ count: Int, seed: UInt32) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 1_664_525 &+ 1_013_904_223
        return UInt8(state >> 24)
    }
}

/// Writes an MNIST-layout IDX pair: 4 classes, each a bright 6x6 square in its own quadrant plus noise.
public func writeQuadrantIDX(dir: String, prefix: String, count: Int, seed: UInt64) throws {
    var rng = Xoshiro256(seed: seed)
    var images = Data([0, 0, 8, 3])
    var labels = Data([0, 0, 8, 1])
    images += Data(bigEndian32(count) + bigEndian32(16) + bigEndian32(16))
    labels += Data(bigEndian32(count))
    for _ in 0..<count {
        let y = rng.nextInt(below: 4)
        labels.append(UInt8(y))
        let (r0, c0) = ((y / 2) * 8 + 1, (y % 2) * 8 + 1)
        for r in 0..<16 {
            for c in 0..<16 {
                let inside = r >= r0 && r < r0 + 6 && c >= c0 && c < c0 + 6
                let v = (inside ? 170 : 40) + rng.nextInt(below: 60)
                images.append(UInt8(v))
            }
        }
    }
    try images.write(to: URL(fileURLWithPath: "\(dir)/\(prefix)-images-idx3-ubyte"))
    try labels.write(to: URL(fileURLWithPath: "\(dir)/\(prefix)-labels-idx1-ubyte"))
}

/// A fresh directory holding a quadrant training set ("train") and test set ("t10k") in MNIST layout.
public func quadrantDataset(_ tag: String, train: Int, test: Int) throws -> String {
    let dir = try temporaryDirectory(tag)
    try writeQuadrantIDX(dir: dir, prefix: "train", count: train, seed: 1)
    try writeQuadrantIDX(dir: dir, prefix: "t10k", count: test, seed: 2)
    return dir
}

/// Every file below `dir` (relative path → bytes), to check that a command left a directory as it was.
public func snapshot(_ dir: String) throws -> [String: Data] {
    var out: [String: Data] = [:]
    let e = FileManager.default.enumerator(atPath: dir)
    while let p = e?.nextObject() as? String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir + "/" + p, isDirectory: &isDir), !isDir.boolValue {
            out[p] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + p))
        }
    }
    return out
}
