// WideResNet's dropout: the mask's law (zero with probability p, else 1/(1−p)), forward y = x·m and
// backward dx = dy·m against the mask, the identity in evaluation, masks fixed by (seed, step, rank), and
// the whole WideResNet with dropout against a directional finite difference at one step.
import BayesPruneKernels
import BayesPruneNN
import Foundation
import Testing

@Suite struct DropoutTests {
    func run(_ d: Dropout, _ x: [Float], batch: Int, training: Bool) -> [Float] {
        x.withUnsafeBufferPointer { Array(UnsafeBufferPointer(start: d.forward($0.baseAddress!, batch: batch, training: training), count: x.count)) }
    }

    @Test func maskLawForwardAndBackward() {
        let shape = ActShape(5, 7, 9)
        let batch = 64
        let p: Float = 0.3
        let d = Dropout("drop", shape: shape, probability: p)
        (d.seed, d.step, d.rank) = (3, 11, 0)
        var rng = Xoshiro256(seed: 8)
        let x = (0..<(shape.size * batch)).map { _ in rng.nextGaussian() + 3 }  // never 0
        let y = run(d, x, batch: batch, training: true)
        let mask = zip(y, x).map { $0 / $1 }
        let zeros = mask.filter { $0 == 0 }.count
        let n = Double(mask.count)
        // Binomial(n, p): within 4 standard deviations.
        #expect(abs(Double(zeros) - n * 0.3) <= 4 * (n * 0.3 * 0.7).squareRoot(), "\(zeros) zeros of \(mask.count)")
        #expect(mask.allSatisfy { $0 == 0 || abs($0 - 1 / (1 - p)) <= 1e-6 })
        // Backward multiplies by the same mask.
        let dy = (0..<x.count).map { _ in rng.nextGaussian() }
        let dx = dy.withUnsafeBufferPointer {
            Array(UnsafeBufferPointer(start: d.backward($0.baseAddress!, batch: batch)!, count: dy.count))
        }
        for i in 0..<dx.count where abs(dx[i] - dy[i] * mask[i]) > 1e-5 * max(1, abs(dy[i] * mask[i])) {
            Issue.record("dx[\(i)] = \(dx[i]), dy·m = \(dy[i] * mask[i])")
            break
        }
        // The same (seed, step, rank) draws the same mask; another step or rank another one.
        #expect(run(d, x, batch: batch, training: true) == y)
        d.step = 12
        #expect(run(d, x, batch: batch, training: true) != y)
        (d.step, d.rank) = (11, 1)
        #expect(run(d, x, batch: batch, training: true) != y)
        // Evaluation is the identity, and so is its backward.
        #expect(run(d, x, batch: batch, training: false) == x)
        let back = dy.withUnsafeBufferPointer {
            Array(UnsafeBufferPointer(start: d.backward($0.baseAddress!, batch: batch)!, count: dy.count))
        }
        #expect(back == dy)
    }

    /// The whole WideResNet with dropout 0.3 in training mode at a fixed step (so every forward pass of the
    /// difference quotient sees the same masks), as the models' own directional-derivative test.
    @Test func wideResNetWithDropoutMatchesFiniteDifferences() throws {
        let input = ActShape(3, 8, 8)
        let net = try tinyDeepResNet(.wrn16x4, input: input, seed: 19, dropout: 0.3)
        #expect(net.flatLayers.filter { $0 is Dropout }.count == 6, "one dropout per block of wrn-16-4")
        net.setStochasticState(seed: 5, step: 2, rank: 0)
        expectWholeModelGradient(net, input: input, "wrn-16-4 with dropout")
        let B = 4
        var rng = Xoshiro256(seed: 21)
        let x = (0..<(input.size * B)).map { _ in rng.nextGaussian() }
        // Dropout is on: evaluation-mode outputs differ from training-mode ones at the same weights only
        // through it and batch norm, so compare two training passes at different steps instead.
        let first = x.withUnsafeBufferPointer { Array(UnsafeBufferPointer(start: net.forward($0.baseAddress!, batch: B, training: true), count: 4 * B)) }
        net.setStochasticState(seed: 5, step: 3, rank: 0)
        let second = x.withUnsafeBufferPointer { Array(UnsafeBufferPointer(start: net.forward($0.baseAddress!, batch: B, training: true), count: 4 * B)) }
        #expect(first != second, "the masks did not change with the step")
    }

    @Test func onlyWideResNetsTakeDropout() {
        var spec = ModelSpec(kind: .resnet18, input: ActShape(3, 32, 32), outputs: 10)
        spec.dropout = 0.3
        #expect(throws: SettingError.self) { _ = try ModelBuilder.build(spec, seed: 1) }
    }
}
