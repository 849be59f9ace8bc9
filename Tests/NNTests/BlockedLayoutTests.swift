// The channel-blocked activation layout (ActivationLayout.swift) against the plain [C, B, H, W] path it
// replaces: whole networks planned blocked or plain, single layers fed converted inputs, the im2col
// convolution around blocked layouts, and the same bits at 1 and 2 elementwise threads.
import BayesPruneKernels
import TestSupport
import Testing

@testable import BayesPruneNN

/// Largest |a − b| relative to max(1, largest |b|).
func relativeDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    let scale = max(1, b.map { abs($0) }.max() ?? 0)
    return zip(a, b).map { abs($0 - $1) }.max().map { $0 / scale } ?? 0
}

func toBlocked(_ x: [Float], channels C: Int, batch B: Int, plane P: Int, block k: Int) -> [Float] {
    var out = [Float](repeating: .nan, count: x.count)
    blockedFromPlain(x, channels: C, batch: B, plane: P, block: k, into: &out)
    return out
}

func toPlain(_ x: UnsafePointer<Float>, channels C: Int, batch B: Int, plane P: Int, block k: Int) -> [Float] {
    var out = [Float](repeating: .nan, count: C * B * P)
    plainFromBlocked(x, channels: C, batch: B, plane: P, block: k, into: &out)
    return out
}

@Suite struct BlockedLayout {
    /// Outputs, loss, every gradient and the batch-norm running statistics of a whole ResNet agree between
    /// the plain and the blocked plan (8 and 16 wide blocks), and the blocked plan really is blocked.
    @Test(arguments: [8, 16])
    func resnetBlockedMatchesPlain(block: Int) throws {
        let input = ActShape(3, 12, 12)
        let B = 5
        let x = randomValues(input.size * B, seed: 40)
        let labels: [Int32] = [0, 1, 2, 3, 1]
        var runs: [[Float]] = []
        for k in [0, block] {
            let net = try ModelBuilder.build(ModelSpec(kind: .resnet20, input: input, outputs: 4), seed: 41)
            net.planLayouts(block: k)
            if k > 0 {
                let bn = try #require(net.layers[1] as? BatchNorm2d)
                #expect(bn.block == k && bn.fusedReLU)
                let blocks = net.layers.compactMap { $0 as? ResidualBlock }
                #expect(blocks.count == 9 && blocks.allSatisfy { $0.streamBlock == k && $0.bn1.fusedReLU })
                #expect((net.layers[net.layers.count - 2] as? AvgPool2d)?.inputBlock == k)
            }
            var all: [Float] = []
            for _ in 0..<2 {  // two steps: the second sees updated running statistics
                let loss = net.lossAndGradient(x, batch: B, labels: labels, targets: nil)
                all.append(Float(loss))
                all += net.store.grads.array
            }
            all += net.store.state.array
            let y = net.forward(x, batch: B, training: false)
            all += Array(UnsafeBufferPointer(start: y, count: 4 * B))
            runs.append(all)
        }
        #expect(relativeDifference(runs[1], runs[0]) < 2e-4)
    }

