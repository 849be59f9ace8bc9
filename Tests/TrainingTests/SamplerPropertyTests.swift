// The sampler properties of ALGORITHM.md §6 (U1-U5, U8, U9) and the noise generator's laws. Monte-Carlo
// checks run many independent 1-D chains at once (one weight each; the counter-based noise is
// independent across weights) and compare against closed forms with tolerances derived from the
// estimator's standard error.
/// Stationary variance of the adavb chain on a 1-D quadratic (ALGORITHM.md §6 U4), η = 0.

import BayesPruneKernels
import CShims
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

func adavbStationaryVariance(
    a: Double, lambda: Double, T: Double, C: Double, tau: Double,
    beta1: Double = 0.1, beta2: Double = 1
) -> Double {
    let k = a + lambda
    let h = C * C * beta2
    let s2 = 2 * (1 + beta1 * beta1) * pow(C, 3) * T * T
    return s2 * tau * (1 + beta1) / (h * k * (1 - beta1) * (2 * (1 + beta1) - h * k * tau))
}

/// Preconditioner fixed point (U5).
func adavbTauFixedPoint(a: Double, lambda: Double, N: Double, T: Double, C: Double, beta1: Double = 0.1) -> Double {
    1 / (N * T * T * pow(C, 3) * ((2 * (1 + beta1 * beta1)).squareRoot() * a + lambda)).squareRoot()
}

/// Runs `chains` independent chains of w with gradient g = a·(w − mu) for `steps` steps.
func runChains(
    _ c: SamplerConfig, chains: Int, steps: Int, lr: Float, a: [Float], mu: [Float],
    rho0: Float = 0, record: (Int, FloatBuffer, SamplerState) -> Void = { _, _, _ in }
) -> FloatBuffer {
    let w = FloatBuffer(count: chains)
    let g = FloatBuffer(count: chains)
    let st = SamplerState(config: c, parameterCount: chains)
    for i in 0..<st.rho.count { st.rho[i] = rho0 }
    let d = a.count
    for s in 0..<steps {
        for i in 0..<chains { g[i] = a[i % d] * (w[i] - mu[i % d]) }
        Sampler.step(c, state: st, weights: w.pointer, grads: g.pointer, count: chains, lr: lr)
        record(s, w, st)
    }
    return w
}

func meanAndVariance(_ w: FloatBuffer, stride d: Int = 1, offset: Int = 0) -> (mean: Double, variance: Double, n: Int) {
    var s = 0.0
    var s2 = 0.0
    var n = 0
    var i = offset
    while i < w.count {
        let x = Double(w[i])
        s += x
        s2 += x * x
        n += 1
        i += d
    }
    let m = s / Double(n)
    return (m, (s2 - Double(n) * m * m) / Double(n - 1), n)
}

