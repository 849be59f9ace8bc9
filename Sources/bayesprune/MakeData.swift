// `bayesprune make-data variable-selection --out FILE`: writes the synthetic variable-selection CSV.
import ArgumentParser
import BayesPruneData
import BayesPruneRunIO
import Foundation

struct MakeData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-data",
        abstract:
            "Write a synthetic data set: variable-selection (correlated Gaussian inputs, x1..x5 drive y nonlinearly; "
            + "y = 2·tanh(x1) + x2·x3 + sin(2·x4) + ½·x5² + noise)."
    )

    @Argument(help: "The data set to generate: variable-selection.") var kind: String
    @Option(help: "Output CSV file.") var out: String
    @Option(help: "Rows.") var rows: Int = 12_800
    @Option(help: "Input columns (the first 5 are relevant).") var inputs: Int = 200
    @Option(help: "AR(1) correlation between neighbouring inputs.") var correlation: Double = 0.5
    @Option(help: "Standard deviation of the Gaussian noise.") var noise: Double = 0.5
    @Option(help: "Random seed.") var seed: UInt64 = 1

    func run() throws {
        try reportingErrors {
            guard kind == "variable-selection" else {
                throw ValidationError("make-data: unknown data set \(kind); expected variable-selection")
            }
            guard rows >= 1 else { throw ValidationError("--rows: must be at least 1") }
            guard inputs >= 5 else { throw ValidationError("--inputs: must be at least 5") }
            guard abs(correlation) < 1 else { throw ValidationError("--correlation: must be in (-1, 1)") }
            guard noise >= 0 else { throw ValidationError("--noise: must be >= 0") }
            var s = VariableSelectionSpec()
            s.rows = rows
            s.inputs = inputs
            s.correlation = correlation
            s.noise = noise
            s.seed = seed
            try AtomicFile.write(SyntheticData.variableSelectionCSV(s), to: out)
        }
    }
}
