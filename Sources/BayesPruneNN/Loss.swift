// Likelihoods as mean-over-batch losses on outputs laid out [K, B]: softmax cross-entropy
// (categorical), squared error (Gaussian with unit variance, in standardized target units) and
// logistic loss (Bernoulli). Each returns the mean loss and SETS d(loss)/d(outputs).
import BayesPruneKernels

public enum LossKind: String, Sendable {
    case softmaxCrossEntropy = "softmax-cross-entropy"
    case squaredError = "squared-error"
    case logistic
}

public enum Loss {
    /// Mean softmax cross-entropy of logits [K, B] against labels; grad = (softmax − onehot)/B.
    public static func softmaxCrossEntropy(
        logits z: UnsafePointer<Float>, classes K: Int, batch B: Int,
        labels: UnsafePointer<Int32>, grad: UnsafeMutablePointer<Float>?
    ) -> Double {
        var total = 0.0
        let invB = 1 / Float(B)
        for b in 0..<B {
            var m = -Float.infinity
            for k in 0..<K { m = max(m, z[k * B + b]) }
            var s: Float = 0
            for k in 0..<K { s += _expf(z[k * B + b] - m) }
            let logZ = m + _logf(s)
            let y = Int(labels[b])
            total += Double(logZ - z[y * B + b])
            if let grad {
                for k in 0..<K { grad[k * B + b] = _expf(z[k * B + b] - logZ) * invB }
                grad[y * B + b] -= invB
            }
        }
        return total / Double(B)
    }

    /// Mean of (y − t)²/(2σ²) over outputs [1, B] (the Gaussian negative log-likelihood without its
    /// constant); grad = (y − t)/(σ²·B). σ² = 1 by default; σ² = ½ is PyTorch's MSELoss.
    public static func squaredError(
        outputs y: UnsafePointer<Float>, batch B: Int, targets t: UnsafePointer<Float>,
        grad: UnsafeMutablePointer<Float>?, noiseVariance: Float = 1
    ) -> Double {
        var total = 0.0
        let denominator = noiseVariance * Float(B)
        for b in 0..<B {
            let r = y[b] - t[b]
            total += Double(r * r)
            grad?[b] = r / denominator
        }
        return total / (2 * Double(noiseVariance) * Double(B))
    }

    /// Mean Bernoulli negative log-likelihood of logits [1, B] against 0/1 labels; grad = (σ(z) − y)/B.
    public static func logistic(
        logits z: UnsafePointer<Float>, batch B: Int, labels: UnsafePointer<Int32>,
        grad: UnsafeMutablePointer<Float>?
    ) -> Double {
        var total = 0.0
        for b in 0..<B {
            let x = z[b]
            let y = Float(labels[b])
            // softplus(x) − y·x, computed without overflow.
            total += Double(max(x, 0) - y * x + _logf(1 + _expf(-abs(x))))
            grad?[b] = (1 / (1 + _expf(-x)) - y) / Float(B)
        }
        return total / Double(B)
    }
}
