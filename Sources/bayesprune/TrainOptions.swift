// `train`'s options, grouped as the help shows them. Every option is optional (nil: not given, so a
// config file or the default decides); values are parsed into their types here and validated once,
// by TrainSettings.resolve().
import ArgumentParser
import BayesPruneConfig
import BayesPruneData
import BayesPruneKernels
import BayesPruneNN
import BayesPruneSampling
import BayesPruneSparsity

extension DataKind: ExpressibleByArgument {}
extension TaskKind: ExpressibleByArgument {}
extension CIFAR100LabelKind: ExpressibleByArgument {}
extension ModelKind: ExpressibleByArgument {}
extension SamplerKind: ExpressibleByArgument {}
extension ScheduleKind: ExpressibleByArgument {}
extension EStepMode: ExpressibleByArgument {}
extension ConvGroups: ExpressibleByArgument {}
extension Preset: ExpressibleByArgument {}
extension OnOff: ExpressibleByArgument {}
extension InitScheme: ExpressibleByArgument {}
extension TargetScalingMode: ExpressibleByArgument {}

/// Parses a compound value with the library's parser; its message becomes ArgumentParser's.
func parsed<T>(_ parse: @escaping (String) throws -> T) -> (String) throws -> T {
    { text in
        do { return try parse(text) } catch let e as SettingError { throw ValidationError(e.message) }
    }
}

struct DataOptions: ParsableArguments {
    @Option(help: "Data set (default fashion-mnist).") var data: DataKind?
    @Option(help: "Directory with the data files (fashion-mnist defaults to Debian's dataset-fashion-mnist).")
    var dataDir: String?
    @Option(help: "CSV training file (with --data csv).") var train: String?
    @Option(help: "CSV test file (default: a seeded 20% of --train is held out).") var test: String?
    @Option(help: "CSV target column name (default: the last column).") var target: String?
    @Option(help: "CSV task (default: inferred from the target column).") var task: TaskKind?
    @Option(help: "CIFAR-100 labels: fine (100 classes) or coarse (20).") var cifar100Labels: CIFAR100LabelKind?
    @Option(
        help: "Image-folder data: side of the square network input (default 224; evaluation resizes to 256/224 of it).")
    var imageSize: Int?
    @Option(help: "Image-folder data: decoder threads per process (default: as many as BLAS threads).")
    var decodeThreads: Int?
    @Option(
        help:
            ArgumentHelp(
                "Training augmentation (random crop with 4-pixel padding + horizontal flip) (default: on for 3x32x32 "
                    + "images, off otherwise).")
    )
    var augment: OnOff?
    @Option(
        help:
            ArgumentHelp(
                "Regression targets: standardize (training mean and sd; results in the target's units) or none (the "
                    + "authors' setting) (default standardize)."))
    var targetScaling: TargetScalingMode?

    func apply(to s: inout TrainSettings) {
        s.targetScaling = targetScaling
        s.data = data
        s.dataDir = dataDir
        s.train = train
        s.test = test
        s.target = target
        s.task = task
        s.cifar100Labels = cifar100Labels
        s.imageSize = imageSize
        s.decodeThreads = decodeThreads
        s.augment = augment
    }
}

