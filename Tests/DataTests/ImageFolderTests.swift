// The image-folder loader: JPEG/PNG decoding against the encoded pixels, the crop geometry against
// torchvision's closed forms, antialiased resampling against a naive 2-D twin and closed forms, folder
// scanning and its one-line errors, and background decoding that gives the same pixels whatever the
// thread count or order.
import BayesPruneData
import BayesPruneKernels
import Foundation
import TestSupport
import Testing

/// The naive twin of `ImageResampler.cropResize`: every output pixel as a direct 2-D weighted sum of the
/// triangle filter, weights computed per (output, source) pair and normalized over the image.
func naiveCropResize(_ image: RGBImage, crop: CropRegion, width: Int, height: Int) -> [Float] {
    func weights(_ i: Int, _ start: Double, _ length: Double, _ out: Int, _ n: Int) -> [Double] {
        let scale = length / Double(out)
        let support = max(scale, 1)
        let centre = start + (Double(i) + 0.5) * scale
        var w = (0..<n).map { max(0, 1 - abs(Double($0) + 0.5 - centre) / support) }
        let total = w.reduce(0, +)
        w = w.map { $0 / total }
        return w
    }
    var out = [Float](repeating: 0, count: 3 * width * height)
    for y in 0..<height {
        let wy = weights(y, crop.y, crop.height, height, image.height)
        for x in 0..<width {
            let wx = weights(x, crop.x, crop.width, width, image.width)
            for c in 0..<3 {
                var s = 0.0
                for j in 0..<image.height where wy[j] > 0 {
                    for k in 0..<image.width where wx[k] > 0 {
                        s += wy[j] * wx[k] * Double(image.pixels[(j * image.width + k) * 3 + c])
                    }
                }
                out[c * width * height + y * width + x] = Float(s / 255)
            }
        }
    }
    return out
}

func resampled(_ image: RGBImage, crop: CropRegion, width: Int, height: Int, flip: Bool = false) -> [Float] {
    var out = [Float](repeating: .nan, count: 3 * width * height)
    out.withUnsafeMutableBufferPointer {
        ImageResampler.cropResize(
            image, crop: crop, outputWidth: width, outputHeight: height, flip: flip, into: $0.baseAddress!)
    }
    return out
}

@Suite struct ImageCodecTests {
    @Test func pngRoundTripIsExact() throws {
        let image = RGBImage(width: 13, height: 7, pixels: testBytes(13 * 7 * 3, seed: 4))
        let bytes = ImageCodec.encode(image)
        #expect(try ImageCodec.probe(bytes, path: "p.png") == (13, 7))
        #expect(try ImageCodec.decode(bytes, path: "p.png") == image)
    }

    @Test func jpegDecodesCloseToTheEncodedPixels() throws {
        // A smooth image: JPEG at quality 95 keeps every pixel within a few levels.
        var pixels = [UInt8]()
        for y in 0..<48 { for x in 0..<64 { pixels += [UInt8(x * 4), UInt8(y * 5), UInt8((x + y) * 2)] } }
        let image = RGBImage(width: 64, height: 48, pixels: pixels)
        let decoded = try ImageCodec.decode(ImageCodec.encode(image, jpegQuality: 95), path: "g.jpg")
        #expect(decoded.width == 64 && decoded.height == 48)
        let worst = zip(decoded.pixels, image.pixels).map { abs(Int($0) - Int($1)) }.max()!
        #expect(worst <= 8, "largest pixel error \(worst)")
        // A 1/2 DCT-domain decode is ⌈64/2⌉ × ⌈48/2⌉ and close to the 2×2 means of the full decode.
        let half = try ImageCodec.decode(ImageCodec.encode(image, jpegQuality: 95), path: "g.jpg", scaleDenominator: 2)
        #expect(half.width == 32 && half.height == 24)
        var worstMean = 0.0
        for y in 0..<24 {
            for x in 0..<32 {
                for c in 0..<3 {
                    let m = [(0, 0), (0, 1), (1, 0), (1, 1)].map {
                        Double(decoded.pixels[((2 * y + $0.0) * 64 + 2 * x + $0.1) * 3 + c])
                    }.reduce(0, +) / 4
                    worstMean = max(worstMean, abs(m - Double(half.pixels[(y * 32 + x) * 3 + c])))
                }
            }
        }
        #expect(worstMean <= 6, "half-size decode differs from 2x2 means by \(worstMean)")
    }

