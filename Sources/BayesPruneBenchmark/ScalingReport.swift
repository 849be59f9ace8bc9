// `bench --scaling`: fits each measured link (LinkMeasurement files from `bench --link-profile`), checks
// the model's step predictions against the distributed steps measured over those links, then projects
// images/s and efficiency for p nodes at a fixed global and a fixed per-node batch, with and without
// overlap, on 1, 10 and 100 Gb/s links. docs/SCALING.md explains the model and the tables.

import BayesPruneKernels
import BayesPruneNN
import Foundation

/// What `bench --scaling` profiles, checks and projects.
public struct ScalingOptions: Sendable {
    /// Models projected.
    public var models: [ModelKind] = [.resnet20, .resnet56, .resnet50]
    /// BLAS threads of one projected node (the CLI passes this machine's cores).
    public var threads = 1
    /// Cores of this machine: measured ranks beyond them shared cores (their compute is slowed to match).
    public var cores = 1
    /// Node counts projected.
    public var nodes = [2, 4, 8, 16, 32, 64]
    /// The fixed global batch of the fixed-global tables.
    public var globalBatch = 1024
    /// Per-node batch of the fixed-per-node tables; nil: 128 (ResNet-50: 32).
    public var nodeBatch: Int?
    /// Projected link rates, bits per second.
    public var rates: [Double] = [1e9, 10e9, 100e9]
    /// Latency a real link adds per round over the fitted software latency (veth links have none).
    public var hopLatencySeconds = 50e-6
    /// Gradient bucket size (bytes), as `--allreduce-bucket-mb`.
    public var bucketBytes = 262_144
    /// Timed steps per profile.
    public var steps = 5
    /// Untimed steps before them.
    public var warmup = 2
    /// The measured links (`bench --link-profile` files).
    public var links: [LinkMeasurement] = []
    /// The defaults above.
    public init() {}

    /// The per-node batch of the fixed-per-node tables.
    public func nodeBatch(for kind: ModelKind) -> Int { nodeBatch ?? (kind == .resnet50 ? 32 : 128) }
    /// Largest batch profiled directly; larger ones scale its profile linearly in the batch.
    public func largestProfiledBatch(for kind: ModelKind) -> Int { kind == .resnet50 ? 64 : 512 }
}

/// A measured distributed step beside the model's predictions for it: from the allreduce costs measured
/// in the same run (same ranks, same conditions: checks the step model), and from the link's fit used for
/// the projections (also checks carrying the allreduce cost over to other rank counts).
public struct ScalingCheck: Codable, Sendable {
    /// The link measured.
    public var link: String
    /// The measured step.
    public var measured: DistributedStepSample
    /// Predicted step (seconds) from the same run's allreduce costs.
    public var predictedStepSeconds: Double
    /// Predicted exposed communication (seconds), same fit.
    public var predictedExposedSeconds: Double
    /// Predicted step (seconds) from the link's fit used for the projections.
    public var linkFitStepSeconds: Double
    /// Relative error of `predictedStepSeconds`.
    public var stepError: Double { predictedStepSeconds / measured.stepSeconds - 1 }
    /// Relative error of `linkFitStepSeconds`.
    public var linkFitStepError: Double { linkFitStepSeconds / measured.stepSeconds - 1 }
}

/// One projected configuration.
public struct ScalingRow: Codable, Sendable {
    /// `ModelKind` raw value.
    public var model: String
    /// The projected link's nominal rate (bits/s).
    public var linkBitsPerSecond: Double
    /// "global" (fixed global batch) or "node" (fixed per-node batch).
    public var mode: String
    /// Nodes (one rank each).
    public var nodes: Int
    /// Examples per node per step.
    public var nodeBatch: Int
    /// Buckets started during backward.
    public var overlap: Bool
    /// The predicted step.
    public var prediction: StepPrediction
    /// All nodes' images per second.
    public var imagesPerSecond: Double
    /// Images/s over nodes × one node's images/s at the global batch (fixed-global rows only).
    public var strongEfficiency: Double?
    /// Whether the node's profile at this batch was scaled from a smaller measured batch.
    public var extrapolated: Bool
}

/// Everything `bench --scaling` found (its JSON output).
public struct ScalingResult: Codable, Sendable {
    /// One fit per measured link.
    public var fits: [LinkModel]
    /// The 1/10/100 Gb/s links projected.
    public var projectionLinks: [LinkModel]
    /// Measured steps against predictions.
    public var checks: [ScalingCheck]
    /// The projections.
    public var rows: [ScalingRow]
    /// The step profiles measured.
    public var profiles: [StepProfile]
    /// The allreduce samples each link was fitted to.
    public var samplesByLink: [String: [AllreduceSample]]
    /// ResNet-20 on the most nodes at 10 Gb/s, in words.
    public var headline: String
}

