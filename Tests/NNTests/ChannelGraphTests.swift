// The channel graph against the layers it describes: every producer and consumer indexes the space's
// channels along the right axis of the right tensor, links are inverse maps, and the residual dependency
// groups of a ResNet are the chains of channels the shortcuts tie together.
import BayesPruneKernels
import Testing

@testable import BayesPruneNN

@Suite struct ChannelGraphTests {
    static let images = ActShape(1, 28, 28)

    /// The channel count a reference addresses: a conv's / linear's output rows, its input channels, or
    /// input columns over the flatten block.
    static func channels(of r: ChannelRef) -> Int? {
        switch r {
        case .convOut(_, _, let sh, _), .linearOut(_, _, let sh, _): return sh[0]
        case .convIn(_, _, let sh): return sh[1]
        case .linearIn(_, _, let sh, let block): return sh[1] / block
        case .link(_, let map): return map.count
        case .batchNormIn(_, _, _, let channels): return channels
        }
    }

    @Test(arguments: [ModelKind.mlp, .lenet, .resnet20, .resnet32, .resnet18, .preactResnet18, .wrn16x4])
    func everyReferenceSpansItsSpace(model: ModelKind) throws {
        let net = try ModelBuilder.build(ModelSpec(kind: model, input: Self.images, outputs: 10), seed: 1)
        for sp in net.graph.spaces {
            for r in sp.producers.map(\.ref) + sp.consumers {
                #expect(Self.channels(of: r) == sp.channels, "\(sp.name): \(r.layer ?? "link") has the wrong width")
            }
        }
    }

    /// ResNet-20: each stage-1 stream channel c continues as c + 8 in stage 2 and c + 24 in stage 3, so the
    /// streams form 16 + 16 + 32 groups; every block's inner channel is a group of its own.
    @Test func residualDependencyGroupsOfResNet20() throws {
        let net = try ModelBuilder.build(ModelSpec(kind: .resnet20, input: Self.images, outputs: 10), seed: 1)
        let spaces = net.graph.spaces
        let index = { (name: String) in spaces.firstIndex { $0.name == name }! }
        let (s1, s2, s3) = (index("stage1.stream"), index("stage2.stream"), index("stage3.stream"))
        let groups = net.graph.channelGroups
        let innerChannels = spaces.filter { $0.name.hasSuffix(".inner") }.reduce(0) { $0 + $1.channels }
        #expect(groups.count == innerChannels + 64)
        typealias M = ChannelGraph.Member
        for c in 0..<16 {
            #expect(
                groups.contains(
                    [M(space: s1, channel: c), M(space: s2, channel: c + 8), M(space: s3, channel: c + 24)]
                        .sorted()))
        }
        // Stage 2's padded channels continue into stage 3 only.
        #expect(groups.contains([M(space: s2, channel: 0), M(space: s3, channel: 16)].sorted()))
        #expect(groups.contains([M(space: s3, channel: 0)]))
        // Every channel of every non-input space is in exactly one group.
        let all = groups.flatMap { $0 }
        #expect(Set(all).count == all.count)
        #expect(all.count == spaces.filter { !$0.isInput }.reduce(0) { $0 + $1.channels })
    }

    /// A compacted ResNet's shortcuts map its kept stream channels as option A maps the standard ones.
    @Test func compactStreamsKeepTheStandardShortcuts() throws {
        var spec = ModelSpec(kind: .resnet20, input: Self.images, outputs: 10)
        spec.streamChannels = [[0, 3, 5], [1, 8, 11, 13, 30], [0, 20, 27, 29, 40]]
        let net = try ModelBuilder.build(spec, seed: 1)
        let blocks = net.layers.compactMap { $0 as? ResidualBlock }
        // Stage 2's 8, 11, 13 continue stage 1's 0, 3, 5 (pad 8); stage 3's 27, 29 continue stage 2's 11, 13
        // (pad 16); the others start with zeros.
        #expect(blocks[0].shortcutSource == [0, 1, 2])
        #expect(blocks[3].shortcutSource == [-1, 0, 1, 2, -1])
        #expect(blocks[6].shortcutSource == [-1, -1, 2, 3, -1])
        #expect(blocks[7].shortcutSource == [0, 1, 2, 3, 4])
        #expect(throws: ModelError.self) {
            spec.streamChannels = [[3, 0], [1], [2]]
            _ = try ModelBuilder.build(spec, seed: 1)
        }
    }
}

/// The deep ResNets at toy widths (every channel space at most 6 wide), which keep every structural
/// feature: projections, pre-activation, bottlenecks, the ImageNet stem.
func tinyDeepResNet(
    _ kind: ModelKind, input: ActShape, outputs: Int = 4, seed: UInt64 = 1, dropout: Float = 0
) throws -> Network {
    let standard = try ModelBuilder.build(ModelSpec(kind: kind, input: input, outputs: outputs), seed: seed)
    var spec = ModelSpec(kind: kind, input: input, outputs: outputs)
    spec.spaceWidths = Dictionary(
        uniqueKeysWithValues: standard.graph.spaces.filter { !$0.isInput }.map { ($0.name, min($0.channels, 6)) })
    spec.dropout = dropout
    return try ModelBuilder.build(spec, seed: seed)
}

