// Checkpoints: everything a run needs to continue bit for bit. Binary, versioned, every section
// checksummed (CRC-32), written by rank 0 to a temporary name, fsync'd and renamed.
//
// Layout (little-endian):
//   "BPCKPT\r\n"            8-byte magic
//   u32 version (1)
//   u32 section count
//   per section: u32 name length, name (UTF-8), u64 byte length, u32 CRC-32 of the bytes, the bytes
//   "DONE" + u32 CRC-32 of everything before it (a truncated file never ends this way)
// Sections: "header" (JSON: CheckpointHeader), then raw little-endian arrays: "weights", "state"
// (batch-norm running statistics), "momentum", "rho", "previous_noise", "lambda", "mask" (Float32),
// "bma_sum" (Float64), "bma_members" (Float32, regression only).

import BayesPruneConfig
import BayesPruneKernels
import CShims
import Foundation

public struct CheckpointHeader: Codable, Equatable {
    public var model: String
    public var parameterCount: Int
    public var stateCount: Int
    /// Hash of the parameter layout (names and shapes): a checkpoint of another model is rejected.
    public var layoutHash: UInt64
    public var worldSize: Int
    public var globalBatch: Int
    /// Epochs fully done, and within the next epoch the batches already taken (0 at an epoch boundary).
    public var epochsDone: Int
    public var batchInEpoch: Int
    /// Sampler step count: the noise RNG is (seed, step), so this is its state; also the schedule position.
    public var samplerStep: Int
    public var lossSumInEpoch: Double
    /// Augmentation RNG state of every rank (xoshiro256 words), in rank order.
    public var augmentationStates: [[UInt64]]
    public var theta: Double?
    public var eSteps: Int?
    public var bmaCount: Int
    public var samples: SampleManifest
    public var config: TrainConfig
    /// The run this checkpoint belongs to (RunManifest.runId); nil in checkpoints of earlier versions.
    public var runId: String?
    /// The divergence watch's state (running loss level, steps seen, high streak, start of a rise), so a
    /// resumed run watches exactly as an uninterrupted one; nil in earlier versions.
    public var lossWatch: [Double]?
    /// The channel spaces the pruning guard kept alive at the last E-step.
    public var guarded: [String]?

    public init(
        model: String, parameterCount: Int, stateCount: Int, layoutHash: UInt64, worldSize: Int, globalBatch: Int,
        epochsDone: Int, batchInEpoch: Int, samplerStep: Int, lossSumInEpoch: Double, augmentationStates: [[UInt64]],
        theta: Double?, eSteps: Int?, bmaCount: Int, samples: SampleManifest, config: TrainConfig, runId: String?
    ) {
        self.model = model
        self.parameterCount = parameterCount
        self.stateCount = stateCount
        self.layoutHash = layoutHash
        self.worldSize = worldSize
        self.globalBatch = globalBatch
        self.epochsDone = epochsDone
        self.batchInEpoch = batchInEpoch
        self.samplerStep = samplerStep
        self.lossSumInEpoch = lossSumInEpoch
        self.augmentationStates = augmentationStates
        self.theta = theta
        self.eSteps = eSteps
        self.bmaCount = bmaCount
        self.samples = samples
        self.config = config
        self.runId = runId
    }
}

public struct CheckpointError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

public struct Checkpoint {
    public var header: CheckpointHeader
    public var sections: [String: Data]

    public init(header: CheckpointHeader, sections: [String: Data]) {
        self.header = header
        self.sections = sections
    }

    static let magic = Data("BPCKPT\r\n".utf8)
    static let version: UInt32 = 1

    static func crc(_ d: Data) -> UInt32 {
        d.withUnsafeBytes { UInt32(crc32(0, $0.bindMemory(to: UInt8.self).baseAddress, uInt($0.count))) }
    }

