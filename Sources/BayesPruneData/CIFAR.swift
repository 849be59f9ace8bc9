// CIFAR-10 and CIFAR-100 binary versions. CIFAR-10 records are 1 label byte + 3072 pixel bytes
// (3×32×32, channel-major); CIFAR-100 records are coarse label, fine label, 3072 pixel bytes.

/// Which CIFAR-100 labelling to train on: 100 fine classes or 20 coarse superclasses.
public enum CIFAR100LabelKind: String, CaseIterable, Codable, Sendable {
    case fine, coarse
}

public enum CIFARReader {
    public static let imageBytes = 3 * 32 * 32
    public static let cifar10TrainFiles = (1...5).map { "data_batch_\($0).bin" }
    public static let cifar10TestFile = "test_batch.bin"
    public static let cifar100TrainFile = "train.bin"
    public static let cifar100TestFile = "test.bin"

    /// Reads records of `labelBytes` label bytes followed by an image; returns the label at
    /// `labelIndex` of each record (checked against `classes`) and appends the scaled pixels.
    public static func appendRecords(
        path: String, labelBytes: Int, labelIndex: Int, classes: Int,
        features: inout [Float], labels: inout [Int32]
    ) throws {
        let bytes = try FileBytes.read(path)
        let recordSize = labelBytes + imageBytes
        guard bytes.count % recordSize == 0 else {
            throw DataError(path, "truncated: \(bytes.count) bytes is not a whole number of \(recordSize)-byte records")
        }
        let records = bytes.count / recordSize
        let firstLabel = labels.count
        labels.reserveCapacity(labels.count + records)
        for r in 0..<records {
            let label = Int(bytes[r * recordSize + labelIndex])
            if label >= classes {
                throw DataError(path, "label \(label) in record \(r) is out of range 0..<\(classes)")
            }
            labels.append(Int32(label))
        }
        let start = features.count
        features.append(contentsOf: repeatElement(0, count: records * imageBytes))
        bytes.withUnsafeBufferPointer { src in
            features.withUnsafeMutableBufferPointer { dst in
                for r in 0..<records {
                    scalePixels(
                        src.baseAddress! + r * recordSize + labelBytes,
                        dst.baseAddress! + start + r * imageBytes, count: imageBytes)
                }
            }
        }
        assert(labels.count - firstLabel == records)
    }

    static func dataset(name: String, features: [Float], labels: [Int32], classes: Int) -> Dataset {
        Dataset(
            name: name, count: labels.count, channels: 3, height: 32, width: 32,
            features: features, labels: labels, targets: [], task: .multiclass, classes: classes)
    }

    /// The directory holding the `.bin` files: `directory` itself or the archive's own subdirectory
    /// (`cifar-10-batches-bin`, `cifar-100-binary`), so both the extract root and the folder work.
    static func resolve(_ directory: String, marker: String, subdirectory: String) throws -> String {
        guard directoryExists(directory) else { throw DataError(directory, "missing directory") }
        if !fileExists(joinPath(directory, marker)) && fileExists(joinPath(joinPath(directory, subdirectory), marker)) {
            return joinPath(directory, subdirectory)
        }
        return directory
    }

    /// CIFAR-10 train (data_batch_1..5.bin) and test (test_batch.bin).
    public static func loadCIFAR10(directory: String) throws -> (train: Dataset, test: Dataset) {
        let root = try resolve(directory, marker: cifar10TestFile, subdirectory: "cifar-10-batches-bin")
        var trainFeatures = [Float]()
        var trainLabels = [Int32]()
        // Every official batch holds 10000 images; reserving avoids regrowing a 600 MB array.
        trainFeatures.reserveCapacity(50_000 * imageBytes)
        for file in cifar10TrainFiles {
            try appendRecords(
                path: joinPath(root, file), labelBytes: 1, labelIndex: 0, classes: 10,
                features: &trainFeatures, labels: &trainLabels)
        }
        var testFeatures = [Float]()
        var testLabels = [Int32]()
        try appendRecords(
            path: joinPath(root, cifar10TestFile), labelBytes: 1, labelIndex: 0, classes: 10,
            features: &testFeatures, labels: &testLabels)
        return (
            dataset(name: "cifar10 train", features: trainFeatures, labels: trainLabels, classes: 10),
            dataset(name: "cifar10 test", features: testFeatures, labels: testLabels, classes: 10)
        )
    }

    /// CIFAR-100 train (train.bin) and test (test.bin) with fine (100) or coarse (20) labels.
    public static func loadCIFAR100(
        directory: String, labels kind: CIFAR100LabelKind = .fine
    ) throws -> (train: Dataset, test: Dataset) {
        let root = try resolve(directory, marker: cifar100TestFile, subdirectory: "cifar-100-binary")
        let classes = kind == .fine ? 100 : 20
        let labelIndex = kind == .fine ? 1 : 0
        var splits = [Dataset]()
        for (file, split) in [(cifar100TrainFile, "train"), (cifar100TestFile, "test")] {
            var features = [Float]()
            var labels = [Int32]()
            try appendRecords(
                path: joinPath(root, file), labelBytes: 2, labelIndex: labelIndex, classes: classes,
                features: &features, labels: &labels)
            splits.append(
                dataset(
                    name: "cifar100-\(kind.rawValue) \(split)", features: features, labels: labels, classes: classes))
        }
        return (splits[0], splits[1])
    }
}