@Suite struct AdaVBProperties {
    /// U1: T = 0, η = 0 makes adavb momentum SGD with lr = τ·C²·β2, momentum β1, weight decay λ.
    @Test func noiseOffIsMomentumSGD() {
        let n = 777
        let c = SamplerConfig(
            kind: .adavb, weightDecay: 5e-4, momentum: 0, beta1: 0.1, beta2: 0.7, eta: 0,
            temperature: 0, dataSize: 1000, noiseSeed: 3)
        let st = SamplerState(config: c, parameterCount: n)
        var rng = Xoshiro256(seed: 4)
        let w = FloatBuffer((0..<n).map { _ in rng.nextGaussian() })
        let wSGD = FloatBuffer(w.array)
        let tau: Float = 0.5
        let c2: Float = 0.3
        let sgd = SamplerConfig(kind: .sgd, weightDecay: 5e-4, momentum: 0.1, dataSize: 1000, noiseSeed: 0)
        let stSGD = SamplerState(config: sgd, parameterCount: n)
        for i in 0..<n { stSGD.momentum[i] = tau * st.momentum[i] }  // v = τ·m
        for _ in 0..<20 {
            let g = (0..<n).map { _ in rng.nextGaussian() }
            Sampler.step(c, state: st, weights: w.pointer, grads: g, count: n, lr: c2)
            Sampler.step(sgd, state: stSGD, weights: wSGD.pointer, grads: g, count: n, lr: tau * c2 * 0.7)
        }
        for i in 0..<n { #expect(abs(w[i] - wSGD[i]) <= 1e-5 * max(1, abs(wSGD[i]))) }
    }

    /// U2: τ starts at ½ and stays in (0, 1); with T = 0 and η > 0, ρ grows by exactly η/(N·τ) per step.
    @Test func preconditionerDriftWithoutNoise() {
        let n = 300
        let N = 500
        let c = SamplerConfig(
            kind: .adavb, weightDecay: 5e-4, momentum: 0, eta: 0.2, temperature: 0, dataSize: N, noiseSeed: 1)
        let st = SamplerState(config: c, parameterCount: n)
        let tau0 = Sampler.preconditionerSummary(c, state: st, lr: 0.1)!
        #expect(tau0.tauMean == 0.5 && tau0.tauMin == 0.5 && tau0.tauMax == 0.5)
        let w = FloatBuffer(count: n)
        let g = FloatBuffer((0..<n).map { Float($0) / 100 - 1 })
        var rho = 0.0
        for _ in 0..<200 {
            let tau = 1 / (1 + exp(-rho))
            rho += 0.2 / (Double(N) * tau)
            Sampler.step(c, state: st, weights: w.pointer, grads: g.pointer, count: n, lr: 0.1)
        }
        for i in 0..<n { #expect(abs(Double(st.rho[i]) - rho) <= 1e-4 * abs(rho)) }
        let s = Sampler.preconditionerSummary(c, state: st, lr: 0.1)!
        #expect(s.tauMin > 0 && s.tauMax < 1)
    }

    /// U3: with η = 0, u = τ·m follows the SGHMC recursion u ← β1·u − τC²β2(g + λw) + τ·√(2(1+β1²))·C^1.5·T·ε,
    /// w ← w + u, on the same noise sequence (the naive Double twin is fed the generator's values).
    @Test func frozenPreconditionerIsPreconditionedSGHMC() {
        let n = 513
        let c = SamplerConfig(
            kind: .adavb, weightDecay: 1e-3, momentum: 0, beta1: 0.2, beta2: 1, eta: 0,
            temperature: 0.05, dataSize: 2000, noiseSeed: 9)
        let st = SamplerState(config: c, parameterCount: n)
        let tau = 0.3
        for i in 0..<n { st.rho[i] = Float(log(tau / (1 - tau))) }
        var rng = Xoshiro256(seed: 5)
        let w = FloatBuffer((0..<n).map { _ in rng.nextGaussian() })
        var wRef = w.array.map(Double.init)
        var u = st.momentum.array.map { tau * Double($0) }
        let c2 = 0.05
        let C15 = pow(c2, 0.75)
        for step in 0..<15 {
            let g = (0..<n).map { _ in rng.nextGaussian() }
            let z = SamplerReference.noise(c, step: step, count: n)
            Sampler.step(c, state: st, weights: w.pointer, grads: g, count: n, lr: Float(c2))
            for i in 0..<n {
                u[i] =
                    0.2 * u[i] - tau * c2 * (Double(g[i]) + 1e-3 * wRef[i])
                    + tau * (2 * (1 + 0.04)).squareRoot() * C15 * 0.05 * Double(z[i])
                wRef[i] += u[i]
            }
        }
        for i in 0..<n { #expect(abs(Double(w[i]) - wRef[i]) <= 2e-5 * max(1, abs(wRef[i]))) }
    }

    /// The fused kernel against its naive twin with everything on (η > 0, T > 0).
    @Test func fusedKernelMatchesNaiveTwin() {
        let n = 1000
        let c = SamplerConfig(
            kind: .adavb, weightDecay: 5e-4, momentum: 0, eta: 0.3, temperature: 0.05, dataSize: 50, noiseSeed: 2)
        let st = SamplerState(config: c, parameterCount: n)
        var rng = Xoshiro256(seed: 6)
        let w = FloatBuffer((0..<n).map { _ in rng.nextGaussian() })
        var wr = w.array.map(Double.init)
        var mr = st.momentum.array.map(Double.init)
        var rr = st.rho.array.map(Double.init)
        var er = st.previousNoise.array.map(Double.init)
        for step in 0..<10 {
            let g = (0..<n).map { _ in rng.nextGaussian() }
            Sampler.step(c, state: st, weights: w.pointer, grads: g, count: n, lr: 0.2)
            SamplerReference.adavbStep(
                c, w: &wr, m: &mr, rho: &rr, eps: &er, g: g.map(Double.init), c2: 0.2,
                noise: SamplerReference.noise(c, step: step, count: n))
        }
        for i in 0..<n {
            #expect(abs(Double(w[i]) - wr[i]) <= 1e-4 * max(1, abs(wr[i])))
            #expect(abs(Double(st.rho[i]) - rr[i]) <= 1e-4 * max(1, abs(rr[i])))
        }
    }

    @Test func stationaryVarianceClosedFormReproducesTheReferenceValues() {
        let cases: [(Double, Double, Double, Double, Double, Double)] = [
            (1, 5e-4, 2e-5, 1, 0.5, 2.9036e-10), (5, 5e-4, 1 / 10240.0.squareRoot(), 0.1, 0.5, 1.1084e-6),
            (0.2, 1e-2, 1 / 10240.0.squareRoot(), 0.3, 0.8, 1.2611e-4),
        ]
        for (a, l, T, C, tau, ref) in cases {
            #expect(abs(adavbStationaryVariance(a: a, lambda: l, T: T, C: C, tau: tau) - ref) <= 5e-4 * ref)
        }
        #expect(abs(adavbTauFixedPoint(a: 5, lambda: 5e-4, N: 1e4, T: 1, C: 0.1) - 0.1186) < 5e-4)
        #expect(abs(adavbTauFixedPoint(a: 50, lambda: 1e-2, N: 1e4, T: 0.3, C: 0.2) - 0.0442) < 5e-4)
    }

    /// U4: the chain's long-run variance on a(w²)/2 matches the closed form. Variance across K independent
    /// chains has standard error σ²·√(2/(K−1)); the check allows 5 of them.
    @Test(arguments: [
        (1.0, 5e-4, 2e-5, 1.0, 0.5), (5, 5e-4, 1 / 10240.0.squareRoot(), 0.1, 0.5),
        (0.2, 1e-2, 1 / 10240.0.squareRoot(), 0.3, 0.8),
    ])
    func stationaryVarianceMonteCarlo(a: Double, lambda: Double, T: Double, C: Double, tau: Double) {
        let K = 16384
        let c = SamplerConfig(
            kind: .adavb, weightDecay: Float(lambda), momentum: 0, eta: 0, temperature: Float(T),
            dataSize: 10240, noiseSeed: 11)
        let target = adavbStationaryVariance(a: a, lambda: lambda, T: T, C: C, tau: tau)
        // Relaxation rate ≈ h·k·τ/(1−β1) per step: run 25 time constants (at least 500 steps).
        let rate = C * C * (a + lambda) * tau / 0.9
        let steps = max(500, Int(25 / rate))
        let w = runChains(
            c, chains: K, steps: steps, lr: Float(C * C), a: [Float(a)], mu: [0],
            rho0: Float(log(tau / (1 - tau))))
        let (m, v, n) = meanAndVariance(w)
        let se = target * (2 / Double(n - 1)).squareRoot()
        #expect(abs(v - target) <= 5 * se, "variance \(v) vs closed form \(target) (±\(5 * se))")
        #expect(abs(m) <= 5 * (target / Double(n)).squareRoot())
    }

    /// U5: with η > 0, τ settles at τ* = [N·T²·C³·(√(2(1+β1²))·a + λ)]^(−1/2). Tolerance: 5 standard errors of
    /// the across-chain mean of time-averaged τ, plus the second-order (Jensen) term Var(τ)/τ* that the
    /// first-order fixed-point argument neglects.
    @Test func preconditionerFixedPointMonteCarlo() {
        let K = 4096
        let N = 10_000
        let (a, lambda, T, C, eta) = (50.0, 1e-2, 0.3, 0.2, 0.5)
        let c = SamplerConfig(
            kind: .adavb, weightDecay: Float(lambda), momentum: 0, eta: Float(eta), temperature: Float(T),
            dataSize: N, noiseSeed: 12)
        let tauStar = adavbTauFixedPoint(a: a, lambda: lambda, N: Double(N), T: T, C: C)
        var sums = [Double](repeating: 0, count: K)
        var sumsSq = 0.0
        var count = 0
        let burn = 6000
        let steps = 12000
        _ = runChains(c, chains: K, steps: steps, lr: Float(C * C), a: [Float(a)], mu: [0]) { s, _, st in
            guard s >= burn, s % 10 == 0 else { return }
            for i in 0..<K {
                let t = 1 / (1 + exp(-Double(st.rho[i])))
                sums[i] += t
                sumsSq += t * t
            }
            count += 1
        }
        let perChain = sums.map { $0 / Double(count) }
        let mean = perChain.reduce(0, +) / Double(K)
        let sdChain = (perChain.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(K - 1)).squareRoot()
        let varTau = sumsSq / Double(count * K) - mean * mean
        let tolerance = 5 * sdChain / Double(K).squareRoot() + varTau / tauStar
        #expect(abs(mean - tauStar) <= tolerance, "mean τ \(mean) vs τ* \(tauStar) (±\(tolerance))")
        #expect(tolerance < 0.05 * tauStar, "the check must stay informative: tolerance \(tolerance)")
    }
}

@Suite struct SGMCMCTargets {
    /// U8: SGLD on a diagonal Gaussian target (per-coordinate curvature a, mean μ, N, Temp): the exact
    /// stationary law of the discretised chain is N(μ, Temp/(N·a·(1 − lr·a/2))).
    @Test func sgldSamplesTheDiagonalGaussian() {
        let a: [Float] = [1, 4, 0.25, 2]
        let mu: [Float] = [0.5, -1, 2, 0]
        let N = 100
        let temp: Float = 1
        let lr: Float = 0.05
        let c = SamplerConfig(kind: .sgld, weightDecay: 0, momentum: 0, temperature: temp, dataSize: N, noiseSeed: 21)
        let w = runChains(c, chains: 4 * 8192, steps: 3000, lr: lr, a: a, mu: mu)
        for d in 0..<4 {
            let (m, v, n) = meanAndVariance(w, stride: 4, offset: d)
            let target = Double(temp) / (Double(N) * Double(a[d]) * (1 - Double(lr * a[d]) / 2))
            #expect(abs(m - Double(mu[d])) <= 5 * (target / Double(n)).squareRoot(), "dim \(d) mean \(m)")
            #expect(
                abs(v - target) <= 5 * target * (2 / Double(n - 1)).squareRoot(), "dim \(d) variance \(v) vs \(target)")
        }
    }

    /// U8: SGHMC (friction α, step lr) on the same target: stationary variance 2·Temp·(2−α)/(N·a·(4 − 2α − lr·a)),
    /// the η = 0, τ = 1 case of U4's closed form; and the 1-D target at Temp = 2.
    @Test(arguments: [
        ([Float(1), 4, 0.25, 2], [Float(0.5), -1, 2, 0], Float(1)), ([Float(3)], [Float(-0.7)], Float(2)),
    ])
    func sghmcSamplesTheGaussian(a: [Float], mu: [Float], temp: Float) {
        let N = 100
        let lr: Float = 0.01
        let momentum: Float = 0.9
        let alpha = Double(1 - momentum)
        let c = SamplerConfig(
            kind: .sghmc, weightDecay: 0, momentum: momentum, temperature: temp, dataSize: N, noiseSeed: 22)
        let d = a.count
        let w = runChains(c, chains: d * 8192, steps: 4000, lr: lr, a: a, mu: mu)
        for j in 0..<d {
            let (m, v, n) = meanAndVariance(w, stride: d, offset: j)
            let la = Double(lr * a[j])
            let target = 2 * Double(temp) * (2 - alpha) / (Double(N) * Double(a[j]) * (4 - 2 * alpha - la))
            #expect(abs(m - Double(mu[j])) <= 5 * (target / Double(n)).squareRoot(), "dim \(j) mean \(m)")
            #expect(
                abs(v - target) <= 5 * target * (2 / Double(n - 1)).squareRoot(), "dim \(j) variance \(v) vs \(target)")
        }
    }
}

@Suite struct GaussianNoise {
    @Test func momentsAndTailsOfTheCounterBasedGenerator() {
        let n = 1 << 20
        var z = [Float](repeating: 0, count: n)
        bp_gaussian_fill(77, 5, 0, n, &z)
        var s = 0.0
        var s2 = 0.0
        var s4 = 0.0
        var beyond2 = 0
        for x in z {
            let d = Double(x)
            s += d
            s2 += d * d
            s4 += d * d * d * d
            if abs(d) > 2 { beyond2 += 1 }
        }
        let N = Double(n)
        #expect(abs(s / N) < 5 / N.squareRoot())
        #expect(abs(s2 / N - 1) < 5 * (2 / N).squareRoot())
        #expect(abs(s4 / N - 3) < 5 * (96 / N).squareRoot())  // Var(z⁴) = 105 − 9
        let p2 = 0.0455003  // P(|z| > 2)
        #expect(abs(Double(beyond2) / N - p2) < 5 * (p2 * (1 - p2) / N).squareRoot())
    }