/// The whole loss's directional derivative (training mode, batch 4, 4 classes) against g·d within 3 %.
func expectWholeModelGradient(
    _ net: Network, input: ActShape, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    let B = 4
    var rng = Xoshiro256(seed: 20)
    let x = (0..<(input.size * B)).map { _ in rng.nextGaussian() }
    let labels = (0..<B).map { Int32($0 % 4) }
    let (numeric, analytic) = directionalDerivative(
        net, x: x, batch: B, labels: labels, random: { n in (0..<n).map { _ in rng.nextGaussian() } }, h: 1e-4)
    #expect(
        abs(numeric - analytic) <= 3e-2 * abs(analytic), "\(what): numeric \(numeric) vs analytic \(analytic)",
        sourceLocation: sourceLocation)
}

@Suite struct DeepResNetTests {
    static let kinds: [(ModelKind, ActShape)] = [
        (.resnet18, ActShape(3, 16, 16)), (.preactResnet18, ActShape(3, 16, 16)), (.wrn16x4, ActShape(3, 8, 8)),
    ]

    /// Directional derivative of the whole loss (training mode) against g·d, as for the CIFAR ResNets. The
    /// inputs leave the last stage 2×2, so its batch norms see 16 values per channel (at 1×1 and batch 4
    /// the normalisation is too curved for a difference quotient); these narrow deep nets have gradients of
    /// 10-700, so the step is small and the tolerance 3 %: a wiring error is off by O(1). ResNet-50's max
    /// pool puts argmax switches within reach of any step (the quotient converges only linearly), so it is
    /// left out here: its bottleneck blocks (below), the 7×7 stride-2 convolution and the padded max pool
    /// (LayerGradients) are each checked against finite differences.
    @Test(arguments: kinds)
    func wholeModelDirectionalDerivative(kind: ModelKind, input: ActShape) throws {
        let net = try tinyDeepResNet(kind, input: input, seed: 19)
        #expect(net.store.parameterCount < 60_000)
        expectWholeModelGradient(net, input: input, "\(kind)")
    }

    /// Stage structure: a projection starts every new residual stream, and a pre-activation block's
    /// first batch norm reads the stream (it goes with the stream's channels).
    @Test func streamsAndProjections() throws {
        let r18 = try ModelBuilder.build(ModelSpec(kind: .resnet18, input: ActShape(3, 32, 32), outputs: 10), seed: 1)
        #expect(
            r18.graph.spaces.map(\.name).filter { $0.hasSuffix("stream") }
                == ["stem.stream", "layer2.0.stream", "layer3.0.stream", "layer4.0.stream"])
        let r50 = try ModelBuilder.build(ModelSpec(kind: .resnet50, input: ActShape(3, 64, 64), outputs: 10), seed: 1)
        #expect(r50.graph.spaces.filter { $0.name.hasSuffix("stream") }.map(\.channels) == [64, 256, 512, 1024, 2048])
        let wrn = try ModelBuilder.build(ModelSpec(kind: .wrn16x4, input: ActShape(3, 32, 32), outputs: 10), seed: 1)
        let first = wrn.graph.spaces.first { $0.name == "layer1.0.stream" }!
        let bnIn = first.consumers.filter { if case .batchNormIn = $0 { return true } else { return false } }
        // Read by the next block and by the next stage's first block (before its projection).
        #expect(bnIn.map(\.layer) == ["layer1.1.bn1", "layer2.0.bn1"])
        #expect(first.channels == 64)
    }
}

@Suite struct ResNetBlockGradients {
    /// Blocks as the deep ResNets build them, gradient-checked layer by layer against finite differences.
    @Test(arguments: [
        (false, false, 1, 4), (false, false, 2, 6), (true, false, 1, 8), (true, false, 2, 8), (false, true, 1, 4),
        (false, true, 2, 6),
    ])
    func blockGradients(bottleneck: Bool, preActivation: Bool, stride: Int, out: Int) {
        let store = ParameterStore()
        var b = DeepResNetBuilder(store: store, post: !preActivation)
        let input = ActShape(4, 6, 6)
        b.stream = ChannelSpace(name: "s", channels: 4)
        b.streamStandard = 4
        let block = b.block(
            "blk", input: input, inner: bottleneck ? [3, 3] : [3], out: out, stride: stride, bottleneck: bottleneck,
            projected: stride != 1 || out != 4)
        store.finalize()
        var rng = Xoshiro256(seed: 11)
        block.initialize(rng: &rng, scheme: .heNormal)
        checkLayer(block, store: store, batch: 2, h: 2e-4, tolerance: 5e-3)
    }
}