    /// A residual block with a shortcut map that drops and reorders channels, at strides 1 and 2, with a
    /// blocked stream and a blocked or plain inner layout, equals the plain block (outputs, input and
    /// parameter gradients).
    @Test(arguments: [(1, 16, 8), (2, 16, 8), (2, 5, 8), (1, 8, 16)])
    func residualBlockWithMap(stride: Int, inner: Int, block: Int) {
        let (inC, planes) = (block, 2 * block)
        let input = ActShape(inC, 6, 6)
        // Output channel c takes input channel (inC − 1 − c/2) for even c below 2·inC − 2, nothing otherwise.
        let map = (0..<planes).map { c in c % 2 == 0 && c / 2 < inC - 1 ? inC - 1 - c / 2 : -1 }
        let B = 3
        var runs: [[Float]] = []
        for blocked in [false, true] {
            let store = ParameterStore()
            let r = ResidualBlock(
                "block", store: store, input: input, planes: planes, stride: stride, inner: inner, shortcut: map)
            store.finalize()
            var rng = Xoshiro256(seed: 6)
            r.initialize(rng: &rng, scheme: .heNormal)
            let k = blocked ? block : 0
            r.setLayouts(stream: k, inner: inner % block == 0 ? k : 0)
            var x = randomValues(input.size * B, seed: 7)
            var dy = randomValues(r.outShape.size * B, seed: 8)
            if blocked {
                x = toBlocked(x, channels: inC, batch: B, plane: input.plane, block: k)
                dy = toBlocked(dy, channels: planes, batch: B, plane: r.outShape.plane, block: k)
            }
            var all: [Float] = []
            let y = r.forward(x, batch: B, training: true)
            all +=
                blocked
                ? toPlain(y, channels: planes, batch: B, plane: r.outShape.plane, block: k)
                : Array(UnsafeBufferPointer(start: y, count: dy.count))
            let d = r.backward(dy, batch: B)!
            all +=
                blocked
                ? toPlain(d, channels: inC, batch: B, plane: input.plane, block: k)
                : Array(UnsafeBufferPointer(start: d, count: x.count))
            all += store.grads.array
            runs.append(all)
        }
        #expect(relativeDifference(runs[1], runs[0]) < 1e-4)
    }

    /// Blocked batch norm with the ReLU fused against plain batch norm followed by a plain ReLU, in training
    /// (twice: running statistics) and evaluation mode.
    @Test(arguments: [8, 16])
    func batchNormWithFusedReLU(block: Int) {
        let shape = ActShape(2 * block, 5, 3)
        let B = 4
        var runs: [[Float]] = []
        for blocked in [false, true] {
            let store = ParameterStore()
            let bn = BatchNorm2d("bn", store: store, shape: shape)
            let relu = ReLU("relu", shape: shape)
            store.finalize()
            var rng = Xoshiro256(seed: 5)
            bn.initialize(rng: &rng, scheme: .heNormal)
            for c in 0..<shape.c {
                store.values[bn.scaleOffset + c] = 0.5 + Float(c) * 0.1
                store.values[bn.shiftOffset + c] = Float(c % 5) * 0.2 - 0.4
            }
            if blocked {
                bn.block = block
                bn.fusedReLU = true
                relu.passThrough = true
            }
            let convert = { (v: [Float]) in
                blocked ? toBlocked(v, channels: shape.c, batch: B, plane: shape.plane, block: block) : v
            }
            let back = { (p: UnsafePointer<Float>) in
                blocked
                    ? toPlain(p, channels: shape.c, batch: B, plane: shape.plane, block: block)
                    : Array(UnsafeBufferPointer(start: p, count: shape.size * B))
            }
            var all: [Float] = []
            for (i, training) in [true, true, false].enumerated() {
                let x = convert(randomValues(shape.size * B, seed: 50 + UInt64(i)).map { $0 * 2 + 1 })
                let dy = convert(randomValues(shape.size * B, seed: 60 + UInt64(i)))
                let y = relu.forward(bn.forward(x, batch: B, training: training), batch: B, training: training)
                all += back(y)
                if training {
                    let d = bn.backward(relu.backward(dy, batch: B)!, batch: B)!
                    all += back(d)
                }
            }
            all += store.grads.array + store.state.array
            runs.append(all)
        }
        #expect(relativeDifference(runs[1], runs[0]) < 1e-5)
    }

    /// Global average pooling of a blocked input equals the plain one, forward and backward.
    @Test func globalAveragePooling() {
        let shape = ActShape(16, 4, 5)
        let B = 3
        let x = randomValues(shape.size * B, seed: 70)
        let dy = randomValues(shape.c * B, seed: 71)
        let plain = AvgPool2d(global: "gap", shape: shape)
        let blocked = AvgPool2d(global: "gap", shape: shape)
        blocked.inputBlock = 8
        let yp = Array(UnsafeBufferPointer(start: plain.forward(x, batch: B, training: true), count: 16 * B))
        let xb = toBlocked(x, channels: 16, batch: B, plane: 20, block: 8)
        let yb = Array(UnsafeBufferPointer(start: blocked.forward(xb, batch: B, training: true), count: 16 * B))
        #expect(relativeDifference(yb, yp) < 1e-6)
        let dp = Array(UnsafeBufferPointer(start: plain.backward(dy, batch: B)!, count: x.count))
        let db = toPlain(blocked.backward(dy, batch: B)!, channels: 16, batch: B, plane: 20, block: 8)
        #expect(relativeDifference(db, dp) < 1e-6)
    }

