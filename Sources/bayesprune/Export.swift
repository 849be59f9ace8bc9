// `bayesprune export DIR --compact OUT`: write the physically smaller network of a pruned run.
import ArgumentParser
import BayesPruneEvaluation
import BayesPruneRunIO
import Foundation

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a pruned run as a compact network (removed channels and units dropped).")

    @Argument(help: "A run directory written by `bayesprune train --prune`.") var directory: String
    @Option(help: "Output directory for the compact network (a run directory `evaluate` can load).") var compact: String

    func run() throws {
        try reportingErrors {
            // Like `train --out`: an export never replaces a run or an earlier export.
            guard RunDirectory.runFilesPresent(compact).isEmpty else {
                throw ValidationError("--compact: \(compact) already holds a run or an export; choose a new directory")
            }
            let s = try CompactExport.export(directory: directory, to: compact)
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(s), as: UTF8.self))
        }
    }
}
