// Compaction while training for the convolutional models (`--shrink`, on with --prune): once channel
// groups are removed, lenet and resnet20 train a compact copy (fewer filters, narrower residual streams)
// whose results equal the masked network's within float summation order, on 1 and 2 ranks, and a run
// stopped after the switch resumes bitwise.

import BayesPruneConfig
import BayesPruneEvaluation
import BayesPruneKernels
import Foundation
import TestSupport
import Testing

@testable import BayesPruneNN
@testable import BayesPruneRunIO
@testable import BayesPruneSparsity

/// One step's loss and gradient: the compact copy of a network with a third of its channel groups removed
/// against the masked network, on the same batch (no training in between, so only summation order differs).
@Suite struct CompactCopyGradient {
    @Test(arguments: [ModelKind.lenet, .resnet20, .resnet18, .preactResnet18, .wrn16x4, .resnet50])
    func lossAndGradientEqualTheMaskedNetworks(model: ModelKind) throws {
        let input = model == .resnet50 ? ActShape(3, 64, 64) : ActShape(1, 16, 16)
        var spec = ModelSpec(kind: model, input: input, outputs: 10)
        if DeepResNetPlan.plan(model) != nil {
            // Toy widths (at most 8 channels per space) keep every structural feature and the test fast.
            let standard = try ModelBuilder.build(spec, seed: 1)
            spec.spaceWidths = Dictionary(
                uniqueKeysWithValues: standard.graph.spaces.filter { !$0.isInput }.map {
                    ($0.name, min($0.channels, 8))
                })
        }
        let full = try ModelBuilder.build(spec, seed: 1)
        // Both on the plain activation layout: the compact widths are not multiples of the channel block, and
        // removed channels make batch-norm inputs constant, where the blocked and plain paths may round a
        // normalised zero to either side of the ReLU's kink (each is a valid one-sided derivative).
        full.planLayouts(block: 0)
        var pc = PruningConfig.defaults(model: model)
        (pc.enabled, pc.convGroups) = (true, .channels)
        let pruner = Pruner(network: full, config: pc, dataSize: 100, lambda1: 5e-4)
        #expect(pruner.channelGroups.count > 10)
        for g in stride(from: 0, to: pruner.channelGroups.count, by: 3) { pruner.removeChannelGroup(g) }
        pruner.propagate()
        vApplyMask(full.store.values.pointer, mask: pruner.mask.pointer, count: full.store.parameterCount)
        var tc = TrainConfig()
        tc.model = model
        let built = try #require(
            try CompactExport.compactNetwork(
                of: full, dead: pruner.dead, dropInputs: false, config: tc, loss: .softmaxCrossEntropy))
        let compact = built.network
        #expect(compact.store.parameterCount < full.store.parameterCount)
        built.layout.gather(full.store.values.pointer, into: compact.store.values.pointer)
        built.layout.gather(full.store.state.pointer, into: compact.store.state.pointer, state: true)
        let batch = 6
        var rng = Xoshiro256(seed: 9)
        let x = (0..<(batch * input.size)).map { _ in rng.nextGaussian() }
        let labels = (0..<batch).map { Int32($0 % 10) }
        let lossFull = full.lossAndGradient(x, batch: batch, labels: labels, targets: nil)
        let lossCompact = compact.lossAndGradient(x, batch: batch, labels: labels, targets: nil)
        #expect(abs(lossFull - lossCompact) <= 1e-5 * abs(lossFull), "\(model): loss \(lossCompact) vs \(lossFull)")
        var worst = 0.0
        for (i, f) in built.layout.parameterSource.enumerated() {
            let (a, b) = (Double(compact.store.grads[i]), Double(full.store.grads[Int(f)]))
            worst = max(worst, abs(a - b) / max(1e-3, abs(b)))
        }
        #expect(worst <= 1e-3, "\(model): gradients differ by \(worst)")
    }
}

@Suite(.serialized) struct ConvCompaction {
    static let data = try! quadrantDataset("conv-shrink-data", train: 192, test: 64)