    @Test func valuesDependOnlyOnKeyCounterAndIndex() {
        var whole = [Float](repeating: 0, count: 1000)
        bp_gaussian_fill(1, 2, 0, 1000, &whole)
        var pieces = [Float](repeating: 0, count: 1000)
        pieces.withUnsafeMutableBufferPointer { p in
            bp_gaussian_fill(1, 2, 0, 300, p.baseAddress!)
            bp_gaussian_fill(1, 2, 300, 1, p.baseAddress! + 300)
            bp_gaussian_fill(1, 2, 301, 699, p.baseAddress! + 301)
        }
        #expect(whole == pieces)
        var other = [Float](repeating: 0, count: 1000)
        bp_gaussian_fill(1, 3, 0, 1000, &other)
        let corr = zip(whole, other).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } / 1000
        #expect(abs(corr) < 5 / 1000.0.squareRoot())
    }
}

@Suite struct ModelAveraging {
    /// U9: the BMA averages probabilities, not logits.
    @Test func averagesProbabilitiesNotLogits() {
        func softmax(_ z: [Double]) -> [Float] {
            let e = z.map { exp($0) }
            let s = e.reduce(0, +)
            return e.map { Float($0 / s) }
        }
        let l1: [Double] = [4, 0, 0]
        let l2: [Double] = [0, 4, 0]
        let avg = ModelAverage(keepMembers: false)
        avg.add(Predictions(count: 1, values: softmax(l1), width: 3))
        avg.add(Predictions(count: 1, values: softmax(l2), width: 3))
        let p = avg.mean!.values
        let expected = zip(softmax(l1), softmax(l2)).map { ($0 + $1) / 2 }
        for k in 0..<3 { #expect(abs(p[k] - expected[k]) < 1e-6) }
        let logitAverage = softmax(zip(l1, l2).map { ($0 + $1) / 2 })
        // Averaging logits would give class 3 probability 1/(2e²+1) ≈ 0.063; averaging probabilities 1/(e⁴+2) ≈ 0.018.
        #expect(abs(Double(p[2]) - 1 / (exp(4) + 2)) < 1e-6)
        #expect(abs(p[2] - logitAverage[2]) > 0.04)
    }

    @Test func samplingPlanTakesTheLastEpochsOfEachCycle() {
        let s = Schedule(kind: .cyclical, baseLR: 0.1, totalSteps: 20 * 10, cycles: 4)
        let plan = SamplingPlan.sampleEpochs(epochs: 20, stepsPerEpoch: 10, schedule: s, perCycle: 3)
        #expect(plan.keys.sorted() == [3, 4, 5, 8, 9, 10, 13, 14, 15, 18, 19, 20])
        #expect(plan[14] == 2)
        let constant = SamplingPlan.sampleEpochs(
            epochs: 6, stepsPerEpoch: 10,
            schedule: Schedule(kind: .constant, baseLR: 0.1, totalSteps: 60, cycles: 4), perCycle: 2)
        #expect(constant.keys.sorted() == [5, 6])
        // The same plan as steps: the last step of each sampled epoch.
        let steps = SamplingPlan.epochEndSteps(epochs: 20, stepsPerEpoch: 10, schedule: s, perCycle: 3)
        #expect(steps.keys.sorted() == plan.keys.sorted().map { $0 * 10 })
        #expect(steps[140] == 2)
    }

    /// Samples spread evenly over the last `stage` of each cycle, the last at the cycle's final step; a naive
    /// twin walks every step and asks where in its cycle it is.
    @Test func samplingStageSpreadsSamplesOverTheEndOfEachCycle() {
        let s = Schedule(kind: .cyclical, baseLR: 0.1, totalSteps: 200, cycles: 4)  // 50 steps per cycle
        let plan = SamplingPlan.sampleSteps(totalSteps: 200, schedule: s, perCycle: 4, stage: 0.2)
        // Stage of 10 steps: samples after steps end − 7.5→8 (rounded half away), end − 5, end − 2.5→3, end.
        #expect(plan.keys.sorted() == [42, 45, 47, 50, 92, 95, 97, 100, 142, 145, 147, 150, 192, 195, 197, 200])
        #expect(plan[147] == 2)
        for (step, cycle) in plan {
            let within = step - cycle * 50  // 1...50
            #expect(within > 50 - 10 && within <= 50)
        }
        // One sample per cycle is the cycle's last step; a constant schedule is one cycle over the run.
        #expect(SamplingPlan.sampleSteps(totalSteps: 200, schedule: s, perCycle: 1, stage: 0.5).keys.sorted()
            == [50, 100, 150, 200])
        let constant = Schedule(kind: .constant, baseLR: 0.1, totalSteps: 200, cycles: 4)
        #expect(SamplingPlan.sampleSteps(totalSteps: 200, schedule: constant, perCycle: 2, stage: 0.1).keys.sorted()
            == [190, 200])
        // A stage shorter than K steps samples each of its steps, and never a step before it (a 1-step stage:
        // the cycle's last step only; a whole-cycle stage never reaches into the cycle before); a huge K costs
        // no more than the stage's steps; a last cycle cut short ends at the run.
        #expect(SamplingPlan.sampleSteps(totalSteps: 200, schedule: s, perCycle: 5, stage: 0.02).keys.sorted()
            == [50, 100, 150, 200])
        #expect(SamplingPlan.sampleSteps(totalSteps: 200, schedule: s, perCycle: 3, stage: 0.04).keys.sorted()
            == [49, 50, 99, 100, 149, 150, 199, 200])
        let whole = SamplingPlan.sampleSteps(totalSteps: 8, schedule: constant, perCycle: 1_000_000_000, stage: 1)
        #expect(whole.keys.sorted() == Array(1...8) && Set(whole.values) == [0])
        let two = Schedule(kind: .cyclical, baseLR: 0.1, totalSteps: 8, cycles: 2)
        let cycles = SamplingPlan.sampleSteps(totalSteps: 8, schedule: two, perCycle: 3, stage: 1)
        #expect(cycles == [1: 0, 3: 0, 4: 0, 5: 1, 7: 1, 8: 1])
        let uneven = Schedule(kind: .cyclical, baseLR: 0.1, totalSteps: 10, cycles: 3)  // 4 + 4 + 2 steps
        #expect(SamplingPlan.sampleSteps(totalSteps: 10, schedule: uneven, perCycle: 1, stage: 0.25).keys.sorted()
            == [4, 8, 10])
    }
}

