// Mini-batch production: a seeded per-epoch permutation shared by every rank, split into disjoint
// per-rank shards of each global batch; images are augmented (random crop with zero padding and
// horizontal flip) while being copied into the caller's batch buffer. Plus an in-order evaluation
// loader that covers every example exactly once.
import BayesPruneKernels

/// Training-time image augmentation. Per example the RNG is drawn in this order: crop row offset
/// (`nextInt(below: 2·padding+1)`), crop column offset (same), then, when flipping is on, one
/// `next()` whose top bit decides the horizontal flip. Padding is with zeros (the normalized mean,
/// when the data were normalized first).
public struct Augmentation: Equatable, Sendable {
    public var randomCrop: Bool
    public var padding: Int
    public var horizontalFlip: Bool

    public init(randomCrop: Bool, padding: Int = 4, horizontalFlip: Bool) {
        precondition(padding >= 0)
        self.randomCrop = randomCrop
        self.padding = padding
        self.horizontalFlip = horizontalFlip
    }

    public static let none = Augmentation(randomCrop: false, padding: 0, horizontalFlip: false)
    public static func cropAndFlip(padding: Int = 4) -> Augmentation {
        Augmentation(randomCrop: true, padding: padding, horizontalFlip: true)
    }

    public var isEnabled: Bool { (randomCrop && padding > 0) || horizontalFlip }

    /// On for CIFAR-shaped images (3×32×32) and image folders (whose loader applies it as a random-resized
    /// crop and flip instead), off otherwise (28×28 digits/clothes, CSV tables).
    public static func defaultFor(_ data: Dataset) -> Augmentation {
        data.isDecodedPerBatch || (data.channels == 3 && data.height == 32 && data.width == 32) ? .cropAndFlip() : .none
    }

    /// Draws one example's transform; `shiftY`/`shiftX` are in −padding…padding.
    @inline(__always)
    public func draw(_ rng: inout Xoshiro256) -> (shiftY: Int, shiftX: Int, flip: Bool) {
        var shiftY = 0
        var shiftX = 0
        if randomCrop && padding > 0 {
            shiftY = rng.nextInt(below: 2 * padding + 1) - padding
            shiftX = rng.nextInt(below: 2 * padding + 1) - padding
        }
        let flip = horizontalFlip && (rng.next() >> 63) == 1
        return (shiftY, shiftX, flip)
    }

    /// Writes the shifted (and optionally mirrored) image: output(y, x) = input(y + shiftY, x' + shiftX)
    /// with x' = flip ? W−1−x : x, and 0 where that falls outside the input. This equals padding by
    /// `padding` zeros, cropping at (padding + shiftY, padding + shiftX), then mirroring the crop.
    @inline(__always)
    public static func shiftFlip(
        _ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>,
        channels: Int, height: Int, width: Int, shiftY: Int, shiftX: Int, flip: Bool
    ) {
        // Columns whose source lies inside the image; the rest are zero padding.
        let lo = flip ? max(0, shiftX) : max(0, -shiftX)
        let hi = flip ? min(width, width + shiftX) : min(width, width - shiftX)
        for c in 0..<channels {
            let sourcePlane = source + c * height * width
            let destinationPlane = destination + c * height * width
            for y in 0..<height {
                let out = destinationPlane + y * width
                let sy = y + shiftY
                if sy < 0 || sy >= height || lo >= hi {
                    out.update(repeating: 0, count: width)
                    continue
                }
                let row = sourcePlane + sy * width
                if lo > 0 { out.update(repeating: 0, count: lo) }
                if hi < width { (out + hi).update(repeating: 0, count: width - hi) }
                if flip {
                    let mirrored = row + (width - 1 + shiftX)
                    for x in lo..<hi { out[x] = mirrored[-x] }
                } else {
                    (out + lo).update(from: row + (lo + shiftX), count: hi - lo)
                }
            }
        }
    }
}

/// What a training loader needs to resume mid-epoch: the epoch and the augmentation RNG words.
public struct LoaderState: Equatable, Sendable {
    public var epoch: Int
    public var augmentationRNG: [UInt64]

    public init(epoch: Int, augmentationRNG: [UInt64]) {
        self.epoch = epoch
        self.augmentationRNG = augmentationRNG
    }
}

/// Copies one example's label or target into the caller's buffers (shared by both loaders).
@inline(__always)
private func copyOutputs(
    _ data: Dataset, example: Int, slot: Int,
    labels: UnsafeMutablePointer<Int32>?, targets: UnsafeMutablePointer<Float>?
) {
    if let labels, !data.labels.isEmpty { labels[slot] = data.labels[example] }
    if let targets, !data.targets.isEmpty { targets[slot] = data.targets[example] }
}

