// Samplers as small pure steps over explicit state (blackjax style). The state carries the step count
// and every per-weight buffer; the noise is counter-based (a pure function of the noise key, the step
// and the weight index), so the RNG state is (key, step) and a checkpoint reproduces it exactly, and
// every MPI rank draws the same noise. All samplers work on the flat parameter buffer: pointers and a
// count, nothing model-specific.
//
//   sgd    heavy-ball momentum:  v ← μv − lr·(g + λw), w ← w + v
//   adavb  adaptive variational Bayes (Ke & Fan; ALGORITHM.md §2), lr plays C²
//   sghmc  v ← (1−α)v − lr·(g + λw) + N(0, 2·α·lr·Temp/N), w ← w + v     (α = 1 − momentum)
//   sgld   w ← w − lr·(g + λw) + N(0, 2·lr·Temp/N)
// g is the gradient of the mean minibatch loss (≈ (1/N)·∇(−log p(D|w))); λ is the prior's weight decay.

import BayesPruneKernels
import CShims
import Foundation

public enum SamplerKind: String, CaseIterable, Codable, Sendable { case sgd, adavb, sghmc, sgld }

public struct SamplerConfig: Codable, Equatable, Sendable {
    public var kind: SamplerKind
    /// λ1: weight decay of the slab (the whole dense model).
    public var weightDecay: Float
    /// sgd: μ; sghmc: friction α = 1 − momentum.
    public var momentum: Float
    public var beta1: Float = 0.1
    public var beta2: Float = 1
    public var eta: Float = 0.1
    /// adavb: T (default 1/N). sghmc/sgld: the sampling temperature Temp (1 = the posterior).
    public var temperature: Float
    /// N, the training-set size.
    public var dataSize: Int
    /// Seeds the noise; the same on every rank.
    public var noiseSeed: UInt64

    public init(
        kind: SamplerKind, weightDecay: Float, momentum: Float, beta1: Float = 0.1, beta2: Float = 1,
        eta: Float = 0.1, temperature: Float? = nil, dataSize: Int, noiseSeed: UInt64
    ) {
        self.kind = kind
        self.weightDecay = weightDecay
        self.momentum = momentum
        self.beta1 = beta1
        self.beta2 = beta2
        self.eta = eta
        self.dataSize = dataSize
        self.noiseSeed = noiseSeed
        self.temperature = temperature ?? (kind == .adavb ? 1 / Float(dataSize) : 1)
    }

    public var noiseKey: UInt64 { noiseSeed &* 0x9E37_79B9_7F4A_7C15 ^ 0x5EED_ADA5_B0A7_1234 }
}

/// Explicit sampler state. Buffers a sampler does not use stay empty.
public final class SamplerState {
    public var step: Int = 0
    /// sgd/sghmc: velocity v; adavb: momentum m.
    public let momentum: FloatBuffer
    /// adavb: ρ (τ = sigmoid(ρ)) and ε (the previous step's noise).
    public let rho: FloatBuffer
    public let previousNoise: FloatBuffer

    public init(config: SamplerConfig, parameterCount n: Int) {
        momentum = FloatBuffer(count: config.kind == .sgld ? 0 : n)
        let adaptive = config.kind == .adavb
        rho = FloatBuffer(count: adaptive ? n : 0)
        previousNoise = FloatBuffer(count: adaptive ? n : 0)
        if adaptive {
            // m ~ 0.001·N(0,1), ρ = 0 (τ = ½), ε ~ N(0,1): drawn from reserved counters of the noise stream.
            bp_gaussian_fill(config.noiseKey, UInt64.max, 0, n, momentum.pointer)
            for i in 0..<n { momentum[i] *= 0.001 }
            bp_gaussian_fill(config.noiseKey, UInt64.max - 1, 0, n, previousNoise.pointer)
        }
    }

    public convenience init(parameterCount: Int) {
        self.init(
            config: SamplerConfig(kind: .sgd, weightDecay: 0, momentum: 0, dataSize: 1, noiseSeed: 0),
            parameterCount: parameterCount)
    }
}

