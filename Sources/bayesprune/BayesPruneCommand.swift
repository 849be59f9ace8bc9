// The command-line surface: thin commands that parse options and call into the library. Every error
// reaches the user as one line ("bayesprune: <what>") with exit status 2; library errors about a setting
// name it by its flag here.
import ArgumentParser
import BayesPruneConfig
import BayesPruneData
import BayesPruneDistributed
import BayesPruneKernels
import BayesPruneNN
import BayesPruneRunIO
import BayesPruneRuntime
import BayesPruneTraining
import Foundation

struct BayesPruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bayesprune",
        abstract: "Train Bayesian neural networks and prune them in the same run.",
        subcommands: [
            Train.self, Evaluate.self, Predict.self, Report.self, Export.self, Bench.self, MakeData.self, BLASCore.self,
        ]
    )

    /// Parses and runs; help and version print as usual, anything else is one line and exit status 2.
    static func runOneLine() -> Never {
        do {
            var command = try parseAsRoot()
            try command.run()
            Foundation.exit(0)
        } catch let e as ExitCode {
            Foundation.exit(e.rawValue)
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }  // --help, --version
            let message =
                error is ValidationError || error is SettingError || error is ConfigFileError
                ? userMessage(error) : message(for: error)
            let line = message.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }.joined(separator: " ")
            // Under mpirun every rank parses the same command: the ranks agree and one of them reports.
            Foundation.exit(TrainingSession.reportFailureBeforeSetup(line))
        }
    }
}

/// Prints the OpenBLAS kernel this process selected, so launchers can pass it to every rank.
struct BLASCore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blas-core",
        abstract: "Print the OpenBLAS kernel selected for this CPU.")
    func run() { print(kernelReport.coreName) }
}

/// The one-line message for a library or option error: a setting's key becomes its flag.
func userMessage(_ error: Error) -> String {
    switch error {
    case let e as SettingError: return "--\(e.key): \(e.message)"
    case let e as ValidationError: return e.message
    case let e as DivergenceError:
        let lr = String(format: "%g", e.suggestedLR)
        guard let h = e.lastCheckpoint else {
            return "\(e); no checkpoint was written before it; start again with a smaller step size, e.g. the "
                + "same command with --lr \(lr) --overwrite"
        }
        let epoch = h.epochsDone + (h.batchInEpoch > 0 ? 1 : 0)
        return "\(e); the run's checkpoints are all from before it (newest: epoch \(epoch), step \(h.samplerStep)); "
            + "continue from there with a smaller step size: bayesprune train --resume \(e.run) --lr \(lr)"
    case is OutputError, is DataError, is CheckpointError, is TrainingError, is ModelError, is ConfigFileError,
        is StopSignal.Stopped, is DistributedError:
        return "\(error)"
    default:
        // Not one of ours: never show a framework's own text.
        return "unexpected error (\(type(of: error))); please report it with the command that caused it"
    }
}

/// Runs `body`, turning library errors into a one-line message and a non-zero exit.
func reportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ExitCode { throw e } catch {
        FileHandle.standardError.write(Data("bayesprune: \(userMessage(error))\n".utf8))
        throw ExitCode(2)
    }
}
