// `bayesprune evaluate DIR`: reload a run's configuration and weights, score the test set, print JSON; with
// --ood-data also save the out-of-distribution result in the run directory (ood-<data>[-<transform>].json).
import ArgumentParser
import BayesPruneData
import BayesPruneEvaluation
import BayesPruneRuntime
import Foundation

extension OODTransform: ExpressibleByArgument {}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a run directory's weights on its test set (JSON on stdout).",
        discussion: "With --ood-data the out-of-distribution result is also saved in the run directory as "
            + "ood-<data>[-<transform>].json (replacing only an earlier result for the same set), for `report`.")

    @Argument(help: "A run directory written by `bayesprune train`.") var directory: String
    @Option(help: "Override the data directory recorded in the run.") var dataDir: String?
    @Option(parsing: .unconditional, help: "BLAS threads.") var threads: Int?
    @Option(help: "Out-of-distribution data set to score against the run's test set.") var oodData: DataKind?
    @Option(help: "Directory of the out-of-distribution data.") var oodDataDir: String?
    @Option(help: "CSV file(s) of the out-of-distribution data.") var oodTrain: String?
    @Option(help: "CSV test file of the out-of-distribution data.") var oodTest: String?
    @Option(help: "Transform applied to the out-of-distribution images.") var oodTransform: OODTransform = .none
    @Option(parsing: .unconditional, help: "Calibration bins (default: the run's).") var bins: Int?

    func run() throws {
        try reportingErrors {
            _ = configureThreads(requested: threads)
            let transform = oodTransform
            if let b = bins, b < 1 { throw ValidationError("--bins: must be at least 1, got \(b)") }
            let ood = oodData.map {
                OODRequest(data: $0, dataDir: oodDataDir, trainFile: oodTrain, testFile: oodTest, transform: transform)
            }
            if ood == nil && (oodDataDir != nil || oodTrain != nil || transform != .none) {
                throw ValidationError("--ood-data: required with --ood-data-dir, --ood-train or --ood-transform")
            }
            let scores = try RunEvaluation.score(directory: directory, dataDir: dataDir, ood: ood, bins: bins)
            print(try scores.json())
            // Kept for `report`: the run directory's own result file for this set (a checkpoint's is not).
            if let result = scores.ood, !scores.fromCheckpoint {
                let path = try result.save(directory: scores.runDirectory)
                FileHandle.standardError.write(Data("saved the out-of-distribution result to \(path)\n".utf8))
            }
        }
    }
}
