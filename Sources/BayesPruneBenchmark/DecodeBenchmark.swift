// `bench --decode DIR`: how fast the image-folder pipeline turns files into training inputs (read,
// decode, random-resized crop, resample, normalize), per decoder thread and in total.
import BayesPruneData
import BayesPruneKernels
import Foundation

extension Benchmark {
    /// Decodes up to `images` training images of the folder `directory` (DIR/train, DIR/val) with the
    /// training transform at `imageSize`, once per thread count, `repeats` times (epochs 0, 1, ...: new
    /// crops each time); reports the median images/s in total and per thread. Throws `DataError`.
    public static func decodeRate(
        directory: String, imageSize: Int, threads: [Int], images: Int, repeats: Int, log: (String) -> Void
    ) throws -> [String: Any] {
        var rows: [[String: Any]] = []
        for t in threads {
            let (train, _) = try DataSource.load(
                kind: .imageFolder, dataDir: directory, seed: 1, imageSize: imageSize, decodeThreads: t)
            let source = train.images!
            let n = min(images, train.count)
            let examples = (0..<n).map { Int32($0 * train.count / n) }
            let pipeline = ImageBatchPipeline(
                source: source, transform: .randomResizedCropAndFlip(seed: 1), normalization: nil)
            defer { pipeline.shutDown() }
            let buffer = FloatBuffer(count: n * train.exampleSize)
            var rates: [Double] = []
            for r in 0..<repeats {
                let start = monotonicSeconds()
                try pipeline.fetch(key: r, examples: examples, epoch: r, upcoming: [], into: buffer.pointer)
                rates.append(Double(n) / (monotonicSeconds() - start))
            }
            let median = rates.sorted()[rates.count / 2]
            log(String(format: "decode: %d thread(s): %.0f images/s (%.0f per thread)", t, median, median / Double(t)))
            rows.append([
                "threads": t, "images": n, "images_per_second": median, "images_per_second_per_thread": median / Double(t),
                "repeats": rates,
            ])
        }
        return ["directory": directory, "image_size": imageSize, "transform": "random-resized-crop+flip", "results": rows]
    }
}
