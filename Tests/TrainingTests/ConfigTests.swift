// Typed configuration: a TOML config file gives the same run as the same settings given as options,
// command-line options override the file, --print-config round-trips, and a bad file gets one line
// naming the file and the key.
/// metrics.jsonl lines as dictionaries without the wall-clock keys (they differ between two runs).

import Foundation
import TestSupport
import Testing

@testable import BayesPruneConfig
@testable import BayesPruneKernels
@testable import BayesPruneRunIO

func metricsWithoutTimings(_ dir: String) throws -> [NSDictionary] {
    let timing: Set<String> = [
        "seconds", "images_per_second", "elapsed_seconds", "checkpoint_seconds", "sample_seconds",
    ]
    return try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map { line in
        var d = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        for k in timing { d.removeValue(forKey: k) }
        return d as NSDictionary
    }
}

@Suite(.serialized) struct ConfigFiles {
    static let data = try! quadrantDataset("config-data", train: 128, test: 32)

    var settingsAsOptions: [String] {
        [
            "--data", "mnist", "--data-dir", Self.data, "--model", "mlp", "--hidden", "16,8", "--sampler", "adavb",
            "--epochs", "2", "--batch-size", "32", "--threads", "1", "--seed", "3", "--prune", "--warm-up", "1",
            "--soft-threshold", "1e-4,2e-2,fc2=3e-2", "--lambda0", "1e-3,1e-1",
        ]
    }

    var settingsAsTOML: String {
        """
        # the same settings as `settingsAsOptions`
        data = "mnist"
        data-dir = "\(Self.data)"
        model = "mlp"
        hidden = [16, 8]
        sampler = "adavb"
        epochs = 2
        batch-size = 32
        threads = 1
        seed = 3
        prune = true
        warm-up = 1
        soft-threshold = "1e-4,2e-2,fc2=3e-2"
        lambda0 = "1e-3,1e-1"
        """
    }

    @Test func configFileGivesTheSameRunAsOptions() throws {
        let base = try temporaryDirectory("config-eq")
        let file = base + "/run.toml"
        try settingsAsTOML.write(toFile: file, atomically: true, encoding: .utf8)
        let a = try runCLI(["train"] + settingsAsOptions + ["--out", base + "/options"])
        let b = try runCLI(["train", "--config", file, "--out", base + "/file"])
        #expect(a.status == 0 && b.status == 0, "\(a.stderr)\n\(b.stderr)")
        let ma = try metricsWithoutTimings(base + "/options")
        let mb = try metricsWithoutTimings(base + "/file")
        #expect(ma.count == 2 && ma == mb)
        #expect(try allWeights(base + "/options") == allWeights(base + "/file"))
        // config.json records the resolved configuration: the same, but for the run directory.
        var ca = try RunManifest.load(directory: base + "/options").config
        let cb = try RunManifest.load(directory: base + "/file").config
        ca.out = cb.out
        #expect(ca == cb)
    }

    @Test func optionsOverrideTheFile() throws {
        let base = try temporaryDirectory("config-override")
        let file = base + "/run.toml"
        try settingsAsTOML.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try runCLI(["train", "--config", file, "--epochs", "1", "--hidden", "12", "--out", base + "/run"])
        #expect(r.status == 0, "\(r.stderr)")
        let c = try RunManifest.load(directory: base + "/run").config
        #expect(c.epochs == 1 && c.hidden == [12] && c.sampler == .adavb && c.seed == 3 && c.pruning.enabled)
        #expect(c.pruning.layerSoftThreshold == ["fc2": 3e-2] && c.pruning.fcSoftThreshold == 2e-2)
        #expect(try metricsWithoutTimings(base + "/run").count == 1)
    }

    @Test func printConfigRoundTrips() throws {
        let base = try temporaryDirectory("config-print")
        let first = try runCLI(["train", "--print-config"] + settingsAsOptions + ["--lr", "0.07", "--augment", "off"])
        #expect(first.status == 0, "\(first.stderr)")
        try first.stdout.write(toFile: base + "/printed.toml", atomically: true, encoding: .utf8)
        let second = try runCLI(["train", "--config", base + "/printed.toml", "--print-config"])
        #expect(second.status == 0 && second.stdout == first.stdout, "\(second.stderr)\n\(second.stdout)")
        // Every key printed is a train option, and the printed file resolves to the same configuration.
        let printed = try TrainSettings.load(configFile: base + "/printed.toml")
        let config = try printed.resolve().config
        #expect(config.lr == 0.07 && config.hidden == [16, 8] && config.augment == false && config.epochs == 2)
    }

