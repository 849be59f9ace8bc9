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
        }
    }

    @Test(arguments: [ModelKind.mlp, .lenet, .resnet20, .resnet32])
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