    /// The im2col convolution around blocked layouts (converting in and out) equals oneDNN reading and
    /// writing them directly.
    @Test(arguments: [(8, 1), (16, 2)])
    func im2colAroundBlockedMatchesDNNL(block: Int, stride: Int) {
        var results: [[Float]] = []
        for dnnl in [true, false] {
            let store = ParameterStore()
            let conv = Conv2d(
                "conv", store: store, input: ActShape(block, 7, 6), outChannels: block, kernel: 3, stride: stride,
                padding: 1, bias: false)
            store.finalize()
            var rng = Xoshiro256(seed: 5)
            conv.initialize(rng: &rng, scheme: .heNormal)
            conv.useDNNL = dnnl
            conv.inputBlock = block
            conv.outputBlock = block
            let B = 3
            let x = randomValues(conv.inShape.size * B, seed: 8)
            let dy = randomValues(conv.outShape.size * B, seed: 9)
            var all = Array(UnsafeBufferPointer(start: conv.forward(x, batch: B, training: true), count: dy.count))
            all += Array(UnsafeBufferPointer(start: conv.backward(dy, batch: B)!, count: x.count))
            all += store.grads.array
            results.append(all)
        }
        #expect(relativeDifference(results[1], results[0]) < 1e-5)
    }

    /// A blocked ResNet step gives the same bits with 1 and 2 elementwise threads (the batch is split, and
    /// per-example channel sums are added in example order), and the same bits when run again.
    @Test func blockedNetworkBitIdenticalAcrossThreadsAndRuns() throws {
        let input = ActShape(1, 16, 16)
        let B = 16  // stage 1 then holds 16·16·256 = 65 536 values: enough for both threads to engage
        let x = randomValues(input.size * B, seed: 80)
        let labels: [Int32] = (0..<B).map { Int32($0 % 4) }
        var runs: [[Float]] = []
        for threads in [1, 2, 2] {
            let net = try ModelBuilder.build(ModelSpec(kind: .resnet20, input: input, outputs: 4), seed: 81)
            net.planLayouts(block: 8)
            var all: [Float] = []
            withExclusiveThreadSettings {
                setBLASThreads(1)
                elementwiseThreads = threads
                all.append(Float(net.lossAndGradient(x, batch: B, labels: labels, targets: nil)))
                #expect(elementwiseThreads == threads, "another test changed elementwiseThreads during the run")
            }
            all += net.store.grads.array + net.store.state.array
            runs.append(all)
        }
        #expect(runs[0] == runs[1] && runs[1] == runs[2])
    }

    /// A ReLU applied by the max pooling after it gives the same bits as the two layers, forward and
    /// backward, including windows that are all negative (zero output, zero gradient).
    @Test func reluFusedIntoMaxPooling() {
        let shape = ActShape(3, 6, 6)
        let B = 4
        let x = randomValues(shape.size * B, seed: 90).map { $0 - 0.7 }  // many all-negative windows
        let dy = randomValues(shape.c * 9 * B, seed: 91)
        var runs: [[Float]] = []
        for fused in [false, true] {
            let relu = ReLU("relu", shape: shape)
            let pool = MaxPool2d("pool", shape: shape, window: 2)
            relu.passThrough = fused
            pool.reluBefore = fused
            let y = pool.forward(relu.forward(x, batch: B, training: true), batch: B, training: true)
            var all = Array(UnsafeBufferPointer(start: y, count: dy.count))
            let d = relu.backward(pool.backward(dy, batch: B)!, batch: B)!
            all += Array(UnsafeBufferPointer(start: d, count: x.count))
            runs.append(all)
        }
        #expect(runs[0] == runs[1])
        #expect(runs[0].prefix(dy.count).contains(0) && runs[0].prefix(dy.count).contains { $0 > 0 })
    }
}
