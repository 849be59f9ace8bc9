// The resolved configuration of a run: everything needed to rebuild the data pipeline and the model,
// written to the run directory as config.json so `evaluate` (and a later resume) can reload it. Every
// field is typed; the JSON keys and values are those of earlier versions (enums encode as their names).

import BayesPruneData
import BayesPruneNN
import BayesPruneSampling
import BayesPruneSparsity
import Foundation

public struct TrainConfig: Codable, Equatable, Sendable {
    public var data: DataKind = .fashionMNIST
    public var dataDir: String?
    public var trainFile: String?
    public var testFile: String?
    public var target: String?
    /// nil: inferred from the CSV target column.
    public var task: TaskKind?
    public var cifar100Labels: CIFAR100LabelKind = .fine
    /// Image-folder data: the square side of the network's input (`--image-size`); nil: 224.
    public var imageSize: Int?
    /// Image-folder data: decoder threads per process (`--decode-threads`); nil: as many as BLAS threads.
    public var decodeThreads: Int?
    /// Random crop + flip; nil: on for 3x32x32 images, off otherwise.
    public var augment: Bool?
    public var model: ModelKind = .lenet
    /// Hidden widths of mlp.
    public var hidden: [Int] = [300, 100]
    /// WideResNets: dropout probability between a block's convolutions (`--dropout`); nil: 0.
    public var dropout: Double?
    public var sampler: SamplerKind = .sgd
    public var epochs: Int = 5
    /// Global minibatch size (split evenly across ranks).
    public var batchSize: Int = 128
    public var evalBatchSize: Int = 1000
    /// Base step size: lr for sgd/sghmc/sgld, C² for adavb (ALGORITHM.md §2).
    public var lr: Double = 0.05
    public var momentum: Double = 0.9
    /// λ (= λ1, the slab's decay, when pruning).
    public var weightDecay: Double = 5e-4
    public var schedule: ScheduleKind = .cyclical
    public var cycles: Int = 1
    /// adavb: β1, β2, η; temperature: T for adavb (nil = 1/N), Temp for sghmc/sgld (nil = 1).
    public var beta1: Double = 0.1
    public var beta2: Double = 1
    public var eta: Double = 0.1
    public var temperature: Double?
    /// Posterior samples per cycle, spread over the cycle's sampling stage (`SamplingPlan.sampleSteps`).
    /// `resolve()` gives a command's run `defaultSamplesPerCycle` and `defaultSamplingStage`; these field
    /// defaults (3, no stage: the epoch-end plan) are for configurations built in code, e.g. by tests.
    public var samplesPerCycle: Int = 3
    /// The sampling stage: the last fraction of every cycle's steps, where the samples are taken
    /// (`--sampling-stage`); nil in runs of earlier versions, which sampled at the end of each of the last
    /// `samplesPerCycle` epochs of every cycle.
    public var samplingStage: Double?
    /// Equal-width confidence bins for ECE/MCE and the reliability diagram.
    public var calibrationBins: Int = 15
    /// EM-MCMC spike-and-slab pruning.
    public var pruning = PruningConfig()
    /// Channel widths of a compacted network (see ModelSpec.widths); nil for the standard architecture.
    public var widths: [Int]?
    /// The residual-stream channels a compacted ResNet keeps (see ModelSpec.streamChannels); nil: all.
    public var streamChannels: [[Int]]?
    /// The channel-space widths of a compacted deep ResNet (see ModelSpec.spaceWidths); nil: standard.
    public var spaceWidths: [String: Int]?
    public var seed: UInt64 = 1
    /// BLAS threads per process (nil before the runtime resolved it).
    public var threads: Int?
    /// The run directory.
    public var out: String = "runs/latest"
    /// Weight initialisation (`--init`); nil in runs of earlier versions, which used he-normal.
    public var initScheme: InitScheme?
    /// Regression targets standardized with training statistics, or used as they are (`--target-scaling`);
    /// nil in runs of earlier versions, which standardized.
    public var targetScaling: TargetScalingMode?
    /// σ² of the Gaussian likelihood of regression outputs, in training units (`--noise-variance`); nil: 1.
    public var noiseVariance: Double?
    /// Train on a compact copy of the network once units are removed for good (`--shrink`); nil: off.
    public var shrink: Bool?

    public init() {}

    /// The model this configuration describes for data of shape `input` with `outputs` outputs.
    public func modelSpec(input: ActShape, outputs: Int, loss: LossKind) -> ModelSpec {
        var s = ModelSpec(kind: model, input: input, outputs: outputs, loss: loss, hidden: hidden, widths: widths,
            streamChannels: streamChannels)
        s.spaceWidths = spaceWidths
        s.initScheme = initScheme ?? .heNormal
        s.noiseVariance = Float(noiseVariance ?? 1)
        s.dropout = Float(dropout ?? 0)
        return s
    }

