// Initialisation schemes against their closed-form moments, and the Gaussian likelihood's noise
// variance against the closed-form loss and a finite difference.

import BayesPruneKernels
import Testing

@testable import BayesPruneNN

@Suite struct InitAndLossTests {
    /// pytorch: weights and biases uniform in ±1/√fan_in (mean square 1/(3·fan_in)); he-normal: weights
    /// N(0, 2/fan_in), zero biases. 300 000 draws: the sample moments are within 2 % of the closed forms.
    @Test(arguments: [InitScheme.pytorch, .heNormal])
    func weightLayerMoments(scheme: InitScheme) {
        let store = ParameterStore()
        let fc = Linear("fc", store: store, inFeatures: 1000, outFeatures: 300)
        store.finalize()
        var rng = Xoshiro256(seed: 9)
        fc.initialize(rng: &rng, scheme: scheme)
        let w = (0..<300_000).map { Double(store.values[fc.weightOffset + $0]) }
        let b = (0..<300).map { Double(store.values[fc.biasOffset! + $0]) }
        let meanSquare = w.reduce(0) { $0 + $1 * $1 } / Double(w.count)
        let mean = w.reduce(0, +) / Double(w.count)
        #expect(abs(mean) < 1e-3 * meanSquare.squareRoot() * 10)
        switch scheme {
        case .pytorch:
            let bound = 1 / 1000.0.squareRoot()
            #expect(w.allSatisfy { abs($0) <= bound } && b.allSatisfy { abs($0) <= bound })
            #expect(abs(meanSquare / (1.0 / 3000) - 1) < 0.02, "mean square \(meanSquare)")
            #expect(b.contains { $0 != 0 })
            // The paper's point: a column of 300 such weights starts below the 1e-3 hard threshold.
            #expect(meanSquare < 1e-3)
        case .heNormal:
            #expect(abs(meanSquare / (2.0 / 1000) - 1) < 0.02, "mean square \(meanSquare)")
            #expect(b.allSatisfy { $0 == 0 })
        }
    }

    /// loss = mean (y − t)²/(2σ²), gradient (y − t)/(σ²·B): closed form and a central difference.
    @Test(arguments: [1.0, 0.5, 2.0])
    func squaredErrorNoiseVariance(variance: Float) {
        let y: [Float] = [0.3, -1.2, 2.5, 0.0]
        let t: [Float] = [0.1, -1.0, 1.5, 0.4]
        var g = [Float](repeating: 0, count: 4)
        let loss = Loss.squaredError(outputs: y, batch: 4, targets: t, grad: &g, noiseVariance: variance)
        let closed = zip(y, t).map { Double(($0 - $1) * ($0 - $1)) }.reduce(0, +) / (2 * Double(variance) * 4)
        #expect(abs(loss - closed) <= 1e-6 * closed)
        for i in 0..<4 {
            var up = y
            var down = y
            up[i] += 1e-2
            down[i] -= 1e-2
            let fd =
                (Loss.squaredError(outputs: up, batch: 4, targets: t, grad: nil, noiseVariance: variance)
                    - Loss.squaredError(outputs: down, batch: 4, targets: t, grad: nil, noiseVariance: variance)) / 2e-2
            #expect(abs(Double(g[i]) - fd) <= 1e-3 * max(abs(fd), 1e-3), "\(i): \(g[i]) vs \(fd)")
        }
    }

