// `bayesprune train`: options (and an optional TOML config file) → TrainSettings → the library's
// TrainingSession. Validation, defaults and the MPI session all live in the library.
import ArgumentParser
import BayesPruneConfig
import BayesPruneDistributed
import BayesPruneKernels
import BayesPruneRunIO
import BayesPruneRuntime
import BayesPruneTraining
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model and write a run directory.",
        discussion: "Every option can also be given in a TOML file (--config) under its name without the "
            + "dashes, e.g. batch-size = 32; options on the command line override the file.")

    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "Model, sampler and schedule") var model: ModelOptions
    @OptionGroup(title: "Run") var runOptions: RunOptions
    @OptionGroup(title: "Pruning (EM-MCMC with the spike-and-slab prior)") var pruning: PruningOptions

    @Option(help: "TOML file with settings (keys: the long options without dashes); options given here override it.")
    var config: String?
    @Flag(help: "Print the resolved settings as TOML (a starting point for --config) and exit.")
    var printConfig = false
    @Option(
        help:
            "Continue the run in DIR from its newest valid checkpoint (settings given again must agree with the run's)."
    )
    var resume: String?
    @Flag(
        help:
            ArgumentHelp(
                "Replace the run already in --out (its config, metrics, weights, samples and checkpoints are removed "
                    + "first).")
    )
    var overwrite = false
    @Option(help: .hidden) var debugFault: String?

    /// The settings given on the command line.
    var commandLineSettings: TrainSettings {
        var given = TrainSettings()
        data.apply(to: &given)
        model.apply(to: &given)
        runOptions.apply(to: &given)
        pruning.apply(to: &given)
        return given
    }

    func run() throws {
        let given = commandLineSettings
        let file = try config.map(TrainSettings.load(configFile:))
        let settings = (file?.overridden(by: given) ?? given).applyingPreset()
        // A bad value is named where it was given: "--key: ..." or "FILE: key: ...".
        let fromFile = Set((file?.givenKeys ?? []).map(\.rawValue)).subtracting(given.givenKeys.map(\.rawValue))
        let describe = { (error: Error) -> String in
            guard let e = error as? SettingError, let config, fromFile.contains(e.key) else {
                return userMessage(error)
            }
            return "\(config): \(e.key): \(e.message)"
        }
        if printConfig {
            do {
                let (resolved, controls) = try settings.resolve()
                print(try TrainSettings(resolved: resolved, controls: controls).toml(), terminator: "")
            } catch { throw ValidationError(describe(error)) }
            return
        }
        let fault = try debugFault.map(Self.parseFault)
        var trainer: Trainer? = nil
        let status = TrainingSession.run(
            collectiveTimeout: settings.collectiveTimeout ?? RunControls().collectiveTimeout,
            blasCore: kernelReport.coreName,
            setup: { comm in
                let t = try makeTrainer(settings, comm, fault: fault)
                trainer = t
                return t
            },
            describe: describe)
        if status != 0 { throw ExitCode(status) }
        // The run is complete and on disk; its report is extra (rank 0 writes it, a failure only warns).
        if let trainer, trainer.communicator.isRoot {
            writeReportAfterTraining(run: trainer.config.out, scores: trainer.scoresAtTheEnd())
        }
    }

    /// Resolves the settings (or, with --resume, checks them against the run's), loads the data, builds
    /// the trainer and restores the checkpoint. Runs on every rank.
    func makeTrainer(
        _ settings: TrainSettings, _ comm: Communicator, fault: (Trainer.Fault, Int, Int)?
    ) throws
        -> Trainer
    {
        var (c, controls) = try settings.resolve()
        let stored = try resume.map { try RunManifest.load(directory: $0) }
        if let resume, let stored {
            guard !overwrite else {
                throw ValidationError("--overwrite: not with --resume (a resumed run keeps its files)")
            }
            c = try settings.resumed(stored: stored.config, run: resume)
            if c.lr != stored.config.lr && comm.isRoot {
                FileHandle.standardError.write(
                    Data("resuming with lr \(c.lr) instead of the run's \(stored.config.lr)\n".utf8))
            }
        } else if comm.isRoot {
            try refuseToMix(into: c.out)
        }
        // The run's own thread count unless given anew: BLAS results depend on it, and resume is bitwise.
        c.threads = configureThreads(requested: settings.threads ?? stored?.config.threads)
        if comm.size > 1 && c.batchSize % comm.size != 0 {
            throw SettingError(
                "batch-size", "the global batch \(c.batchSize) is not divisible by the \(comm.size) ranks")
        }
        let data = try PreparedData.load(c)
        let trainer = try Trainer(config: c, controls: controls, data: data, communicator: comm)
        trainer.fault = fault
        if !comm.isRoot { trainer.log = { _ in } }
        trainer.replacePreviousRun = overwrite
        if let resume { try restore(trainer, from: resume, runId: stored?.runId, comm) }
        let ranks = comm.size > 1 ? " per rank, \(comm.size) ranks" : ""
        trainer.log("\(kernelReport.summary); \(c.threads!) BLAS thread(s)\(ranks)")
        trainer.log(
            "training \(c.model.rawValue) (\(trainer.network.store.parameterCount) parameters) with "
                + "\(c.sampler.rawValue) on \(c.data == .csv ? (c.trainFile ?? "").split(separator: "/").last.map(String.init) ?? "" : c.data.rawValue): "
                + "\(data.train.count) train / \(data.test.count) test "
                + "examples, \(c.epochs) epochs, batch \(c.batchSize), lr \(c.lr) → \(c.out)")
        return trainer
    }

    /// A new run never goes into a directory holding another run's files (rank 0 checks: it writes them).
    func refuseToMix(into out: String) throws {
        let present = RunDirectory.runFilesPresent(out)
        guard !present.isEmpty, !overwrite else { return }
        throw ValidationError(
            "--out: \(out) already holds a run (\(present.joined(separator: ", "))); continue it with --resume \(out), "
                + "or replace it with --overwrite")
    }

    func restore(_ trainer: Trainer, from run: String, runId: String?, _ comm: Communicator) throws {
        let (checkpoint, path) = try ResumeSearch.newestValid(run: run, runId: runId) { message in
            if comm.isRoot { FileHandle.standardError.write(Data((message + "\n").utf8)) }
        }
        try trainer.restore(checkpoint, path: path)
        let h = checkpoint.header
        let epoch = h.epochsDone + (h.batchInEpoch > 0 ? 1 : 0)
        let ranks =
            h.worldSize != comm.size
            ? " (was \(h.worldSize) rank(s); equal up to summation order)" : ""
        trainer.log("resuming \(run) from \(path): epoch \(epoch), step \(h.samplerStep)\(ranks)")
        if h.batchInEpoch == 0 && h.epochsDone >= trainer.config.epochs {
            trainer.log(
                "the run is already complete (\(h.epochsDone) of \(trainer.config.epochs) epochs): nothing to train")
        }
    }

    /// KIND:RANK:STEP with KIND perturb|kill|stall|term|nan (used by the failure tests).
    static func parseFault(_ f: String) throws -> (Trainer.Fault, Int, Int) {
        let parts = f.split(separator: ":")
        guard parts.count == 3, let kind = Trainer.Fault(rawValue: String(parts[0])), let r = Int(parts[1]),
            let st = Int(parts[2])
        else {
            throw ValidationError("--debug-fault: expected perturb|kill|stall|term|nan|blowup:RANK:STEP, got \(f)")
        }
        return (kind, r, st)
    }
}
