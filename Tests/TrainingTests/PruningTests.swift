// EM-MCMC pruning: nothing changes before the warm-up (U7), removed weights stay exactly zero after
// every later step and masks never regrow (U7), removals propagate through the channel graph so dead
// channels are truly dead, and the compact export predicts what the masked network predicts.

import BayesPruneDistributed
import BayesPruneKernels
import BayesPruneNN
import Foundation
import TestSupport
import Testing

@testable import BayesPruneBenchmark
@testable import BayesPruneConfig
@testable import BayesPruneData
@testable import BayesPruneEvaluation
@testable import BayesPruneRunIO
@testable import BayesPruneSampling
@testable import BayesPruneSparsity
@testable import BayesPruneTraining

/// A run of `model` on the quadrant images in `dir` (IDX files read as MNIST) at batch 32; `out` defaults to
/// a new directory inside `dir`.
func quadrantConfig(
    _ dir: String, model: ModelKind, epochs: Int, hidden: [Int] = [24, 12], sampler: SamplerKind = .sgd,
    lr: Double = 0.05, samplesPerCycle: Int = 1, out: String? = nil
) -> TrainConfig {
    var c = TrainConfig()
    c.data = .mnist
    c.dataDir = dir
    c.model = model
    c.hidden = hidden
    c.sampler = sampler
    c.epochs = epochs
    c.batchSize = 32
    c.lr = lr
    c.out = out ?? dir + "/run-\(UUID())"
    c.samplesPerCycle = samplesPerCycle
    return c
}

@Suite(.serialized) struct Pruning {
    static let data = try! quadrantDataset("prune-data", train: 192, test: 64)

    /// U7: with the warm-up covering the whole run, a pruning run is bitwise the dense run.
    @Test(arguments: [SamplerKind.sgd, .adavb])
    func nothingChangesDuringWarmUp(sampler: SamplerKind) throws {
        var dense = quadrantConfig(Self.data, model: .lenet, epochs: 2)
        dense.sampler = sampler
        var pruned = dense
        pruned.out = dense.out + "-p"
        pruned.pruning = PruningConfig.defaults(model: .lenet)
        pruned.pruning.enabled = true
        pruned.pruning.warmUp = 2
        let a = try quietTrainer(dense)
        let b = try quietTrainer(pruned)
        // Bitwise equality needs the same thread counts for both runs: hold the process-wide settings fixed.
        try withExclusiveThreadSettings {
            try a.run(blasCore: "")
            try b.run(blasCore: "")
        }
        #expect(a.network.store.values.array == b.network.store.values.array)
        #expect(b.pruner!.eSteps == 0)
    }