    /// `--eval-batch-size` when not given: the training batch, at least 128. Measured (Fashion-MNIST, one
    /// epoch, 10 000 test images): resnet20 scored them in 4.0 s at 128 against 5.8 s at 1000, and the run's
    /// peak memory fell from 2.59 GB to 1.53 GB; lenet 0.14 s against 0.18 s; mlp the same. Tables keep
    /// their batch (1024 for the paper's examples).
    public static func defaultEvalBatchSize(trainingBatch: Int) -> Int { max(trainingBatch, 128) }

    /// The sampling stage used when `--sampling-stage` is not given (README, "Samplers": measured on
    /// Fashion-MNIST).
    public static let defaultSamplingStage = 0.25
    /// `--samples-per-cycle` when not given (lenet, 6 epochs, seed 1: 6 samples NLL 0.2622, 3 samples 0.2634).
    public static let defaultSamplesPerCycle = 6

    /// The initialisation used when `--init` is not given (README, "Initialisation"): PyTorch's uniform
    /// ±1/√fan_in for mlp on a table (the paper's tabular examples select their inputs only with it),
    /// he-normal otherwise (mlp on Fashion-MNIST with pruning: PyTorch's start lost 718 of 784 pixels at the
    /// first E-step and 6 points of accuracy).
    public static func defaultInit(model: ModelKind, data: DataKind) -> InitScheme {
        model == .mlp && data == .csv ? .pytorch : .heNormal
    }

    /// The sampler of a run that does not name one: the paper's adaptive variational Bayes (README,
    /// "Samplers"). `TrainConfig()` itself keeps `.sgd` for code that builds configurations directly.
    public static let defaultSampler = SamplerKind.adavb

    /// Defaults for the options the user did not give, per model, sampler and data (documented in the
    /// README with the runs that chose them). For adavb, lr is C².
    public struct Defaults: Equatable, Sendable {
        public var lr: Double
        public var momentum = 0.9
        public var weightDecay = 5e-4
        public var batchSize: Int
        /// adavb's β1.
        public var beta1 = 0.1
    }

    /// sgd/sghmc/sgld: batch 32 and lr 0.02 for mlp and lenet (5 Fashion-MNIST epochs of lenet: 89.7% at
    /// batch 128 for lr 0.02-0.1, 90.4% at batch 32 and lr 0.02), batch 128 and lr 0.1 for the ResNets.
    /// adavb on tables: the paper's β1 = 0.1 (C² 0.3 / 0.2). adavb on images: β1 = 0.9 and C² = 2·lr, so
    /// that with τ ≈ 0.5 the step τ·C² and the momentum are SGD's (with the paper's β1 = 0.1, C² = 0.3 lenet
    /// trailed SGD by 0.4-0.6 points at 6 epochs, 3 seeds), and for mlp and lenet the prior precision λ
    /// = 1e-3 (lenet, 6 epochs, 3 seeds: NLL of the model average 0.2599 against 0.2625 at 5e-4).
    public static func defaults(model: ModelKind, sampler: SamplerKind, data: DataKind) -> Defaults {
        let small = model == .mlp || model == .lenet
        switch sampler {
        case .adavb where data == .csv:
            return Defaults(lr: small ? 0.3 : 0.2, batchSize: small ? 32 : 128)
        case .adavb:
            return Defaults(
                lr: small ? 0.04 : 0.2, weightDecay: small ? 1e-3 : 5e-4, batchSize: small ? 32 : 128, beta1: 0.9)
        case .sgd, .sghmc, .sgld:
            return Defaults(lr: small ? 0.02 : 0.1, batchSize: small ? 32 : 128)
        }
    }
}

/// Settings of a run that do not change its numbers: how often to check, checkpoint and keep.
public struct RunControls: Equatable, Sendable {
    /// Under MPI: compare every rank's weights every N steps (0: never).
    public var syncCheckEvery = 100
    /// Under MPI: abort when a collective does not complete within this many seconds.
    public var collectiveTimeout = 300.0
    /// Checkpoint every N epochs (and always at the end; 0: by time only).
    public var checkpointEvery = 0
    /// Checkpoint at the end of the first epoch that ends this many minutes after the previous checkpoint
    /// (or the start); 0: by epoch count only. A stop signal checkpoints at once regardless.
    public var checkpointMinutes = 5.0
    /// Keep the newest K checkpoints.
    public var keepCheckpoints = 2
    /// Under MPI: the gradient is summed in buckets of this many MB (`--allreduce-bucket-mb`).
    public var allreduceBucketMB = RunControls.defaultAllreduceBucketMB
    /// Under MPI: start each bucket's sum as soon as backward has finished it (`--allreduce-overlap`).
    public var allreduceOverlap = true

    /// `--allreduce-bucket-mb` when not given (README, "Several processes and clusters": measured).
    public static let defaultAllreduceBucketMB = 0.25

    public init() {}
}