    public func encode() throws -> Data {
        var out = Checkpoint.magic
        func u32(_ v: UInt32) {
            var x = v.littleEndian
            withUnsafeBytes(of: &x) { out.append(contentsOf: $0) }
        }
        func u64(_ v: UInt64) {
            var x = v.littleEndian
            withUnsafeBytes(of: &x) { out.append(contentsOf: $0) }
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let headerJSON: Data
        do { headerJSON = try enc.encode(header) } catch {
            throw CheckpointError(
                description: "checkpoint header: cannot record a non-finite value (\(encodingProblem(error)))")
        }
        var all: [(String, Data)] = [("header", headerJSON)]
        all += sections.keys.sorted().map { ($0, sections[$0]!) }
        u32(Checkpoint.version)
        u32(UInt32(all.count))
        for (name, bytes) in all {
            let n = Data(name.utf8)
            u32(UInt32(n.count))
            out.append(n)
            u64(UInt64(bytes.count))
            u32(Checkpoint.crc(bytes))
            out.append(bytes)
        }
        let total = Checkpoint.crc(out)
        out.append(Data("DONE".utf8))
        u32(total)
        return out
    }

    /// Parses and verifies a checkpoint; every defect is a one-line error naming the file.
    public static func read(path: String) throws -> Checkpoint {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw CheckpointError(description: "\(path): missing or unreadable")
        }
        func fail(_ what: String) -> CheckpointError { CheckpointError(description: "\(path): \(what)") }
        guard d.count >= 16 else { throw fail("truncated (\(d.count) bytes)") }
        guard d.prefix(8) == magic else { throw fail("not a bayesprune checkpoint (bad magic)") }
        var pos = 8
        func u32() throws -> UInt32 {
            guard pos + 4 <= d.count else { throw fail("truncated") }
            defer { pos += 4 }
            return d.subdata(in: pos..<(pos + 4)).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }.littleEndian
        }
        func u64() throws -> UInt64 {
            guard pos + 8 <= d.count else { throw fail("truncated") }
            defer { pos += 8 }
            return d.subdata(in: pos..<(pos + 8)).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        }
        let v = try u32()
        guard v == version else {
            throw fail("unsupported checkpoint version \(v) (this build reads version \(version))")
        }
        let count = try u32()
        guard count < 1000 else { throw fail("corrupt section count \(count)") }
        var sections: [String: Data] = [:]
        for _ in 0..<count {
            let nl = Int(try u32())
            guard nl < 256, pos + nl <= d.count else { throw fail("truncated or corrupt section name") }
            let name = String(decoding: d.subdata(in: pos..<(pos + nl)), as: UTF8.self)
            pos += nl
            let len = try u64()
            let sum = try u32()
            guard len <= UInt64(d.count - pos) else { throw fail("truncated in section \(printableName(name))") }
            let bytes = d.subdata(in: pos..<(pos + Int(len)))
            pos += Int(len)
            guard crc(bytes) == sum else {
                throw fail("checksum mismatch in section \(printableName(name)) (damaged file)")
            }
            sections[name] = bytes
        }
        guard pos + 8 <= d.count, d.subdata(in: pos..<(pos + 4)) == Data("DONE".utf8) else {
            throw fail("truncated (no end marker)")
        }
        let bodyCRC = crc(d.prefix(pos))
        pos += 4
        guard try u32() == bodyCRC else { throw fail("checksum mismatch in the file structure (damaged file)") }
        guard let h = sections.removeValue(forKey: "header") else { throw fail("no header section") }
        let header: CheckpointHeader
        do { header = try JSONDecoder().decode(CheckpointHeader.self, from: h) } catch {
            throw fail("unreadable header (\(decodingProblem(error)))")
        }
        return Checkpoint(header: header, sections: sections)
    }

    /// Only the header of a checkpoint (the first section), checked against its own CRC: enough to tell
    /// which run and position a file belongs to without reading its buffers. nil when unreadable.
    public static func readHeader(path: String) -> CheckpointHeader? {
        guard let file = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? file.close() }
        // magic (8), version (4), section count (4), first section's name length (4)
        guard let head = try? file.read(upToCount: 20), head.count == 20, head.prefix(8) == magic else { return nil }
        func u32(_ d: Data, _ at: Int) -> UInt32 {
            d.subdata(in: at..<(at + 4)).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }.littleEndian
        }
        let nameLength = Int(u32(head, 16))
        guard u32(head, 8) == version, nameLength == 6,
            let rest = try? file.read(upToCount: 6 + 12), rest.count == 18,
            rest.prefix(6) == Data("header".utf8)
        else { return nil }
        // rest: the name (6), the section's length (8) and CRC (4)
        let length64 = rest.subdata(in: 6..<14).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        guard length64 < 64 << 20 else { return nil }
        let length = Int(length64)
        guard let json = try? file.read(upToCount: length), json.count == length,
            crc(json) == u32(rest, 14)
        else { return nil }
        return try? JSONDecoder().decode(CheckpointHeader.self, from: json)
    }

    public func floats(_ name: String, count: Int, path: String) throws -> [Float] {
        guard let d = sections[name], d.count == count * 4 else {
            throw CheckpointError(description: "\(path): section \(name) missing or of the wrong size")
        }
        return d.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}

extension Data {
    /// The raw bytes of `count` floats at `p`.
    public init(floats p: UnsafePointer<Float>, count: Int) { self.init(bytes: p, count: count * 4) }
}

/// The checkpoints of a run directory, newest first.
public enum CheckpointStore {
    public static func directory(_ run: String) -> String { run + "/checkpoints" }

    public static func name(epochsDone: Int, batch: Int, step: Int) -> String {
        String(format: "ckpt-e%05d-b%06d-s%09d.bpck", epochsDone, batch, step)
    }

    public static func list(_ run: String) -> [String] {
        let dir = directory(run)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return files.filter { $0.hasPrefix("ckpt-") && $0.hasSuffix(".bpck") }.sorted(by: >).map { dir + "/" + $0 }
    }

    /// The checkpoints of run `runId` in `run`, newest first (nil: every checkpoint file). A file whose
    /// header cannot be read stays in the list, so that reading it reports the damage by name.
    public static func list(_ run: String, runId: String?) -> [String] {
        guard let runId else { return list(run) }
        return list(run).filter { path in Checkpoint.readHeader(path: path).map { $0.runId == runId } ?? true }
    }

    /// Writes `c` into the run's checkpoints folder and keeps the newest `keep` checkpoints of the same run
    /// (files of any other run are never touched). Returns the path.
    public static func write(_ c: Checkpoint, run: String, keep: Int) throws -> String {
        try makeRunDirectory(directory(run))
        let path =
            directory(run) + "/"
            + name(epochsDone: c.header.epochsDone, batch: c.header.batchInEpoch, step: c.header.samplerStep)
        try AtomicFile.write(try c.encode(), to: path)
        let own = list(run).filter { $0 == path || Checkpoint.readHeader(path: $0)?.runId == c.header.runId }
        for old in own.dropFirst(max(keep, 1)) { try? FileManager.default.removeItem(atPath: old) }
        return path
    }
}
