// What makes a directory a run directory, so a new run never mixes with or silently replaces an
// earlier one: a directory holds a run when its config.json is a bayesprune run record or its
// checkpoints/ folder has bayesprune checkpoints; replacing a run removes exactly the files a run writes
// (never another tool's files that happen to share a folder name).

import BayesPruneData
import BayesPruneKernels
import Foundation

public enum RunDirectory {
    /// Top-level files a run (or a compact export) writes.
    static let files = [
        "config.json", "metrics.jsonl", "weights.safetensors", "mask.safetensors", "architecture.json", "report.html",
    ]

    /// What of a run `path` holds (empty: no run): "config.json", "checkpoints", ...
    public static func runFilesPresent(_ path: String) -> [String] {
        var present: [String] = []
        if (try? RunManifest.load(directory: path)) != nil { present.append("config.json") }
        if !checkpointFiles(path).isEmpty { present.append("checkpoints") }
        guard !present.isEmpty else { return [] }
        present += files.dropFirst().filter { FileManager.default.fileExists(atPath: path + "/" + $0) }
        if !sampleFiles(path).isEmpty { present.append("samples") }
        present += oodFiles(path).map { URL(fileURLWithPath: $0).lastPathComponent }
        return present
    }

    /// Throws `SettingError("out", ...)` when `path` exists and is not a directory.
    public static func checkUsable(_ path: String) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue {
            throw SettingError("out", "\(path) exists and is not a directory")
        }
    }

    /// Removes a previous run's files from `path`: its top-level files (with its report and the
    /// out-of-distribution results `evaluate` saved), its checkpoints and posterior samples (and those
    /// folders when that leaves them empty); anything else stays. Throws `OutputError`
    /// naming the file that cannot be removed.
    public static func clearPreviousRun(_ path: String) throws {
        let targets = files.map { path + "/" + $0 } + oodFiles(path) + checkpointFiles(path) + sampleFiles(path)
        for file in targets where FileManager.default.fileExists(atPath: file) {
            guard unlink(file) == 0 else {
                throw OutputError(description: "\(file): cannot remove the previous run's file")
            }
        }
        for folder in ["/checkpoints", "/samples"] { rmdir(path + folder) }  // only when empty
    }

    static func checkpointFiles(_ path: String) -> [String] {
        matching(path + "/checkpoints") { $0.hasPrefix("ckpt-") && $0.contains(".bpck") }
    }

    /// ood-<data>[-<transform>].json, <data> a data kind: the out-of-distribution results `evaluate
    /// --ood-data` saved (a user's own ood-notes.json is not one).
    public static func oodFiles(_ path: String) -> [String] {
        matching(path) { name in
            name.hasSuffix(".json")
                && DataKind.allCases.contains {
                    name == "ood-\($0.rawValue).json" || name.hasPrefix("ood-\($0.rawValue)-")
                }
        }.sorted()
    }

    static func sampleFiles(_ path: String) -> [String] {
        matching(path + "/samples") { $0 == "manifest.json" || $0.hasPrefix("sample-") && $0.contains(".safetensors") }
    }

    static func matching(_ folder: String, _ keep: (String) -> Bool) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter(keep).map { folder + "/" + $0 }
    }
}
