// Channel groups (`--conv-groups channels`): the E-step's group for a convolution is a whole channel, and
// the channels that residual additions tie together (a stream channel written by the stem and by every
// block's second convolution, continued through the shortcuts between stages) are one residual
// dependency group with one statistic and one removal decision (ChannelGraph.channelGroups). A group's
// statistic reads what scales the channel's output: the batch-norm scale and shift of every producer
// that has one (a filter's own size means nothing under batch norm), else the filter and its bias. The
// spike's decay acts on the producers' filters and batch norms, so a channel in the spike fades out of
// the network before the hard threshold removes it; removal takes its producers, and the channel graph
// its consumers, so the compact export (and compaction while training) drops the channel everywhere.

import BayesPruneDistributed
import BayesPruneKernels
import BayesPruneNN

/// What a convolution's spike-and-slab group is.
public enum ConvGroups: String, CaseIterable, Codable, Sendable {
    /// Each k×k kernel (the paper's groups); whole channels go only when all their kernels have.
    case kernels
    /// Each channel of a layer's output, and each residual dependency group (ChannelGraph.channelGroups).
    case channels
}

/// One channel group: its channels and the flat indices its statistic reads.
public struct ChannelGroup: Sendable {
    public let members: [ChannelGraph.Member]
    /// Batch-norm scale and shift of the producers with batch norm, else the filters' weights and biases.
    let strength: [Int]
    /// Groups ranked together for a target (scores are relative to their mean): every batch-normalised
    /// group shares one key (batch-norm scales are comparable across layers), other groups rank per space.
    let rankKey: Int
}

extension Pruner {
    /// The channel groups of conv spaces that hold a prunable convolution's filters (empty unless
    /// `convGroups` is `.channels`).
    static func channelGroups(network: Network, config: PruningConfig, prunable: [ParameterEntry]) -> [ChannelGroup] {
        guard config.convGroups == .channels else { return [] }
        let prunableWeights = Set(prunable.filter { $0.group == .convKernel }.map(\.offset))
        let spaces = network.graph.spaces
        var result: [ChannelGroup] = []
        for members in network.graph.channelGroups {
            let producers = members.flatMap { m in spaces[m.space].producers.map { (m.channel, $0) } }
            let convs = producers.filter { _, p in if case .convOut = p.ref { return true } else { return false } }
            let isPrunable = convs.contains { _, p in
                if case .convOut(_, let w, _, _) = p.ref { return prunableWeights.contains(w) } else { return false }
            }
            guard isPrunable else { continue }
            let normalised = convs.allSatisfy { $0.1.batchNorm != nil }
            var strength: [Int] = []
            for (c, p) in convs {
                if let bn = p.batchNorm {
                    strength += [bn.scale + c, bn.shift + c]
                } else {
                    forEachIndex(p.ref, c) { strength.append($0) }
                    if case .convOut(_, _, _, let bias?) = p.ref { strength.append(bias + c) }
                }
            }
            result.append(
                ChannelGroup(members: members, strength: strength, rankKey: normalised ? -1 : members[0].space))
        }
        return result
    }

    /// Every producer parameter of group g's channels: filters, biases and batch-norm scale and shift (what
    /// the spike's decay acts on and what removal masks).
    func forEachProducerIndex(ofGroup g: Int, _ body: (Int) -> Void) {
        let spaces = network.graph.spaces
        for m in channelGroups[g].members {
            for p in spaces[m.space].producers {
                Self.forEachIndex(p.ref, m.channel, body)
                if case .convOut(_, _, _, let bias?) = p.ref { body(bias + m.channel) }
                if case .linearOut(_, _, _, let bias?) = p.ref { body(bias + m.channel) }
                if let bn = p.batchNorm {
                    body(bn.scale + m.channel)
                    body(bn.shift + m.channel)
                }
            }
        }
    }

    /// Mean square and largest magnitude of each channel group's live strength values (0 when none is
    /// left), averaged over ranks so every rank decides alike.
    func channelGroupStatistics(_ comm: Communicator) throws -> (meanSquares: [Double], largest: [Double]) {
        let w = network.store.values.pointer
        var ms = [Double](repeating: 0, count: channelGroups.count)
        var largest = ms
        for (g, group) in channelGroups.enumerated() {
            var (sum, n, top) = (0.0, 0, 0.0)
            for i in group.strength where mask[i] != 0 {
                let v = Double(w[i])
                sum += v * v
                n += 1
                top = max(top, abs(v))
            }
            (ms[g], largest[g]) = (n > 0 ? sum / Double(n) : 0, top)
        }
        if comm.size > 1 {
            var flat = ms + largest
            try comm.allreduceSum(&flat, what: "E-step channel statistics")
            let r = Double(comm.size)
            ms = flat[0..<ms.count].map { $0 / r }
            largest = flat[ms.count...].map { $0 / r }
        }
        return (ms, largest)
    }

    /// Whether group g still has a live strength value.
    func channelGroupLive(_ g: Int) -> Bool { channelGroups[g].strength.contains { mask[$0] != 0 } }

    /// Masks every producer of group g's channels; the channel graph then removes their consumers.
    func removeChannelGroup(_ g: Int) { forEachProducerIndex(ofGroup: g) { mask[$0] = 0 } }

    /// The E-step over channel groups: spike or slab by the conv family's soft threshold on the mean square
    /// (or the Bayesian t*), the decay set on every producer parameter, and removal of a spike group whose
    /// largest strength value is below the hard threshold. Returns (groups in the slab, groups, Σ p_g).
    func channelEStep(meanSquares ms: [Double], largest: [Double]) -> (slab: Int, groups: Int, inclusion: Double) {
        let N = Double(dataSize)
        let l1 = Double(lambda1)
        let (l0, soft, hard) = (config.lambda0, config.softThreshold, config.hardThreshold)
        var (slab, groups, inclusion) = (0, 0, 0.0)
        for g in channelGroups.indices where channelGroupLive(g) {
            let m = channelGroups[g].strength.filter { mask[$0] != 0 }.count
            let threshold =
                config.eStep == .threshold
                ? soft
                : SpikeAndSlab.meanSquareThreshold(groupSize: m, theta: theta, lambda0: l0, lambda1: l1, dataSize: N)
            if config.eStep == .bayes {
                inclusion += SpikeAndSlab.inclusionProbability(
                    squaredNorm: ms[g] * Double(m), groupSize: m, theta: theta, lambda0: l0, lambda1: l1, dataSize: N)
            }
            groups += 1
            let spike = !(ms[g] > threshold)
            if !spike { slab += 1 }
            let decay = Float(spike ? l0 * spikeScale : l1)
            forEachProducerIndex(ofGroup: g) { lambda[$0] = decay }
            if spike && largest[g] < hard { removeChannelGroup(g) }
        }
        return (slab, groups, inclusion)
    }
}
