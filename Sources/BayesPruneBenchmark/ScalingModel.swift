// The scaling model of docs/SCALING.md: one data-parallel training step on p nodes, predicted from
// quantities measured on one machine. A node's compute (forward, backward, sampler step) and the moment
// each part of the flat gradient becomes final during backward come from `StepProfile`; the allreduce
// cost is the allreduce algorithm MPI runs over a link of fitted latency α and bandwidth β (`LinkModel`,
// `AllreduceAlgorithm`); the buckets of
// `BucketedAllreduce` are then played through that link in order, each starting once its gradients are
// final and the previous bucket has left the link. Pure arithmetic: no timing, no MPI.

/// One measured allreduce: `bytes` summed over `ranks` ranks took `seconds` (median, waiting by polling).
/// Waiting by sleeping between polls instead, it took `sleepingSeconds`, of which the rank's own CPU was
/// busy `cpuSeconds` (user and system time).
public struct AllreduceSample: Codable, Equatable, Sendable {
    /// Bytes summed.
    public var bytes: Int
    /// Ranks that summed them.
    public var ranks: Int
    /// Seconds per sum, waiting by polling.
    public var seconds: Double
    /// CPU seconds per sum, waiting by sleeping.
    public var cpuSeconds: Double
    /// Seconds per sum, waiting by sleeping.
    public var sleepingSeconds: Double
    /// A sample; the CPU figures default to 0 (unknown).
    public init(bytes: Int, ranks: Int, seconds: Double, cpuSeconds: Double = 0, sleepingSeconds: Double = 0) {
        self.bytes = bytes
        self.ranks = ranks
        self.seconds = seconds
        self.cpuSeconds = cpuSeconds
        self.sleepingSeconds = sleepingSeconds
    }
}

/// How an allreduce of n bytes over p ranks moves its data, with its rounds (each paying the latency α) and
/// the bytes the busiest rank sends in all (each at the bandwidth β).
public enum AllreduceAlgorithm: String, Codable, CaseIterable, Sendable {
    /// Reduce-scatter then allgather around a ring: 2(p−1) rounds, 2(p−1)/p·n bytes (Patarasuk & Yuan 2009).
    case ring
    /// Reduce to one rank along a binomial tree, then broadcast: 2⌈log2 p⌉ rounds of the whole n.
    case binomial
    /// Rabenseifner's recursive-halving reduce-scatter and recursive-doubling allgather: 2·log2 p′ rounds and
    /// 2(p′−1)/p′·n bytes over the largest power of two p′ ≤ p; with p ≠ p′, libnbc adds two rounds of half
    /// the buffer before (folding the extra ranks in) and one of all of it after (3 rounds, 2n bytes).
    case reduceScatterAllgather = "reduce-scatter-allgather"

    /// Rounds paying α.
    public func rounds(ranks p: Int) -> Double {
        guard p > 1 else { return 0 }
        switch self {
        case .ring: return Double(2 * (p - 1))
        case .binomial: return 2 * Double(ceilLog2(p))
        case .reduceScatterAllgather:
            let q = 1 << floorLog2(p)
            return 2 * Double(floorLog2(p)) + (q == p ? 0 : 3)
        }
    }

    /// Bytes sent at β by the busiest rank for `bytes` summed.
    public func bytesSent(_ bytes: Double, ranks p: Int) -> Double {
        guard p > 1 else { return 0 }
        switch self {
        case .ring: return 2 * Double(p - 1) / Double(p) * bytes
        case .binomial: return 2 * Double(ceilLog2(p)) * bytes
        case .reduceScatterAllgather:
            let q = 1 << floorLog2(p)
            return 2 * Double(q - 1) / Double(q) * bytes + (q == p ? 0 : 2 * bytes)
        }
    }

    /// What Open MPI 4.1's libnbc (Debian's) runs for MPI_Iallreduce of a commutative sum not in place (the
    /// shim never sums in place): binomial below 4 ranks or 64 KB, reduce-scatter + allgather when every one
    /// of the p′ ranks gets at least one element, otherwise the ring.
    public static func libnbcChoice(bytes: Int, ranks p: Int, elementBytes: Int = 4) -> AllreduceAlgorithm {
        if p < 4 || bytes < 65536 { return .binomial }
        return bytes / elementBytes >= 1 << floorLog2(p) ? .reduceScatterAllgather : .ring
    }
}

func floorLog2(_ n: Int) -> Int { n <= 1 ? 0 : Int.bitWidth - 1 - n.leadingZeroBitCount }
func ceilLog2(_ n: Int) -> Int { n <= 1 ? 0 : floorLog2(n - 1) + 1 }

/// A link as an allreduce sees it: T = rounds·α + bytesSent/β (the algorithm's rounds and bytes,
/// `AllreduceAlgorithm`; the reduction's arithmetic is folded into β).
public struct LinkModel: Codable, Equatable, Sendable {
    /// The link's name, e.g. "tcp 1gbit" or "10 Gb/s".
    public var name: String
    /// α: seconds per round (message latency, software included).
    public var latencySeconds: Double
    /// β: bytes per second one rank sends.
    public var bytesPerSecond: Double
    /// ρ: CPU seconds a rank spends per second of allreduce (MPI's copies and sums, the kernel's network
    /// stack), taken from the compute when the allreduce runs behind backward on busy cores.
    public var cpuShare: Double

