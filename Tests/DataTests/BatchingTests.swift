// Batching: per-rank shards are disjoint and rebuild the permutation's full batches, shuffling is
// a function of (seed, epoch), crop+flip equals a naive pad-crop-mirror for the same RNG draws,
// checkpointed RNG state resumes exactly, and evaluation covers every example once.
import BayesPruneData
import BayesPruneKernels
import Testing

/// A data set whose every feature value encodes (example, position), so copies are recognisable.
func indexedDataset(count: Int, channels: Int, height: Int, width: Int) -> Dataset {
    let size = channels * height * width
    return Dataset(
        name: "indexed", count: count, channels: channels, height: height, width: width,
        features: (0..<(count * size)).map { Float($0 / size) * 1000 + Float($0 % size) },
        labels: (0..<count).map { Int32($0 % 7) }, targets: [], task: .multiclass, classes: 7)
}

/// The naive transform: build the zero-padded image, cut the crop at (oy, ox), then mirror it.
func naiveCropFlip(
    _ image: [Float], channels: Int, height: Int, width: Int, pad: Int, oy: Int, ox: Int, flip: Bool
) -> [Float] {
    let ph = height + 2 * pad
    let pw = width + 2 * pad
    var padded = [Float](repeating: 0, count: channels * ph * pw)
    for c in 0..<channels {
        for y in 0..<height {
            for x in 0..<width {
                padded[(c * ph + y + pad) * pw + x + pad] = image[(c * height + y) * width + x]
            }
        }
    }
    var crop = [Float](repeating: 0, count: channels * height * width)
    for c in 0..<channels {
        for y in 0..<height {
            for x in 0..<width {
                crop[(c * height + y) * width + x] = padded[(c * ph + y + oy) * pw + x + ox]
            }
        }
    }
    guard flip else { return crop }
    var mirrored = crop
    for c in 0..<channels {
        for y in 0..<height {
            for x in 0..<width {
                mirrored[(c * height + y) * width + x] = crop[(c * height + y) * width + (width - 1 - x)]
            }
        }
    }
    return mirrored
}

@Suite struct BatchingTests {
    @Test func rankShardsAreDisjointAndRebuildFullBatches() throws {
        let data = indexedDataset(count: 103, channels: 1, height: 2, width: 2)
        let world = 4
        let global = 12
        let loaders = try (0..<world).map {
            try TrainBatchLoader(dataset: data, globalBatchSize: global, rank: $0, worldSize: world, seed: 9, epoch: 3)
        }
        let order = TrainBatchLoader.epochOrder(count: 103, seed: 9, epoch: 3)
        #expect(order.sorted() == (0..<103).map { Int32($0) })
        #expect(loaders[0].batchesPerEpoch == 8 && loaders[0].localBatchSize == 3)
        var seen = [Int32]()
        for b in 0..<8 {
            let shards = loaders.map { Array($0.shard(batchIndex: b)) }
            #expect(shards.joined().count == global)
            #expect(Set(shards.joined()).count == global)
            #expect(Array(shards.joined()) == Array(order[(b * global)..<((b + 1) * global)]))
            seen += shards.joined()
        }
        // The last 103 − 96 examples of the permutation are dropped this epoch.
        #expect(seen == Array(order.prefix(96)))
    }

    @Test func fillCopiesTheShardExamples() throws {
        let data = indexedDataset(count: 20, channels: 2, height: 3, width: 3)
        var loader = try TrainBatchLoader(dataset: data, globalBatchSize: 8, rank: 1, worldSize: 2, seed: 5)
        #expect(loader.augmentation == .none)
        var x = [Float](repeating: -1, count: 4 * 18)
        var labels = [Int32](repeating: -1, count: 4)
        let n = try x.withUnsafeMutableBufferPointer { xp in
            try labels.withUnsafeMutableBufferPointer { lp in
                try loader.fill(batchIndex: 1, into: xp.baseAddress!, labels: lp.baseAddress!, targets: nil)
            }
        }
        #expect(n == 4)
        let shard = loader.shard(batchIndex: 1)
        #expect(Array(shard) == Array(loader.order[12..<16]))
        for (slot, index) in shard.enumerated() {
            let e = Int(index)
            #expect(Array(x[(slot * 18)..<((slot + 1) * 18)]) == Array(data.features[(e * 18)..<((e + 1) * 18)]))
            #expect(labels[slot] == data.labels[e])
        }
    }