/// Shuffled training batches for one rank of `worldSize`. Every rank builds the same epoch
/// permutation from (seed, epoch); rank r takes the r-th contiguous slice of each global batch, so
/// shards are disjoint and together form the global batch. The last incomplete global batch is
/// dropped so every step has the same size on every rank.
public struct TrainBatchLoader {
    public let dataset: Dataset
    public let globalBatchSize: Int
    public let rank: Int
    public let worldSize: Int
    public let seed: UInt64
    public var augmentation: Augmentation
    public private(set) var epoch: Int
    /// This epoch's permutation of 0..<dataset.count (identical on every rank).
    public private(set) var order: [Int32]
    /// The per-(seed, epoch, rank) augmentation stream; advanced by `fill`, part of a checkpoint.
    /// (Image-folder data draws per example instead: `ImageFolderSource.exampleStream`.)
    public var augmentationRNG: Xoshiro256
    /// Image-folder data: the background decoder (random-resized crop and flip when augmenting).
    let pipeline: ImageBatchPipeline?

    static let shuffleStream: UInt64 = 0x5348_5546_0000_0000
    static let augmentStream: UInt64 = 0x4155_4700_0000_0000

    /// `augmentation: nil` picks `Augmentation.defaultFor(dataset)`.
    public init(
        dataset: Dataset, globalBatchSize: Int, rank: Int = 0, worldSize: Int = 1, seed: UInt64,
        epoch: Int = 0, augmentation: Augmentation? = nil
    ) throws {
        guard worldSize >= 1, rank >= 0, rank < worldSize else {
            throw DataError("rank \(rank) is not in 0..<\(worldSize)")
        }
        guard globalBatchSize >= 1, globalBatchSize % worldSize == 0 else {
            throw SettingError(
                "batch-size",
                "global batch size \(globalBatchSize) must be a positive multiple of the world size \(worldSize)")
        }
        guard dataset.count >= globalBatchSize else {
            throw SettingError(
                "batch-size",
                "global batch size \(globalBatchSize) exceeds the \(dataset.count) training examples of \(dataset.name)"
            )
        }
        self.dataset = dataset
        self.globalBatchSize = globalBatchSize
        self.rank = rank
        self.worldSize = worldSize
        self.seed = seed
        self.augmentation = augmentation ?? .defaultFor(dataset)
        self.epoch = epoch
        self.order = TrainBatchLoader.epochOrder(count: dataset.count, seed: seed, epoch: epoch)
        self.augmentationRNG = TrainBatchLoader.augmentationStream(seed: seed, epoch: epoch, rank: rank)
        let transform: ImageTransform =
            (augmentation ?? .defaultFor(dataset)).isEnabled ? .randomResizedCropAndFlip(seed: seed) : .resizeCenterCrop
        self.pipeline = dataset.images.map {
            ImageBatchPipeline(source: $0, transform: transform, normalization: dataset.pixelNormalization)
        }
    }

    /// Image-folder decoding counters (nil for in-memory data).
    public var decodeStatistics: DecodeStatistics? { pipeline?.decodeStatistics }

    public var localBatchSize: Int { globalBatchSize / worldSize }
    public var batchesPerEpoch: Int { dataset.count / globalBatchSize }

    /// The epoch's permutation: a Fisher-Yates shuffle from the (seed, epoch) stream.
    public static func epochOrder(count: Int, seed: UInt64, epoch: Int) -> [Int32] {
        var rng = Xoshiro256(seed: seed, stream: shuffleStream | UInt64(truncatingIfNeeded: epoch))
        return rng.permutation(count)
    }

    /// The augmentation stream of (seed, epoch, rank); epochs below 2^40 and ranks below 2^16 are distinct.
    public static func augmentationStream(seed: UInt64, epoch: Int, rank: Int) -> Xoshiro256 {
        Xoshiro256(seed: seed, stream: augmentStream ^ (UInt64(truncatingIfNeeded: epoch) << 16 | UInt64(rank)))
    }

    /// Re-shuffles for `epoch` and restarts this rank's augmentation stream.
    public mutating func startEpoch(_ epoch: Int) {
        self.epoch = epoch
        order = TrainBatchLoader.epochOrder(count: dataset.count, seed: seed, epoch: epoch)
        augmentationRNG = TrainBatchLoader.augmentationStream(seed: seed, epoch: epoch, rank: rank)
    }

    public var state: LoaderState { LoaderState(epoch: epoch, augmentationRNG: augmentationRNG.stateWords) }

    /// Resumes at a checkpointed epoch with the augmentation stream exactly where it was.
    public mutating func restore(_ state: LoaderState) {
        startEpoch(state.epoch)
        augmentationRNG = Xoshiro256(state: state.augmentationRNG)
    }

    /// The example indices this rank copies for global batch `batchIndex`.
    public func shard(batchIndex: Int) -> ArraySlice<Int32> {
        precondition(
            batchIndex >= 0 && batchIndex < batchesPerEpoch, "batch \(batchIndex) not in 0..<\(batchesPerEpoch)")
        let start = batchIndex * globalBatchSize + rank * localBatchSize
        return order[start..<(start + localBatchSize)]
    }

