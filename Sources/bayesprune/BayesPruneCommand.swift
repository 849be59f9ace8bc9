// The command-line surface: thin commands that validate options and call into the library.
// Errors from the library are printed as one line ("bayesprune: <what>") with exit status 2.
import ArgumentParser
import Foundation
import BayesPruneTraining
import BayesPruneRuntime

struct BayesPruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bayesprune",
        abstract: "Train Bayesian neural networks and prune them in the same run.",
        subcommands: [Train.self, Evaluate.self, Export.self, Bench.self, MakeData.self, BLASCore.self]
    )
}

/// Prints the OpenBLAS kernel this process selected, so launchers can pass it to every rank.
struct BLASCore: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "blas-core", abstract: "Print the OpenBLAS kernel selected for this CPU.")
    func run() { print(kernelReport.coreName) }
}

/// Runs `body`, turning library errors into a one-line message and a non-zero exit.
func reportingErrors(_ body: () throws -> Void) throws {
    do { try body() }
    catch let e as ExitCode { throw e }
    catch {
        let message = (error as? ValidationError)?.message ?? "\(error)"
        FileHandle.standardError.write(Data("bayesprune: \(message)\n".utf8))
        throw ExitCode(2)
    }
}
