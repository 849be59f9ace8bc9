// Test-set evaluation: predictive probabilities for every example (kept, so later runs can average
// them over posterior samples), and the metrics computed from them.
/// Predictions of one network on a data set, example-major.

import BayesPruneData
import BayesPruneDistributed
import BayesPruneKernels
import BayesPruneNN

public struct Predictions {
    public var count: Int
    /// Classification: probabilities [count, classes] (binary: [count, 2]). Regression: means [count].
    public var values: [Float]
    public var width: Int

    public init(count: Int, values: [Float], width: Int) {
        self.count = count
        self.values = values
        self.width = width
    }
}

public struct ReliabilityBin: Codable, Equatable {
    public var lower: Double, upper: Double
    /// Mean confidence (max probability) and accuracy of the examples in the bin; 0 when empty.
    public var confidence: Double, accuracy: Double
    public var count: Int
}

public struct ClassificationMetrics: Codable, Equatable {
    public var accuracy: Double
    public var nll: Double
    /// Mean over examples of Σ_k (p_k − 1[y = k])².
    public var brier: Double
    /// Expected and maximum calibration error over `bins` equal-width confidence bins.
    public var ece: Double
    public var mce: Double
    public var bins: Int
    public var reliability: [ReliabilityBin]
    public var examples: Int
}

public struct RegressionMetrics: Codable, Equatable {
    /// Root mean squared error in the target's original units.
    public var rmse: Double
    /// Gaussian NLL per example in original units, with the model's likelihood variance (unit variance in
    /// standardized units, i.e. the training targets' variance); for several samples, of their mixture.
    public var nll: Double
    public var examples: Int
}

public enum Evaluator {
    /// Runs the network in evaluation mode (batch-norm running statistics) over `data`.
    /// Under several ranks each evaluates its slice of every batch and the predictions are summed into
    /// place, so every rank ends with all of them.
    public static func predict(
        _ net: Network, data: Dataset, batchSize: Int,
        communicator comm: Communicator = SingleProcess()
    ) throws -> Predictions {
        let loader = try EvalBatchLoader(
            dataset: data, globalBatchSize: batchSize, rank: comm.rank, worldSize: comm.size)
        let width = data.task == .regression ? 1 : max(data.classes, 2)
        var out = [Float](repeating: 0, count: data.count * width)
        let x = FloatBuffer(count: loader.maxLocalBatchSize * data.exampleSize)
        for b in 0..<loader.batchCount {
            let written = loader.range(batchIndex: b).lowerBound
            let n = try loader.fill(batchIndex: b, into: x.pointer, labels: nil, targets: nil)
            if n == 0 { continue }
            let y = net.forward(x.pointer, batch: n, training: false)
            out.withUnsafeMutableBufferPointer { o in
                let dst = o.baseAddress! + written * width
                switch net.loss {
                case .softmaxCrossEntropy:
                    let K = net.outputs
                    for i in 0..<n {
                        var m = -Float.infinity
                        for k in 0..<K { m = max(m, y[k * n + i]) }
                        var s: Float = 0
                        for k in 0..<K {
                            let e = _expf(y[k * n + i] - m)
                            dst[i * K + k] = e
                            s += e
                        }
                        for k in 0..<K { dst[i * K + k] /= s }
                    }
                case .logistic:
                    for i in 0..<n {
                        let p = 1 / (1 + _expf(-y[i]))
                        dst[i * 2] = 1 - p
                        dst[i * 2 + 1] = p
                    }
                case .squaredError:
                    for i in 0..<n { dst[i] = y[i] }
                }
            }
        }
        if comm.size > 1 {
            try out.withUnsafeMutableBufferPointer {
                try comm.allreduceSum($0.baseAddress!, count: $0.count, what: "evaluation")
            }
        }
        return Predictions(count: data.count, values: out, width: width)
    }

    public static func classification(_ p: Predictions, labels: [Int32], bins: Int = 15) -> ClassificationMetrics {
        let K = p.width
        let n = p.count
        var correct = 0
        var nll = 0.0
        var brier = 0.0
        var binCount = [Int](repeating: 0, count: bins)
        var binConf = [Double](repeating: 0, count: bins)
        var binCorrect = [Int](repeating: 0, count: bins)
        for i in 0..<n {
            let row = i * K
            var best = 0
            for k in 1..<K where p.values[row + k] > p.values[row + best] { best = k }
            let y = Int(labels[i])
            let hit = best == y
            if hit { correct += 1 }
            nll -= _log(max(Double(p.values[row + y]), 1e-12))
            for k in 0..<K {
                let d = Double(p.values[row + k]) - (k == y ? 1 : 0)
                brier += d * d
            }
            // Bin (lo, hi]: confidence c falls in bin ⌈c·bins⌉ − 1 (c = 0 in the first).
            let conf = Double(p.values[row + best])
            let b = min(bins - 1, max(0, Int((conf * Double(bins)).rounded(.up)) - 1))
            binCount[b] += 1
            binConf[b] += conf
            binCorrect[b] += hit ? 1 : 0
        }
        var ece = 0.0
        var mce = 0.0
        var reliability: [ReliabilityBin] = []
        for b in 0..<bins {
            let c = binCount[b]
            let conf = c > 0 ? binConf[b] / Double(c) : 0
            let acc = c > 0 ? Double(binCorrect[b]) / Double(c) : 0
            if c > 0 {
                ece += Double(c) / Double(max(n, 1)) * abs(acc - conf)
                mce = max(mce, abs(acc - conf))
            }
            reliability.append(
                ReliabilityBin(
                    lower: Double(b) / Double(bins), upper: Double(b + 1) / Double(bins),
                    confidence: conf, accuracy: acc, count: c))
        }
        let nn = Double(max(n, 1))
        return ClassificationMetrics(
            accuracy: Double(correct) / nn, nll: nll / nn, brier: brier / nn, ece: ece, mce: mce,
            bins: bins, reliability: reliability, examples: n)
    }

    /// `targets` and predicted means in standardized units; `samples` holds one prediction per posterior
    /// sample (the mixture's NLL), `mean` their average (the RMSE); `scaling` converts back.
    public static func regression(
        mean p: Predictions, samples: [Predictions], targets: [Float],
        scaling: TargetScaling, noiseVariance: Double = 1
    ) -> RegressionMetrics {
        let n = p.count
        var sse = 0.0
        var nll = 0.0
        let sigma = Double(scaling.std)
        let members = samples.isEmpty ? [p] : samples
        for i in 0..<n {
            let r = Double(p.values[i] - targets[i])
            sse += r * r
            // log of the mixture (1/S)·Σ_s N(t; μ_s, σ²) in the training units (σ²: the likelihood's noise
            // variance), by log-sum-exp; −log(scaling.std) brings the density to the target's own units.
            let logs = members.map { s -> Double in
                let d = Double(s.values[i] - targets[i])
                return -0.5 * d * d / noiseVariance
            }
            let mx = logs.max()!
            let lse = mx + _log(logs.reduce(0) { $0 + _exp($1 - mx) } / Double(members.count))
            nll -= lse - 0.5 * _log(2 * Double.pi * noiseVariance) - _log(sigma)
        }
        let nn = Double(max(n, 1))
        return RegressionMetrics(rmse: (sse / nn).squareRoot() * sigma, nll: nll / nn, examples: n)
    }
}
