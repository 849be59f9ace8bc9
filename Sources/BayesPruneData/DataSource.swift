// The single entry point for loading a data set: a data-set kind plus its settings, checked for
// sensible combinations (SettingError naming the setting) and dispatched to the matching loader.
import BayesPruneKernels

/// The data sets BayesPrune reads (the `data` setting).
public enum DataKind: String, CaseIterable, Codable, Sendable {
    case fashionMNIST = "fashion-mnist"
    case mnist, cifar10, cifar100, csv
    /// DIR/train and DIR/val, one subfolder of JPEG/PNG files per class, decoded per batch.
    case imageFolder = "image-folder"
}

public enum DataSource {
    /// Loads train and test sets.
    /// - `fashion-mnist`: `dataDir` optional (default: Debian's /usr/share/datasets/fashion-mnist).
    /// - `mnist`, `cifar10`, `cifar100`: `dataDir` required.
    /// - `csv`: `trainFile` required; `testFile`, `target`, `task` optional; without `testFile` a
    ///   seeded `holdoutFraction` of the rows is the test set.
    /// - `image-folder`: `dataDir` required (train/ and val/); images of `imageSize` (default 224) decoded
    ///   per batch on `decodeThreads` threads.
    public static func load(
        kind: DataKind, dataDir: String? = nil, trainFile: String? = nil, testFile: String? = nil,
        target: String? = nil, task: TaskKind? = nil, seed: UInt64,
        cifar100Labels: CIFAR100LabelKind = .fine, holdoutFraction: Double = 0.2,
        imageSize: Int? = nil, decodeThreads: Int = 1
    ) throws -> (train: Dataset, test: Dataset) {
        if imageSize != nil && kind != .imageFolder {
            throw SettingError("image-size", "only for image-folder data; \(kind.rawValue) images have a fixed size")
        }
        if kind == .csv {
            guard let trainFile else { throw SettingError("train", "required for csv data (path to the training CSV)") }
            if dataDir != nil {
                throw SettingError("data-dir", "not used for csv data; give the files as train and test")
            }
            return try CSVReader.load(
                trainPath: trainFile, testPath: testFile, target: target, task: task,
                seed: seed, holdoutFraction: holdoutFraction)
        }
        // Image data sets come in fixed train/test files and are always multiclass.
        if trainFile != nil { throw SettingError("train", "only for csv data; \(kind.rawValue) is read from data-dir") }
        if testFile != nil { throw SettingError("test", "only for csv data; \(kind.rawValue) is read from data-dir") }
        if target != nil { throw SettingError("target", "only for csv data") }
        if let task, task != .multiclass {
            throw SettingError("task", "\(kind.rawValue) is a multiclass data set, not \(task.rawValue)")
        }
        switch kind {
        case .imageFolder:
            guard let dataDir else {
                throw SettingError("data-dir", "required for image-folder (directory with train/ and val/)")
            }
            return try ImageFolderReader.load(
                directory: dataDir, imageSize: imageSize ?? ImageFolderReader.defaultImageSize,
                decodeThreads: decodeThreads)
        case .fashionMNIST:
            if let dataDir { return try IDXReader.loadDirectory(dataDir, name: kind.rawValue) }
            return try IDXReader.loadSystemFashionMNIST()
        case .mnist:
            guard let dataDir else {
                throw SettingError("data-dir", "required for mnist (directory with the four IDX files)")
            }
            return try IDXReader.loadDirectory(dataDir, name: kind.rawValue)
        case .cifar10:
            guard let dataDir else {
                throw SettingError(
                    "data-dir", "required for cifar10 (directory with data_batch_1..5.bin and test_batch.bin)")
            }
            return try CIFARReader.loadCIFAR10(directory: dataDir)
        case .cifar100, .csv:
            guard let dataDir else {
                throw SettingError("data-dir", "required for cifar100 (directory with train.bin and test.bin)")
            }
            return try CIFARReader.loadCIFAR100(directory: dataDir, labels: cifar100Labels)
        }
    }
}