extension Benchmark {
    /// Measures the profiles the projections and checks need (progress through `log`) and builds the result.
    public static func scaling(_ o: ScalingOptions, log: (String) -> Void) throws -> ScalingResult {
        var cache: [String: StepProfile] = [:]
        func profile(_ kind: ModelKind, batch: Int, threads: Int) throws -> (StepProfile, Bool) {
            let top = o.largestProfiledBatch(for: kind)
            let measuredBatch = min(batch, top)
            let key = "\(kind.rawValue)/\(measuredBatch)/\(threads)"
            if cache[key] == nil {
                let p = try stepProfile(kind, batch: measuredBatch, threads: threads, steps: o.steps, warmup: o.warmup)
                log(
                    String(
                        format: "profile %@ batch %d, %d thread(s): %.1f ms forward+backward, %.2f ms sampler",
                        kind.rawValue, measuredBatch, threads, 1e3 * p.forwardBackwardSeconds, 1e3 * p.samplerSeconds))
                cache[key] = p
            }
            let p = cache[key]!
            return batch > top ? (p.scaled(by: Double(batch) / Double(top), batch: batch), true) : (p, false)
        }

        // Fits: per link, from the measurements whose ranks had a core each.
        let fits = orderedUnique(o.links.map(\.link)).map { LinkModel.fit(name: $0, samples: fitSamples($0, o.links)) }
        func fit(_ name: String) -> LinkModel { fits.first { $0.name == name }! }

        var checks: [ScalingCheck] = []
        for m in o.links {
            for s in m.steps {
                guard let kind = ModelKind(rawValue: s.model) else { continue }
                let (base, _) = try profile(kind, batch: s.batch, threads: s.threads)
                // Ranks sharing cores run their compute proportionally slower.
                let slowdown = max(1, Double(s.ranks * s.threads) / Double(m.cores))
                // Fitted on allreduces measured with idle cores; the steps' allreduces share them with compute.
                let own = LinkModel.fit(name: m.link, samples: fitSamples(m.link, [m])).sharingCores(slowdown: slowdown)
                let p = ScalingModel.predict(
                    base.sharingCores(slowdown: slowdown), link: own, ranks: s.ranks, bucketBytes: s.bucketBytes,
                    overlap: s.overlap)
                let q = ScalingModel.predict(
                    base.sharingCores(slowdown: slowdown), link: fit(m.link).sharingCores(slowdown: slowdown),
                    ranks: s.ranks,
                    bucketBytes: s.bucketBytes, overlap: s.overlap)
                checks.append(
                    ScalingCheck(
                        link: m.link, measured: s, predictedStepSeconds: p.stepSeconds,
                        predictedExposedSeconds: p.exposedSeconds, linkFitStepSeconds: q.stepSeconds))
            }
        }

        let links = o.rates.map { projectionLink(rate: $0, measured: o.links, fits: fits, hop: o.hopLatencySeconds) }
        var rows: [ScalingRow] = []
        for kind in o.models {
            let (single, _) = try profile(kind, batch: o.globalBatch, threads: o.threads)
            let singleRate = Double(o.globalBatch) / single.computeSeconds
            for link in links {
                for mode in ["global", "node"] {
                    for n in o.nodes {
                        let b = mode == "global" ? max(1, o.globalBatch / n) : o.nodeBatch(for: kind)
                        let (prof, extrapolated) = try profile(kind, batch: b, threads: o.threads)
                        for overlap in [false, true] {
                            let p = ScalingModel.predict(
                                prof, link: link, ranks: n, bucketBytes: o.bucketBytes, overlap: overlap)
                            let rate = Double(n * b) / p.stepSeconds
                            rows.append(
                                ScalingRow(
                                    model: kind.rawValue, linkBitsPerSecond: nominalRate(link), mode: mode, nodes: n,
                                    nodeBatch: b, overlap: overlap, prediction: p, imagesPerSecond: rate,
                                    strongEfficiency: mode == "global" ? rate / (Double(n) * singleRate) : nil,
                                    extrapolated: extrapolated))
                        }
                    }
                }
            }
        }
        return ScalingResult(
            fits: fits, projectionLinks: links, checks: checks, rows: rows,
            profiles: cache.keys.sorted().map { cache[$0]! },
            samplesByLink: Dictionary(uniqueKeysWithValues: fits.map { ($0.name, fitSamples($0.name, o.links)) }),
            headline: try headline(o, links: links, profile: profile))
    }

