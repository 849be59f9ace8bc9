// What makes a directory a run directory, so a new run never mixes with or silently replaces an
// earlier one: the files a run writes, a check that a directory holds none of them, and the removal of
// exactly those files when the user asks to replace a run.

import BayesPruneKernels
import Foundation

public enum RunDirectory {
    /// The files and folders a run (or a compact export) writes into its directory.
    public static let runFiles = [
        "config.json", "metrics.jsonl", "weights.safetensors", "mask.safetensors", "samples", "checkpoints",
        "architecture.json",
    ]

    /// The run files present in `path` (none when it does not exist).
    public static func runFilesPresent(_ path: String) -> [String] {
        runFiles.filter { FileManager.default.fileExists(atPath: path + "/" + $0) }
    }

    /// Throws `SettingError("out", ...)` when `path` exists and is not a directory.
    public static func checkUsable(_ path: String) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue {
            throw SettingError("out", "\(path) exists and is not a directory")
        }
    }

    /// Removes a previous run's files from `path` (only those: anything else in the directory stays).
    /// Throws `OutputError` naming the file that cannot be removed.
    public static func clearPreviousRun(_ path: String) throws {
        for name in runFilesPresent(path) {
            do { try FileManager.default.removeItem(atPath: path + "/" + name) } catch {
                throw OutputError(description: "\(path)/\(name): cannot remove the previous run's file")
            }
        }
    }
}
