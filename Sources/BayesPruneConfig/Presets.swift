// Named bundles of settings (`--preset NAME`, TOML key `preset`): a preset's values apply wherever the
// command line and the config file leave a setting unset, so any of them can still be changed.

import BayesPruneNN
import BayesPruneSampling
import BayesPruneSparsity

public enum Preset: String, CaseIterable, Codable, Sendable {
    /// The authors' CIFAR recipe (Ke & Fan's released `image_classification/main_cifar10.py` with their
    /// `SGHMC_SPL` optimizer): ResNet-18, batch 64, 200 epochs, 4 cosine cycles restarted per step, step size
    /// C²₀ = 1, temperature 1/N (the default), β1 0.1, β2 1, η 0.1, λ1 5e-4, λ0 1e-3 applied per step, soft
    /// threshold 1e-4 on a kernel's mean square, hard threshold 1e-2 on a channel's or filter's range, and 3
    /// samples at the end of each 50-epoch cycle (here: the last 6 % of each cycle). One departure: their
    /// script sets warm_up = 300 > 200 epochs, so it never prunes; the preset prunes from epoch 51 (after
    /// the first cycle; `--warm-up 300` restores theirs).
    case kefanCifar = "kefan-cifar"

    /// The settings the preset fills in.
    public var settings: TrainSettings {
        switch self {
        case .kefanCifar:
            var s = TrainSettings()
            s.model = .resnet18
            s.batchSize = 64
            s.epochs = 200
            s.schedule = .cyclical
            s.cycles = 4
            s.sampler = .adavb
            s.lr = 1
            s.beta1 = 0.1
            s.beta2 = 1
            s.eta = 0.1
            s.weightDecay = 5e-4
            s.samplesPerCycle = 3
            s.samplingStage = 0.06
            s.prune = true
            s.warmUp = 50
            s.convGroups = .kernels
            s.pruneKernels = false
            s.lambda0 = PerFamily(conv: 1e-3, fc: PruningConfig().fcLambda0, layers: [:])
            s.lambda0Steps = 0
            s.softThreshold = PerFamily(conv: 1e-4, fc: PruningConfig().fcSoftThreshold, layers: [:])
            s.hardThreshold = PerFamily(conv: 1e-2, fc: PruningConfig().fcHardThreshold, layers: [:])
            return s
        }
    }
}

extension TrainSettings {
    /// These settings over their preset's (the preset fills only what is unset here).
    public func applyingPreset() -> TrainSettings {
        guard let preset else { return self }
        return preset.settings.overridden(by: self)
    }
}
