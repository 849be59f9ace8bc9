// Samplers/optimizers as small pure steps over explicit state (blackjax style): the state carries the
// step count, the per-weight buffers and the RNG state, so a checkpoint reproduces a run exactly.
// Every sampler works on the flat parameter buffer: pointers and a count, nothing model-specific.
import BayesPruneKernels

public enum SamplerKind: String, CaseIterable, Codable, Sendable {
    /// Heavy-ball momentum SGD with coupled weight decay: v ← μv − lr·(g + λw), w ← w + v.
    case sgd
}

public struct SamplerHyperparameters: Codable, Equatable, Sendable {
    public var momentum: Float
    public var weightDecay: Float
    public init(momentum: Float, weightDecay: Float) { self.momentum = momentum; self.weightDecay = weightDecay }
}

/// Explicit sampler state: one buffer per per-weight quantity, all sharing the parameter layout.
public final class SamplerState {
    public var step: Int = 0
    /// Momentum / velocity v.
    public let velocity: FloatBuffer
    public init(parameterCount: Int) { velocity = FloatBuffer(count: parameterCount) }
}

public enum SGD {
    /// One step over `count` weights. lr is this step's learning rate from the schedule.
    @inline(__always)
    public static func step(state: SamplerState, weights w: UnsafeMutablePointer<Float>, grads g: UnsafePointer<Float>,
                            count: Int, lr: Float, hyper: SamplerHyperparameters) {
        let v = state.velocity.pointer, mu = hyper.momentum, wd = hyper.weightDecay
        for i in 0..<count {
            let vi = mu * v[i] - lr * (g[i] + wd * w[i])
            v[i] = vi
            w[i] += vi
        }
        state.step += 1
    }

    /// The naive twin (Double arithmetic, array based) the tests compare `step` against.
    public static func referenceStep(weights: inout [Double], velocity: inout [Double], grads: [Double],
                                     lr: Double, momentum: Double, weightDecay: Double) {
        for i in weights.indices {
            velocity[i] = momentum * velocity[i] - lr * (grads[i] + weightDecay * weights[i])
            weights[i] += velocity[i]
        }
    }
}