    /// U7: once removed, a weight is exactly 0.0 after every later step, and masks only shrink.
    @Test(arguments: [SamplerKind.sgd, .adavb, .sghmc, .sgld])
    func removedWeightsStayExactlyZero(kind: SamplerKind) throws {
        let net = try ModelBuilder.build(ModelSpec(kind: .lenet, input: ActShape(1, 16, 16), outputs: 4), seed: 3)
        var pc = PruningConfig.defaults(model: .lenet)
        pc.enabled = true
        pc.hardThreshold = 0.3
        pc.softThreshold = 0.05
        pc.pruneKernels = true
        let pruner = Pruner(network: net, config: pc, dataSize: 200, lambda1: 5e-4)
        let c = SamplerConfig(
            kind: kind, weightDecay: 5e-4, momentum: 0.9, temperature: kind == .adavb ? nil : 1, dataSize: 200,
            noiseSeed: 4)
        let st = SamplerState(config: c, parameterCount: net.store.parameterCount)
        var rng = Xoshiro256(seed: 5)
        var previousMask = pruner.mask.array
        for round in 0..<3 {
            try pruner.step(SingleProcess())
            let m = pruner.mask.array
            #expect(zip(previousMask, m).allSatisfy { $0 >= $1 }, "a removed weight came back in round \(round)")
            #expect(m.contains(0))
            previousMask = m
            for _ in 0..<5 {
                let g = (0..<net.store.parameterCount).map { _ in rng.nextGaussian() }
                Sampler.step(
                    c, state: st, weights: net.store.values.pointer, grads: g, count: net.store.parameterCount,
                    lr: 0.01, lambda: pruner.lambda.pointer, mask: pruner.mask.pointer)
                let w = net.store.values.array
                for i in m.indices where m[i] == 0 { #expect(w[i].bitPattern == 0, "weight \(i) is \(w[i])") }
            }
        }
        // Spike groups carry λ0, slab groups λ1.
        let lam = Set(pruner.lambda.array)
        #expect(lam.isSubset(of: [Float(5e-4), Float(pc.lambda0)]))
    }

    @Test func deadChannelsPropagateThroughLeNet() throws {
        let net = try ModelBuilder.build(ModelSpec(kind: .lenet, input: ActShape(1, 16, 16), outputs: 4), seed: 3)
        var pc = PruningConfig.defaults(model: .lenet)
        pc.enabled = true
        pc.hardThreshold = 1e-6
        pc.softThreshold = 0
        let pruner = Pruner(network: net, config: pc, dataSize: 200, lambda1: 5e-4)
        let s = net.store
        let conv2 = s.entry(named: "conv2.weight")!
        let fc2 = s.entry(named: "fc2.weight")!
        // conv2's input channel 2 is zero (a criterion removes it there): conv1 filter 2 and bias 2 must go.
        for o in 0..<16 { for j in 0..<25 { s.values[conv2.offset + (o * 6 + 2) * 25 + j] = 0 } }
        // fc2's input unit 7 is zero: fc1's row 7 and bias 7 must go.
        for o in 0..<84 { s.values[fc2.offset + o * 120 + 7] = 0 }
        try pruner.step(SingleProcess())
        let conv1 = s.entry(named: "conv1.weight")!
        let b1 = s.entry(named: "conv1.bias")!
        let fc1 = s.entry(named: "fc1.weight")!
        let fb1 = s.entry(named: "fc1.bias")!
        #expect((0..<25).allSatisfy { pruner.mask[conv1.offset + 2 * 25 + $0] == 0 })
        #expect(pruner.mask[b1.offset + 2] == 0 && pruner.mask[b1.offset + 1] == 1)
        #expect((0..<fc1.shape[1]).allSatisfy { pruner.mask[fc1.offset + 7 * fc1.shape[1] + $0] == 0 })
        #expect(pruner.mask[fb1.offset + 7] == 0)
        let r = pruner.layerReport()
        #expect(r.first { $0.layer == "conv1" }!.outputsRemoved == 1)
        #expect(r.first { $0.layer == "fc1" }!.outputsRemoved == 1)
    }

    /// A residual-stream channel goes only when every path agrees: all its producers (stem and every
    /// block's second conv) are gone; then every block's first conv loses that input channel.
    @Test func residualStreamChannelNeedsEveryPath() throws {
        let net = try ModelBuilder.build(ModelSpec(kind: .resnet20, input: ActShape(1, 12, 12), outputs: 4), seed: 3)
        var pc = PruningConfig.defaults(model: .resnet20)
        pc.enabled = true
        pc.hardThreshold = 1e-6
        pc.softThreshold = 0
        pc.pruneFirstLayer = true
        let s = net.store
        func zeroFilter(_ name: String, _ o: Int) {
            let e = s.entry(named: name)!
            let per = e.shape[1] * e.shape[2] * e.shape[3]
            for j in 0..<per { s.values[e.offset + o * per + j] = 0 }
        }
        // Channel 5 of stage 1: zero it in the stem and in two of the three blocks: not dead yet.
        zeroFilter("conv1.weight", 5)
        zeroFilter("layer1.0.conv2.weight", 5)
        zeroFilter("layer1.1.conv2.weight", 5)
        let p1 = Pruner(network: net, config: pc, dataSize: 200, lambda1: 5e-4)
        try p1.step(SingleProcess())
        let in5: (ParameterEntry) -> Bool = { e in
            (0..<e.shape[0]).allSatisfy { o in
                (0..<9).allSatisfy { p1.mask[e.offset + (o * e.shape[1] + 5) * 9 + $0] == 0 }
            }
        }
        #expect(!in5(s.entry(named: "layer1.2.conv1.weight")!))
        // The removed producers took their batch norms with them.
        #expect(
            p1.mask[s.entry(named: "layer1.0.bn2.weight")!.offset + 5] == 0
                && p1.mask[s.entry(named: "layer1.0.bn2.bias")!.offset + 5] == 0)
        // Now the third block agrees: the stream channel is dead and every consumer loses it.
        zeroFilter("layer1.2.conv2.weight", 5)
        try p1.step(SingleProcess())
        for b in 0..<3 { #expect(in5(s.entry(named: "layer1.\(b).conv1.weight")!)) }
    }

    /// `--conv-groups channels`: a residual dependency group is one decision. Stream channel 5 of stage 1
    /// (13 of stage 2, 29 of stage 3) with every producer's batch norm near zero goes everywhere at once; stream
    /// channel 6 with one weak producer among strong ones stays whole; a group just below the soft threshold
    /// stays, with the spike's decay on its producers.
    @Test func residualDependencyGroupIsOneDecision() throws {
        let net = try ModelBuilder.build(ModelSpec(kind: .resnet20, input: ActShape(1, 12, 12), outputs: 4), seed: 3)
        var pc = PruningConfig.defaults(model: .resnet20)
        (pc.enabled, pc.convGroups) = (true, .channels)
        (pc.softThreshold, pc.hardThreshold) = (PruningConfig.channelSoftThreshold, PruningConfig.channelHardThreshold)
        let pruner = Pruner(network: net, config: pc, dataSize: 200, lambda1: 5e-4)
        let s = net.store
        let streamNorms = ["bn1"] + (0..<9).map { "layer\($0 / 3 + 1).\($0 % 3).bn2" }
        func stream(_ bn: String, _ c1: Int) -> Int {
            bn == "bn1" || bn.hasPrefix("layer1") ? c1 : bn.hasPrefix("layer2") ? c1 + 8 : c1 + 24
        }
        func set(_ bn: String, _ c: Int, _ v: Float) {
            s.values[s.entry(named: bn + ".weight")!.offset + c] = v
            s.values[s.entry(named: bn + ".bias")!.offset + c] = v
        }
        for bn in streamNorms { set(bn, stream(bn, 5), 1e-3) }
        set("layer1.1.bn2", 6, 1e-3)
        for bn in streamNorms { set(bn, stream(bn, 7), 0.05) }  // mean square 2.5e-3: spike, above hard
        try pruner.step(SingleProcess())
        func filterRemoved(_ conv: String, _ o: Int) -> Bool {
            let e = s.entry(named: conv + ".weight")!
            let per = e.shape[1] * 9
            return (0..<per).allSatisfy { pruner.mask[e.offset + o * per + $0] == 0 }
        }
        func inputRemoved(_ conv: String, _ c: Int) -> Bool {
            let e = s.entry(named: conv + ".weight")!
            return (0..<e.shape[0]).allSatisfy { o in
                (0..<9).allSatisfy { pruner.mask[e.offset + (o * e.shape[1] + c) * 9 + $0] == 0 }
            }
        }
        #expect(filterRemoved("conv1", 5))
        for b in 0..<9 {
            let (stage, conv) = (b / 3 + 1, "layer\(b / 3 + 1).\(b % 3)")
            let c = [5, 13, 29][stage - 1]
            #expect(filterRemoved(conv + ".conv2", c), "\(conv).conv2 filter \(c)")
            // A stage's first block reads the previous stream.
            let read = b % 3 == 0 && stage > 1 ? [5, 13, 29][stage - 2] : c
            #expect(inputRemoved(conv + ".conv1", read), "\(conv).conv1 input \(read)")
            #expect(!filterRemoved(conv + ".conv2", stream(conv + ".bn2", 6)))
            #expect(!filterRemoved(conv + ".conv2", stream(conv + ".bn2", 7)))
        }
        let fc = s.entry(named: "fc.weight")!
        #expect((0..<4).allSatisfy { pruner.mask[fc.offset + $0 * 64 + 29] == 0 })
        let spike = Float(pc.lambda0 * pruner.spikeScale)
        #expect(pruner.lambda[s.entry(named: "layer2.1.bn2.weight")!.offset + 15] == spike)
        #expect(pruner.lambda[s.entry(named: "layer2.1.bn2.weight")!.offset + 14] == pruner.lambda1)
        #expect(pruner.layerReport().first { $0.layer == "layer3.2.conv2" }!.outputsDropped == 1)
    }

    /// The compact export predicts what the masked network predicts (within 1e-5).
    @Test(arguments: [ModelKind.mlp, .lenet, .resnet20])
    func compactExportMatchesTheMaskedNetwork(model: ModelKind) throws {
        var c = quadrantConfig(Self.data, model: model, epochs: 1)
        c.pruning = PruningConfig.defaults(model: model)
        c.pruning.enabled = true
        c.pruning.warmUp = 0
        c.pruning.hardThreshold = 1e-6
        c.pruning.softThreshold = 0
        let t = try quietTrainer(c)
        try t.run(blasCore: "")
        // Kill about a third of every compactable space's channels by zeroing their producers, then prune.
        let s = t.network.store
        // mlp also loses half its input features (zeroed fc1 columns): the export keeps every input, so
        // the savings reported must not count them.
        if model == .mlp, let fc1 = s.entry(named: "fc1.weight") {
            let (outs, ins) = (fc1.shape[0], fc1.shape[1])
            for o in 0..<outs { for j in stride(from: 0, to: ins, by: 2) { s.values[fc1.offset + o * ins + j] = 0 } }
        }
        for sp in t.network.graph.spaces where sp.compactable {
            for ch in stride(from: 1, to: sp.channels, by: 3) {
                for p in sp.producers {
                    switch p.ref {
                    case .convOut(_, let w, let sh, _):
                        let per = sh[1] * sh[2] * sh[3]
                        for j in 0..<per { s.values[w + ch * per + j] = 0 }
                    case .linearOut(_, let w, let sh, _): for j in 0..<sh[1] { s.values[w + ch * sh[1] + j] = 0 }
                    default: break
                    }
                }
                // Fully connected units are removed from the consumer's side (input columns).
                for r in sp.consumers {
                    if case .linearIn(_, let w, let sh, let block) = r {
                        for o in 0..<sh[0] { for j in 0..<block { s.values[w + o * sh[1] + ch * block + j] = 0 } }
                    }
                }
            }
        }
        try t.pruner!.step(SingleProcess())
        vApplyMask(s.values.pointer, mask: t.pruner!.mask.pointer, count: s.parameterCount)
        try t.saveWeights(to: c.out + "/weights.safetensors")
        try MaskFile.write(t.pruner!.mask, layout: t.network.store, to: c.out + "/mask.safetensors")
        let masked = try Evaluator.predict(t.network, data: t.data.test, batchSize: 50)

        let out = c.out + "-compact"
        let summary = try CompactExport.export(directory: c.out, to: out)
        #expect(summary.compactParameters < summary.denseParameters)
        #expect(summary.compactMACsPerExample < summary.denseMACsPerExample)
        // Honest savings: what metrics report is what the export saves.
        let exported = 1 - Double(summary.compactMACsPerExample) / Double(summary.denseMACsPerExample)
        let reported = t.pruner!.summary().macSavings
        #expect(abs(reported - exported) <= 0.01, "\(model): metrics say \(reported), the export saves \(exported)")
        let m = try RunManifest.load(directory: out)
        if model == .resnet20 {
            // Residual streams shrink too (the shortcuts remap the kept channels).
            let kept = try #require(m.config.streamChannels)
            let streamChannels: Int = kept.map(\.count).reduce(0, +)
            #expect(streamChannels < 112)
        }
        let compact = try RunEvaluation.loadNetwork(m)
        try WeightsFile.load(compact, from: out + "/weights.safetensors")
        let p = try Evaluator.predict(compact, data: t.data.test, batchSize: 50)
        let worst = zip(masked.values, p.values).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-5, "\(model): compact and masked predictions differ by \(worst)")
        // evaluate loads the export like any run.
        let json =
            try JSONSerialization.jsonObject(with: Data(try RunEvaluation.evaluate(directory: out).utf8))
            as! [String: Any]
        #expect((json["last"] as! [String: Any])["accuracy"] != nil)
    }