    /// A table's first fully connected layer reads rows example-major; the network's output equals the
    /// same weights fed the transposed batch through a layer that expects [F, B].
    @Test func exampleMajorFirstLayer() throws {
        let net = try ModelBuilder.build(
            ModelSpec(kind: .mlp, input: ActShape(7, 1, 1), outputs: 2, hidden: [5]), seed: 4)
        let fc1 = try #require(net.layers.first as? Linear)
        #expect(fc1.exampleMajorInput)
        var rng = Xoshiro256(seed: 1)
        let x = (0..<(3 * 7)).map { _ in rng.nextGaussian() }
        let y = Array(UnsafeBufferPointer(start: net.forward(x, batch: 3, training: false), count: 2 * 3))
        fc1.exampleMajorInput = false
        var xt = [Float](repeating: 0, count: 21)
        transposeNaive(x, rows: 3, cols: 7, into: &xt)
        let twin: [Float] = xt.withUnsafeBufferPointer { p in
            var h = p.baseAddress!
            for l in net.layers { h = l.forward(h, batch: 3, training: false) }
            return Array(UnsafeBufferPointer(start: h, count: 6))
        }
        for i in 0..<6 { #expect(abs(twin[i] - y[i]) <= 1e-5 * max(1, abs(y[i]))) }
    }
}

@Suite struct ExampleMajorGradient {
    /// The first layer of a table's mlp reads rows example-major in backward too: its gradients equal the
    /// transposing path's (the naive twin) and central differences of the loss (h = 1e-3, so no example's
    /// pre-activation crosses a ReLU kink).
    @Test func firstLayerGradientsAgainstTwinAndFiniteDifferences() throws {
        var spec = ModelSpec(kind: .mlp, input: ActShape(6, 1, 1), outputs: 1, loss: .squaredError, hidden: [4])
        spec.initScheme = .pytorch
        spec.noiseVariance = 0.5
        let net = try ModelBuilder.build(spec, seed: 3)
        let fc1 = try #require(net.layers.first as? Linear)
        #expect(fc1.exampleMajorInput)
        let batch = 5
        let x = randomValues(batch * 6, seed: 31)
        let t = randomValues(batch, seed: 22)
        func loss() -> Double { net.lossAndGradient(x, batch: batch, labels: nil, targets: t) }
        _ = loss()
        let analytic = net.store.grads.array
        fc1.exampleMajorInput = false
        _ = loss()
        let twin = net.store.grads.array
        fc1.exampleMajorInput = true
        for i in analytic.indices { #expect(abs(analytic[i] - twin[i]) <= 1e-6 * max(1, abs(twin[i])), "\(i)") }
        let s = net.store
        // Central differences are only meaningful away from the ReLU kinks: every pre-activation of fc1 must
        // stay clear of 0 by far more than a perturbation moves it (|x| < 4, h = 1e-3).
        for b in 0..<batch {
            for o in 0..<4 {
                var z = s.values[fc1.biasOffset! + o]
                for j in 0..<6 { z += s.values[fc1.weightOffset + o * 6 + j] * x[b * 6 + j] }
                #expect(abs(z) > 0.02, "example \(b), unit \(o): pre-activation \(z) too close to the kink")
            }
        }
        let h: Float = 1e-3
        for index in Array(fc1.weightOffset..<(fc1.weightOffset + 24)) + Array(fc1.biasOffset!..<(fc1.biasOffset! + 4))
        {
            let saved = s.values[index]
            s.values[index] = saved + h
            let up = loss()
            s.values[index] = saved - h
            let down = loss()
            s.values[index] = saved
            let numeric = (up - down) / Double(2 * h)
            #expect(
                abs(Double(analytic[index]) - numeric) <= 1e-2 * max(0.1, abs(numeric)),
                "parameter \(index): \(analytic[index]) vs \(numeric)")
        }
    }

    /// A ReLU layer that is zero for every example is reported dead; a live network has none.
    @Test func deadReLULayerIsFound() throws {
        let net = try ModelBuilder.build(
            ModelSpec(kind: .mlp, input: ActShape(3, 1, 1), outputs: 2, hidden: [4, 3]), seed: 1)
        let x = randomValues(8 * 3, seed: 5)
        #expect(net.deadReLULayers(x, batch: 8).isEmpty)
        let fc2 = net.layers.compactMap { $0 as? Linear }[1]
        for i in 0..<(4 * 3) { net.store.values[fc2.weightOffset + i] = -abs(net.store.values[fc2.weightOffset + i]) }
        for i in 0..<3 { net.store.values[fc2.biasOffset! + i] = -1 }
        #expect(net.deadReLULayers(x, batch: 8) == ["relu2"])
    }
}
