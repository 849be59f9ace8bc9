// The in-memory data set value shared by every loader (IDX, CIFAR binary, CSV) and the error type
// all loaders throw. Examples are stored flat so batching is a pointer copy per example.
import Foundation

/// What the labels mean, which decides the loss and metrics downstream.
public enum TaskKind: String, CaseIterable, Codable, Sendable {
    case multiclass, binary, regression
}

/// A loaded split (train or test). Features are example-major, NCHW within an example; CSV tables
/// are stored as `channels = number of features`, `height = width = 1`, so per-channel
/// normalization is per-column normalization for them.
public struct Dataset: Sendable {
    public var name: String
    /// Number of examples.
    public var count: Int
    public var channels: Int
    public var height: Int
    public var width: Int
    /// `count * exampleSize` values.
    public var features: [Float]
    /// Class index per example for multiclass/binary (binary: 0/1); empty for regression.
    public var labels: [Int32]
    /// Target per example for regression; empty otherwise.
    public var targets: [Float]
    public var task: TaskKind
    /// Multiclass: number of classes; binary: 2; regression: 1.
    public var classes: Int
    /// CSV: the feature column names in storage order; images: empty.
    public var featureNames: [String]
    /// Image-folder data: the files, decoded per batch; `features` is then empty.
    public var images: ImageFolderSource?
    /// Image-folder data: the normalization the decoder applies (set by `Normalization.apply`).
    public var pixelNormalization: Normalization?

    public var exampleSize: Int { channels * height * width }

    public init(
        name: String, count: Int, channels: Int, height: Int, width: Int,
        features: [Float], labels: [Int32], targets: [Float], task: TaskKind, classes: Int,
        featureNames: [String] = [], images: ImageFolderSource? = nil
    ) {
        precondition(
            features.count == (images == nil ? count * channels * height * width : 0), "features do not match the shape")
        precondition(
            task == .regression
                ? targets.count == count && labels.isEmpty
                : labels.count == count && targets.isEmpty,
            "labels/targets do not match the task")
        self.name = name
        self.count = count
        self.channels = channels
        self.height = height
        self.width = width
        self.features = features
        self.labels = labels
        self.targets = targets
        self.task = task
        self.classes = classes
        self.featureNames = featureNames
        self.images = images
    }

    /// Whether examples are decoded from files per batch (image-folder) rather than held in `features`.
    public var isDecodedPerBatch: Bool { images != nil }

    /// The examples at `indices`, in that order (used for the CSV hold-out split).
    /// The share of the most frequent class: the accuracy of always predicting it (classification).
    public var majorityShare: Double {
        var counts = [Int](repeating: 0, count: max(classes, 2))
        for l in labels { counts[Int(l)] += 1 }
        return Double(counts.max() ?? 0) / Double(max(count, 1))
    }

    /// Whether examples are rows of named features (CSV) rather than images.
    public var isTabular: Bool { height == 1 && width == 1 && !featureNames.isEmpty }

    /// The same examples with only the named feature columns, in that order (a compact model that reads a
    /// subset of a table's columns). Throws `DataError` naming the data set and the missing column.
    public func selectingFeatures(_ names: [String]) throws -> Dataset {
        guard isTabular, names != featureNames else { return self }
        let columns = try names.map { n in
            guard let c = featureNames.firstIndex(of: n) else {
                throw DataError(self.name, "lacks the column \"\(n)\" that the model reads")
            }
            return c
        }
        var out = self
        out.channels = columns.count
        out.featureNames = names
        out.features = [Float](repeating: 0, count: count * columns.count)
        for i in 0..<count {
            for (k, c) in columns.enumerated() { out.features[i * columns.count + k] = features[i * channels + c] }
        }
        return out
    }

    public func subset(_ indices: [Int], name: String) -> Dataset {
        let size = exampleSize
        var newFeatures = [Float](repeating: 0, count: indices.count * size)
        newFeatures.withUnsafeMutableBufferPointer { dst in
            features.withUnsafeBufferPointer { src in
                for (k, i) in indices.enumerated() {
                    (dst.baseAddress! + k * size).update(from: src.baseAddress! + i * size, count: size)
                }
            }
        }
        return Dataset(
            name: name, count: indices.count, channels: channels, height: height, width: width,
            features: newFeatures,
            labels: labels.isEmpty ? [] : indices.map { labels[$0] },
            targets: targets.isEmpty ? [] : indices.map { targets[$0] },
            task: task, classes: classes, featureNames: featureNames)
    }
}

/// A data problem reported to the user as one line: "<path or option>: <what is wrong>".
public struct DataError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public let description: String

    public init(_ description: String) { self.description = description }

    /// `location` is a file path or a command-line option such as `--data-dir`.
    public init(_ location: String, _ what: String) { self.description = "\(location): \(what)" }

    public var errorDescription: String? { description }
}
