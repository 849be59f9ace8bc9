// `bayesprune train`: options → TrainConfig → Trainer.
import ArgumentParser
import Foundation
import BayesPruneTraining
import BayesPruneRuntime
import BayesPruneKernels
import BayesPruneNN
import BayesPruneDistributed

struct DataOptions: ParsableArguments {
    @Option(help: "Data set: fashion-mnist, mnist, cifar10, cifar100 or csv.")
    var data: String = "fashion-mnist"
    @Option(help: "Directory with the data files (fashion-mnist defaults to Debian's dataset-fashion-mnist).")
    var dataDir: String?
    @Option(help: "CSV training file (with --data csv).")
    var train: String?
    @Option(help: "CSV test file (default: a seeded 20% of --train is held out).")
    var test: String?
    @Option(help: "CSV target column name (default: the last column).")
    var target: String?
    @Option(help: "CSV task: regression, binary or multiclass (default: inferred from the target column).")
    var task: String?
    @Option(help: "CIFAR-100 labels: fine (100 classes) or coarse (20).")
    var cifar100Labels: String = "fine"
    @Option(help: "Training augmentation (random crop with 4-pixel padding + horizontal flip): on or off (default: on for 3x32x32 images, off otherwise).")
    var augment: String?

    func check() throws {
        if let a = augment, a != "on", a != "off" { throw ValidationError("--augment: expected on or off, got \(a)") }
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a model and write a run directory.")

    @OptionGroup var dataOptions: DataOptions
    @Option(help: "Model: mlp, lenet, resnet20, resnet32 or resnet56.") var model: String = "lenet"
    @Option(help: "Hidden widths of mlp, comma-separated.") var hidden: String = "300,100"
    @Option(help: "Sampler: adavb (the paper's adaptive variational Bayes), sghmc, sgld or sgd.") var sampler: String = "sgd"
    @Option(help: "adavb: T (default 1/N). sghmc/sgld: sampling temperature Temp (default 1).") var temperature: Double?
    @Option(help: "adavb: β1, the momentum decay (default 0.1).") var beta1: Double = 0.1
    @Option(help: "adavb: β2, the gradient scale (default 1).") var beta2: Double = 1
    @Option(help: "adavb: η, the preconditioner's learning rate (default 0.1; 0 freezes τ).") var eta: Double = 0.1
    @Option(help: "Posterior samples per cycle: taken at the end of each of the cycle's last K epochs.") var samplesPerCycle: Int = 3
    @Option(help: "Equal-width confidence bins for ECE, MCE and the reliability diagram.") var calibrationBins: Int = 15
    @Option(help: "Epochs.") var epochs: Int = 5
    @Option(help: "Global minibatch size (default per model: see README).") var batchSize: Int?
    @Option(help: "Evaluation batch size.") var evalBatchSize: Int = 1000
    @Option(help: "Base learning rate (default per model: see README).") var lr: Double?
    @Option(help: "Momentum (default 0.9).") var momentum: Double?
    @Option(help: "Weight decay λ (default 5e-4).") var weightDecay: Double?
    @Option(help: "Step-size schedule: constant or cyclical (cosine; --cycles 1 is cosine annealing).") var schedule: String = "cyclical"
    @Option(help: "Cycles of the cyclical schedule.") var cycles: Int = 1
    @Option(help: "Random seed (initialisation, data order, augmentation).") var seed: UInt64 = 1
    @Option(help: "BLAS threads (default: the cores available to this process).") var threads: Int?
    @Option(help: "Run directory to write.") var out: String = "runs/latest"
    @Option(help: "Under MPI: check that every rank's weights agree every N steps (0: never).") var syncCheckEvery: Int = 100
    @Option(help: "Under MPI: abort the job when a collective does not complete within this many seconds.") var collectiveTimeout: Double = 300
    @Option(help: .hidden) var debugFault: String?
    @Option(help: "Continue the run in DIR from its newest valid checkpoint (options given again must agree with the run's).") var resume: String?
    @Option(help: "Write a checkpoint every N epochs (and always at the end; 0: only at the end).") var checkpointEvery: Int = 1
    @Option(help: "Keep the newest K checkpoints.") var keepCheckpoints: Int = 2
    @OptionGroup var pruning: PruningOptions

    /// Checked inside run() so a bad value gives one line ("bayesprune: --epochs: ..."), not usage text.
    func check() throws {
        try dataOptions.check()
        guard ModelKind(rawValue: model) != nil else {
            throw ValidationError("--model: unknown model \"\(model)\"; expected one of \(ModelKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard SamplerKind(rawValue: sampler) != nil else {
            throw ValidationError("--sampler: unknown sampler \"\(sampler)\"; expected one of \(SamplerKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard ScheduleKind(rawValue: schedule) != nil else {
            throw ValidationError("--schedule: expected constant or cyclical, got \"\(schedule)\"")
        }
        guard epochs >= 1 else { throw ValidationError("--epochs: must be at least 1, got \(epochs)") }
        if let b = batchSize, b < 1 { throw ValidationError("--batch-size: must be at least 1, got \(b)") }
        guard evalBatchSize >= 1 else { throw ValidationError("--eval-batch-size: must be at least 1") }
        guard cycles >= 1 else { throw ValidationError("--cycles: must be at least 1, got \(cycles)") }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr: must be a positive number, got \(lr)") }
        if let m = momentum, !(m >= 0 && m < 1) { throw ValidationError("--momentum: must be in [0, 1), got \(m)") }
        if let w = weightDecay, !(w >= 0 && w.isFinite) { throw ValidationError("--weight-decay: must be >= 0, got \(w)") }
        if let t = threads, t < 1 { throw ValidationError("--threads: must be at least 1, got \(t)") }
        guard checkpointEvery >= 0 else { throw ValidationError("--checkpoint-every: must be >= 0, got \(checkpointEvery)") }
        guard keepCheckpoints >= 1 else { throw ValidationError("--keep-checkpoints: must be at least 1, got \(keepCheckpoints)") }
        guard syncCheckEvery >= 0 else { throw ValidationError("--sync-check-every: must be >= 0, got \(syncCheckEvery)") }
        guard collectiveTimeout > 0 else { throw ValidationError("--collective-timeout: must be positive, got \(collectiveTimeout)") }
        if let t = temperature, !(t >= 0 && t.isFinite) { throw ValidationError("--temperature: must be >= 0, got \(t)") }
        guard beta1 >= 0 && beta1 < 1 else { throw ValidationError("--beta1: must be in [0, 1), got \(beta1)") }
        guard beta2 > 0 && beta2.isFinite else { throw ValidationError("--beta2: must be positive, got \(beta2)") }
        guard eta >= 0 && eta.isFinite else { throw ValidationError("--eta: must be >= 0, got \(eta)") }
        guard samplesPerCycle >= 0 else { throw ValidationError("--samples-per-cycle: must be >= 0, got \(samplesPerCycle)") }
        guard calibrationBins >= 1 else { throw ValidationError("--calibration-bins: must be at least 1, got \(calibrationBins)") }
        _ = try parseHidden()
    }

    func parseHidden() throws -> [Int] {
        let parts = hidden.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ValidationError("--hidden: expected positive comma-separated widths like 300,100, got \(hidden)")
        }
        return parts.map { $0! }
    }

    func run() throws {
        let comm: Communicator
        do {
            comm = MPICommunicator.launchedUnderMPI ? try MPICommunicator(timeoutSeconds: collectiveTimeout) : SingleProcess()
        } catch {
            try reportingErrors { throw error }
            return
        }
        // Setup: every rank validates its options and loads its data; the ranks then agree on the outcome,
        // so a bad path or option stops all of them with the message shown once.
        var trainer: Trainer? = nil
        var setupError: Error? = nil
        do { trainer = try makeTrainer(comm) } catch { setupError = error }
        if comm.size > 1 {
            let failed = try comm.allgather(setupError == nil ? 0 : 1, what: "setup")
            if let first = failed.firstIndex(of: 1) {
                if first == comm.rank { report(setupError!, rank: comm.rank, ranks: comm.size) }
                (comm as? MPICommunicator)?.finalize()
                throw ExitCode(2)
            }
        } else if let setupError {
            report(setupError, rank: 0, ranks: 1)
            throw ExitCode(2)
        }
        let t = trainer!
        StopSignal.install()
        do {
            try t.run(blasCore: kernelReport.coreName)
        } catch let stop as StopSignal.Stopped {
            if comm.isRoot { report(stop, rank: 0, ranks: 1) }
            (comm as? MPICommunicator)?.finalize()
            throw ExitCode(stop.exitStatus)
        } catch {
            // Collective errors (divergence, replica mismatch) happen on every rank at once: rank 0 reports.
            // Anything else may be local to one rank: it reports and takes the job down.
            let collective = (error as? TrainingError)?.collective ?? false
            if comm.size == 1 { report(error, rank: 0, ranks: 1); throw ExitCode(2) }
            if comm.isRoot || !collective { report(error, rank: comm.rank, ranks: comm.size) }
            if collective { (comm as? MPICommunicator)?.finalize(); throw ExitCode(2) }
            comm.abort(code: 2)
        }
        (comm as? MPICommunicator)?.finalize()
    }

    /// The run's recorded configuration; every option given again on the command line must agree with it.
    func resumedConfig(given: TrainConfig, run: String) throws -> TrainConfig {
        let stored = try RunManifest.load(directory: run).config
        let enc = JSONEncoder()
        let a = try JSONSerialization.jsonObject(with: enc.encode(given)) as! [String: Any]
        let b = try JSONSerialization.jsonObject(with: enc.encode(stored)) as! [String: Any]
        // Options that do not change the numbers may differ; --out must name the run itself.
        let free: Set<String> = ["resume", "threads", "out", "sync-check-every", "collective-timeout", "checkpoint-every",
                                 "keep-checkpoints", "eval-batch-size", "debug-fault"]
        let renamed = ["train": "trainFile", "test": "testFile", "lambda1": "weightDecay"]
        let pruningFlags: Set<String> = ["prune", "warm-up", "lambda0", "e-step", "soft-threshold", "hard-threshold",
                                         "theta-prior", "prune-kernels", "prune-first-layer", "prune-last-layer"]
        for arg in CommandLine.arguments where arg.hasPrefix("--") {
            let flag = String(arg.dropFirst(2).split(separator: "=").first ?? "")
            if free.contains(flag) {
                if flag == "out", let o = arg.split(separator: "=").dropFirst().first.map(String.init) ?? outValue(), o != run {
                    throw ValidationError("--out: a resumed run writes to its own directory \(run), not \(o)")
                }
                continue
            }
            let key = pruningFlags.contains(flag) ? "pruning" : renamed[flag] ?? flag.split(separator: "-").enumerated()
                .map { $0.offset == 0 ? String($0.element) : $0.element.prefix(1).uppercased() + $0.element.dropFirst() }.joined()
            let x = a[key].map { "\($0)" } ?? "nil", y = b[key].map { "\($0)" } ?? "nil"
            if x != y { throw ValidationError("--\(flag): differs from the run being resumed (\(y)); options given with --resume must agree") }
        }
        var c = stored
        c.out = run
        return c
    }

    func outValue() -> String? {
        let args = CommandLine.arguments
        guard let i = args.firstIndex(of: "--out"), i + 1 < args.count else { return nil }
        return args[i + 1]
    }

    func report(_ error: Error, rank: Int, ranks: Int) {
        let message = (error as? ValidationError)?.message ?? "\(error)"
        let prefix = ranks > 1 && rank != 0 ? "rank \(rank): " : ""
        FileHandle.standardError.write(Data("bayesprune: \(prefix)\(message)\n".utf8))
    }

    func makeTrainer(_ comm: Communicator) throws -> Trainer {
        try check()
        var c = TrainConfig()
        c.data = dataOptions.data; c.dataDir = dataOptions.dataDir; c.trainFile = dataOptions.train
        c.testFile = dataOptions.test; c.target = dataOptions.target; c.task = dataOptions.task
        c.cifar100Labels = dataOptions.cifar100Labels
        c.augment = dataOptions.augment.map { $0 == "on" }
        c.model = model; c.hidden = try parseHidden(); c.sampler = sampler
        let d = TrainConfig.defaults(model: model, sampler: sampler)
        c.epochs = epochs; c.batchSize = batchSize ?? d.batchSize; c.evalBatchSize = evalBatchSize
        c.lr = lr ?? d.lr; c.momentum = momentum ?? d.momentum; c.weightDecay = weightDecay ?? pruning.lambda1 ?? d.weightDecay
        if let l1 = pruning.lambda1, let wd = weightDecay, l1 != wd {
            throw ValidationError("--lambda1 and --weight-decay are the same setting; given \(l1) and \(wd)")
        }
        c.schedule = schedule; c.cycles = cycles; c.seed = seed; c.out = out
        c.temperature = temperature; c.beta1 = beta1; c.beta2 = beta2; c.eta = eta
        c.samplesPerCycle = samplesPerCycle; c.calibrationBins = calibrationBins
        c.pruning = try pruning.resolve(model: model)
        if let resume {
            c = try resumedConfig(given: c, run: resume)
        }
        c.threads = configureThreads(requested: threads)
        if comm.size > 1 && c.batchSize % comm.size != 0 {
            throw ValidationError("--batch-size: the global batch \(c.batchSize) is not divisible by the \(comm.size) ranks")
        }
        let data = try PreparedData.load(c)
        let trainer = try Trainer(config: c, data: data, communicator: comm)
        trainer.syncCheckEvery = syncCheckEvery
        trainer.checkpointEvery = checkpointEvery
        trainer.keepCheckpoints = keepCheckpoints
        if let resume {
            let (checkpoint, path) = try ResumeSearch.newestValid(run: resume) { message in
                if comm.isRoot { FileHandle.standardError.write(Data((message + "\n").utf8)) }
            }
            try trainer.restore(checkpoint, path: path)
            let h = checkpoint.header
            if comm.isRoot {
                FileHandle.standardError.write(Data("resuming \(resume) from \(path): epoch \(h.epochsDone + (h.batchInEpoch > 0 ? 1 : 0)), step \(h.samplerStep)\(h.worldSize != comm.size ? " (was \(h.worldSize) rank(s); equal up to summation order)" : "")\n".utf8))
            }
        }
        if let f = debugFault {
            // KIND:RANK:STEP with KIND perturb|kill|stall|term|nan (used by the failure tests).
            let parts = f.split(separator: ":")
            guard parts.count == 3, let kind = Trainer.Fault(rawValue: String(parts[0])), let r = Int(parts[1]), let st = Int(parts[2]) else {
                throw ValidationError("--debug-fault: expected perturb|kill|stall|term|nan:RANK:STEP, got \(f)")
            }
            trainer.fault = (kind, r, st)
        }
        if !comm.isRoot { trainer.log = { _ in } }
        trainer.log("\(kernelReport.summary); \(c.threads!) BLAS thread(s)\(comm.size > 1 ? " per rank, \(comm.size) ranks" : "")")
        trainer.log("training \(c.model) (\(trainer.network.store.parameterCount) parameters) with \(c.sampler) on \(data.train.name): \(data.train.count) train / \(data.test.count) test examples, \(c.epochs) epochs, batch \(c.batchSize), lr \(c.lr) → \(c.out)")
        return trainer
    }
}

struct PruningOptions: ParsableArguments {
    @Flag(help: "Turn on EM-MCMC spike-and-slab pruning.") var prune = false
    @Option(help: "Epochs before the first E-step (nothing changes until then).") var warmUp: Int = 1
    @Option(help: "λ1, the slab's weight decay (the same setting as --weight-decay).") var lambda1: Double?
    @Option(help: "λ0, the spike's weight decay: one value, or CONV,FC for convolution kernels and fully connected units (default 1e-3,1e-1), then optional LAYER=X overrides (e.g. 1e-3,1e-1,fc2=5e-2).") var lambda0: String?
    @Option(help: "E-step: threshold (fixed mean-square --soft-threshold) or bayes (threshold t* from λ0, λ1, θ, N with θ's M-step).") var eStep: String = "threshold"
    @Option(help: "Mean-square threshold of the threshold E-step: one value or CONV,FC (default 1e-4,1e-2), then optional LAYER=X overrides.") var softThreshold: String?
    @Option(help: "Hard threshold for permanent removal (range for conv channels/filters/kernels, mean square for fc units): one value or CONV,FC (default 1e-2,1e-3), then optional LAYER=X overrides.") var hardThreshold: String?
    @Option(help: "Beta(a, b) prior on θ for the bayes E-step, as A,B.") var thetaPrior: String = "1,1"
    @Flag(help: "Also remove single k×k kernels in the spike whose range is below the hard threshold.") var pruneKernels = false
    @Option(help: "Whether the first weight layer is prunable: on or off (default: on for mlp, off otherwise).") var pruneFirstLayer: String?
    @Option(help: "Whether the last weight layer is prunable: on or off (default: on for mlp, off otherwise).") var pruneLastLayer: String?

    func onOff(_ v: String?, _ name: String) throws -> Bool? {
        guard let v else { return nil }
        guard v == "on" || v == "off" else { throw ValidationError("\(name): expected on or off, got \(v)") }
        return v == "on"
    }

    /// "X" → (X, X); "X,Y" → (X, Y) for (convolution, fully connected); then any LAYER=X entries, which
    /// override the family value for that layer.
    func perFamily(_ text: String?, _ name: String, positive: Bool) throws -> (family: (Double, Double)?, layers: [String: Double]?) {
        guard let text else { return (nil, nil) }
        let kind = positive ? "positive" : "non-negative"
        func number(_ s: Substring) throws -> Double {
            guard let v = Double(s.trimmingCharacters(in: .whitespaces)), v.isFinite, positive ? v > 0 : v >= 0 else {
                throw ValidationError("\(name): expected \(kind) numbers as X, CONV,FC and/or LAYER=X entries, got \(text)")
            }
            return v
        }
        var plain: [Double] = [], layers: [String: Double] = [:]
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            if let eq = item.firstIndex(of: "=") {
                let layer = item[..<eq].trimmingCharacters(in: .whitespaces)
                guard !layer.isEmpty, layers[layer] == nil else {
                    throw ValidationError("\(name): empty or repeated layer name in \(text)")
                }
                layers[layer] = try number(item[item.index(after: eq)...])
            } else {
                guard layers.isEmpty else { throw ValidationError("\(name): family values (X or CONV,FC) must come before LAYER=X entries, got \(text)") }
                plain.append(try number(item))
            }
        }
        guard plain.count <= 2 else { throw ValidationError("\(name): expected one value or CONV,FC before any LAYER=X entries, got \(text)") }
        return (plain.isEmpty ? nil : (plain[0], plain.count == 2 ? plain[1] : plain[0]), layers.isEmpty ? nil : layers)
    }

    func resolve(model: String) throws -> PruningConfig {
        var c = PruningConfig.defaults(model: model)
        c.enabled = prune
        guard warmUp >= 0 else { throw ValidationError("--warm-up: must be >= 0, got \(warmUp)") }
        c.warmUp = warmUp
        guard let mode = EStepMode(rawValue: eStep) else { throw ValidationError("--e-step: expected threshold or bayes, got \(eStep)") }
        c.eStep = mode
        let l0 = try perFamily(lambda0, "--lambda0", positive: true)
        if let v = l0.family { (c.lambda0, c.fcLambda0) = v }
        c.layerLambda0 = l0.layers
        let soft = try perFamily(softThreshold, "--soft-threshold", positive: false)
        if let v = soft.family { (c.softThreshold, c.fcSoftThreshold) = v }
        c.layerSoftThreshold = soft.layers
        let hard = try perFamily(hardThreshold, "--hard-threshold", positive: false)
        if let v = hard.family { (c.hardThreshold, c.fcHardThreshold) = v }
        c.layerHardThreshold = hard.layers
        let ab = thetaPrior.split(separator: ",").compactMap { Double($0) }
        guard ab.count == 2, ab.allSatisfy({ $0 > 0 }) else { throw ValidationError("--theta-prior: expected A,B with A, B > 0, got \(thetaPrior)") }
        c.thetaPrior = ab
        c.pruneKernels = pruneKernels
        if let v = try onOff(pruneFirstLayer, "--prune-first-layer") { c.pruneFirstLayer = v }
        if let v = try onOff(pruneLastLayer, "--prune-last-layer") { c.pruneLastLayer = v }
        return c
    }
}