    /// Group statistics count live weights only: removing fc1 units (rows) must not change the mean
    /// square of an input column over the rows that are left. Checked against a naive twin.
    @Test func groupStatisticsIgnoreRemovedWeights() throws {
        let net = try ModelBuilder.build(ModelSpec(kind: .lenet, input: ActShape(1, 16, 16), outputs: 4), seed: 7)
        var pc = PruningConfig.defaults(model: .lenet)
        pc.enabled = true
        let pruner = Pruner(network: net, config: pc, dataSize: 200, lambda1: 5e-4)
        let s = net.store
        let fc1 = s.entry(named: "fc1.weight")!
        let conv2 = s.entry(named: "conv2.weight")!
        let (out, inp) = (fc1.shape[0], fc1.shape[1])
        let removedRows: Set<Int> = [0, 3, 4, 50, 119]
        for o in removedRows { for j in 0..<inp { pruner.mask[fc1.offset + o * inp + j] = 0 } }
        // conv2 filter 5 removed: each of its kernels is no longer a group.
        for i in 0..<(6 * 25) { pruner.mask[conv2.offset + 5 * 150 + i] = 0 }
        vApplyMask(net.store.values.pointer, mask: pruner.mask.pointer, count: net.store.parameterCount)
        let stats = try pruner.groupStatistics(SingleProcess())
        let t1 = pruner.prunable.firstIndex { $0.name == "fc1.weight" }!
        let t2 = pruner.prunable.firstIndex { $0.name == "conv2.weight" }!
        for j in [0, 1, 17, inp - 1] {
            var sum = 0.0
            var n = 0
            for o in 0..<out where !removedRows.contains(o) {
                let v = Double(s.values[fc1.offset + o * inp + j])
                sum += v * v
                n += 1
            }
            #expect(stats.sizes[t1][j] == out - removedRows.count)
            #expect(abs(stats.meanSquares[t1][j] - sum / Double(n)) <= 1e-9 * sum / Double(n))
        }
        #expect(stats.sizes[t2][5 * 6 + 2] == 0 && stats.meanSquares[t2][5 * 6 + 2] == 0)
        #expect(stats.sizes[t2][4 * 6 + 2] == 25)
    }