    /// Library level: the TOML of any resolved configuration reads back to the same configuration.
    @Test func resolvedSettingsRoundTripThroughTOML() throws {
        var s = TrainSettings()
        s.model = .resnet20
        s.sampler = .sghmc
        s.temperature = 0.3
        s.lr = 0.123456789
        s.weightDecay = 1e-4
        s.lambda0 = try PerFamily(parsing: "2e-3,0.2,layer1.0.conv1=5e-3", key: "lambda0", positive: true)
        s.thetaPrior = BetaPrior(a: 2, b: 0.5)
        s.pruneKernels = true
        s.task = .multiclass
        s.augment = .on
        let (config, controls) = try s.resolve()
        let dir = try temporaryDirectory("config-lib")
        try TrainSettings(resolved: config, controls: controls).toml().write(
            toFile: dir + "/c.toml", atomically: true, encoding: .utf8)
        let (again, controlsAgain) = try TrainSettings.load(configFile: dir + "/c.toml").resolve()
        #expect(again == config && controlsAgain == controls)
    }

    @Test(arguments: [
        ("epochs = 0\n", "epochs: must be at least 1"),
        ("batchsize = 32\n", "batchsize: not a train setting"),
        ("resume = \"x\"\n", "resume: a command-line option only"),
        ("epochs = \"five\"\n", "epochs: expected an integer"),
        ("model = \"vgg16\"\n", "model: invalid value; expected one of mlp"),
        ("hidden = [300, 0]\n", "hidden: expected positive widths"),
        ("soft-threshold = \"1,2,3\"\n", "soft-threshold: expected one value or CONV,FC"),
        ("augment = \"maybe\"\n", "augment: expected on or off"),
        ("epochs = \n", "not valid TOML"),
    ])
    func badConfigFileGivesOneLineNamingFileAndKey(toml: String, mentions: String) throws {
        let base = try temporaryDirectory("config-bad")
        let file = base + "/bad.toml"
        try toml.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try runCLI(["train", "--config", file, "--out", base + "/run"])
        #expect(r.status == 2)
        let lines = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("OpenBLAS") }
        #expect(lines.count == 1 && lines[0].contains(file) && lines[0].contains(mentions), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: base + "/run"))
    }

    @Test func missingConfigFileIsNamed() throws {
        let r = try runCLI(["train", "--config", "/nonexistent-bp.toml"])
        #expect(r.status == 2 && r.stderr.contains("/nonexistent-bp.toml: cannot read"), "\(r.stderr)")
    }
}

@Suite struct TargetSparsityDefaults {
    /// With a target, the ranking alone removes (thresholds 0) and the last layer's inputs share the
    /// removals, unless the settings say otherwise.
    @Test func targetUsesTheRankingAloneUnlessThresholdsAreGiven() throws {
        var s = TrainSettings()
        s.model = .lenet
        s.prune = true
        s.targetSparsity = 0.9
        let p = try s.resolve().config.pruning
        #expect([p.softThreshold, p.fcSoftThreshold, p.hardThreshold, p.fcHardThreshold] == [0, 0, 0, 0])
        #expect(p.pruneLastLayer && p.targetEpoch == 3)
        s.softThreshold = try PerFamily(parsing: "1e-4,2e-2", key: "soft-threshold", positive: false)
        s.pruneLastLayer = .off
        let q = try s.resolve().config.pruning
        #expect(q.softThreshold == 1e-4 && q.fcSoftThreshold == 2e-2 && q.hardThreshold == 0 && !q.pruneLastLayer)
        s.targetSparsity = nil
        s.softThreshold = nil
        s.pruneLastLayer = nil
        let d = try s.resolve().config.pruning
        #expect(d.hardThreshold == 1e-2 && !d.pruneLastLayer)
    }
}

@Suite struct RecordedPaths {
    /// Data paths are recorded absolute, so `evaluate`, `predict` and `--resume` find them from anywhere.
    @Test func relativePathsAreRecordedAbsolute() throws {
        var s = TrainSettings()
        s.data = .csv
        s.train = "rel/train.csv"
        s.test = "/abs/test.csv"
        s.dataDir = "some/dir"
        let c = try s.resolve().config
        let cwd = FileManager.default.currentDirectoryPath
        #expect(c.trainFile == cwd + "/rel/train.csv" && c.testFile == "/abs/test.csv")
        #expect(c.dataDir == cwd + "/some/dir")
    }

