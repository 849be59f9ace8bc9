// `--data image-folder`: DIR/train and DIR/val with one subfolder per class (the ImageFolder
// convention), JPEG and PNG files decoded on demand. Loading scans the folders and reads every file's
// header (in parallel), so a broken or non-image file is reported, naming it, before a run starts; the
// pixels are decoded only when a batch needs them (ImageBatchPipeline).
import BayesPruneKernels
import Dispatch
import Foundation

/// How a split's examples become network inputs.
public enum ImageTransform: Equatable, Sendable {
    /// RandomResizedCrop to the image size (scale 0.08-1, ratio 3/4-4/3) and a horizontal flip with
    /// probability ½, drawn from the example's own (seed, epoch, example) stream.
    case randomResizedCropAndFlip(seed: UInt64)
    /// Shorter side resized to `resize`, then the central image size × image size.
    case resizeCenterCrop
}

/// One split of an image folder: the files, their labels and header sizes. Immutable and shared by
/// the decoder threads.
public final class ImageFolderSource: @unchecked Sendable {
    /// The split's directory (DIR/train or DIR/val).
    public let root: String
    /// Paths relative to `root` ("class/name.jpg"), sorted by class then name.
    public let files: [String]
    /// Width and height of each file's image, from its header.
    public let sizes: [(width: Int32, height: Int32)]
    public let labels: [Int32]
    /// Class names (the subfolder names, sorted); a label indexes this.
    public let classNames: [String]
    /// The square side fed to the network (`--image-size`, default 224).
    public let imageSize: Int
    /// Evaluation's shorter-side resize: imageSize · 256/224 (256 for 224), as the ImageNet recipe.
    public let resizeSize: Int
    /// Threads that decode batches (`--decode-threads`).
    public let decodeThreads: Int

    init(
        root: String, files: [String], sizes: [(width: Int32, height: Int32)], labels: [Int32], classNames: [String],
        imageSize: Int, decodeThreads: Int
    ) {
        self.root = root
        self.files = files
        self.sizes = sizes
        self.labels = labels
        self.classNames = classNames
        self.imageSize = imageSize
        self.resizeSize = Int((Double(imageSize) * 256 / 224).rounded())
        self.decodeThreads = decodeThreads
    }

    public func path(_ example: Int) -> String { joinPath(root, files[example]) }

    static let augmentStream: UInt64 = 0x494D_4741_0000_0000

    /// The augmentation stream of one example in one epoch: independent of ranks, threads and order, so a
    /// run's inputs do not depend on how many processes or decoder threads produced them.
    public static func exampleStream(seed: UInt64, epoch: Int, example: Int) -> Xoshiro256 {
        Xoshiro256(seed: seed, stream: augmentStream ^ (UInt64(truncatingIfNeeded: epoch) << 36) ^ UInt64(example))
    }

    /// Decodes example `example` into `destination` (3 × imageSize × imageSize floats). Throws `DataError`
    /// naming the file when it cannot be read or decoded.
    public func decode(
        example: Int, epoch: Int, transform: ImageTransform, normalization: Normalization?,
        into destination: UnsafeMutablePointer<Float>
    ) throws {
        let path = self.path(example)
        let (width, height) = (Int(sizes[example].width), Int(sizes[example].height))
        var crop: CropRegion
        var flip = false
        switch transform {
        case .randomResizedCropAndFlip(let seed):
            var rng = Self.exampleStream(seed: seed, epoch: epoch, example: example)
            crop = ImageGeometry.randomResizedCrop(width: width, height: height, rng: &rng)
            flip = (rng.next() >> 63) == 1
        case .resizeCenterCrop:
            crop = ImageGeometry.resizeCenterCrop(width: width, height: height, resize: resizeSize, crop: imageSize)
        }
        let denominator = ImageGeometry.dctScaleDenominator(for: crop, outputWidth: imageSize, outputHeight: imageSize)
        let image = try ImageCodec.decode(ImageCodec.readFile(path), path: path, scaleDenominator: denominator)
        if image.width != width || image.height != height {
            // A DCT-domain decode is ⌈size/d⌉ on each axis; anything else means the file changed since loading.
            guard denominator > 1, image.width == (width + denominator - 1) / denominator,
                image.height == (height + denominator - 1) / denominator
            else {
                throw DataError(path, "is \(image.width)x\(image.height) now, \(width)x\(height) when the run started")
            }
            crop = crop.scaled(x: Double(image.width) / Double(width), y: Double(image.height) / Double(height))
        }
        let mean = normalization?.mean ?? [0, 0, 0]
        let inverseStd = normalization?.std.map { 1 / $0 } ?? [1, 1, 1]
        ImageResampler.cropResize(
            image, crop: crop, outputWidth: imageSize, outputHeight: imageSize, flip: flip, mean: mean,
            inverseStd: inverseStd, into: destination)
    }
}

public enum ImageFolderReader {
    public static let extensions: Set<String> = ["jpg", "jpeg", "png"]
    /// The ImageNet recipe's crop side.
    public static let defaultImageSize = 224
    /// Bytes read to find a header; a file whose header lies further is read whole.
    static let headerBytes = 1 << 16

