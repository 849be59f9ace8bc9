// `bayesprune evaluate DIR`: reload a run's configuration and weights, score the test set, print JSON.
import ArgumentParser
import BayesPruneData
import BayesPruneEvaluation
import BayesPruneRuntime
import Foundation

extension OODTransform: ExpressibleByArgument {}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a run directory's weights on its test set (JSON on stdout).")

    @Argument(help: "A run directory written by `bayesprune train`.") var directory: String
    @Option(help: "Override the data directory recorded in the run.") var dataDir: String?
    @Option(help: "BLAS threads.") var threads: Int?
    @Option(help: "Out-of-distribution data set to score against the run's test set.") var oodData: DataKind?
    @Option(help: "Directory of the out-of-distribution data.") var oodDataDir: String?
    @Option(help: "CSV file(s) of the out-of-distribution data.") var oodTrain: String?
    @Option(help: "CSV test file of the out-of-distribution data.") var oodTest: String?
    @Option(help: "Transform applied to the out-of-distribution images.") var oodTransform: OODTransform = .none
    @Option(help: "Calibration bins (default: the run's).") var bins: Int?

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
            let result = try RunEvaluation.evaluate(directory: directory, dataDir: dataDir, ood: ood, bins: bins)
            print(result)
        }
    }
}