    /// Channel groups to a 50 % target by epoch 3: removals at the E-steps of epochs 2 and 3, so epochs 2-4
    /// train a compact copy (6 steps per epoch).
    func args(_ model: String, _ out: String, _ extra: [String] = []) -> [String] {
        [
            "train", "--data", "mnist", "--data-dir", Self.data, "--model", model, "--sampler", "adavb",
            "--epochs", "4", "--batch-size", "32", "--prune", "--warm-up", "1", "--conv-groups", "channels",
            "--target-sparsity", "0.5", "--target-epoch", "3", "--samples-per-cycle", "1", "--threads", "1",
            "--seed", "3", "--lr", "0.02", "--out", out,
        ] + extra
    }

    /// Parameters only (batch-norm running statistics of removed channels stop updating in the copy, and
    /// nothing reads them).
    func parameters(_ run: String) throws -> [String: [Float]] {
        try Safetensors.read(path: run + "/weights.safetensors").tensors
            .filter { !$0.key.contains("running") }.mapValues(\.values)
    }

    @Test(arguments: [("lenet", 0), ("lenet", 2), ("resnet20", 0), ("resnet20", 2)])
    func compactTrainingEqualsMaskedTraining(model: String, ranks: Int) throws {
        let base = try temporaryDirectory("conv-shrink-\(model)-\(ranks)")
        let shrunk = try runRanks(ranks, args(model, base + "/shrunk"))
        #expect(shrunk.status == 0, "\(shrunk.stderr)")
        #expect(shrunk.stderr.contains("training a compact copy"), "\(shrunk.stderr)")
        let masked = try runRanks(ranks, args(model, base + "/masked", ["--shrink", "off"]))
        #expect(masked.status == 0, "\(masked.stderr)")
        let (a, b) = (try parameters(base + "/shrunk"), try parameters(base + "/masked"))
        #expect(a.keys.sorted() == b.keys.sorted())
        var worst = 0.0
        var removedAlike = true
        for (name, x) in a {
            let y = b[name]!
            for (u, v) in zip(x, y) {
                worst = max(worst, Double(abs(u - v)) / max(1e-2, Double(abs(u))))
                removedAlike = removedAlike && ((u == 0) == (v == 0))
            }
        }
        // 18 steps after the switch with batch norm over 16-32 images (and the full network on the blocked
        // layout, the copy on the plain one): float summation order grows to a few 1e-2 (the gradient test
        // above checks one step tightly); the removals must agree exactly.
        #expect(worst < 5e-2, "\(model): weights differ by \(worst)")
        #expect(removedAlike, "\(model): different weights removed")
        let (ms, mm) = (try lastMetrics(base + "/shrunk"), try lastMetrics(base + "/masked"))
        let (ns, nm) = (ms["test_nll"] as! Double, mm["test_nll"] as! Double)
        #expect(abs(ns - nm) <= 1e-2 * nm, "\(model): test NLL \(ns) vs \(nm)")
        // The copy is smaller, and metrics say by how much (the masked run trains the dense network).
        let macs = try #require(ms["training_macs_per_example"] as? Int)
        let dense = try #require(mm["training_macs_per_example"] as? Int)
        #expect(Double(macs) < 0.9 * Double(dense), "\(model): the copy costs \(macs) of \(dense) MACs")
        #expect((ms["seconds"] as? Double ?? 0) > 0)
    }

    /// SIGTERM at step 15 (epoch 3, after the switch at epoch 2): the resumed run ends bitwise where the
    /// uninterrupted one does.
    @Test(arguments: ["lenet", "resnet20"])
    func resumeAcrossTheSwitch(model: String) throws {
        let base = try temporaryDirectory("conv-shrink-resume-\(model)")
        #expect(try runRanks(0, args(model, base + "/full")).status == 0)
        let stopped = try runRanks(0, args(model, base + "/cut", ["--debug-fault", "term:0:15"]))
        #expect(stopped.status == 143, "\(stopped.stderr)")
        let resumed = try runRanks(0, ["train", "--resume", base + "/cut", "--threads", "1"])
        #expect(resumed.status == 0 && resumed.stderr.contains("training a compact copy"), "\(resumed.stderr)")
        #expect(try allWeights(base + "/full") == allWeights(base + "/cut"), "\(model): final weights differ")
    }
}
