// The SGD step against its naive twin, the schedules against their closed forms, and the safetensors
// writer against an independent reading of the byte layout.

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

@Suite struct SGDStep {
    @Test func matchesTheNaiveTwinOverSeveralSteps() {
        let n = 1000
        var rng = Xoshiro256(seed: 5)
        let w0 = (0..<n).map { _ in rng.nextGaussian() }
        let c = SamplerConfig(kind: .sgd, weightDecay: 5e-4, momentum: 0.9, dataSize: 1, noiseSeed: 0)
        let state = SamplerState(config: c, parameterCount: n)
        let w = FloatBuffer(w0)
        var wRef = w0.map(Double.init)
        var vRef = [Double](repeating: 0, count: n)
        for s in 0..<5 {
            let g = (0..<n).map { _ in rng.nextGaussian() }
            let lr = 0.1 / Double(s + 1)
            Sampler.step(c, state: state, weights: w.pointer, grads: g, count: n, lr: Float(lr))
            // Naive twin: v ← μv − lr·(g + λw), w ← w + v in Double.
            for i in 0..<n {
                vRef[i] = 0.9 * vRef[i] - lr * (Double(g[i]) + 5e-4 * wRef[i])
                wRef[i] += vRef[i]
            }
        }
        for i in 0..<n { #expect(abs(Double(w[i]) - wRef[i]) <= 1e-5 * max(1, abs(wRef[i]))) }
        #expect(state.step == 5)
    }

    /// With zero gradient and no momentum, weight decay alone shrinks w geometrically: w·(1 − lr·λ)^k.
    @Test func weightDecayShrinksGeometrically() {
        let c = SamplerConfig(kind: .sgd, weightDecay: 0.1, momentum: 0, dataSize: 1, noiseSeed: 0)
        let state = SamplerState(config: c, parameterCount: 1)
        let w = FloatBuffer([2.0])
        let g: [Float] = [0]
        for _ in 0..<10 { Sampler.step(c, state: state, weights: w.pointer, grads: g, count: 1, lr: 0.5) }
        #expect(abs(Double(w[0]) - 2 * pow(0.95, 10)) < 1e-6)
    }
}

@Suite struct Schedules {
    @Test func cyclicalCosineClosedForm() {
        let s = Schedule(kind: .cyclical, baseLR: 0.2, totalSteps: 100, cycles: 4)
        #expect(s.stepsPerCycle == 25)
        #expect(abs(s.learningRate(step: 0) - 0.2) < 1e-12)
        #expect(abs(s.learningRate(step: 25) - 0.2) < 1e-12)  // restart of cycle 2
        for t in [3, 11, 37, 99] {
            let phase = Double(t % 25) / 25
            #expect(abs(s.learningRate(step: t) - 0.1 * (1 + cos(Double.pi * phase))) < 1e-12)
        }
        #expect(s.learningRate(step: 24) < s.learningRate(step: 23))
        #expect(Schedule(kind: .constant, baseLR: 0.3, totalSteps: 10, cycles: 1).learningRate(step: 7) == 0.3)
    }
}

@Suite struct SafetensorsFormat {
    @Test func layoutIsTheDocumentedOneAndRoundTrips() throws {
        let a = NamedTensor(name: "a.weight", shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let b = NamedTensor(name: "b", shape: [1], values: [-0.5])
        let data = Safetensors.encode([a, b], metadata: ["model": "x"])
        // Independent reading: u64 LE header length, JSON header, then raw f32 LE data.
        let n = Int(
            data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        #expect(n % 8 == 0)
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as! [String: Any]
        let entry = header["b"] as! [String: Any]
        #expect(entry["dtype"] as? String == "F32")
        #expect(entry["data_offsets"] as? [Int] == [24, 28])
        let bits = data.subdata(in: (8 + n + 24)..<(8 + n + 28)).enumerated().reduce(UInt32(0)) {
            $0 | UInt32($1.element) << (8 * UInt32($1.offset))
        }
        #expect(Float(bitPattern: bits) == -0.5)
        #expect((header["__metadata__"] as? [String: String])?["model"] == "x")

        let dir = try temporaryDirectory("safetensors")
        try Safetensors.write([a, b], metadata: [:], to: dir + "/t.safetensors")
        let back = try Safetensors.read(path: dir + "/t.safetensors")
        #expect(back.tensors["a.weight"]?.values == a.values && back.tensors["a.weight"]?.shape == [2, 3])
        // A truncated file is rejected with a message naming it.
        try data.prefix(data.count - 3).write(to: URL(fileURLWithPath: dir + "/cut.safetensors"))
        #expect { try Safetensors.read(path: dir + "/cut.safetensors") } throws: { e in
            "\(e)".contains("cut.safetensors") && "\(e)".contains("truncated")
        }
        // No temporary file is left behind by the atomic writer.
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["cut.safetensors", "t.safetensors"])
    }
}

/// The 1/R scaling of a summed gradient is fused into the sampler: a step that reads g·s is bitwise the
/// step over the pre-scaled gradient (what the trainer did before with a separate pass), with and
/// without λ and mask, for every sampler and instruction set the dispatcher picks.
@Suite struct FusedGradientScale {
    @Test(arguments: SamplerKind.allCases, [false, true])
    func scaledStepEqualsPrescaledGradient(kind: SamplerKind, masked: Bool) {
        let n = 1000
        let scale: Float = 1 / 3
        var rng = Xoshiro256(seed: 9)
        let w0 = (0..<n).map { _ in rng.nextGaussian() }
        let g = (0..<n).map { _ in rng.nextGaussian() }
        let lambda = (0..<n).map { Float($0 % 3) * 1e-3 }
        let mask = (0..<n).map { Float($0 % 5 == 0 ? 0 : 1) }
        func run(_ grads: [Float], _ s: Float) -> ([Float], [Float]) {
            let c = SamplerConfig(kind: kind, weightDecay: 5e-4, momentum: 0.9, dataSize: 500, noiseSeed: 3)
            let st = SamplerState(config: c, parameterCount: n)
            let w = FloatBuffer(w0)
            for _ in 0..<3 {
                Sampler.step(
                    c, state: st, weights: w.pointer, grads: grads, count: n, lr: 0.01,
                    lambda: masked ? lambda : nil, mask: masked ? mask : nil, gradientScale: s)
            }
            return (w.array, st.momentum.array)
        }
        let fused = run(g, scale)
        let prescaled = run(g.map { $0 * scale }, 1)
        #expect(fused.0.map(\.bitPattern) == prescaled.0.map(\.bitPattern))
        #expect(fused.1.map(\.bitPattern) == prescaled.1.map(\.bitPattern))
    }
}
