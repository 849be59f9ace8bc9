// Whole-file reading for the loaders, transparently gunzipping files that start with the gzip magic
// (0x1f 0x8b) through zlib's gzread. Missing, unreadable and empty files become one-line DataErrors.
import CShims
import Foundation

public enum FileBytes {
    /// The file's bytes, decompressed when the file is gzip.
    public static func read(_ path: String) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError(path, "missing file")
        }
        if isDirectory.boolValue { throw DataError(path, "is a directory, expected a file") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(path, "cannot read file (permission denied?)")
        }
        if data.isEmpty { throw DataError(path, "empty file") }
        let bytes = [UInt8](data)
        guard bytes.count >= 2, bytes[0] == 0x1f, bytes[1] == 0x8b else { return bytes }
        let decompressed = try gunzip(path: path, sizeHint: gzipSizeHint(bytes))
        if decompressed.isEmpty { throw DataError(path, "empty file (the gzip stream holds no data)") }
        return decompressed
    }

    /// The gzip trailer's ISIZE (uncompressed size mod 2^32): a good capacity hint for one member.
    private static func gzipSizeHint(_ bytes: [UInt8]) -> Int {
        guard bytes.count >= 18 else { return 0 }
        let n = bytes.count
        let size =
            UInt32(bytes[n - 4]) | UInt32(bytes[n - 3]) << 8 | UInt32(bytes[n - 2]) << 16
            | UInt32(bytes[n - 1]) << 24
        // Cap the hint: a corrupt trailer must not trigger a huge allocation.
        return min(Int(size), 1 << 30)
    }

    private static func gunzip(path: String, sizeHint: Int) throws -> [UInt8] {
        guard let file = gzopen(path, "rb") else { throw DataError(path, "cannot open gzip file") }
        defer { gzclose(file) }
        gzbuffer(file, 1 << 18)
        var output = [UInt8]()
        output.reserveCapacity(sizeHint)
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        while true {
            let got = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32(chunk)) }
            if got < 0 {
                var code: Int32 = 0
                let message = gzerror(file, &code).map { String(cString: $0) } ?? "unknown error"
                throw DataError(path, "corrupt gzip data (\(message))")
            }
            if got == 0 { break }
            output.append(contentsOf: buffer[0..<Int(got)])
        }
        // gzread reports a stream cut short as a plain end of file; only gzerror tells them apart.
        var code: Int32 = 0
        let message = gzerror(file, &code).map { String(cString: $0) } ?? ""
        if code == Z_BUF_ERROR { throw DataError(path, "truncated gzip stream (\(message))") }
        if code != Z_OK { throw DataError(path, "corrupt gzip data (\(message))") }
        return output
    }
}