    /// The samples a link's fit uses: those of 64 KB and more (the buckets' sizes, where libnbc leaves its
    /// small-message algorithm; below, a shaped link's token bucket lets messages through at memory speed)
    /// from the measurements whose ranks each had a core (ranks sharing cores measure the scheduler's
    /// latency, not the link's). Either filter is dropped when it would leave nothing.
    public static func fitSamples(_ link: String, _ all: [LinkMeasurement]) -> [AllreduceSample] {
        let mine = all.filter { $0.link == link }
        let ownCores = mine.filter { $0.ranks <= $0.cores }
        let samples = (ownCores.isEmpty ? mine : ownCores).flatMap(\.allreduce)
        let large = samples.filter { $0.bytes >= 65536 }
        return large.isEmpty ? samples : large
    }

    /// The link projected at `rate` bits/s: β is the rate times the efficiency the nearest shaped link
    /// reached (its fitted β over its nominal rate), α that link's fitted latency plus `hop`, ρ its CPU
    /// share; with no shaped link measured, the nominal rate and `hop` alone (ρ 0).
    static func projectionLink(rate: Double, measured: [LinkMeasurement], fits: [LinkModel], hop: Double) -> LinkModel {
        let shaped = measured.compactMap { m in m.nominalBitsPerSecond.map { (m.link, $0) } }
        let name = String(format: "%g Gb/s", rate / 1e9)
        guard let nearest = shaped.min(by: { abs(log($0.1 / rate)) < abs(log($1.1 / rate)) }),
            let base = fits.first(where: { $0.name == nearest.0 })
        else { return LinkModel(name: name, latencySeconds: hop, bytesPerSecond: rate / 8) }
        let efficiency = min(1, base.bytesPerSecond / (nearest.1 / 8))
        return LinkModel(
            name: name, latencySeconds: base.latencySeconds + hop, bytesPerSecond: rate / 8 * efficiency,
            cpuShare: base.cpuShare)
    }

    static func nominalRate(_ link: LinkModel) -> Double {
        Double(link.name.split(separator: " ").first ?? "0").map { $0 * 1e9 } ?? 0
    }

    /// ResNet-20 at the largest node count, the global batch, 10 Gb/s (or the first rate), with overlap:
    /// its efficiency, what its allreduce time is made of, the bucket size that would serve it best and the
    /// same step if MPI ran the ring.
    static func headline(
        _ o: ScalingOptions, links: [LinkModel], profile: (ModelKind, Int, Int) throws -> (StepProfile, Bool)
    ) throws -> String {
        guard let n = o.nodes.max(), let link = links.first(where: { nominalRate($0) == 10e9 }) ?? links.first
        else { return "" }
        let kind: ModelKind = o.models.contains(.resnet20) ? .resnet20 : o.models[0]
        let b = max(1, o.globalBatch / n)
        let (prof, _) = try profile(kind, b, o.threads)
        let at = ScalingModel.predict(prof, link: link, ranks: n, bucketBytes: o.bucketBytes, overlap: true)
        let ring = ScalingModel.predict(
            prof, link: link, ranks: n, bucketBytes: o.bucketBytes, overlap: true, algorithm: .ring)
        let binomial = ScalingModel.predict(
            prof, link: link, ranks: n, bucketBytes: o.bucketBytes, overlap: true, algorithm: .binomial)
        let buckets = [262_144, 1_048_576, 4_194_304, 4 * prof.parameterCount]
        let best = buckets.map {
            ($0, ScalingModel.predict(prof, link: link, ranks: n, bucketBytes: $0, overlap: true))
        }
        .max { $0.1.efficiency < $1.1.efficiency }!
        let bucketBytes = min(o.bucketBytes, 4 * prof.parameterCount)
        let alg = AllreduceAlgorithm.libnbcChoice(bytes: bucketBytes, ranks: n)
        let latency = alg.rounds(ranks: n) * link.latencySeconds
        let bandwidth = alg.bytesSent(Double(bucketBytes), ranks: n) / link.bytesPerSecond
        let backward = prof.forwardBackwardSeconds - (prof.readiness.first?.seconds ?? 0)
        return String(
            format:
                "%@ on %d nodes, global batch %d (%d per node), %@, overlap, %.2f MB buckets: efficiency %.1f %% "
                + "(step %.1f ms: compute %.1f ms, of which backward after the first gradients %.1f ms; allreduce "
                + "%.1f ms, exposed %.1f ms; CPU the hidden part took from compute %.1f ms). Each bucket runs %@: %.0f rounds of α = %.0f µs (%.2f ms) and %.2f ms "
                + "of bandwidth. Best bucket size of 0.25/1/4 MB/whole: %.2f MB, efficiency %.1f %%. If MPI ran the "
                + "ring for each bucket (2(p−1) = %d rounds): efficiency %.1f %%; the binomial tree libnbc runs for "
                + "sums in place: %.1f %%.",
            kind.rawValue, n, o.globalBatch, b, link.name, Double(o.bucketBytes) / 1_048_576, 100 * at.efficiency,
            1e3 * at.stepSeconds, 1e3 * at.computeSeconds, 1e3 * backward, 1e3 * at.communicationSeconds,
            1e3 * at.exposedSeconds, 1e3 * at.overlapCPUSeconds, alg.rawValue, alg.rounds(ranks: n),
            1e6 * link.latencySeconds, 1e3 * latency,
            1e3 * bandwidth, Double(best.0) / 1_048_576, 100 * best.1.efficiency, 2 * (n - 1), 100 * ring.efficiency,
            100 * binomial.efficiency)
    }

