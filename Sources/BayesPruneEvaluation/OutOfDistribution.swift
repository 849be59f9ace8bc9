// Out-of-distribution detection from predictive distributions: each example gets an "in-distribution"
// score (maximum probability, or negative predictive entropy); with in-distribution examples as the
// positive class we report AUROC (Mann-Whitney, ties counted half), AUPR (average precision) and the
// false-positive rate at 95% true-positive rate.

import BayesPruneData
import BayesPruneKernels
import Foundation

public struct DetectionMetrics: Codable, Equatable {
    public var auroc: Double
    public var aupr: Double
    public var fprAt95TPR: Double

    enum CodingKeys: String, CodingKey {
        case auroc, aupr
        case fprAt95TPR = "fpr_at_95_tpr"
    }
}

public enum OODScore: String, CaseIterable {
    case maxProbability = "max_probability"
    case entropy
}

/// H[p] = −Σ_k p_k·ln p_k in nats, of one row of probabilities (zero entries contribute nothing).
func entropy<C: Collection>(_ p: C) -> Double where C.Element: BinaryFloatingPoint {
    -p.reduce(0.0) { $0 + ($1 > 0 ? Double($1) * _log(Double($1)) : 0) }
}

public enum OutOfDistribution {
    /// Higher = more in-distribution.
    public static func scores(_ p: Predictions, by kind: OODScore) -> [Double] {
        (0..<p.count).map { i in
            let row = p.values[(i * p.width)..<((i + 1) * p.width)]
            switch kind {
            case .maxProbability: return Double(row.max()!)
            case .entropy: return -entropy(row)
            }
        }
    }

    public static func detection(inScores: [Double], outScores: [Double]) -> DetectionMetrics {
        // AUROC = P(s_in > s_out) + ½·P(s_in = s_out), from ranks of the pooled scores.
        let pooled = (inScores.map { ($0, true) } + outScores.map { ($0, false) }).sorted { $0.0 < $1.0 }
        var rankSumIn = 0.0
        var i = 0
        while i < pooled.count {
            var j = i
            while j + 1 < pooled.count && pooled[j + 1].0 == pooled[i].0 { j += 1 }
            let avgRank = Double(i + j) / 2 + 1
            for k in i...j where pooled[k].1 { rankSumIn += avgRank }
            i = j + 1
        }
        let nIn = Double(inScores.count)
        let nOut = Double(outScores.count)
        let auroc = (rankSumIn - nIn * (nIn + 1) / 2) / (nIn * nOut)
        // Average precision: walk thresholds from the highest score down, one tie group at a time.
        let desc = pooled.reversed().map { $0 }
        var tp = 0.0
        var fp = 0.0
        var ap = 0.0
        var prevRecall = 0.0
        i = 0
        while i < desc.count {
            var j = i
            while j + 1 < desc.count && desc[j + 1].0 == desc[i].0 { j += 1 }
            for k in i...j { if desc[k].1 { tp += 1 } else { fp += 1 } }
            let recall = tp / nIn
            let precision = tp / (tp + fp)
            ap += (recall - prevRecall) * precision
            prevRecall = recall
            i = j + 1
        }
        // FPR at 95% TPR: the largest threshold keeping at least 95% of in-distribution scores above it.
        let sortedIn = inScores.sorted()
        let idx = max(0, Int((0.05 * nIn).rounded(.down)))
        let threshold = sortedIn[min(idx, sortedIn.count - 1)]
        let fpr = Double(outScores.filter { $0 >= threshold }.count) / nOut
        return DetectionMetrics(auroc: auroc, aupr: ap, fprAt95TPR: fpr)
    }
}

/// Transformations that make an out-of-distribution set from an image set available here.
public enum OODTransform: String, CaseIterable, Codable {
    case none, invert, hflip, vflip, noise

    /// Applied to raw pixel values in [0, 1], before normalization.
    public func apply(to d: inout Dataset, seed: UInt64) {
        let (C, H, W) = (d.channels, d.height, d.width)
        let size = d.exampleSize
        var rng = Xoshiro256(seed: seed, stream: 0x00D)
        for n in 0..<d.count {
            let base = n * size
            switch self {
            case .none: return
            case .invert: for i in 0..<size { d.features[base + i] = 1 - d.features[base + i] }
            case .hflip:
                for c in 0..<C {
                    for h in 0..<H {
                        for w in 0..<(W / 2) {
                            let a = base + (c * H + h) * W + w
                            let b = base + (c * H + h) * W + (W - 1 - w)
                            d.features.swapAt(a, b)
                        }
                    }
                }
            case .vflip:
                for c in 0..<C {
                    for h in 0..<(H / 2) {
                        for w in 0..<W {
                            d.features.swapAt(base + (c * H + h) * W + w, base + (c * H + H - 1 - h) * W + w)
                        }
                    }
                }
            case .noise: for i in 0..<size { d.features[base + i] = rng.nextUniform() }
            }
        }
    }
}