    @Test func nonImagesAndBrokenFilesAreNamed() throws {
        expectDataError(containing: ["notes.jpg", "not a JPEG or PNG image"]) {
            _ = try ImageCodec.decode(Array("hello".utf8), path: "notes.jpg")
        }
        let png = ImageCodec.encode(RGBImage(width: 4, height: 4, pixels: testBytes(48, seed: 1)))
        expectDataError(containing: ["cut.png", "PNG"]) { _ = try ImageCodec.decode(Array(png.prefix(20)), path: "cut.png") }
        let jpeg = ImageCodec.encode(RGBImage(width: 16, height: 16, pixels: testBytes(768, seed: 2)), jpegQuality: 90)
        expectDataError(containing: ["cut.jpg", "JPEG"]) { _ = try ImageCodec.decode(Array(jpeg.prefix(4)), path: "cut.jpg") }
        // Cut inside the image data: libjpeg would fill the rest with grey; refused as PIL does.
        expectDataError(containing: ["half.jpg", "not a readable JPEG"]) {
            _ = try ImageCodec.decode(Array(jpeg.prefix(jpeg.count * 2 / 3)), path: "half.jpg")
        }
    }
}

@Suite struct ImageGeometryTests {
    @Test func centerCropMatchesTorchvision() {
        // 500×375: Resize(256) → 341×256 (int(256·500/375)); CenterCrop(224): top round(16) = 16,
        // left round(58.5) = 58 (half to even).
        let r = ImageGeometry.resizeCenterCrop(width: 500, height: 375, resize: 256, crop: 224)
        let s = 500.0 / 341
        #expect(abs(r.x - 58 * s) < 1e-9 && abs(r.width - 224 * s) < 1e-9)
        let t = 375.0 / 256
        #expect(abs(r.y - 16 * t) < 1e-9 && abs(r.height - 224 * t) < 1e-9)
    }

    @Test func randomResizedCropStaysInsideWithTheAllowedScaleAndRatio() {
        var rng = Xoshiro256(seed: 3)
        var fractions: [Double] = []
        for i in 0..<2000 {
            let (w, h) = [(500, 375), (64, 300), (32, 32)][i % 3]
            let r = ImageGeometry.randomResizedCrop(width: w, height: h, rng: &rng)
            #expect(r.x >= 0 && r.y >= 0 && r.x + r.width <= Double(w) && r.y + r.height <= Double(h))
            #expect(r.width >= 1 && r.height >= 1)
            if i % 3 == 0 {
                let ratio = r.width / r.height
                // Rounding w and h to integers moves the ratio by at most ~1/min(w, h) relative.
                #expect(ratio >= 0.75 * (1 - 0.1) && ratio <= 4.0 / 3 * (1 + 0.1), "ratio \(ratio)")
                fractions.append(r.width * r.height / Double(w * h))
            }
        }
        #expect(fractions.min()! >= 0.07 && fractions.max()! <= 1)
        // Area fractions are uniform on [0.08, 1] before the fit test: their mean is near 0.54 (a 500×375
        // image rejects few draws).
        let mean = fractions.reduce(0, +) / Double(fractions.count)
        #expect(abs(mean - 0.5) < 0.08, "mean area fraction \(mean)")
        // The fallback for an extreme ratio: the central crop at the nearest allowed ratio.
        var never = Xoshiro256(seed: 1)
        let f = ImageGeometry.randomResizedCrop(width: 10, height: 1000, rng: &never, scale: 2...3)
        #expect(f == CropRegion(x: 0, y: Double((1000 - 13) / 2), width: 10, height: 13))
    }

    @Test func dctScaleNeverUpsamples() {
        let crop = CropRegion(x: 0, y: 0, width: 500, height: 400)
        #expect(ImageGeometry.dctScaleDenominator(for: crop, outputWidth: 224, outputHeight: 224) == 1)
        #expect(ImageGeometry.dctScaleDenominator(for: crop, outputWidth: 100, outputHeight: 100) == 4)
        #expect(ImageGeometry.dctScaleDenominator(for: crop, outputWidth: 40, outputHeight: 40) == 8)
    }
}

@Suite struct ImageResamplerTests {
    let image = RGBImage(width: 23, height: 17, pixels: testBytes(23 * 17 * 3, seed: 9))