struct ModelOptions: ParsableArguments {
    @Option(help: "Model (default lenet).") var model: ModelKind?
    @Option(help: "Hidden widths of mlp, comma-separated (default 300,100).", transform: parsed(Widths.init(parsing:)))
    var hidden: Widths?
    @Option(
        parsing: .unconditional,
        help: "WideResNets: dropout probability between each block's convolutions (default 0: none).")
    var dropout: Double?
    @Option(
        name: .customLong("init"),
        help:
            ArgumentHelp(
                "Initialisation: pytorch (weights and biases uniform in ±1/√fan_in, PyTorch's default) or he-normal "
                    + "(default: pytorch for mlp, he-normal otherwise)."))
    var initialization: InitScheme?
    @Option(
        parsing: .unconditional,
        help:
            ArgumentHelp(
                "Regression: σ² of the Gaussian likelihood, loss (y − t)²/(2σ²) (default 1; PyTorch's MSELoss, which "
                    + "the authors use, is 0.5)."))
    var noiseVariance: Double?
    @Option(help: "Sampler: adavb (the paper's adaptive variational Bayes; the default), sghmc, sgld or sgd.")
    var sampler: SamplerKind?
    @Option(parsing: .unconditional, help: "adavb: T (default 1/N). sghmc/sgld: sampling temperature Temp (default 1).")
    var temperature: Double?
    @Option(parsing: .unconditional, help: "adavb: β1, the momentum decay (default 0.9 on images, 0.1 on tables).")
    var beta1: Double?
    @Option(parsing: .unconditional, help: "adavb: β2, the gradient scale (default 1).") var beta2: Double?
    @Option(parsing: .unconditional, help: "adavb: η, the preconditioner's learning rate (default 0.1; 0 freezes τ).")
    var eta: Double?
    @Option(
        parsing: .unconditional,
        help: "Posterior samples per cycle, spread evenly over the cycle's sampling stage (default 6).")
    var samplesPerCycle: Int?
    @Option(
        parsing: .unconditional,
        help: "Sampling stage: the last fraction (0, 1] of every cycle in which samples are taken (default 0.25).")
    var samplingStage: Double?
    @Option(
        parsing: .unconditional,
        help: "Equal-width confidence bins for ECE, MCE and the reliability diagram (default 15).")
    var calibrationBins: Int?
    @Option(parsing: .unconditional, help: "Epochs (default 5).") var epochs: Int?
    @Option(parsing: .unconditional, help: "Global minibatch size (default per model: see README).") var batchSize: Int?
    @Option(parsing: .unconditional, help: "Evaluation batch size (default: the training batch, at least 128).")
    var evalBatchSize: Int?
    @Option(parsing: .unconditional, help: "Base learning rate (default per model: see README).") var lr: Double?
    @Option(parsing: .unconditional, help: "Momentum (default 0.9).") var momentum: Double?
    @Option(
        parsing: .unconditional,
        help: "Weight decay λ (default 5e-4; adavb with mlp/lenet on images 1e-3, unless thresholds prune).")
    var weightDecay: Double?
    @Option(
        help: "Step-size schedule: constant or cyclical (cosine; --cycles 1 is cosine annealing; default cyclical).")
    var schedule: ScheduleKind?
    @Option(parsing: .unconditional, help: "Cycles of the cyclical schedule (default 1).") var cycles: Int?
    @Option(parsing: .unconditional, help: "Random seed: initialisation, data order, augmentation (default 1).")
    var seed: UInt64?

    func apply(to s: inout TrainSettings) {
        s.model = model
        s.hidden = hidden
        s.dropout = dropout
        s.initialization = initialization
        s.noiseVariance = noiseVariance
        s.sampler = sampler
        s.temperature = temperature
        s.beta1 = beta1
        s.beta2 = beta2
        s.eta = eta
        s.samplesPerCycle = samplesPerCycle
        s.samplingStage = samplingStage
        s.calibrationBins = calibrationBins
        s.epochs = epochs
        s.batchSize = batchSize
        s.evalBatchSize = evalBatchSize
        s.lr = lr
        s.momentum = momentum
        s.weightDecay = weightDecay
        s.schedule = schedule
        s.cycles = cycles
        s.seed = seed
    }
}

struct RunOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "BLAS threads (default: the cores available to this process).") var threads:
        Int?
    @Option(help: "Run directory to write (default runs/latest).") var out: String?
    @Option(
        parsing: .unconditional,
        help: "Under MPI: check that every rank's weights agree every N steps (0: never; default 100).")
    var syncCheckEvery: Int?
    @Option(
        parsing: .unconditional,
        help: "Under MPI: abort the job when a collective does not complete within this many seconds (default 300).")
    var collectiveTimeout: Double?
    @Option(
        parsing: .unconditional,
        help: "Write a checkpoint every N epochs (and always at the end; 0: by time only; default 0).")
    var checkpointEvery: Int?
    @Option(
        parsing: .unconditional,
        help:
            ArgumentHelp(
                "Write a checkpoint at the first epoch end at least this many minutes after the last one (0: by epoch "
                    + "count only; default 5). A stop signal (SIGTERM, SIGINT, SIGUSR1) always writes one at once."))
    var checkpointMinutes: Double?
    @Option(parsing: .unconditional, help: "Keep the newest K checkpoints (default 2).") var keepCheckpoints: Int?
    @Option(
        parsing: .unconditional,
        help: "Under MPI: sum the gradient over ranks in buckets of this many MB (default 0.25).")
    var allreduceBucketMb: Double?
    @Option(
        help: "Under MPI: start each bucket's sum while backward still runs (on) or after it (off) (default on).")
    var allreduceOverlap: OnOff?

    func apply(to s: inout TrainSettings) {
        s.threads = threads
        s.out = out
        s.syncCheckEvery = syncCheckEvery
        s.collectiveTimeout = collectiveTimeout
        s.checkpointEvery = checkpointEvery
        s.keepCheckpoints = keepCheckpoints
        s.checkpointMinutes = checkpointMinutes
        s.allreduceBucketMb = allreduceBucketMb
        s.allreduceOverlap = allreduceOverlap
    }
}