    /// A link of latency α, bandwidth β and CPU share ρ (default 0).
    public init(name: String, latencySeconds: Double, bytesPerSecond: Double, cpuShare: Double = 0) {
        self.name = name
        self.latencySeconds = latencySeconds
        self.bytesPerSecond = bytesPerSecond
        self.cpuShare = cpuShare
    }

    /// Seconds for one allreduce of `bytes` over `ranks` ranks (0 alone), by `algorithm` (default: what
    /// libnbc chooses).
    public func allreduceSeconds(bytes: Int, ranks: Int, algorithm: AllreduceAlgorithm? = nil) -> Double {
        guard ranks > 1 else { return 0 }
        let a = algorithm ?? .libnbcChoice(bytes: bytes, ranks: ranks)
        return a.rounds(ranks: ranks) * latencySeconds + a.bytesSent(Double(bytes), ranks: ranks) / bytesPerSecond
    }

    /// α and 1/β by least squares on the time (a step adds bucket times, so absolute errors are what
    /// matter), each sample with the algorithm libnbc ran for it, with α ≥ 0 and β > 0. Needs at least one
    /// sample; two sizes determine both.
    public static func fit(name: String, samples: [AllreduceSample]) -> LinkModel {
        precondition(!samples.isEmpty, "a link fit needs samples")
        // t ≈ α·a + γ·b with a = rounds, b = bytes sent, γ = 1/β.
        var saa = 0.0
        var sab = 0.0
        var sbb = 0.0
        var sat = 0.0
        var sbt = 0.0
        for s in samples {
            let alg = AllreduceAlgorithm.libnbcChoice(bytes: s.bytes, ranks: s.ranks)
            let a = alg.rounds(ranks: s.ranks)
            let b = alg.bytesSent(Double(s.bytes), ranks: s.ranks)
            let w = 1.0
            saa += w * a * a
            sab += w * a * b
            sbb += w * b * b
            sat += w * a * s.seconds
            sbt += w * b * s.seconds
        }
        let det = saa * sbb - sab * sab
        var alpha = det > 1e-12 * saa * sbb ? (sat * sbb - sbt * sab) / det : 0
        var gamma = det > 1e-12 * saa * sbb ? (saa * sbt - sab * sat) / det : sbt / sbb
        if alpha < 0 {
            alpha = 0
            gamma = sbt / sbb
        } else if gamma <= 0 {
            gamma = 1e-15
            alpha = sat / saa
        }
        // ρ: CPU seconds over wall seconds of the sleeping waits, summed over the samples.
        let cpu = samples.reduce(0) { $0 + $1.cpuSeconds }
        let wall = samples.reduce(0) { $0 + $1.sleepingSeconds }
        return LinkModel(
            name: name, latencySeconds: alpha, bytesPerSecond: 1 / gamma, cpuShare: wall > 0 ? min(1, cpu / wall) : 0)
    }

    /// This link as seen by ranks that share cores, each CPU second taking `slowdown` wall seconds: the
    /// CPU part ρ of every allreduce stretches by the slowdown (T′ = T·(1 + ρ(s − 1))), and the CPU time
    /// hidden communication takes from compute costs s times its CPU seconds.
    public func sharingCores(slowdown s: Double) -> LinkModel {
        guard s > 1 else { return self }
        let stretch = 1 + cpuShare * (s - 1)
        return LinkModel(
            name: name, latencySeconds: latencySeconds * stretch, bytesPerSecond: bytesPerSecond / stretch,
            cpuShare: cpuShare * s / stretch)
    }

    /// Largest relative error of the fit over `samples`.
    public func worstRelativeError(_ samples: [AllreduceSample]) -> Double {
        samples.map { abs(allreduceSeconds(bytes: $0.bytes, ranks: $0.ranks) / $0.seconds - 1) }.max() ?? 0
    }
}

/// A point of the backward pass: from `seconds` after the step began, gradients[offset...] are final.
public struct ReadyPoint: Codable, Equatable, Sendable {
    /// First final float of the flat gradient.
    public var offset: Int
    /// Seconds since the step began.
    public var seconds: Double
    /// A point of the backward pass.
    public init(offset: Int, seconds: Double) {
        self.offset = offset
        self.seconds = seconds
    }
}

/// One node's training step at one batch, measured without communication.
public struct StepProfile: Codable, Equatable, Sendable {
    /// `ModelKind` raw value.
    public var model: String
    /// Examples per node per step.
    public var batch: Int
    /// BLAS threads the node used.
    public var threads: Int
    /// Floats in the flat gradient (4 bytes each).
    public var parameterCount: Int
    /// Forward, loss and backward (seconds; median over steps).
    public var forwardBackwardSeconds: Double
    /// The sampler's update over every parameter (seconds).
    public var samplerSeconds: Double
    /// In backward order (offsets falling); the last one is offset 0 at `forwardBackwardSeconds`.
    public var readiness: [ReadyPoint]

