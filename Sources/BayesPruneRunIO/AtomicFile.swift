// Writes files so a reader never sees half of one: write to a temporary name in the same directory,
// fsync, then rename over the final name.

import BayesPruneKernels
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public struct OutputError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw OutputError(description: "\(path): cannot write (\(String(cString: strerror(errno))))")
        }
        var ok = true
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n <= 0 {
                    ok = false
                    break
                }
                off += n
            }
        }
        if fsync(fd) != 0 { ok = false }
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw OutputError(description: "\(path): write failed (\(reason))")
        }
    }

    public static func write(_ text: String, to path: String) throws { try write(Data(text.utf8), to: path) }
}

/// Creates the run directory (and parents). Throws `SettingError("out", ...)` naming the path and the
/// system's reason (e.g. "permission denied") when it cannot.
public func makeRunDirectory(_ path: String) throws {
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
        guard isDir.boolValue else { throw SettingError("out", "\(path) exists and is not a directory") }
        return
    }
    // Component by component with mkdir(2), so the failure carries errno rather than Foundation's text.
    var prefix = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        prefix += "/" + part
        guard mkdir(prefix, 0o755) == 0 || errno == EEXIST else {
            let reason = String(cString: strerror(errno)).lowercased()
            throw SettingError("out", "cannot create \(path): \(reason) (at \(prefix))")
        }
    }
}