    /// A convolution input channel's range is taken over the filters still live: a removed filter's
    /// zeros must not keep a channel whose live weights all sit inside the hard threshold.
    @Test func convChannelRangeIgnoresRemovedFilters() throws {
        let net = try ModelBuilder.build(ModelSpec(kind: .lenet, input: ActShape(1, 16, 16), outputs: 4), seed: 7)
        var pc = PruningConfig.defaults(model: .lenet)
        pc.enabled = true
        pc.hardThreshold = 0.01
        pc.softThreshold = 0
        let pruner = Pruner(network: net, config: pc, dataSize: 200, lambda1: 5e-4)
        let s = net.store
        let conv2 = s.entry(named: "conv2.weight")!
        // Channel 3: live weights in [0.030, 0.036] (range 0.006 < 0.01), but 0.036 away from the zeros
        // of removed filter 0. Every other weight is well spread.
        var rng = Xoshiro256(seed: 9)
        for i in 0..<conv2.count { s.values[conv2.offset + i] = Float(rng.nextGaussian()) * 0.2 }
        for o in 0..<16 {
            for j in 0..<25 { s.values[conv2.offset + (o * 6 + 3) * 25 + j] = 0.030 + 0.006 * Float(j) / 24 }
        }
        for i in 0..<150 { pruner.mask[conv2.offset + i] = 0 }
        vApplyMask(net.store.values.pointer, mask: pruner.mask.pointer, count: net.store.parameterCount)
        try pruner.step(SingleProcess())
        let r = pruner.layerReport().first { $0.layer == "conv2" }!
        #expect(r.inputsRemoved == 1, "channel 3 must go")
        #expect(
            (1..<16).allSatisfy { o in (0..<25).allSatisfy { pruner.mask[conv2.offset + (o * 6 + 3) * 25 + $0] == 0 } })
        #expect(pruner.mask[conv2.offset + (1 * 6 + 2) * 25] == 1)
    }

    /// Per-layer overrides win over the family values for that layer only, and a name that is not a
    /// prunable layer is refused when the trainer is set up.
    @Test func perLayerOverrides() throws {
        let net = try ModelBuilder.build(ModelSpec(kind: .lenet, input: ActShape(1, 16, 16), outputs: 4), seed: 7)
        var pc = PruningConfig.defaults(model: .lenet)
        pc.enabled = true
        pc.softThreshold = 0
        pc.fcSoftThreshold = 0
        pc.hardThreshold = 0
        pc.fcHardThreshold = 0
        pc.layerSoftThreshold = ["fc2": 1e9]  // every fc2 column in the spike, nothing else
        pc.layerLambda0 = ["fc2": 0.25]
        let pruner = Pruner(network: net, config: pc, dataSize: 200, lambda1: 5e-4)
        try pruner.step(SingleProcess())
        let s = net.store
        for name in ["conv2.weight", "fc1.weight", "fc2.weight"] {
            let e = s.entry(named: name)!
            let lam = Set((0..<e.count).map { pruner.lambda[e.offset + $0] })
            #expect(lam == [name == "fc2.weight" ? Float(0.25) : Float(5e-4)], "\(name): \(lam)")
        }
        #expect(throws: Never.self) { try pc.checkOverrides(prunableLayers: Set(pruner.prunable.map(\.layer))) }

        var c = quadrantConfig(Self.data, model: .lenet, epochs: 1)
        c.pruning = pc
        c.pruning.layerHardThreshold = ["fc3": 1]  // the last layer is not prunable by default
        #expect(throws: SettingError.self) { _ = try quietTrainer(c) }
        do { _ = try quietTrainer(c) } catch {
            #expect("\(error)".contains("hard-threshold: fc3 is not a prunable layer"))
        }
    }

    /// The spike's per-step decay is λ0·lambda0Steps/(steps per epoch): every spike group's λ, for any
    /// cadence; without calibration (0, runs of earlier versions) it is λ0 itself; slab groups keep λ1.
    @Test(arguments: [(10, 10), (10, 1875), (10, 5), (0, 1875)])
    func spikeDecayFollowsTheCadence(reference: Int, stepsPerEpoch: Int) throws {
        let net = try ModelBuilder.build(
            ModelSpec(kind: .mlp, input: ActShape(1, 4, 4), outputs: 3, hidden: [6]), seed: 2)
        var pc = PruningConfig.defaults(model: .mlp)
        pc.enabled = true
        (pc.fcSoftThreshold, pc.fcHardThreshold, pc.fcLambda0) = (1e9, 0, 0.3)
        pc.lambda0Steps = reference
        let pruner = Pruner(network: net, config: pc, dataSize: 100, lambda1: 5e-4, stepsPerEpoch: stepsPerEpoch)
        try pruner.step(SingleProcess())
        let expected = reference == 0 ? 0.3 : 0.3 * Double(reference) / Double(stepsPerEpoch)
        for e in pruner.prunable {
            for i in e.offset..<(e.offset + e.count) {
                #expect(abs(Double(pruner.lambda[i]) - expected) <= 1e-6 * expected, "\(e.name)[\(i - e.offset)]")
            }
        }
        let bias = try #require(net.store.entries.first { $0.role == .bias })
        #expect(pruner.lambda[bias.offset] == 5e-4)
    }

    /// No E-step empties a layer: with thresholds that remove everything, every channel space keeps its
    /// strongest channel (the one with the largest sum of squares before the step), the output units
    /// keep their weights, the guard is reported, and the network does not predict a constant.
    @Test(arguments: [ModelKind.mlp, .lenet, .resnet20])
    func thresholdsThatRemoveEverythingLeaveEveryLayerAlive(model: ModelKind) throws {
        let net = try ModelBuilder.build(
            ModelSpec(kind: model, input: ActShape(1, 16, 16), outputs: 4, hidden: [12, 8]), seed: 3)
        var pc = PruningConfig.defaults(model: model)
        pc.enabled = true
        (pc.softThreshold, pc.fcSoftThreshold, pc.hardThreshold, pc.fcHardThreshold) = (1e9, 1e9, 1e9, 1e9)
        pc.pruneFirstLayer = true
        pc.pruneLastLayer = true
        pc.pruneKernels = true
        let pruner = Pruner(network: net, config: pc, dataSize: 100, lambda1: 5e-4)
        // The strongest channel of each space, computed independently from the weights before the step.
        let s = net.store
        var strongest: [String: Int] = [:]
        for space in net.graph.spaces where !space.producers.isEmpty {
            var best = (0, -1.0)
            for c in 0..<space.channels {
                var sum = 0.0
                for p in space.producers {
                    Pruner.forEachIndex(p.ref, c) { sum += Double(s.values[$0] * s.values[$0]) }
                }
                if sum > best.1 { best = (c, sum) }
            }
            strongest[space.name] = best.0
        }
        try pruner.step(SingleProcess())
        for (k, space) in net.graph.spaces.enumerated() {
            let live = (0..<space.channels).filter { !pruner.dead[k][$0] }
            #expect(!live.isEmpty, "\(model): \(space.name) lost every channel")
            if let c = strongest[space.name], live.count == 1 {
                #expect(live == [c], "\(model): \(space.name) kept \(live), not its strongest channel \(c)")
            }
        }
        #expect(!pruner.lastGuarded.isEmpty, "the guard should have acted and said so")
        // The output layer keeps a live weight in every output unit's row.
        let last = s.entries.last { $0.role == .weight }!
        let (outs, ins) = (last.shape[0], last.count / last.shape[0])
        for o in 0..<outs {
            #expect((0..<ins).contains { pruner.mask[last.offset + o * ins + $0] != 0 }, "output unit \(o) removed")
        }
        vApplyMask(s.values.pointer, mask: pruner.mask.pointer, count: s.parameterCount)
        let data = try PreparedData.load(quadrantConfig(Self.data, model: model, epochs: 1))
        let p = try Evaluator.predict(net, data: data.test, batchSize: 64)
        let firstRow = Array(p.values[0..<p.width])
        #expect(
            (1..<p.count).contains { Array(p.values[($0 * p.width)..<(($0 + 1) * p.width)]) != firstRow },
            "\(model): the pruned network predicts a constant")
    }

    /// A run whose thresholds would remove everything keeps training a live network, says so in its log
    /// and in metrics.jsonl, and warns when the network predicts no better than a constant.
    @Test func theGuardIsReportedAndACollapseIsWarnedAbout() throws {
        var c = quadrantConfig(Self.data, model: .mlp, epochs: 2)
        c.pruning = PruningConfig.defaults(model: .mlp)
        c.pruning.enabled = true
        c.pruning.warmUp = 0
        (c.pruning.softThreshold, c.pruning.fcSoftThreshold) = (1e9, 1e9)
        (c.pruning.hardThreshold, c.pruning.fcHardThreshold) = (1e9, 1e9)
        var lines: [String] = []
        let t = try Trainer(config: c, data: try PreparedData.load(c))
        t.showProgress = false
        t.log = { lines.append($0) }
        try t.run(blasCore: "")
        #expect(lines.contains { $0.hasPrefix("warning: epoch 1: the E-step would have removed every channel") })
        let first =
            try JSONSerialization.jsonObject(
                with: Data(
                    try String(contentsOfFile: c.out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")[0].utf8
                ))
            as! [String: Any]
        #expect((first["pruning_guard"] as? [String])?.isEmpty == false, "\(first)")

        // The collapse rule on its own: 4 balanced classes, chance is 0.25.
        var m = t.history[0]
        m.evaluation.test[.accuracy] = 0.25
        let warning = try #require(t.collapseWarning(m))
        #expect(
            warning.contains("epoch 1") && warning.contains("at chance level") && warning.contains("fc1"), "\(warning)")
        m.evaluation.test[.accuracy] = 0.9
        #expect(t.collapseWarning(m) == nil)
    }

    /// `evaluate` says so when a pruned classifier predicts no better than chance (here: all weights 0).
    @Test func evaluateWarnsAboutAPrunedNetworkAtChance() throws {
        var c = quadrantConfig(Self.data, model: .mlp, epochs: 1)
        c.pruning = PruningConfig.defaults(model: .mlp)
        c.pruning.enabled = true
        let t = try quietTrainer(c)
        try t.run(blasCore: "")
        var json =
            try JSONSerialization.jsonObject(with: Data(try RunEvaluation.evaluate(directory: c.out).utf8))
            as! [String: Any]
        #expect(json["warning"] == nil, "a trained network is not at chance: \(json)")
        t.network.store.values.zero()
        try t.saveWeights(to: c.out + "/weights.safetensors")
        json =
            try JSONSerialization.jsonObject(with: Data(try RunEvaluation.evaluate(directory: c.out).utf8))
            as! [String: Any]
        #expect((json["warning"] as? String)?.contains("no better than chance") == true, "\(json)")
    }

    /// --target-sparsity: the removed share of prunable weights follows S·(1 − (1 − t)³) over the E-steps up
    /// to the target epoch (the weakest groups first), then stays at S; thresholds alone would remove none.
    @Test func targetSparsityFollowsTheCubicSchedule() throws {
        var c = quadrantConfig(Self.data, model: .mlp, epochs: 5)
        c.pruning = PruningConfig.defaults(model: .mlp)
        (c.pruning.enabled, c.pruning.warmUp) = (true, 1)
        (c.pruning.softThreshold, c.pruning.fcSoftThreshold, c.pruning.hardThreshold, c.pruning.fcHardThreshold) =
            (0, 0, 0, 0)
        (c.pruning.targetSparsity, c.pruning.targetEpoch) = (0.6, 4)
        let t = try quietTrainer(c)
        try t.run(blasCore: "")
        let sparsity = t.history.map { $0.pruning!.weightSparsity }
        // E-steps at epochs 2, 3, 4 (t = 1/3, 2/3, 1), then 5 keeps the target.
        let expected = [0.0] + [1.0 / 3, 2.0 / 3, 1, 1].map { (t: Double) in 0.6 * (1 - (1 - t) * (1 - t) * (1 - t)) }
        for (e, (got, want)) in zip(sparsity, expected).enumerated() {
            #expect(got >= want - 1e-9 && got <= want + 0.08, "epoch \(e + 1): sparsity \(got), schedule \(want)")
        }
    }
}