@Suite struct SpikeAndSlabEStep {
    /// U6: p_g = ½ exactly at r²/m = t*; the reference λ1 = 5e-4, λ0 = 1e-3, N = 5e4, m = 9, θ = ½ → 0.027726.
    @Test func thresholdIsWhereInclusionIsOneHalf() {
        let t = SpikeAndSlab.meanSquareThreshold(groupSize: 9, theta: 0.5, lambda0: 1e-3, lambda1: 5e-4, dataSize: 5e4)
        #expect(abs(t - 0.027726) < 1e-6)
        for (m, theta) in [(9, 0.5), (25, 0.2), (300, 0.9)] {
            let ts = SpikeAndSlab.meanSquareThreshold(
                groupSize: m, theta: theta, lambda0: 0.1, lambda1: 5e-4, dataSize: 6e4)
            let p = SpikeAndSlab.inclusionProbability(
                squaredNorm: ts * Double(m), groupSize: m, theta: theta,
                lambda0: 0.1, lambda1: 5e-4, dataSize: 6e4)
            #expect(abs(p - 0.5) < 1e-9)
            let above = SpikeAndSlab.inclusionProbability(
                squaredNorm: ts * Double(m) * 1.01, groupSize: m, theta: theta,
                lambda0: 0.1, lambda1: 5e-4, dataSize: 6e4)
            #expect(above > 0.5)
        }
        // The closed form of p_g against the prior densities computed directly.
        let (r2, m, th, l0, l1, N) = (0.3, 4, 0.3, 1e-2, 1e-4, 1000.0)
        let v0 = 1 / (N * l0)
        let v1 = 1 / (N * l1)
        func logN(_ v: Double) -> Double { -0.5 * Double(m) * log(2 * Double.pi * v) - r2 / (2 * v) }
        let direct = th * exp(logN(v1)) / (th * exp(logN(v1)) + (1 - th) * exp(logN(v0)))
        #expect(
            abs(
                SpikeAndSlab.inclusionProbability(
                    squaredNorm: r2, groupSize: m, theta: th, lambda0: l0, lambda1: l1, dataSize: N) - direct) < 1e-12)
        #expect(abs(SpikeAndSlab.updatedTheta(inclusionSum: 30, groups: 100, a: 2, b: 3) - 31.0 / 103) < 1e-12)
    }
}