    /// A profile from its measured parts.
    public init(
        model: String, batch: Int, threads: Int, parameterCount: Int, forwardBackwardSeconds: Double,
        samplerSeconds: Double, readiness: [ReadyPoint]
    ) {
        self.model = model
        self.batch = batch
        self.threads = threads
        self.parameterCount = parameterCount
        self.forwardBackwardSeconds = forwardBackwardSeconds
        self.samplerSeconds = samplerSeconds
        self.readiness = readiness
    }

    /// A step's compute alone (seconds).
    public var computeSeconds: Double { forwardBackwardSeconds + samplerSeconds }

    /// This profile with forward and backward times multiplied by `factor` (a node running `factor`
    /// times slower, or a batch `factor` times larger once per-example cost is flat); the sampler's cost
    /// depends on the parameters only and stays.
    public func scaled(by factor: Double, batch newBatch: Int? = nil) -> StepProfile {
        var p = self
        p.forwardBackwardSeconds *= factor
        p.readiness = readiness.map { ReadyPoint(offset: $0.offset, seconds: $0.seconds * factor) }
        if let newBatch { p.batch = newBatch }
        return p
    }

    /// This profile on a node whose ranks share cores, every CPU second taking `slowdown` wall seconds:
    /// forward, backward and the sampler all stretch.
    public func sharingCores(slowdown: Double) -> StepProfile {
        var p = scaled(by: slowdown)
        p.samplerSeconds *= slowdown
        return p
    }

    /// When the bucket starting at float `start` is final: the first point whose offset reaches it.
    func readySeconds(bucketStart start: Int) -> Double {
        readiness.first { $0.offset <= start }?.seconds ?? forwardBackwardSeconds
    }
}

/// A predicted step (seconds).
public struct StepPrediction: Codable, Equatable, Sendable {
    /// Compute alone: forward, backward, sampler.
    public var computeSeconds: Double
    /// Every bucket's allreduce and the loss allreduce, back to back.
    public var communicationSeconds: Double
    /// Communication the step waits for (after backward).
    public var exposedSeconds: Double
    /// CPU time the hidden communication took from backward (ρ × hidden seconds).
    public var overlapCPUSeconds: Double
    /// The step: compute, the CPU hidden communication took, and the exposed communication.
    public var stepSeconds: Double { computeSeconds + overlapCPUSeconds + exposedSeconds }
    /// Share of the communication hidden behind backward.
    public var hiddenShare: Double { communicationSeconds > 0 ? 1 - exposedSeconds / communicationSeconds : 1 }
    /// Compute over step: the throughput p nodes reach over p times one node's at the same batch.
    public var efficiency: Double { computeSeconds / stepSeconds }
}

/// The step model of docs/SCALING.md.
public enum ScalingModel {
    /// Bytes of the loss allreduce each step also runs (two doubles).
    public static let lossBytes = 16

    /// One step of `profile` on `ranks` nodes joined by `link`, the gradient summed in buckets of
    /// `bucketBytes` taken from the end of the flat buffer (as `BucketedAllreduce`). With `overlap`, bucket k
    /// starts when its gradients are final and bucket k−1 has finished (one collective at a time on the
    /// link, assuming MPI progresses it between layer calls); without, all start after backward. The loss
    /// allreduce follows the last bucket. Every gradient sum runs `algorithm` (default: libnbc's choice).
    public static func predict(
        _ profile: StepProfile, link: LinkModel, ranks: Int, bucketBytes: Int, overlap: Bool,
        algorithm: AllreduceAlgorithm? = nil
    ) -> StepPrediction {
        let compute = profile.computeSeconds
        guard ranks > 1 else {
            return StepPrediction(
                computeSeconds: compute, communicationSeconds: 0, exposedSeconds: 0, overlapCPUSeconds: 0)
        }
        let perBucket = max(1, bucketBytes / 4)
        var end = profile.parameterCount
        var linkFree = 0.0
        var busy = 0.0
        while end > 0 {
            let start = max(0, end - perBucket)
            let cost = link.allreduceSeconds(bytes: 4 * (end - start), ranks: ranks, algorithm: algorithm)
            let ready = overlap ? profile.readySeconds(bucketStart: start) : profile.forwardBackwardSeconds
            linkFree = max(linkFree, ready) + cost
            busy += cost
            end = start
        }
        let loss = link.allreduceSeconds(bytes: lossBytes, ranks: ranks)
        linkFree = max(linkFree, profile.forwardBackwardSeconds) + loss
        busy += loss
        let exposed = linkFree - profile.forwardBackwardSeconds
        // The communication that ran behind backward still took ρ of its time from the cores.
        return StepPrediction(
            computeSeconds: compute, communicationSeconds: busy, exposedSeconds: exposed,
            overlapCPUSeconds: link.cpuShare * max(0, busy - exposed))
    }
}
