// Test-set evaluation: predictive probabilities for every example (kept, so later runs can average
// them over posterior samples), and the metrics computed from them.
import BayesPruneKernels
import BayesPruneNN
import BayesPruneData

/// Predictions of one network on a data set, example-major.
public struct Predictions {
    public var count: Int
    /// Classification: probabilities [count, classes] (binary: [count, 2]). Regression: means [count].
    public var values: [Float]
    public var width: Int
}

public struct ClassificationMetrics: Codable, Equatable {
    public var accuracy: Double
    public var nll: Double
    public var examples: Int
}

public struct RegressionMetrics: Codable, Equatable {
    /// Root mean squared error in the target's original units.
    public var rmse: Double
    /// Gaussian NLL per example in original units, with the model's likelihood variance (unit variance in
    /// standardized units, i.e. the training targets' variance).
    public var nll: Double
    public var examples: Int
}

public enum Evaluator {
    /// Runs the network in evaluation mode (batch-norm running statistics) over `data`.
    public static func predict(_ net: Network, data: Dataset, batchSize: Int) throws -> Predictions {
        let loader = try EvalBatchLoader(dataset: data, globalBatchSize: batchSize)
        let width = data.task == .regression ? 1 : max(data.classes, 2)
        var out = [Float](repeating: 0, count: data.count * width)
        let x = FloatBuffer(count: loader.maxLocalBatchSize * data.exampleSize)
        var written = 0
        for b in 0..<loader.batchCount {
            let n = loader.fill(batchIndex: b, into: x.pointer, labels: nil, targets: nil)
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
                        for k in 0..<K { let e = _expf(y[k * n + i] - m); dst[i * K + k] = e; s += e }
                        for k in 0..<K { dst[i * K + k] /= s }
                    }
                case .logistic:
                    for i in 0..<n { let p = 1 / (1 + _expf(-y[i])); dst[i * 2] = 1 - p; dst[i * 2 + 1] = p }
                case .squaredError:
                    for i in 0..<n { dst[i] = y[i] }
                }
            }
            written += n
        }
        return Predictions(count: data.count, values: out, width: width)
    }

    public static func classification(_ p: Predictions, labels: [Int32]) -> ClassificationMetrics {
        var correct = 0, nll = 0.0
        for i in 0..<p.count {
            let row = i * p.width
            var best = 0
            for k in 1..<p.width where p.values[row + k] > p.values[row + best] { best = k }
            let y = Int(labels[i])
            if best == y { correct += 1 }
            nll -= _log(max(Double(p.values[row + y]), 1e-12))
        }
        return ClassificationMetrics(accuracy: Double(correct) / Double(max(p.count, 1)),
                                     nll: nll / Double(max(p.count, 1)), examples: p.count)
    }

    /// `targets` and predictions in standardized units; `scaling` converts back.
    public static func regression(_ p: Predictions, targets: [Float], scaling: TargetScaling) -> RegressionMetrics {
        var sse = 0.0
        for i in 0..<p.count { let r = Double(p.values[i] - targets[i]); sse += r * r }
        let n = Double(max(p.count, 1))
        let mseStd = sse / n
        let sigma = Double(scaling.std)
        let nll = 0.5 * _log(2 * Double.pi) + _log(sigma) + 0.5 * mseStd
        return RegressionMetrics(rmse: mseStd.squareRoot() * sigma, nll: nll, examples: p.count)
    }
}