public enum Sampler {
    /// One step over `count` weights with this step's step size `lr` (C² for adavb). `lambda`: per-weight
    /// weight decay (spike-and-slab) or nil for `config.weightDecay`; `mask`: permanent pruning mask or nil.
    /// `gradientScale`: the gradient used is `grads · gradientScale` (1/R after a sum allreduce over R
    /// ranks, fused here instead of a separate pass over the buffer; 1 is exact). `noiseIndex`: for a
    /// compact copy of a network, each weight's index in the full network, whose noise draw it takes (so
    /// training the copy equals training the masked network); nil: weight i draws noise i.
    public static func step(
        _ c: SamplerConfig, state: SamplerState, weights w: UnsafeMutablePointer<Float>,
        grads g: UnsafePointer<Float>, count n: Int, lr: Float,
        lambda: UnsafePointer<Float>? = nil, mask: UnsafePointer<Float>? = nil, gradientScale gs: Float = 1,
        noiseIndex: UnsafePointer<UInt32>? = nil
    ) {
        let counter = UInt64(state.step)
        switch c.kind {
        case .sgd:
            let v = state.momentum.pointer
            let mu = c.momentum
            if let lambda, let mask {
                for i in 0..<n {
                    let gi = g[i] * gs
                    let vi = mu * v[i] - lr * (gi + lambda[i] * w[i])
                    v[i] = vi
                    w[i] = mask[i] != 0 ? w[i] + vi : 0  // +0.0, never −0.0
                }
            } else {
                // Dense: one λ, no mask (a separate loop so it vectorises).
                let lam = lambda?[0] ?? c.weightDecay
                precondition(lambda == nil && mask == nil, "sgd: pass both λ and mask, or neither")
                for i in 0..<n {
                    let gi = g[i] * gs
                    let vi = mu * v[i] - lr * (gi + lam * w[i])
                    v[i] = vi
                    w[i] += vi
                }
            }
        case .adavb:
            let p = bp_adavb_params(
                beta1: c.beta1, beta2: c.beta2, eta: c.eta, temperature: c.temperature,
                c2: lr, n_data: Float(c.dataSize), grad_scale: gs)
            bp_adavb_step(
                n, w, state.momentum.pointer, state.rho.pointer, state.previousNoise.pointer, g,
                lambda, c.weightDecay, mask, p, c.noiseKey, counter, noiseIndex)
        case .sghmc:
            let alpha = 1 - c.momentum
            let sd = (2 * alpha * lr * c.temperature / Float(c.dataSize)).squareRoot()
            bp_sghmc_step(
                n, w, state.momentum.pointer, g, gs, lambda, c.weightDecay, mask, lr, alpha, sd, c.noiseKey, counter,
                noiseIndex)
        case .sgld:
            let sd = (2 * lr * c.temperature / Float(c.dataSize)).squareRoot()
            bp_sgld_step(n, w, g, gs, lambda, c.weightDecay, mask, lr, sd, c.noiseKey, counter, noiseIndex)
        }
        state.step += 1
    }

    /// τ statistics (mean, min, max) and the implied sampling temperature
    /// Temp = N·τ·(1+β1²)·C·T²/((1−β1)·β2) at the mean τ, for adavb.
    public static func preconditionerSummary(
        _ c: SamplerConfig, state: SamplerState, lr: Float
    ) -> PreconditionerSummary? {
        guard c.kind == .adavb, state.rho.count > 0 else { return nil }
        let n = state.rho.count
        let tau = FloatBuffer(count: n)
        bp_sigmoid(n, state.rho.pointer, tau.pointer)
        var s = 0.0
        var lo = Float.infinity
        var hi = -Float.infinity
        for i in 0..<n {
            let t = tau[i]
            s += Double(t)
            lo = min(lo, t)
            hi = max(hi, t)
        }
        let mean = s / Double(n)
        let C = Double(lr).squareRoot()
        let T = Double(c.temperature)
        let b1 = Double(c.beta1)
        let temp = Double(c.dataSize) * mean * (1 + b1 * b1) * C * T * T / ((1 - b1) * Double(c.beta2))
        return PreconditionerSummary(tauMean: mean, tauMin: Double(lo), tauMax: Double(hi), samplingTemperature: temp)
    }
}

/// τ statistics of adavb (ALGORITHM.md §2) and the sampling temperature they imply.
public struct PreconditionerSummary: Equatable {
    public var tauMean, tauMin, tauMax, samplingTemperature: Double

    /// The figures as recorded (metrics.jsonl read back); `Sampler.preconditionerSummary` computes them.
    public init(tauMean: Double, tauMin: Double, tauMax: Double, samplingTemperature: Double) {
        self.tauMean = tauMean
        self.tauMin = tauMin
        self.tauMax = tauMax
        self.samplingTemperature = samplingTemperature
    }
}

/// The naive twins of the fused kernels (Double arithmetic, arrays), fed the same noise values.
public enum SamplerReference {
    public static func noise(_ c: SamplerConfig, step: Int, count: Int) -> [Float] {
        var z = [Float](repeating: 0, count: count)
        bp_gaussian_fill(c.noiseKey, UInt64(step), 0, count, &z)
        return z
    }

    public static func adavbStep(
        _ c: SamplerConfig, w: inout [Double], m: inout [Double], rho: inout [Double],
        eps: inout [Double], g: [Double], c2: Double, noise z: [Float]
    ) {
        let T = Double(c.temperature)
        let N = Double(c.dataSize)
        let b1 = Double(c.beta1)
        let b2 = Double(c.beta2)
        let C15 = pow(c2, 0.75)
        let C3 = pow(c2, 1.5)
        let lam = Double(c.weightDecay)
        let eta = Double(c.eta)
        for i in w.indices {
            var tau = 1 / (1 + _exp(-rho[i]))
            rho[i] -= eta * (T * T * C3 * lam * tau + T * C15 * eps[i] * g[i] - 1 / (N * tau))
            tau = 1 / (1 + _exp(-rho[i]))
            eps[i] = Double(z[i])
            m[i] = b1 * m[i] - b2 * c2 * (g[i] + lam * w[i]) + (2 * (1 + b1 * b1)).squareRoot() * C15 * T * eps[i]
            w[i] += tau * m[i]
        }
    }
}
