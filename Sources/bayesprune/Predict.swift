// `bayesprune predict RUN`: per-example predictions with the model average's uncertainty, as CSV or JSON
// lines (see Sources/BayesPruneEvaluation/Prediction.swift for the quantities).
import ArgumentParser
import BayesPruneData
import BayesPruneEvaluation
import BayesPruneRunIO
import BayesPruneRuntime
import Foundation

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict every example of a run's test split, or of a CSV file, with its uncertainty.",
        discussion: """
            Classification: predicted class, BMA probabilities p0.., predictive entropy (total), expected \
            entropy (aleatoric) and mutual information (epistemic = total − aleatoric). Regression: mean, total \
            and epistemic standard deviation, in the target's units. Members: the run's posterior samples, or \
            its final weights when it has none. Works on compact exports.
            """)

    @Argument(help: "A run directory (or a compact export) written by bayesprune.") var directory: String
    @Option(help: "Another image data set of the model's input shape (default: the run's).") var data: DataKind?
    @Option(help: "Override the data directory recorded in the run (its test split is predicted).")
    var dataDir: String?
    @Option(help: "A CSV file to predict (runs on tables): the run's feature columns, by name.") var input: String?
    @Option(help: "Write here (atomically) instead of standard output: .csv or .jsonl.") var out: String?
    @Option(help: "csv or jsonl (default: from --out's extension, else csv).") var format: String?
    @Option(parsing: .unconditional, help: "BLAS threads.") var threads: Int?

    func run() throws {
        try reportingErrors {
            if input != nil && (dataDir != nil || data != nil) {
                throw ValidationError("--input: give --input or --data/--data-dir, not both")
            }
            let chosen = format ?? (out?.hasSuffix(".jsonl") == true ? "jsonl" : "csv")
            guard chosen == "csv" || chosen == "jsonl" else {
                throw ValidationError("--format: expected csv or jsonl, got \(chosen)")
            }
            if let out, FileManager.default.fileExists(atPath: out) {
                throw ValidationError("--out: \(out) already exists; give a new file")
            }
            _ = configureThreads(requested: threads)
            let table = try RunPrediction.predict(directory: directory, data: data, dataDir: dataDir, input: input)
            let text = chosen == "csv" ? table.csv() : table.jsonLines()
            if let out { try AtomicFile.write(text, to: out) } else { FileHandle.standardOutput.write(Data(text.utf8)) }
            FileHandle.standardError.write(
                Data("predicted \(table.rows.count) examples with \(table.members) member(s)\n".utf8))
        }
    }
}