    @Test func orderDependsOnSeedAndEpochOnly() throws {
        let data = indexedDataset(count: 64, channels: 1, height: 1, width: 1)
        let a = try TrainBatchLoader(dataset: data, globalBatchSize: 8, seed: 1, epoch: 2)
        let b = try TrainBatchLoader(dataset: data, globalBatchSize: 8, rank: 1, worldSize: 2, seed: 1, epoch: 2)
        var c = try TrainBatchLoader(dataset: data, globalBatchSize: 8, seed: 1, epoch: 0)
        #expect(a.order == b.order)
        #expect(a.order != c.order)
        c.startEpoch(2)
        #expect(c.order == a.order)
        let d = try TrainBatchLoader(dataset: data, globalBatchSize: 8, seed: 2, epoch: 2)
        #expect(d.order != a.order)
        #expect(a.order != (0..<64).map { Int32($0) })
    }

    @Test func cropAndFlipMatchNaiveTransform() throws {
        // Small odd-shaped images with padding 2 reach every edge case (full shifts, flips).
        let (channels, height, width, pad) = (3, 5, 6, 2)
        let data = indexedDataset(count: 40, channels: channels, height: height, width: width)
        let size = channels * height * width
        var loader = try TrainBatchLoader(
            dataset: data, globalBatchSize: 10, rank: 1, worldSize: 2, seed: 77, epoch: 4,
            augmentation: .cropAndFlip(padding: pad))
        var rng = TrainBatchLoader.augmentationStream(seed: 77, epoch: 4, rank: 1)
        #expect(loader.augmentationRNG == rng)
        // From here on a fixed, hand-written state drives both the loader and the naive check.
        rng = Xoshiro256(state: [0x0123_4567_89AB_CDEF, 0x2545_F491_4F6C_DD1D, 0x9E37_79B9_7F4A_7C15, 42])
        loader.augmentationRNG = rng
        var flips = 0
        var shifts = Set<Int>()
        for batch in 0..<4 {
            var x = [Float](repeating: .nan, count: 5 * size)
            _ = try x.withUnsafeMutableBufferPointer {
                try loader.fill(batchIndex: batch, into: $0.baseAddress!, labels: nil, targets: nil)
            }
            for (slot, index) in loader.shard(batchIndex: batch).enumerated() {
                let oy = rng.nextInt(below: 2 * pad + 1)
                let ox = rng.nextInt(below: 2 * pad + 1)
                let flip = rng.next() >> 63 == 1
                flips += flip ? 1 : 0
                shifts.insert(oy * 10 + ox)
                let e = Int(index)
                let expected = naiveCropFlip(
                    Array(data.features[(e * size)..<((e + 1) * size)]), channels: channels,
                    height: height, width: width, pad: pad, oy: oy, ox: ox, flip: flip)
                #expect(Array(x[(slot * size)..<((slot + 1) * size)]) == expected)
            }
        }
        #expect(loader.augmentationRNG == rng)
        // 20 draws: both flip outcomes and several crop offsets must have occurred.
        #expect(flips > 0 && flips < 20 && shifts.count > 5)
    }