    /// Copies this rank's shard of batch `batchIndex` into `x` (localBatchSize × exampleSize) and
    /// the labels/targets buffers when given, augmenting images when enabled. Returns the local
    /// batch size. Image-folder data: decoded in the background, the next batches queued meanwhile;
    /// throws `DataError` naming a file that cannot be decoded (in-memory data never throws).
    @discardableResult
    public mutating func fill(
        batchIndex: Int, into x: UnsafeMutablePointer<Float>,
        labels: UnsafeMutablePointer<Int32>?, targets: UnsafeMutablePointer<Float>?
    ) throws -> Int {
        let indices = shard(batchIndex: batchIndex)
        if let pipeline {
            let upcoming = (batchIndex + 1..<min(batchIndex + 1 + pipeline.depth, batchesPerEpoch)).map {
                (key: epoch * batchesPerEpoch + $0, examples: Array(shard(batchIndex: $0)), epoch: epoch)
            }
            try pipeline.fetch(
                key: epoch * batchesPerEpoch + batchIndex, examples: Array(indices), epoch: epoch, upcoming: upcoming,
                into: x)
            for (slot, index) in indices.enumerated() {
                copyOutputs(dataset, example: Int(index), slot: slot, labels: labels, targets: targets)
            }
            return indices.count
        }
        let size = dataset.exampleSize
        let augment = augmentation.isEnabled
        let (channels, height, width) = (dataset.channels, dataset.height, dataset.width)
        var rng = augmentationRNG
        dataset.features.withUnsafeBufferPointer { features in
            let base = features.baseAddress!
            for (slot, index) in indices.enumerated() {
                let example = Int(index)
                let source = base + example * size
                let destination = x + slot * size
                if augment {
                    let t = augmentation.draw(&rng)
                    Augmentation.shiftFlip(
                        source, into: destination, channels: channels, height: height,
                        width: width, shiftY: t.shiftY, shiftX: t.shiftX, flip: t.flip)
                } else {
                    destination.update(from: source, count: size)
                }
                copyOutputs(dataset, example: example, slot: slot, labels: labels, targets: targets)
            }
        }
        augmentationRNG = rng
        return indices.count
    }
}

/// In-order evaluation batches: global batch b covers examples b·B ..< min((b+1)·B, count), split
/// into contiguous per-rank slices (as evenly as possible for the last, partial batch), so over all
/// batches and ranks every example is seen exactly once. No augmentation.
public struct EvalBatchLoader {
    public let dataset: Dataset
    public let globalBatchSize: Int
    public let rank: Int
    public let worldSize: Int
    /// Image-folder data: the background decoder (resize and center crop).
    let pipeline: ImageBatchPipeline?

    public init(dataset: Dataset, globalBatchSize: Int, rank: Int = 0, worldSize: Int = 1) throws {
        guard worldSize >= 1, rank >= 0, rank < worldSize else {
            throw DataError("rank \(rank) is not in 0..<\(worldSize)")
        }
        guard globalBatchSize >= 1 else { throw SettingError("eval-batch-size", "must be positive") }
        self.dataset = dataset
        self.globalBatchSize = globalBatchSize
        self.rank = rank
        self.worldSize = worldSize
        self.pipeline = dataset.images.map {
            ImageBatchPipeline(source: $0, transform: .resizeCenterCrop, normalization: dataset.pixelNormalization)
        }
    }

    /// Number of global batches, the last possibly partial.
    public var batchCount: Int { (dataset.count + globalBatchSize - 1) / globalBatchSize }

    /// The most examples `fill` can write (size the buffers with this).
    public var maxLocalBatchSize: Int { (globalBatchSize + worldSize - 1) / worldSize }

    /// The example indices this rank evaluates in global batch `batchIndex` (possibly empty).
    public func range(batchIndex: Int) -> Range<Int> {
        precondition(batchIndex >= 0 && batchIndex < batchCount, "batch \(batchIndex) not in 0..<\(batchCount)")
        let start = batchIndex * globalBatchSize
        let size = min(globalBatchSize, dataset.count - start)
        return (start + rank * size / worldSize)..<(start + (rank + 1) * size / worldSize)
    }

    /// Copies this rank's slice of batch `batchIndex` and returns how many examples it holds.
    /// Throws `DataError` naming an image-folder file that cannot be decoded.
    @discardableResult
    public func fill(
        batchIndex: Int, into x: UnsafeMutablePointer<Float>,
        labels: UnsafeMutablePointer<Int32>?, targets: UnsafeMutablePointer<Float>?
    ) throws -> Int {
        let examples = range(batchIndex: batchIndex)
        let size = dataset.exampleSize
        if let pipeline {
            let next = batchIndex + 1 < batchCount ? [batchIndex + 1] : []
            try pipeline.fetch(
                key: batchIndex, examples: examples.map { Int32($0) }, epoch: 0,
                upcoming: next.map { (key: $0, examples: range(batchIndex: $0).map { Int32($0) }, epoch: 0) }, into: x)
        } else {
            dataset.features.withUnsafeBufferPointer { features in
                if !examples.isEmpty {
                    x.update(from: features.baseAddress! + examples.lowerBound * size, count: examples.count * size)
                }
            }
        }
        for (slot, example) in examples.enumerated() {
            copyOutputs(dataset, example: example, slot: slot, labels: labels, targets: targets)
        }
        return examples.count
    }
}