    @Test func identityCopiesThePixels() {
        let out = resampled(image, crop: CropRegion(x: 0, y: 0, width: 23, height: 17), width: 23, height: 17)
        for c in 0..<3 {
            for i in 0..<(23 * 17) {
                #expect(abs(out[c * 23 * 17 + i] - Float(image.pixels[i * 3 + c]) / 255) <= 1e-6)
            }
        }
    }

    @Test func halvingUsesTheFourTapTriangle() {
        // Scale 2: the filter of output x covers source pixels 2x−1 … 2x+2 with weights 1/8, 3/8, 3/8, 1/8.
        let out = resampled(image, crop: CropRegion(x: 0, y: 0, width: 23, height: 17), width: 11, height: 17)
        let wide = resampled(image, crop: CropRegion(x: 0, y: 0, width: 22, height: 17), width: 11, height: 17)
        for y in 0..<17 {
            for x in 1..<10 {
                let p = { (k: Int) in Float(image.pixels[(y * 23 + k) * 3]) / 255 }
                let want = (p(2 * x - 1) + 3 * p(2 * x) + 3 * p(2 * x + 1) + p(2 * x + 2)) / 8
                #expect(abs(wide[y * 11 + x] - want) <= 1e-6, "(\(y), \(x))")
            }
        }
        #expect(out.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    @Test(arguments: [
        (CropRegion(x: 3.5, y: 1.25, width: 15.2, height: 11.7), 9, 6),
        (CropRegion(x: 0, y: 0, width: 23, height: 17), 40, 31),
        (CropRegion(x: 5, y: 4, width: 7, height: 9), 7, 9),
        (CropRegion(x: 0, y: 0, width: 23, height: 17), 3, 2),
    ])
    func matchesTheNaiveTwin(crop: CropRegion, width: Int, height: Int) {
        let fast = resampled(image, crop: crop, width: width, height: height)
        let naive = naiveCropResize(image, crop: crop, width: width, height: height)
        let worst = zip(fast, naive).map { abs($0 - $1) }.max()!
        #expect(worst <= 2e-6, "largest difference \(worst)")
    }

    @Test func constantStaysConstantAndFlipMirrors() {
        let grey = RGBImage(width: 31, height: 29, pixels: [UInt8](repeating: 77, count: 31 * 29 * 3))
        let out = resampled(grey, crop: CropRegion(x: 2.3, y: 1.1, width: 20.4, height: 19), width: 8, height: 8)
        #expect(out.allSatisfy { abs($0 - 77 / 255) <= 1e-6 })
        let crop = CropRegion(x: 1, y: 2, width: 17, height: 13)
        let plain = resampled(image, crop: crop, width: 6, height: 5)
        let mirrored = resampled(image, crop: crop, width: 6, height: 5, flip: true)
        for c in 0..<3 {
            for y in 0..<5 {
                for x in 0..<6 { #expect(mirrored[c * 30 + y * 6 + x] == plain[c * 30 + y * 6 + 5 - x]) }
            }
        }
    }
}

@Suite struct ImageFolderLoaderTests {
    static let folder = try! writeImageFolder(
        temporaryDirectory("image-folder") + "/data", classes: 3, trainPerClass: 6, valPerClass: 2)

    func load(threads: Int = 2, size: Int = 16) throws -> (train: Dataset, test: Dataset) {
        try DataSource.load(kind: .imageFolder, dataDir: Self.folder, seed: 1, imageSize: size, decodeThreads: threads)
    }

    @Test func scansClassesLabelsAndSizes() throws {
        let (train, test) = try load()
        #expect(train.count == 18 && test.count == 6 && train.classes == 3)
        #expect((train.channels, train.height, train.width) == (3, 16, 16))
        #expect(train.images!.classNames == ["class0", "class1", "class2"])
        #expect(train.labels == (0..<3).flatMap { Array(repeating: Int32($0), count: 6) })
        #expect(train.images!.files[0] == "class0/img0.png" && train.images!.files[1] == "class0/img1.jpg")
        // Header sizes: writeImageFolder's first image (n = 1) is 36×44.
        #expect(train.images!.sizes[0] == (36, 44))
    }