@Suite(.serialized) struct VariableSelection {
    /// The synthetic problem solved from CSV: pruning keeps exactly the inputs that drive the target.
    @Test func pruningKeepsTheRelevantInputs() throws {
        let dir = try temporaryDirectory("vs")
        var spec = VariableSelectionSpec()
        spec.seed = 7  // the documented size: 12,800 rows of 200 inputs
        try SyntheticData.variableSelectionCSV(spec).write(toFile: dir + "/vs.csv", atomically: true, encoding: .utf8)
        var c = TrainConfig()
        c.data = .csv
        c.trainFile = dir + "/vs.csv"
        c.model = .mlp
        c.hidden = [20, 10]
        c.sampler = .adavb
        c.epochs = 30
        c.batchSize = 32
        c.lr = 0.3
        c.out = dir + "/run"
        c.pruning = PruningConfig.defaults(model: .mlp)
        c.pruning.enabled = true
        c.pruning.warmUp = 5
        let t = try quietTrainer(c)
        try t.run(blasCore: "")
        let kept = t.pruner!.connectedInputs().map { t.data.train.featureNames[$0] }
        #expect(kept == VariableSelectionSpec.relevant, "connected inputs: \(kept)")
        let rmse = t.history.last!.evaluation.test[.rmse]!
        #expect(rmse < 2 * spec.noise, "test RMSE \(rmse) against noise \(spec.noise)")
        let line = try String(contentsOfFile: c.out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").last!
        let json = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        #expect(json["connected_inputs"] as? [String] == VariableSelectionSpec.relevant)
        #expect((json["weight_sparsity"] as! Double) > 0.8)
    }

    /// A table's compact export reads only the kept columns: architecture.json lists them, `evaluate` on
    /// the export loads the CSV by those names and predicts what the masked network predicts, and the
    /// savings the metrics report are the export's.
    @Test func aTablesCompactExportReadsOnlyTheKeptColumns() throws {
        let dir = try temporaryDirectory("vs-compact")
        var spec = VariableSelectionSpec()
        (spec.rows, spec.inputs) = (240, 12)
        try SyntheticData.variableSelectionCSV(spec).write(toFile: dir + "/t.csv", atomically: true, encoding: .utf8)
        var c = TrainConfig()
        (c.data, c.trainFile, c.model, c.hidden, c.epochs, c.batchSize) = (.csv, dir + "/t.csv", .mlp, [8], 1, 24)
        c.out = dir + "/run"
        c.pruning = PruningConfig.defaults(model: .mlp)
        (c.pruning.enabled, c.pruning.warmUp, c.pruning.softThreshold, c.pruning.fcSoftThreshold) = (true, 0, 0, 0)
        (c.pruning.hardThreshold, c.pruning.fcHardThreshold) = (1e-9, 1e-9)
        let t = try quietTrainer(c)
        try t.run(blasCore: "")
        // Remove every other input column (x2, x4, ...), as an E-step on a table would.
        let s = t.network.store
        let fc1 = s.entry(named: "fc1.weight")!
        let (outs, ins) = (fc1.shape[0], fc1.shape[1])
        for o in 0..<outs { for j in stride(from: 1, to: ins, by: 2) { s.values[fc1.offset + o * ins + j] = 0 } }
        try t.pruner!.step(SingleProcess())
        vApplyMask(s.values.pointer, mask: t.pruner!.mask.pointer, count: s.parameterCount)
        try t.saveWeights(to: c.out + "/weights.safetensors")
        try MaskFile.write(t.pruner!.mask, layout: s, to: c.out + "/mask.safetensors")
        let masked = try Evaluator.predict(t.network, data: t.data.test, batchSize: 50)

        let summary = try CompactExport.export(directory: c.out, to: dir + "/compact")
        let kept = t.pruner!.connectedInputs().map { t.data.train.featureNames[$0] }
        #expect(kept.count == (ins + 1) / 2 && summary.inputColumns == kept, "\(summary.inputColumns ?? [])")
        let exported = 1 - Double(summary.compactMACsPerExample) / Double(summary.denseMACsPerExample)
        #expect(abs(t.pruner!.summary().macSavings - exported) <= 0.01)
        #expect(exported > 0.4, "half the inputs of the widest layer are gone: \(exported)")
        // evaluate on the export: the CSV read by column name, the same predictions (RMSE) as the masked net.
        let json =
            try JSONSerialization.jsonObject(
                with: Data(try RunEvaluation.evaluate(directory: dir + "/compact").utf8)) as! [String: Any]
        let rmse = (json["last"] as! [String: Any])["rmse"] as! Double
        let maskedRMSE = Evaluator.regression(
            mean: masked, samples: [], targets: t.data.test.targets, scaling: t.data.targetScaling!
        ).rmse
        #expect(abs(rmse - maskedRMSE) <= 1e-5 * max(1, maskedRMSE), "compact \(rmse) vs masked \(maskedRMSE)")
    }
}