    static func orderedUnique(_ xs: [String]) -> [String] {
        var seen = Set<String>()
        return xs.filter { seen.insert($0).inserted }
    }
}

extension ScalingResult {
    /// The tables as Markdown (docs/SCALING.md's generated part).
    public func markdown(_ o: ScalingOptions) -> String {
        var s =
            "### Fitted links (T = rounds·α + bytes sent/β)\n\n| link | α (µs) | β (MB/s) | ρ (CPU share) | samples | worst fit error |\n|---|---|---|---|---|---|\n"
        for f in fits {
            let samples = samplesByLink[f.name] ?? []
            s += String(
                format: "| %@ | %.1f | %.0f | %.2f | %d | %.0f %% |\n", f.name, 1e6 * f.latencySeconds,
                f.bytesPerSecond / 1e6, f.cpuShare, samples.count, 100 * f.worstRelativeError(samples))
        }
        s += "\n### Model against measurement\n\n"
        s +=
            "| link | ranks | model | batch/rank | overlap | measured step (ms) | predicted (ms) | error | measured exposed (ms) | predicted exposed (ms) | from the link fit (ms) | error (fit) |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        for c in checks {
            let m = c.measured
            s += String(
                format: "| %@ | %d | %@ | %d | %@ | %.1f | %.1f | %+.1f %% | %.2f | %.2f | %.1f | %+.1f %% |\n", c.link,
                m.ranks, m.model, m.batch, m.overlap ? "on" : "off", 1e3 * m.stepSeconds, 1e3 * c.predictedStepSeconds,
                100 * c.stepError, 1e3 * m.exposedSeconds, 1e3 * c.predictedExposedSeconds, 1e3 * c.linkFitStepSeconds,
                100 * c.linkFitStepError)
        }
        s += "\n### Projected links\n\n| link | α (µs) | β (MB/s) | ρ |\n|---|---|---|---|\n"
        for f in projectionLinks {
            s += String(
                format: "| %@ | %.1f | %.0f | %.2f |\n", f.name, 1e6 * f.latencySeconds, f.bytesPerSecond / 1e6,
                f.cpuShare)
        }
        for model in Benchmark.orderedUnique(rows.map(\.model)) {
            for mode in ["global", "node"] {
                let these = rows.filter { $0.model == model && $0.mode == mode }
                guard let first = these.first else { continue }
                s +=
                    mode == "global"
                    ? "\n### \(model), global batch \(o.globalBatch)\n\n"
                    : "\n### \(model), \(first.nodeBatch) per node\n\n"
                s +=
                    "| link | nodes | batch/node | step off / on (ms) | allreduce (ms) | exposed on (ms) | efficiency off / on | images/s on |"
                s +=
                    mode == "global"
                    ? " vs 1 node at \(o.globalBatch) |\n|---|---|---|---|---|---|---|---|---|\n"
                    : "\n|---|---|---|---|---|---|---|---|\n"
                for r in these where r.overlap {
                    let off = these.first {
                        !$0.overlap && $0.nodes == r.nodes && $0.linkBitsPerSecond == r.linkBitsPerSecond
                    }!
                    s += String(
                        format: "| %g Gb/s | %d | %d%@ | %.1f / %.1f | %.1f | %.1f | %.1f %% / %.1f %% | %.0f |",
                        r.linkBitsPerSecond / 1e9, r.nodes, r.nodeBatch, r.extrapolated ? "*" : "",
                        1e3 * off.prediction.stepSeconds, 1e3 * r.prediction.stepSeconds,
                        1e3 * r.prediction.communicationSeconds, 1e3 * r.prediction.exposedSeconds,
                        100 * off.prediction.efficiency, 100 * r.prediction.efficiency, r.imagesPerSecond)
                    s += r.strongEfficiency.map { String(format: " %.1f %% |\n", 100 * $0) } ?? "\n"
                }
            }
        }
        if rows.contains(where: \.extrapolated) {
            s += "\n\\* profile scaled linearly from the largest batch measured for this model.\n"
        }
        s += "\n**Headline.** \(headline)\n"
        return s
    }
}
