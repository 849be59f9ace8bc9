// Calibration and detection metrics against naive, independently written twins.

import BayesPruneKernels
import Foundation
import TestSupport
import Testing

@testable import BayesPruneBenchmark
@testable import BayesPruneConfig
@testable import BayesPruneData
@testable import BayesPruneDistributed
@testable import BayesPruneEvaluation
@testable import BayesPruneNN
@testable import BayesPruneRunIO
@testable import BayesPruneSampling
@testable import BayesPruneSparsity
@testable import BayesPruneTraining

func randomPredictions(count: Int, width: Int, seed: UInt64, sharpness: Float = 3) -> (Predictions, [Int32]) {
    var rng = Xoshiro256(seed: seed)
    var values: [Float] = []
    var labels: [Int32] = []
    for _ in 0..<count {
        let z = (0..<width).map { _ in exp(sharpness * rng.nextGaussian()) }
        let s = z.reduce(0, +)
        values += z.map { $0 / s }
        labels.append(Int32(rng.nextInt(below: width)))
    }
    return (Predictions(count: count, values: values, width: width), labels)
}

@Suite struct CalibrationMetrics {
    @Test func matchNaiveTwin() {
        let (p, y) = randomPredictions(count: 2000, width: 5, seed: 1)
        let bins = 15
        let m = Evaluator.classification(p, labels: y, bins: bins)
        // Naive twin: per example, find its bin by scanning edges (lo, hi].
        var acc = 0.0
        var nll = 0.0
        var brier = 0.0
        var members = [[(Double, Bool)]](repeating: [], count: bins)
        for i in 0..<p.count {
            let row = Array(p.values[(i * 5)..<(i * 5 + 5)]).map(Double.init)
            let pred = row.firstIndex(of: row.max()!)!
            let hit = pred == Int(y[i])
            acc += hit ? 1 : 0
            nll -= log(row[Int(y[i])])
            for (k, v) in row.enumerated() {
                let t: Double = k == Int(y[i]) ? 1 : 0
                brier += (v - t) * (v - t)
            }
            let conf = row.max()!
            for b in 0..<bins where conf > Double(b) / Double(bins) && conf <= Double(b + 1) / Double(bins) {
                members[b].append((conf, hit))
            }
        }
        let n = Double(p.count)
        var ece = 0.0
        var mce = 0.0
        for b in members where !b.isEmpty {
            let hits: Double = b.map { $0.1 ? 1.0 : 0.0 }.reduce(0, +)
            let confSum: Double = b.map { $0.0 }.reduce(0, +)
            let gap = abs(hits / Double(b.count) - confSum / Double(b.count))
            ece += Double(b.count) / n * gap
            mce = max(mce, gap)
        }
        #expect(abs(m.accuracy - acc / n) < 1e-12)
        #expect(abs(m.nll - nll / n) < 1e-6)
        #expect(abs(m.brier - brier / n) < 1e-6)
        #expect(abs(m.ece - ece) < 1e-6)
        #expect(abs(m.mce - mce) < 1e-6)
        #expect(m.reliability.count == bins && m.reliability.map(\.count).reduce(0, +) == p.count)
        #expect(zip(m.reliability.map(\.count), members.map(\.count)).allSatisfy { $0 == $1 })
    }

    @Test func perfectConfidentPredictionsAreCalibrated() {
        let p = Predictions(count: 3, values: [1, 0, 0, 0, 1, 0, 0, 0, 1], width: 3)
        let m = Evaluator.classification(p, labels: [0, 1, 2], bins: 10)
        #expect(m.accuracy == 1 && m.ece == 0 && m.brier == 0 && m.mce == 0)
    }
}

@Suite struct DetectionMetricsTests {
    @Test func aurocAuprAndFprMatchNaiveDefinitions() {
        var rng = Xoshiro256(seed: 7)
        // Rounded scores so that ties occur.
        let inS = (0..<400).map { _ in (Double(rng.nextGaussian()) + 1).rounded(toPlaces: 1) }
        let outS = (0..<300).map { _ in Double(rng.nextGaussian()).rounded(toPlaces: 1) }
        let d = OutOfDistribution.detection(inScores: inS, outScores: outS)
        var wins = 0.0
        for a in inS { for b in outS { wins += a > b ? 1 : (a == b ? 0.5 : 0) } }
        #expect(abs(d.auroc - wins / Double(inS.count * outS.count)) < 1e-12)
        // AP: Σ over distinct thresholds t (descending) of (recall(t) − recall(prev))·precision(t).
        let thresholds = Set(inS + outS).sorted(by: >)
        var ap = 0.0
        var prev = 0.0
        for t in thresholds {
            let tp = Double(inS.filter { $0 >= t }.count)
            let fp = Double(outS.filter { $0 >= t }.count)
            let r = tp / Double(inS.count)
            ap += (r - prev) * tp / (tp + fp)
            prev = r
        }
        #expect(abs(d.aupr - ap) < 1e-12)
        // FPR at the threshold where TPR first reaches ≥ 95%.
        let t95 = thresholds.first { t in Double(inS.filter { $0 >= t }.count) >= 0.95 * Double(inS.count) }!
        #expect(abs(d.fprAt95TPR - Double(outS.filter { $0 >= t95 }.count) / Double(outS.count)) < 1e-12)
    }

    @Test func separableScoresArePerfect() {
        let d = OutOfDistribution.detection(inScores: [0.9, 0.8, 0.95], outScores: [0.1, 0.2])
        #expect(d.auroc == 1 && d.aupr == 1 && d.fprAt95TPR == 0)
    }

    @Test func entropyScoreRanksUncertainPredictionsLower() {
        let p = Predictions(count: 2, values: [0.98, 0.01, 0.01, 0.34, 0.33, 0.33], width: 3)
        let s = OutOfDistribution.scores(p, by: .entropy)
        #expect(s[0] > s[1])
        #expect(abs(s[1] + (0.34 * log(0.34) * -1 + 2 * 0.33 * log(0.33) * -1)) < 1e-6)
    }
}

extension Double {
    func rounded(toPlaces k: Int) -> Double {
        let f = pow(10.0, Double(k))
        return (self * f).rounded() / f
    }
}
