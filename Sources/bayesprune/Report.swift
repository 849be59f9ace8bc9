// `bayesprune report RUN`: one self-contained HTML page of a run directory (learning curves, reliability,
// τ, sparsity, connected inputs, out-of-distribution scores); see Sources/BayesPruneReport.
import ArgumentParser
import BayesPruneEvaluation
import BayesPruneReport
import BayesPruneRuntime
import Foundation

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an HTML report of a run directory (inline SVG charts, no scripts, nothing from the network).",
        discussion: "The run is scored again on its test set for the reliability diagrams; out-of-distribution "
            + "results saved by `evaluate --ood-data` are drawn too. An existing file is replaced only when it is a "
            + "report.")

    @Argument(help: "A run directory written by `bayesprune train`.") var directory: String
    @Option(help: "Where to write the page (default: RUN/report.html).") var out: String?
    @Option(help: "Override the data directory recorded in the run.") var dataDir: String?
    @Option(parsing: .unconditional, help: "BLAS threads.") var threads: Int?

    func run() throws {
        try reportingErrors {
            _ = configureThreads(requested: threads)
            let path = out ?? directory + "/report.html"
            let report = try RunReport.load(directory: directory, dataDir: dataDir)
            try report.write(to: path)
            FileHandle.standardError.write(Data("wrote \(path)\n".utf8))
        }
    }
}

/// After a successful `train`: the run's report.html, from the scores of the run's last evaluation when
/// given (else the run is scored again). A failure is one warning line, never the run's.
func writeReportAfterTraining(run directory: String, scores: RunScores?) {
    let path = directory + "/report.html"
    do {
        try RunReport.load(directory: directory, scores: scores).write(to: path)
        FileHandle.standardError.write(Data("report: \(path)\n".utf8))
    } catch {
        FileHandle.standardError.write(Data("bayesprune: warning: \(path): not written: \(userMessage(error))\n".utf8))
    }
}