    @Test func augmentationDefaultsByShape() throws {
        let cifar = indexedDataset(count: 4, channels: 3, height: 32, width: 32)
        let mnist = indexedDataset(count: 4, channels: 1, height: 28, width: 28)
        #expect(
            try TrainBatchLoader(dataset: cifar, globalBatchSize: 2, seed: 0).augmentation == .cropAndFlip(padding: 4))
        #expect(try TrainBatchLoader(dataset: mnist, globalBatchSize: 2, seed: 0).augmentation == .none)
        #expect(
            try TrainBatchLoader(dataset: cifar, globalBatchSize: 2, seed: 0, augmentation: Augmentation.none)
                .augmentation == .none)
    }

    @Test func checkpointedStateResumesTheSameBatches() throws {
        let data = indexedDataset(count: 32, channels: 3, height: 32, width: 32)
        let size = data.exampleSize
        var original = try TrainBatchLoader(dataset: data, globalBatchSize: 8, seed: 3, epoch: 1)
        var scratch = [Float](repeating: 0, count: 8 * size)
        _ = try scratch.withUnsafeMutableBufferPointer {
            try original.fill(batchIndex: 0, into: $0.baseAddress!, labels: nil, targets: nil)
        }
        let saved = original.state
        var resumed = try TrainBatchLoader(dataset: data, globalBatchSize: 8, seed: 3, epoch: 0)
        resumed.restore(saved)
        var a = [Float](repeating: 0, count: 8 * size)
        var b = a
        _ = try a.withUnsafeMutableBufferPointer {
            try original.fill(batchIndex: 1, into: $0.baseAddress!, labels: nil, targets: nil)
        }
        _ = try b.withUnsafeMutableBufferPointer {
            try resumed.fill(batchIndex: 1, into: $0.baseAddress!, labels: nil, targets: nil)
        }
        #expect(a == b)
        #expect(a != scratch)
        #expect(resumed.state == original.state && resumed.epoch == 1)
    }

    @Test func regressionTargetsAreFilled() throws {
        let data = Dataset(
            name: "r", count: 6, channels: 2, height: 1, width: 1,
            features: (0..<12).map(Float.init), labels: [], targets: [10, 11, 12, 13, 14, 15],
            task: .regression, classes: 1)
        var loader = try TrainBatchLoader(dataset: data, globalBatchSize: 3, seed: 8)
        var x = [Float](repeating: 0, count: 6)
        var targets = [Float](repeating: 0, count: 3)
        _ = try x.withUnsafeMutableBufferPointer { xp in
            try targets.withUnsafeMutableBufferPointer {
                try loader.fill(batchIndex: 1, into: xp.baseAddress!, labels: nil, targets: $0.baseAddress!)
            }
        }
        for (slot, index) in loader.shard(batchIndex: 1).enumerated() {
            #expect(targets[slot] == 10 + Float(index))
            #expect(x[2 * slot] == 2 * Float(index) && x[2 * slot + 1] == 2 * Float(index) + 1)
        }
    }

    @Test func evaluationCoversEveryExampleOnce() throws {
        let data = indexedDataset(count: 23, channels: 1, height: 2, width: 1)
        for (world, global) in [(1, 5), (3, 6), (4, 8), (2, 23), (2, 50)] {
            var covered = [Int](repeating: 0, count: 23)
            var previousEnd = 0
            for b in 0..<((23 + global - 1) / global) {
                for rank in 0..<world {
                    let loader = try EvalBatchLoader(
                        dataset: data, globalBatchSize: global, rank: rank, worldSize: world)
                    var x = [Float](repeating: -1, count: loader.maxLocalBatchSize * 2)
                    var labels = [Int32](repeating: -1, count: loader.maxLocalBatchSize)
                    let n = try x.withUnsafeMutableBufferPointer { xp in
                        try labels.withUnsafeMutableBufferPointer {
                            try loader.fill(batchIndex: b, into: xp.baseAddress!, labels: $0.baseAddress!, targets: nil)
                        }
                    }
                    let range = loader.range(batchIndex: b)
                    #expect(n == range.count && n <= loader.maxLocalBatchSize)
                    #expect(range.lowerBound == previousEnd)
                    previousEnd = range.upperBound
                    for (slot, e) in range.enumerated() {
                        covered[e] += 1
                        #expect(x[2 * slot] == Float(e) * 1000 && x[2 * slot + 1] == Float(e) * 1000 + 1)
                        #expect(labels[slot] == data.labels[e])
                    }
                }
            }
            #expect(covered == [Int](repeating: 1, count: 23), "world \(world), batch \(global)")
        }
    }

    @Test func invalidConfigurationsAreRejected() {
        let data = indexedDataset(count: 10, channels: 1, height: 1, width: 1)
        expectDataError(containing: ["batch-size:", "multiple of the world size 3"]) {
            _ = try TrainBatchLoader(dataset: data, globalBatchSize: 4, rank: 0, worldSize: 3, seed: 0)
        }
        expectDataError(containing: ["batch-size:", "exceeds the 10 training examples"]) {
            _ = try TrainBatchLoader(dataset: data, globalBatchSize: 12, seed: 0)
        }
        expectDataError(containing: ["rank 2"]) {
            _ = try EvalBatchLoader(dataset: data, globalBatchSize: 4, rank: 2, worldSize: 2)
        }
    }
}
