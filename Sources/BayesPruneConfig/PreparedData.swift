// Data sets ready for training, loaded as a configuration says and normalized with training-set statistics.

import BayesPruneData
import BayesPruneNN
import Foundation

/// Data sets ready for training: loaded, normalized with training-set statistics.
public struct PreparedData {
    public var train: Dataset
    public var test: Dataset
    public var normalization: Normalization
    public var targetScaling: TargetScaling?

    /// Loads `c`'s data; with `featureNames` (a compact model of a table), only those columns, in that
    /// order. Throws `SettingError`/`DataError` naming the setting or file.
    public static func load(
        _ c: TrainConfig, normalization stored: Normalization? = nil,
        targetScaling storedScaling: TargetScaling? = nil, featureNames: [String]? = nil
    ) throws -> PreparedData {
        var (train, test) = try DataSource.load(
            kind: c.data, dataDir: c.dataDir, trainFile: c.trainFile,
            testFile: c.testFile, target: c.target, task: c.task, seed: c.seed,
            cifar100Labels: c.cifar100Labels, imageSize: c.imageSize,
            decodeThreads: c.decodeThreads ?? c.threads ?? ProcessInfo.processInfo.activeProcessorCount)
        if let featureNames {
            train = try train.selectingFeatures(featureNames)
            test = try test.selectingFeatures(featureNames)
        }
        // Image folders: statistics of 512 evenly spaced training images, center-cropped (decoding them all would
        // take as long as an epoch).
        let norm = try stored ?? Normalization.fit(Normalization.decodedSample(of: train))
        norm.apply(to: &train)
        norm.apply(to: &test)
        var scaling: TargetScaling? = nil
        if train.task == .regression {
            let s = storedScaling ?? (c.targetScaling == .identity ? .identity : TargetScaling.fit(train))
            s.apply(to: &train)
            s.apply(to: &test)
            scaling = s
        }
        return PreparedData(train: train, test: test, normalization: norm, targetScaling: scaling)
    }

    public var modelSpecLoss: LossKind {
        switch train.task {
        case .multiclass: return .softmaxCrossEntropy
        case .binary: return .logistic
        case .regression: return .squaredError
        }
    }

    /// The standard deviation of the training targets in their own units (regression; the RMSE of
    /// predicting the mean).
    public var targetSpread: Double {
        Double(TargetScaling.fit(train).std) * Double(targetScaling?.std ?? 1)
    }

    public var outputs: Int { train.task == .multiclass ? train.classes : 1 }
}