struct PruningOptions: ParsableArguments {
    @Flag(inversion: .prefixedNo, help: "Turn on EM-MCMC spike-and-slab pruning (default off).") var prune: Bool?
    @Option(parsing: .unconditional, help: "Epochs before the first E-step (nothing changes until then; default 1).")
    var warmUp: Int?
    @Option(
        parsing: .unconditional, help: "λ1, the slab's weight decay (the same setting as --weight-decay; default 5e-4)."
    )
    var lambda1: Double?
    @Option(
        help:
            ArgumentHelp(
                "λ0, the spike's weight decay: one value, or CONV,FC for convolution kernels and fully connected units "
                    + "(default 1e-3,3e-1; ResNets 5,3e-1), then optional LAYER=X overrides (e.g. 1e-3,3e-1,fc2=5e-2)."),
        transform: parsed { try PerFamily(parsing: $0, key: "lambda0", positive: true) })
    var lambda0: PerFamily?
    @Option(
        parsing: .unconditional,
        help:
            ArgumentHelp(
                "The steps per epoch λ0 is calibrated for: the spike's decay per step is λ0·S/(steps per epoch), the "
                    + "same pull between E-steps at any batch or data size (default 10; 0: λ0 per step).")
    )
    var lambda0Steps: Int?
    @Option(
        help:
            ArgumentHelp(
                "E-step: threshold (fixed mean-square --soft-threshold) or bayes (threshold t* from λ0, λ1, θ, N with "
                    + "θ's M-step; default threshold).")
    )
    var eStep: EStepMode?
    @Option(
        help:
            ArgumentHelp(
                "Mean-square threshold of the threshold E-step: one value or CONV,FC (default 1e-4,1e-2; ResNets 3e-3,1e-2), then "
                    + "optional LAYER=X overrides."),
        transform: parsed { try PerFamily(parsing: $0, key: "soft-threshold", positive: false) })
    var softThreshold: PerFamily?
    @Option(
        help:
            ArgumentHelp(
                "Hard threshold for permanent removal (range for conv channels/filters/kernels, mean square for fc "
                    + "units): one value or CONV,FC (default 1e-2,1e-3), then optional LAYER=X overrides."),
        transform: parsed { try PerFamily(parsing: $0, key: "hard-threshold", positive: false) })
    var hardThreshold: PerFamily?
    @Option(
        help: "Beta(a, b) prior on θ for the bayes E-step, as A,B (default 1,1).",
        transform: parsed(BetaPrior.init(parsing:)))
    var thetaPrior: BetaPrior?
    @Flag(
        inversion: .prefixedNo,
        help:
            "Also remove single k×k kernels in the spike whose range is below the hard threshold (default on for the ResNets)."
    )
    var pruneKernels: Bool?
    @Option(
        help:
            ArgumentHelp(
                "A convolution's E-step group: kernels (single k×k kernels, the paper's) or channels (whole channels; "
                    + "the channels residual additions tie are one group, so ResNet streams shrink too; the soft "
                    + "threshold then reads the group's batch-norm scales, default 1e-2,1e-2). Default kernels."))
    var convGroups: ConvGroups?
    @Option(
        help:
            ArgumentHelp(
                "A named recipe whose settings apply wherever an option (or the config file) leaves one unset: "
                    + "kefan-cifar (the authors' CIFAR recipe: resnet18, batch 64, 200 epochs, 4 cycles, their step "
                    + "size, temperature and pruning settings; README, Presets)."))
    var preset: Preset?
    @Option(
        parsing: .unconditional,
        help: "Fraction of prunable weights to remove by --target-epoch (cubic schedule, weakest first).")
    var targetSparsity: Double?
    @Option(
        parsing: .unconditional, help: "Epoch by which --target-sparsity is reached (default: the middle of training).")
    var targetEpoch: Int?
    @Option(help: "Whether the first weight layer is prunable (default: on for mlp, off otherwise).")
    var pruneFirstLayer: OnOff?
    @Option(help: "Whether the last weight layer is prunable (default: on for mlp, off otherwise).")
    var pruneLastLayer: OnOff?
    @Option(
        help:
            ArgumentHelp(
                "Train on a compact copy of the network once channels, units or input columns are removed for good, "
                    + "so the remaining epochs cost what the small network costs (default on with --prune)."))
    var shrink: OnOff?

    func apply(to s: inout TrainSettings) {
        s.prune = prune
        s.warmUp = warmUp
        s.lambda1 = lambda1
        s.lambda0 = lambda0
        s.lambda0Steps = lambda0Steps
        s.eStep = eStep
        s.softThreshold = softThreshold
        s.hardThreshold = hardThreshold
        s.thetaPrior = thetaPrior
        s.pruneKernels = pruneKernels
        s.convGroups = convGroups
        s.preset = preset
        s.targetSparsity = targetSparsity
        s.targetEpoch = targetEpoch
        s.pruneFirstLayer = pruneFirstLayer
        s.pruneLastLayer = pruneLastLayer
        s.shrink = shrink
    }
}
