// Which tensors produce and consume each channel of a network, so structured pruning can keep removed
// channels truly dead: a channel space (a layer's output channels, a residual stream, the input
// features) lists its producers (conv filters / linear rows, with their biases and batch-norm
// scale/shift) and its consumers (conv input channels / linear input columns). A channel may go when
// every producer is gone (it carries only zeros) or every consumer is gone (nobody reads it); then all
// its producers and consumers are removed together. Residual streams are one space per stage, and the
// shortcut between stages links a channel of one stream to a channel of the next: the channels so tied
// by residual additions form one residual dependency group (`ChannelGraph.channelGroups`).

public enum ChannelRef: Sendable {
    /// Output filter c of a conv weight [O, C, kh, kw] at `weight` (and bias[c] when present).
    case convOut(layer: String, weight: Int, shape: [Int], bias: Int?)
    /// Row c of a linear weight [out, in] (and bias[c]).
    case linearOut(layer: String, weight: Int, shape: [Int], bias: Int?)
    /// Input channel c of a conv weight [O, C, kh, kw].
    case convIn(layer: String, weight: Int, shape: [Int])
    /// Columns [c·block, (c+1)·block) of a linear weight [out, in] (block > 1 after a flatten).
    case linearIn(layer: String, weight: Int, shape: [Int], block: Int)
    /// Channel c of this space is channel map[c] of space `space` (−1: none), the shortcut between two
    /// residual streams.
    case link(space: Int, map: [Int])
    /// Channel c of a batch norm that reads the space (a pre-activation block's first, or the final one):
    /// scale[c] and shift[c]. It never keeps a channel alive by itself (it only rescales what it reads)
    /// and goes with the channel.
    case batchNormIn(layer: String, scale: Int, shift: Int, channels: Int)

    public var layer: String? {
        switch self {
        case .convOut(let l, _, _, _), .linearOut(let l, _, _, _), .convIn(let l, _, _), .linearIn(let l, _, _, _):
            return l
        case .batchNormIn(let l, _, _, _): return l
        case .link: return nil
        }
    }
}

/// Batch-norm scale and shift offsets of the layer that normalises a producer's output.
public struct BatchNormRef: Sendable {
    public let layer: String, scale: Int, shift: Int
}

/// A producer of a space's channels and the batch norm applied to its output (zeroed with it).
public struct Producer: Sendable {
    public var ref: ChannelRef
    public var batchNorm: BatchNormRef?
    public init(_ ref: ChannelRef, batchNorm: BatchNormRef? = nil) {
        self.ref = ref
        self.batchNorm = batchNorm
    }
}

public struct ChannelSpace: Sendable {
    public var name: String
    public var channels: Int
    /// Empty for the network's input (its channels come from the data and cannot be switched off).
    public var producers: [Producer]
    public var consumers: [ChannelRef]
    /// The data's input features: dead only when every consumer is gone.
    public var isInput: Bool
    /// Whether a compact export may drop this space's dead channels (every space but the input features,
    /// whose dropping depends on the data: `Pruner.inputFeaturesDroppable`).
    public var compactable: Bool

    public init(
        name: String, channels: Int, producers: [Producer] = [], consumers: [ChannelRef] = [],
        isInput: Bool = false, compactable: Bool = true
    ) {
        self.name = name
        self.channels = channels
        self.producers = producers
        self.consumers = consumers
        self.isInput = isInput
        self.compactable = compactable && !isInput
    }
}

public struct ChannelGraph: Sendable {
    public var spaces: [ChannelSpace] = []
    public init() {}
    @discardableResult
    public mutating func add(_ s: ChannelSpace) -> Int {
        spaces.append(s)
        return spaces.count - 1
    }

    /// One member of a channel group: channel `channel` of space `space`.
    public struct Member: Hashable, Comparable, Sendable {
        public let space: Int, channel: Int
        public init(space: Int, channel: Int) {
            self.space = space
            self.channel = channel
        }
        public static func < (a: Member, b: Member) -> Bool { (a.space, a.channel) < (b.space, b.channel) }
    }

    /// The channel groups of structured pruning: every channel of a non-input space, with the channels
    /// that links tie to it in one group (a residual stream's channel and its continuations through the
    /// shortcuts between stages). Groups are ordered by their first member (space, then channel).
    public var channelGroups: [[Member]] {
        var parent: [Member: Member] = [:]
        func root(_ m: Member) -> Member {
            var r = m
            while let p = parent[r], p != r { r = p }
            return r
        }
        var members: [Member] = []
        for (k, sp) in spaces.enumerated() where !sp.isInput {
            for c in 0..<sp.channels {
                let m = Member(space: k, channel: c)
                parent[m] = m
                members.append(m)
            }
        }
        for (k, sp) in spaces.enumerated() where !sp.isInput {
            for case .link(let other, let map) in sp.producers.map(\.ref) + sp.consumers {
                for (c, j) in map.enumerated() where j >= 0 && !spaces[other].isInput {
                    let (a, b) = (root(Member(space: k, channel: c)), root(Member(space: other, channel: j)))
                    if a != b { parent[max(a, b)] = min(a, b) }
                }
            }
        }
        var groups: [Member: [Member]] = [:]
        for m in members { groups[root(m), default: []].append(m) }
        return groups.values.map { $0.sorted() }.sorted { $0[0] < $1[0] }
    }
}

extension Conv2d {
    public var outRef: ChannelRef {
        .convOut(
            layer: name, weight: weightOffset,
            shape: [geometry.outChannels, geometry.inChannels, geometry.kernelH, geometry.kernelW], bias: biasOffset)
    }
    public var inRef: ChannelRef {
        .convIn(
            layer: name, weight: weightOffset,
            shape: [geometry.outChannels, geometry.inChannels, geometry.kernelH, geometry.kernelW])
    }
}

extension Linear {
    public var outRef: ChannelRef {
        .linearOut(layer: name, weight: weightOffset, shape: [outFeatures, inFeatures], bias: biasOffset)
    }
    public func inRef(block: Int = 1) -> ChannelRef {
        .linearIn(layer: name, weight: weightOffset, shape: [outFeatures, inFeatures], block: block)
    }
}

extension BatchNorm2d {
    public var ref: BatchNormRef { BatchNormRef(layer: name, scale: scaleOffset, shift: shiftOffset) }
}
