// The gradient sum over ranks in buckets, started while the backward pass still runs (horovod's and
// PyTorch DDP's overlap): backward finishes the last layers' gradients first, so the flat gradient
// buffer becomes final from its end towards its start. Bucket k covers [count − (k+1)·B, count − k·B)
// (the first one possibly shorter): the boundaries depend only on the buffer size and B, so the
// overlapped and the plain path run the same sums in the same order, and give bitwise identical results.
// Sees only a pointer, a count and the communicator.

public final class BucketedAllreduce {
    public let communicator: Communicator
    public let buffer: UnsafeMutablePointer<Float>
    public let count: Int
    /// Floats per bucket (B).
    public let bucketElements: Int
    /// Start sums during backward (true) or only once it is over (false).
    public let overlap: Bool
    /// Everything in [launchedFrom, count) has been started.
    private var launchedFrom: Int
    /// Buckets started while backward was still running, in the last step (for the log).
    public private(set) var startedEarly = 0

    /// `bucketBytes` is rounded to whole floats (at least one).
    public init(communicator: Communicator, buffer: UnsafeMutablePointer<Float>, count: Int, bucketBytes: Int, overlap: Bool) {
        self.communicator = communicator
        self.buffer = buffer
        self.count = count
        self.bucketElements = max(1, bucketBytes / MemoryLayout<Float>.stride)
        self.overlap = overlap
        launchedFrom = count
    }

    public var bucketCount: Int { (count + bucketElements - 1) / bucketElements }

    /// Call before the step's backward.
    public func beginStep() {
        launchedFrom = count
        startedEarly = 0
    }

    /// The start of the bucket that ends at `end`.
    private func bucketStart(endingAt end: Int) -> Int { max(0, end - bucketElements) }

    /// Gradients in [offset, count) are final: starts (with overlap) every bucket that lies inside, and
    /// lets the started ones progress. Offset 0 is the end of backward.
    public func gradientsReady(from offset: Int) throws {
        guard overlap, communicator.size > 1 else { return }
        while launchedFrom > 0 && bucketStart(endingAt: launchedFrom) >= offset {
            try startBucket()
            if offset > 0 { startedEarly += 1 }
        }
        communicator.progress()
    }

    /// Starts the buckets not started yet and waits for all of them: afterwards `buffer` holds the sum.
    public func finish() throws {
        guard communicator.size > 1 else { return }
        while launchedFrom > 0 { try startBucket() }
        try communicator.waitForStarted(what: "gradient allreduce")
    }

    private func startBucket() throws {
        let start = bucketStart(endingAt: launchedFrom)
        try communicator.startAllreduceSum(buffer + start, count: launchedFrom - start, what: "gradient allreduce")
        launchedFrom = start
    }
}
