// The single entry point the command-line tool uses: a data-set kind plus the command-line options,
// checked for sensible combinations (with one-line errors naming the option) and dispatched to the
// matching loader.

public enum DataSource {
    public static let kinds = ["fashion-mnist", "mnist", "cifar10", "cifar100", "csv"]

    /// Loads train and test sets.
    /// - `fashion-mnist`: `dataDir` optional (default: Debian's /usr/share/datasets/fashion-mnist).
    /// - `mnist`, `cifar10`, `cifar100`: `dataDir` required.
    /// - `csv`: `trainFile` required; `testFile`, `target`, `task` optional; without `testFile` a
    ///   seeded `holdoutFraction` of the rows is the test set.
    public static func load(
        kind: String, dataDir: String? = nil, trainFile: String? = nil, testFile: String? = nil,
        target: String? = nil, task: TaskKind? = nil, seed: UInt64,
        cifar100Labels: CIFAR100LabelKind = .fine, holdoutFraction: Double = 0.2
    ) throws -> (train: Dataset, test: Dataset) {
        guard kinds.contains(kind) else {
            throw DataError("--dataset", "unknown data set \"\(kind)\"; expected one of \(kinds.joined(separator: ", "))")
        }
        if kind == "csv" {
            guard let trainFile else { throw DataError("--train", "required for csv data (path to the training CSV)") }
            if dataDir != nil { throw DataError("--data-dir", "not used for csv data; pass the files with --train and --test") }
            return try CSVReader.load(trainPath: trainFile, testPath: testFile, target: target, task: task,
                                      seed: seed, holdoutFraction: holdoutFraction)
        }
        // Image data sets come in fixed train/test files and are always multiclass.
        if trainFile != nil { throw DataError("--train", "only for csv data; \(kind) is read from --data-dir") }
        if testFile != nil { throw DataError("--test", "only for csv data; \(kind) is read from --data-dir") }
        if target != nil { throw DataError("--target", "only for csv data") }
        if let task, task != .multiclass { throw DataError("--task", "\(kind) is a multiclass data set, not \(task.rawValue)") }
        switch kind {
        case "fashion-mnist":
            if let dataDir { return try IDXReader.loadDirectory(dataDir, name: kind) }
            return try IDXReader.loadSystemFashionMNIST()
        case "mnist":
            guard let dataDir else { throw DataError("--data-dir", "required for mnist (directory with the four IDX files)") }
            return try IDXReader.loadDirectory(dataDir, name: kind)
        case "cifar10":
            guard let dataDir else { throw DataError("--data-dir", "required for cifar10 (directory with data_batch_1..5.bin and test_batch.bin)") }
            return try CIFARReader.loadCIFAR10(directory: dataDir)
        default:
            guard let dataDir else { throw DataError("--data-dir", "required for cifar100 (directory with train.bin and test.bin)") }
            return try CIFARReader.loadCIFAR100(directory: dataDir, labels: cifar100Labels)
        }
    }
}
