// `bayesprune evaluate DIR`: reload a run's configuration and weights, score the test set, print JSON.
import ArgumentParser
import Foundation
import BayesPruneTraining
import BayesPruneRuntime

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Evaluate a run directory's weights on its test set (JSON on stdout).")

    @Argument(help: "A run directory written by `bayesprune train`.") var directory: String
    @Option(help: "Override the data directory recorded in the run.") var dataDir: String?
    @Option(help: "BLAS threads.") var threads: Int?

    func run() throws {
        try reportingErrors {
            _ = configureThreads(requested: threads)
            let result = try RunEvaluation.evaluate(directory: directory, dataDir: dataDir)
            print(result)
        }
    }
}