    /// `--preset kefan-cifar` fills in the authors' CIFAR recipe (their released main_cifar10.py and
    /// SGHMC_SPL defaults), and anything given explicitly wins over it.
    @Test func kefanCifarPresetFillsTheAuthorsRecipe() throws {
        let r = try runCLI([
            "train", "--preset", "kefan-cifar", "--data", "cifar10", "--epochs", "100", "--print-config",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let printed = try temporaryDirectory("preset") + "/printed.toml"
        try r.stdout.write(toFile: printed, atomically: true, encoding: .utf8)
        let c = try TrainSettings.load(configFile: printed).resolve().config
        #expect(c.model == .resnet18 && c.batchSize == 64 && c.cycles == 4 && c.schedule == .cyclical)
        #expect(c.sampler == .adavb && c.lr == 1 && c.beta1 == 0.1 && c.beta2 == 1 && c.eta == 0.1)
        #expect(c.weightDecay == 5e-4 && c.samplesPerCycle == 3 && c.temperature == nil)
        let p = c.pruning
        #expect(
            p.enabled && p.lambda0 == 1e-3 && p.lambda0Steps == 0 && p.softThreshold == 1e-4 && p.hardThreshold == 1e-2)
        #expect(!p.pruneKernels && p.convGroups == .kernels && p.warmUp == 50)
        #expect(c.epochs == 100)  // given explicitly
        var s = TrainSettings()
        s.preset = .kefanCifar
        s.batchSize = 32
        #expect(try s.applyingPreset().resolve().config.batchSize == 32)
    }
}

/// The documented defaults (README: train options, "The Bayesian default", Pruning) as `resolve()` applies them:
/// the sampler, adavb's β1, C² and λ per data and model, λ1 with pruning, the sampling plan, and the
/// ResNets' convolution pruning settings; a given value always wins.
@Suite struct ResolvedDefaults {
    func resolved(_ edit: (inout TrainSettings) -> Void) throws -> TrainConfig {
        var s = TrainSettings()
        edit(&s)
        return try s.resolve().config
    }

    @Test func samplerAndPrior() throws {
        let lenet = try resolved { $0.model = .lenet }
        #expect(lenet.sampler == .adavb && lenet.beta1 == 0.9 && lenet.lr == 0.04 && lenet.weightDecay == 1e-3)
        #expect(lenet.samplesPerCycle == 6 && lenet.samplingStage == 0.25 && lenet.evalBatchSize == 128)
        let pruned = try resolved {
            $0.model = .lenet
            $0.prune = true
        }
        #expect(pruned.weightDecay == 5e-4 && pruned.pruning.enabled)
        let target = try resolved {
            $0.model = .lenet
            $0.prune = true
            $0.targetSparsity = 0.9
        }
        #expect(target.weightDecay == 1e-3 && target.pruning.targetSparsity == 0.9)
        let resnet = try resolved { $0.model = .resnet20 }
        #expect(resnet.lr == 0.2 && resnet.beta1 == 0.9 && resnet.weightDecay == 5e-4 && resnet.batchSize == 128)
        let table = try resolved {
            $0.data = .csv
            $0.model = .mlp
        }
        #expect(table.beta1 == 0.1 && table.lr == 0.3)
        let big = try resolved {
            $0.data = .csv
            $0.batchSize = 1024
        }
        #expect(big.evalBatchSize == 1024)
        #expect(try resolved { $0.evalBatchSize = 50 }.evalBatchSize == 50)
        let sgd = try resolved { $0.sampler = .sgd }
        #expect(sgd.lr == 0.02 && sgd.weightDecay == 5e-4)
        let given = try resolved {
            $0.weightDecay = 2e-4
            $0.beta1 = 0.5
            $0.samplingStage = 0.5
        }
        #expect(given.weightDecay == 2e-4 && given.beta1 == 0.5 && given.samplingStage == 0.5)
        #expect(throws: SettingError.self) { _ = try resolved { $0.samplingStage = 0 } }
    }

    @Test func convolutionPruningPerModel() throws {
        let resnet = try resolved {
            $0.model = .resnet20
            $0.prune = true
        }
        #expect(resnet.pruning.lambda0 == 5 && resnet.pruning.softThreshold == 3e-3 && resnet.pruning.pruneKernels)
        let noKernels = try resolved {
            $0.model = .resnet56
            $0.prune = true
            $0.pruneKernels = false
        }
        #expect(!noKernels.pruning.pruneKernels && noKernels.pruning.softThreshold == 3e-3)
        let lenet = try resolved {
            $0.model = .lenet
            $0.prune = true
        }
        #expect(lenet.pruning.lambda0 == 1e-3 && lenet.pruning.softThreshold == 1e-4 && !lenet.pruning.pruneKernels)
    }
}
