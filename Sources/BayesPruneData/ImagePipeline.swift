// Background decoding for image-folder data: a pool of decoder threads fills batch buffers a few
// batches ahead of the consumer, so a training step waits on I/O only when decoding cannot keep up.
// Every example's pixels depend only on (file, seed, epoch, example), never on which thread or in which
// order it was decoded.
import BayesPruneKernels
import Foundation

/// One batch being decoded: its examples, its buffer and how many examples are still outstanding.
final class ImageBatchJob: @unchecked Sendable {
    let key: Int
    let examples: [Int32]
    let epoch: Int
    let buffer: UnsafeMutablePointer<Float>
    var remaining: Int
    /// The failure of the earliest failing example, so the message does not depend on thread timing.
    var failure: (slot: Int, error: DataError)?
    var cancelled = false

    init(key: Int, examples: [Int32], epoch: Int, exampleSize: Int) {
        self.key = key
        self.examples = examples
        self.epoch = epoch
        self.remaining = examples.count
        self.buffer = .allocate(capacity: max(examples.count * exampleSize, 1))
    }

    deinit { buffer.deallocate() }
}

/// Decoding counters, for the log and `bench`.
public struct DecodeStatistics: Equatable, Sendable {
    /// Images decoded so far.
    public var images = 0
    /// Seconds the decoder threads spent reading, decoding and resampling (summed over threads).
    public var decodeSeconds = 0.0
    /// Seconds the consumer waited for a batch that was not ready.
    public var waitSeconds = 0.0

    public init() {}

    /// Images per second of one decoder thread (≈ per core when the threads have cores of their own).
    public var imagesPerSecondPerThread: Double { decodeSeconds > 0 ? Double(images) / decodeSeconds : 0 }
}

/// Decodes batches of one split on `source.decodeThreads` threads, keeping up to `depth` batches in flight.
/// The threads hold `core` (not the pipeline), so dropping the pipeline stops them and frees everything.
public final class ImageBatchPipeline: @unchecked Sendable {
    let core: ImageDecoderCore

    public var source: ImageFolderSource { core.source }
    public var depth: Int { core.depth }

    /// Starts the decoder threads.
    public init(source: ImageFolderSource, transform: ImageTransform, normalization: Normalization?, depth: Int = 2) {
        core = ImageDecoderCore(source: source, transform: transform, normalization: normalization, depth: depth)
    }

    deinit { core.shutDown() }

    /// Stops the threads (after their current image) and waits for them.
    public func shutDown() { core.shutDown() }

    public var decodeStatistics: DecodeStatistics { core.decodeStatistics }

    /// Copies batch `key` (examples in order, 3·imageSize² floats each) into `destination`, decoding it now
    /// if it was not requested before, and asks for `upcoming` (the next batches, in order) to be decoded
    /// meanwhile; batches in flight that are neither are dropped. Throws the first example's `DataError`.
    public func fetch(
        key: Int, examples: [Int32], epoch: Int, upcoming: [(key: Int, examples: [Int32], epoch: Int)],
        into destination: UnsafeMutablePointer<Float>
    ) throws {
        try core.fetch(key: key, examples: examples, epoch: epoch, upcoming: upcoming, into: destination)
    }
}

/// The queue, the jobs and the threads behind an `ImageBatchPipeline`.
final class ImageDecoderCore: @unchecked Sendable {
    let source: ImageFolderSource
    let transform: ImageTransform
    let normalization: Normalization?
    let depth: Int
    let exampleSize: Int
    private let condition = NSCondition()
    private var queue: [(job: ImageBatchJob, slot: Int)] = []
    private var jobs: [Int: ImageBatchJob] = [:]
    private var stopping = false
    private var running = 0
    private var statistics = DecodeStatistics()

    init(source: ImageFolderSource, transform: ImageTransform, normalization: Normalization?, depth: Int = 2) {
        self.source = source
        self.transform = transform
        self.normalization = normalization
        self.depth = depth
        self.exampleSize = 3 * source.imageSize * source.imageSize
        for i in 0..<max(1, source.decodeThreads) {
            let thread = Thread { self.work() }
            thread.name = "decode-\(i)"
            thread.stackSize = 1 << 20
            running += 1
            thread.start()
        }
    }

    /// Stops the threads (after their current image) and waits for them; a second call returns at once.
    func shutDown() {
        condition.lock()
        stopping = true
        queue.removeAll()
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }

    var decodeStatistics: DecodeStatistics {
        condition.lock()
        defer { condition.unlock() }
        return statistics
    }

    func fetch(
        key: Int, examples: [Int32], epoch: Int, upcoming: [(key: Int, examples: [Int32], epoch: Int)],
        into destination: UnsafeMutablePointer<Float>
    ) throws {
        condition.lock()
        let wanted = Set([key] + upcoming.prefix(depth).map(\.key))
        for (k, job) in jobs where !wanted.contains(k) {
            job.cancelled = true
            jobs[k] = nil
        }
        queue.removeAll { $0.job.cancelled }
        let job = jobs[key] ?? enqueue(key: key, examples: examples, epoch: epoch, first: true)
        for next in upcoming.prefix(depth) where jobs[next.key] == nil {
            _ = enqueue(key: next.key, examples: next.examples, epoch: next.epoch, first: false)
        }
        if job.remaining > 0 {
            let start = monotonicSeconds()
            while job.remaining > 0 { condition.wait() }
            statistics.waitSeconds += monotonicSeconds() - start
        }
        jobs[key] = nil
        condition.unlock()
        if let failure = job.failure { throw failure.error }
        destination.update(from: job.buffer, count: examples.count * exampleSize)
    }

    /// Adds a job's examples to the queue, at the front when the consumer waits for it. Caller holds the lock.
    private func enqueue(key: Int, examples: [Int32], epoch: Int, first: Bool) -> ImageBatchJob {
        let job = ImageBatchJob(key: key, examples: examples, epoch: epoch, exampleSize: exampleSize)
        jobs[key] = job
        let tasks = examples.indices.map { (job: job, slot: $0) }
        if first { queue.insert(contentsOf: tasks, at: 0) } else { queue.append(contentsOf: tasks) }
        if !tasks.isEmpty { condition.broadcast() }
        return job
    }

    private func work() {
        condition.lock()
        while true {
            while queue.isEmpty && !stopping { condition.wait() }
            if stopping { break }
            let (job, slot) = queue.removeFirst()
            condition.unlock()
            let start = monotonicSeconds()
            var failure: DataError? = nil
            do {
                try source.decode(
                    example: Int(job.examples[slot]), epoch: job.epoch, transform: transform,
                    normalization: normalization, into: job.buffer + slot * exampleSize)
            } catch let error as DataError {
                failure = error
            } catch {
                failure = DataError(source.path(Int(job.examples[slot])), "cannot decode")
            }
            let seconds = monotonicSeconds() - start
            condition.lock()
            statistics.images += 1
            statistics.decodeSeconds += seconds
            if let failure, slot < (job.failure?.slot ?? Int.max) { job.failure = (slot, failure) }
            job.remaining -= 1
            if job.remaining == 0 { condition.broadcast() }
        }
        running -= 1
        condition.broadcast()
        condition.unlock()
    }
}