    /// Decoded batches are the same whatever the decoder thread count, equal one-by-one decoding, and
    /// change with the epoch (new crops), not with the rank layout.
    @Test func batchesDoNotDependOnThreadsOrRanks() throws {
        func epochBatches(threads: Int, rank: Int, world: Int, epoch: Int) throws -> [Float] {
            var (train, _) = try load(threads: threads)
            Normalization(mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3]).apply(to: &train)
            var loader = try TrainBatchLoader(
                dataset: train, globalBatchSize: 6, rank: rank, worldSize: world, seed: 7, epoch: epoch)
            var out = [Float]()
            var x = [Float](repeating: 0, count: loader.localBatchSize * train.exampleSize)
            for b in 0..<loader.batchesPerEpoch {
                try x.withUnsafeMutableBufferPointer {
                    _ = try loader.fill(batchIndex: b, into: $0.baseAddress!, labels: nil, targets: nil)
                }
                out += x
            }
            return out
        }
        let one = try epochBatches(threads: 1, rank: 0, world: 1, epoch: 2)
        #expect(try epochBatches(threads: 3, rank: 0, world: 1, epoch: 2) == one)
        #expect(try epochBatches(threads: 1, rank: 0, world: 1, epoch: 3) != one)
        // Two ranks' shards, interleaved per batch, are the one-rank batches.
        let r0 = try epochBatches(threads: 2, rank: 0, world: 2, epoch: 2)
        let r1 = try epochBatches(threads: 2, rank: 1, world: 2, epoch: 2)
        let half = 3 * 3 * 16 * 16
        var joined = [Float]()
        for b in 0..<3 {
            joined.append(contentsOf: r0[(b * half)..<((b + 1) * half)])
            joined.append(contentsOf: r1[(b * half)..<((b + 1) * half)])
        }
        #expect(joined == one)
        // The first example of the epoch, decoded directly, is the batch's first slot.
        var (train, _) = try load(threads: 1)
        let norm = Normalization(mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3])
        norm.apply(to: &train)
        let first = Int(TrainBatchLoader.epochOrder(count: 18, seed: 7, epoch: 2)[0])
        var direct = [Float](repeating: 0, count: 3 * 16 * 16)
        try direct.withUnsafeMutableBufferPointer {
            try train.images!.decode(
                example: first, epoch: 2, transform: .randomResizedCropAndFlip(seed: 7), normalization: norm,
                into: $0.baseAddress!)
        }
        #expect(Array(one.prefix(3 * 16 * 16)) == direct)
    }

    @Test func evaluationDecodesTheCenterCropOfEveryExample() throws {
        let (_, test) = try load(threads: 2, size: 12)
        let loader = try EvalBatchLoader(dataset: test, globalBatchSize: 4)
        var all = [Float]()
        var labels = [Int32]()
        var x = [Float](repeating: 0, count: 4 * test.exampleSize)
        var l = [Int32](repeating: -1, count: 4)
        for b in 0..<loader.batchCount {
            let n = try x.withUnsafeMutableBufferPointer { xp in
                try l.withUnsafeMutableBufferPointer {
                    try loader.fill(batchIndex: b, into: xp.baseAddress!, labels: $0.baseAddress!, targets: nil)
                }
            }
            all += x.prefix(n * test.exampleSize)
            labels += l.prefix(n)
        }
        #expect(labels == test.labels)
        var scaled = 0
        for e in 0..<test.count {
            let path = test.images!.path(e)
            let full = try ImageCodec.decode(ImageCodec.readFile(path), path: path)
            var crop = ImageGeometry.resizeCenterCrop(width: full.width, height: full.height, resize: 14, crop: 12)
            // A JPEG whose crop spans ≥ 2·12 pixels is decoded at 1/d size in the DCT domain (PNG: always full).
            let d = path.hasSuffix(".jpg") ? ImageGeometry.dctScaleDenominator(for: crop, outputWidth: 12, outputHeight: 12) : 1
            let image = try ImageCodec.decode(ImageCodec.readFile(path), path: path, scaleDenominator: d)
            if d > 1 {
                scaled += 1
                crop = crop.scaled(
                    x: Double(image.width) / Double(full.width), y: Double(image.height) / Double(full.height))
            }
            let want = resampled(image, crop: crop, width: 12, height: 12)
            let worst = zip(all[(e * 432)..<((e + 1) * 432)], want).map { abs($0 - $1) }.max()!
            #expect(worst == 0, "example \(e) (\(path)) differs by \(worst)")
            // And the scaled decode stays close to resampling the full-size image.
            let fromFull = resampled(
                full, crop: ImageGeometry.resizeCenterCrop(width: full.width, height: full.height, resize: 14, crop: 12),
                width: 12, height: 12)
            let mean = zip(want, fromFull).map { Double(abs($0 - $1)) }.reduce(0, +) / Double(want.count)
            #expect(mean <= 0.02, "example \(e): DCT-scaled decode differs from full decoding by \(mean) on average")
        }
        #expect(scaled > 0, "no JPEG was decoded at reduced size")
    }

    @Test func normalizationIsFittedOnDecodedImages() throws {
        let (train, _) = try load()
        let sample = try Normalization.decodedSample(of: train)
        #expect(sample.count == 18 && sample.features.count == 18 * 3 * 16 * 16)
        let n = Normalization.fit(sample)
        // The generated images are 40 + noise in 0...63 (mean ≈ 71) outside their band and 170 + noise inside.
        #expect(n.mean.allSatisfy { $0 > 0.25 && $0 < 0.6 }, "\(n.mean)")
    }

    @Test func badFoldersAndFilesGetOneLineNamingThem() throws {
        let root = try temporaryDirectory("bad-folder")
        expectDataError(containing: [root + "/none", "missing directory"]) {
            _ = try DataSource.load(kind: .imageFolder, dataDir: root + "/none", seed: 1)
        }
        try writeImageFolder(root + "/a", classes: 2, trainPerClass: 2, valPerClass: 1)
        try FileManager.default.removeItem(atPath: root + "/a/val")
        expectDataError(containing: [root + "/a/val", "missing directory"]) {
            _ = try DataSource.load(kind: .imageFolder, dataDir: root + "/a", seed: 1)
        }
        try writeImageFolder(root + "/b", classes: 2, trainPerClass: 2, valPerClass: 1)
        try writeText("a note", to: root + "/b/train/class1/notes.txt")
        try writeText("hidden", to: root + "/b/train/class1/.DS_Store")
        expectDataError(containing: [root + "/b/train/class1/notes.txt", "not a .jpg, .jpeg or .png"]) {
            _ = try DataSource.load(kind: .imageFolder, dataDir: root + "/b", seed: 1)
        }
        try FileManager.default.removeItem(atPath: root + "/b/train/class1/notes.txt")
        try writeText("not really", to: root + "/b/train/class1/fake.png")
        expectDataError(containing: [root + "/b/train/class1/fake.png", "not a JPEG or PNG image"]) {
            _ = try DataSource.load(kind: .imageFolder, dataDir: root + "/b", seed: 1)
        }
        try FileManager.default.removeItem(atPath: root + "/b/train/class1/fake.png")
        try FileManager.default.createDirectory(atPath: root + "/b/val/class9", withIntermediateDirectories: true)
        expectDataError(containing: [root + "/b/val/class9", "train/ does not have"]) {
            _ = try DataSource.load(kind: .imageFolder, dataDir: root + "/b", seed: 1)
        }
        expectDataError(containing: ["image-size", "only for image-folder"]) {
            _ = try DataSource.load(kind: .mnist, dataDir: root, seed: 1, imageSize: 32)
        }
    }

    /// A file that breaks after the scan (its header still fine) fails the batch that needs it, naming it.
    @Test func aFileThatBreaksLaterNamesItself() throws {
        let root = try writeImageFolder(
            temporaryDirectory("late-break") + "/d", classes: 2, trainPerClass: 2, valPerClass: 1)
        let (train, _) = try DataSource.load(kind: .imageFolder, dataDir: root, seed: 1, imageSize: 8)
        let victim = train.images!.path(0)
        let bytes = try ImageCodec.readFile(victim)
        try writeBytes(Array(bytes.prefix(60)), to: victim)
        var loader = try TrainBatchLoader(dataset: train, globalBatchSize: 4, seed: 1)
        var x = [Float](repeating: 0, count: 4 * train.exampleSize)
        expectDataError(containing: [victim]) {
            try x.withUnsafeMutableBufferPointer {
                _ = try loader.fill(batchIndex: 0, into: $0.baseAddress!, labels: nil, targets: nil)
            }
        }
    }
}
