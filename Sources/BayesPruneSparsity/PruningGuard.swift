// The guard that keeps every layer alive: no E-step may remove all the channels or units of a channel
// space (a layer's outputs, a residual stream, the input features), since the network would then
// predict a constant. A space the E-step would empty keeps its strongest channel (largest sum of squares
// of its producers' live weights, or of its consumers' for the input features), restored exactly as it
// was before the step; the output units are never a channel space, so they are never removed.

import BayesPruneDistributed
import BayesPruneKernels
import BayesPruneNN

extension Pruner {
    /// Restores, in every space the step emptied, its strongest channel; repeats until no space is empty
    /// (a restored channel may need a channel of the space feeding it). Masks are identical on every rank
    /// before and after, so every rank restores alike. Returns one description per restored space.
    func keepEverySpaceAlive(maskBefore: [Float], deadBefore: [[Bool]], _ comm: Communicator) throws -> [String] {
        var restored: [String] = []
        // All emptied spaces at once: restoring one alone would be undone by a still-empty neighbour
        // (its channel has no live consumer there). A few rounds settle any remaining chain.
        for _ in 0..<network.graph.spaces.count {
            let empty = network.graph.spaces.indices.filter { k in
                network.graph.spaces[k].channels > 0 && dead[k].allSatisfy { $0 }
            }
            guard !empty.isEmpty else { break }
            var any = false
            for k in empty {
                let space = network.graph.spaces[k]
                let candidates = (0..<space.channels).filter { !deadBefore[k][$0] }
                guard !candidates.isEmpty else { continue }
                // Averaged over ranks, so every rank keeps the same channel even if replicas drifted.
                var strengths = candidates.map { strength(k, $0) }
                if comm.size > 1 { try comm.allreduceSum(&strengths, what: "pruning guard") }
                let best = candidates[strengths.indices.max { strengths[$0] < strengths[$1] }!]
                restore(channel: best, of: k, from: maskBefore)
                restored.append("\(space.name): kept channel \(best) of \(space.channels)")
                any = true
            }
            refreshDeadChannels()
            if !any { break }
        }
        return restored
    }

    /// Puts channel c of space k back as it was before the step, in every producer and consumer.
    func restore(channel c: Int, of k: Int, from before: [Float]) {
        let space = network.graph.spaces[k]
        for p in space.producers {
            copyChannel(p.ref, c, from: before)
            if let bn = p.batchNorm {
                mask[bn.scale + c] = before[bn.scale + c]
                mask[bn.shift + c] = before[bn.shift + c]
            }
        }
        for r in space.consumers { copyChannel(r, c, from: before) }
        // Back in the slab: with the spike's decay the kept channel would shrink and be guarded again.
        for r in space.producers.map(\.ref) + space.consumers { Self.forEachIndex(r, c) { lambda[$0] = lambda1 } }
        for bn in space.producers.compactMap(\.batchNorm) {
            (lambda[bn.scale + c], lambda[bn.shift + c]) = (lambda1, lambda1)
        }
    }

    /// Sum of squares of a channel's weights: its producers' rows, or for the input features (no
    /// producers) its consumers' columns.
    func strength(_ k: Int, _ c: Int) -> Double {
        let space = network.graph.spaces[k]
        let refs = space.producers.isEmpty ? space.consumers : space.producers.map(\.ref)
        var s = 0.0
        for r in refs {
            Self.forEachIndex(r, c) {
                let w = Double(network.store.values[$0])
                s += w * w
            }
        }
        return s
    }

    /// Sets a channel's mask entries of one producer or consumer back to `before`.
    func copyChannel(_ r: ChannelRef, _ c: Int, from before: [Float]) {
        Self.forEachIndex(r, c) { mask[$0] = before[$0] }
        if case .convOut(_, _, _, let bias?) = r { mask[bias + c] = before[bias + c] }
        if case .linearOut(_, _, _, let bias?) = r { mask[bias + c] = before[bias + c] }
    }

    /// The flat indices of channel c's weights in a producer (its row or filter) or consumer (its column
    /// or input channel).
    static func forEachIndex(_ r: ChannelRef, _ c: Int, _ body: (Int) -> Void) {
        switch r {
        case .convOut(_, let w, let sh, _):
            let per = sh[1] * sh[2] * sh[3]
            for i in 0..<per { body(w + c * per + i) }
        case .linearOut(_, let w, let sh, _):
            for i in 0..<sh[1] { body(w + c * sh[1] + i) }
        case .convIn(_, let w, let sh):
            let (outs, ins, k) = (sh[0], sh[1], sh[2] * sh[3])
            for o in 0..<outs { for j in 0..<k { body(w + (o * ins + c) * k + j) } }
        case .linearIn(_, let w, let sh, let block):
            for o in 0..<sh[0] { for j in 0..<block { body(w + o * sh[1] + c * block + j) } }
        case .batchNormIn(_, let scale, let shift, _):
            body(scale + c)
            body(shift + c)
        case .link: break
        }
    }
}