    /// Train (DIR/train) and validation (DIR/val) splits; classes are train's subfolders, and val's must be
    /// among them. Throws `DataError` naming the directory or file that is wrong.
    public static func load(directory: String, imageSize: Int, decodeThreads: Int) throws -> (
        train: Dataset, test: Dataset
    ) {
        guard directoryExists(directory) else { throw DataError(directory, "missing directory") }
        let trainRoot = joinPath(directory, "train")
        let valRoot = joinPath(directory, "val")
        for root in [trainRoot, valRoot] where !directoryExists(root) {
            throw DataError(root, "missing directory (image-folder data is DIR/train and DIR/val, one subfolder per class)")
        }
        let classes = try subdirectories(trainRoot)
        guard classes.count >= 2 else {
            throw DataError(trainRoot, "has \(classes.count) class subfolder(s); at least 2 are needed")
        }
        for c in try subdirectories(valRoot) where !classes.contains(c) {
            throw DataError(joinPath(valRoot, c), "is a class that train/ does not have")
        }
        let train = try split(root: trainRoot, classes: classes, name: "image-folder train", requireAll: true,
                              imageSize: imageSize, decodeThreads: decodeThreads)
        let test = try split(root: valRoot, classes: classes, name: "image-folder val", requireAll: false,
                             imageSize: imageSize, decodeThreads: decodeThreads)
        return (train, test)
    }

    static func subdirectories(_ root: String) throws -> [String] {
        let names = try contents(root)
        return names.filter { directoryExists(joinPath(root, $0)) }.sorted()
    }

    static func contents(_ directory: String) throws -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw DataError(directory, "cannot list the directory")
        }
        // Hidden entries (.DS_Store, ._name, .cache) are never images of the data set.
        return names.filter { !$0.hasPrefix(".") }
    }

    /// Every file under `directory`, recursively, relative to it, sorted.
    static func files(under directory: String, prefix: String) throws -> [String] {
        var out = [String]()
        for name in try contents(directory).sorted() {
            let path = joinPath(directory, name)
            if directoryExists(path) {
                out += try files(under: path, prefix: prefix + name + "/")
            } else {
                out.append(prefix + name)
            }
        }
        return out
    }

    static func split(
        root: String, classes: [String], name: String, requireAll: Bool, imageSize: Int, decodeThreads: Int
    ) throws -> Dataset {
        var files = [String]()
        var labels = [Int32]()
        for (label, c) in classes.enumerated() {
            let directory = joinPath(root, c)
            guard directoryExists(directory) else { continue }
            let found = try Self.files(under: directory, prefix: c + "/")
            if found.isEmpty && requireAll {
                throw DataError(directory, "has no images (a training class needs at least one .jpg, .jpeg or .png)")
            }
            for f in found {
                let ext = (f as NSString).pathExtension.lowercased()
                guard extensions.contains(ext) else {
                    throw DataError(joinPath(root, f), "not a .jpg, .jpeg or .png file (image-folder reads JPEG and PNG)")
                }
            }
            files += found
            labels += repeatElement(Int32(label), count: found.count)
        }
        guard !files.isEmpty else { throw DataError(root, "has no images") }
        let sizes = try probeAll(files.map { joinPath(root, $0) }, threads: decodeThreads)
        let source = ImageFolderSource(
            root: root, files: files, sizes: sizes, labels: labels, classNames: classes, imageSize: imageSize,
            decodeThreads: decodeThreads)
        return Dataset(
            name: name, count: files.count, channels: 3, height: imageSize, width: imageSize, features: [],
            labels: labels, targets: [], task: .multiclass, classes: classes.count, images: source)
    }

    /// Every file's header size, `threads` files at a time; the first failure (in file order) is thrown.
    static func probeAll(_ paths: [String], threads: Int) throws -> [(width: Int32, height: Int32)] {
        var sizes = [(width: Int32, height: Int32)](repeating: (0, 0), count: paths.count)
        var errors = [DataError?](repeating: nil, count: paths.count)
        let parts = max(1, min(threads, paths.count))
        sizes.withUnsafeMutableBufferPointer { s in
            errors.withUnsafeMutableBufferPointer { e in
                let (sp, ep) = (s.baseAddress!, e.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: parts) { part in
                    for i in (paths.count * part / parts)..<(paths.count * (part + 1) / parts) {
                        do {
                            let (w, h) = try probe(paths[i])
                            sp[i] = (Int32(w), Int32(h))
                        } catch let error as DataError {
                            ep[i] = error
                        } catch {
                            ep[i] = DataError(paths[i], "cannot read")
                        }
                    }
                }
            }
        }
        if let first = errors.first(where: { $0 != nil }) { throw first! }
        return sizes
    }

    /// The image size from the first bytes of the file (the whole file when the header lies further).
    static func probe(_ path: String) throws -> (width: Int, height: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DataError(path, "cannot read (\(String(cString: strerror(errno))))") }
        var prefix = [UInt8](repeating: 0, count: headerBytes)
        let got = prefix.withUnsafeMutableBytes { read(fd, $0.baseAddress!, headerBytes) }
        close(fd)
        guard got > 0 else { throw DataError(path, got == 0 ? "empty file" : "cannot read") }
        prefix.removeSubrange(got...)
        if let size = try? ImageCodec.probe(prefix, path: path) { return size }
        return try ImageCodec.probe(got < headerBytes ? prefix : ImageCodec.readFile(path), path: path)
    }
}
