// The file readers as fuzz targets: each takes arbitrary bytes as a file, and must either accept them or
// refuse them with one line that names the file and says what is wrong, never crashing, hanging or
// showing a decoder's or Foundation's internal text. Used by the libFuzzer binary (bayesprune-fuzz) and,
// on the committed corpora, by the tests.

import BayesPruneData
import BayesPruneKernels
import BayesPruneRunIO
import Foundation

/// A reader under fuzzing.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case idx, cifar, csv, safetensors, checkpoint
    /// A JPEG or PNG file of an image folder: decoded (libjpeg-turbo/libpng through CImage) and resampled.
    case image

    /// Runs the reader on `bytes` written to a scratch file in `directory`. Returns nil when the input was
    /// accepted, else the one-line message; traps (a finding) when the message breaks the rules above.
    @discardableResult
    public func run(_ bytes: Data, directory: String) -> String? {
        let path = directory + "/input-" + rawValue
        FileManager.default.createFile(atPath: path, contents: bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            try read(path)
            return nil
        } catch {
            let message = "\(error)"
            check(message, path: path)
            return message
        }
    }

    private func read(_ path: String) throws {
        switch self {
        case .idx:
            do { _ = try IDXReader.readImages(path: path) } catch { _ = try IDXReader.readLabels(path: path) }
        case .cifar:
            var features: [Float] = []
            var labels: [Int32] = []
            try CIFARReader.appendRecords(
                path: path, labelBytes: 2, labelIndex: 1, classes: 100, features: &features, labels: &labels)
        case .csv:
            _ = try CSVReader.load(trainPath: path, seed: 0)
        case .safetensors:
            _ = try Safetensors.read(path: path)
        case .checkpoint:
            _ = Checkpoint.readHeader(path: path)
            _ = try Checkpoint.read(path: path)
        case .image:
            let bytes = try ImageCodec.readFile(path)
            let size = try ImageCodec.probe(bytes, path: path)
            // Small images only: a fuzzed header may claim 32768² pixels, which decodes legitimately but slowly.
            guard size.width * size.height <= 1 << 20 else { return }
            let image = try ImageCodec.decode(bytes, path: path, scaleDenominator: size.width > 64 ? 2 : 1)
            var out = [Float](repeating: 0, count: 3 * 8 * 8)
            let crop = ImageGeometry.resizeCenterCrop(width: image.width, height: image.height, resize: 9, crop: 8)
            out.withUnsafeMutableBufferPointer {
                ImageResampler.cropResize(
                    image, crop: crop, outputWidth: 8, outputHeight: 8, flip: true, into: $0.baseAddress!)
            }
        }
    }

    /// The rules every refusal follows; a violation is a finding. A marker that the input itself contains is
    /// the user's data quoted back (the fuzzer learns the markers from these comparisons and writes them
    /// into fields), not internal text.
    private func check(_ message: String, path: String) {
        let internals = ["Error Domain", "DecodingError", "EncodingError", "NSCocoaErrorDomain", "Swift.", "Optional("]
        precondition(!message.contains("\n"), "\(rawValue): multi-line message: \(message)")
        precondition(message.contains(path), "\(rawValue): message does not name the file: \(message)")
        let input = FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
        for marker in internals where !input.contains(marker) {
            precondition(!message.contains(marker), "\(rawValue): internal text in message: \(message)")
        }
    }
}
