// `--target-sparsity`: besides the thresholds, each E-step removes the weakest groups until the fraction
// of prunable weights removed reaches the step's target on the cubic schedule of gradual pruning (Zhu &
// Gupta 2017): S·(1 − (1 − t)³) with t the share of the E-steps up to epoch `targetEpoch`, then S. Groups are
// ranked across layers by their mean square relative to their tensor's mean, so no layer's scale decides.

import BayesPruneKernels
import BayesPruneNN

extension Pruner {
    /// This E-step's target fraction of removed prunable weights (nil without a target).
    func scheduledSparsity() -> Double? {
        guard let s = config.targetSparsity, s > 0 else { return nil }
        // E-steps run at the start of every epoch after the warm-up: epoch targetEpoch has the
        // (targetEpoch − warmUp)-th.
        let steps = max((config.targetEpoch ?? config.warmUp + 1) - config.warmUp, 1)
        let t = min(1, Double(eSteps + 1) / Double(steps))
        return s * (1 - (1 - t) * (1 - t) * (1 - t))
    }

    /// The fraction of prunable weights the mask removes.
    func removedFraction() -> Double {
        var removed = 0
        var total = 0
        for e in prunable {
            total += e.count
            for i in 0..<e.count where mask[e.offset + i] == 0 { removed += 1 }
        }
        return total > 0 ? Double(removed) / Double(total) : 0
    }

    /// Removes the fewest weakest live groups (mean square over the tensor's mean of live groups) whose
    /// removal, with what the channel graph then removes, reaches `target`: a binary search over how many,
    /// since the graph's removals make the count nonlinear. `ms`: the E-step's group statistics, and
    /// `channelMS` the channel groups' (identical on every rank, so every rank decides alike). Channel groups
    /// rank with t = −1, relative to the mean of their rank key's live groups.
    func removeWeakestGroups(until target: Double, meanSquares ms: [[Double]], channelMeanSquares channelMS: [Double]) {
        propagate()
        guard removedFraction() < target else { return }
        var ranked: [(score: Double, t: Int, g: Int)] = []
        for (t, e) in prunable.enumerated() where ownGroups(e) {
            let live = ms[t].indices.filter { groupLive(e, $0) }
            let mean = live.reduce(0.0) { $0 + ms[t][$1] } / Double(max(live.count, 1))
            for g in live { ranked.append((mean > 0 ? ms[t][g] / mean : 0, t, g)) }
        }
        let liveChannels = channelGroups.indices.filter(channelGroupLive)
        let byKey = Dictionary(grouping: liveChannels) { channelGroups[$0].rankKey }
        for (_, groups) in byKey {
            let mean = groups.reduce(0.0) { $0 + channelMS[$1] } / Double(groups.count)
            for g in groups { ranked.append((mean > 0 ? channelMS[g] / mean : 0, -1, g)) }
        }
        ranked.sort { ($0.score, $0.t, $0.g) < ($1.score, $1.t, $1.g) }
        let before = (mask: mask.array, dead: dead)
        func tryRemoving(_ n: Int) -> Double {
            mask.pointer.update(from: before.mask, count: before.mask.count)
            dead = before.dead
            for r in ranked.prefix(n) {
                if r.t < 0 { removeChannelGroup(r.g) } else { _ = removeGroup(prunable[r.t], r.g) }
            }
            propagate()
            return removedFraction()
        }
        var (lo, hi) = (0, ranked.count)  // tryRemoving(lo) < target <= tryRemoving(hi), or hi = all
        while lo + 1 < hi {
            let mid = (lo + hi) / 2
            if tryRemoving(mid) >= target { hi = mid } else { lo = mid }
        }
        _ = tryRemoving(hi)
    }

    /// Whether a group (an fc input column, a conv kernel) still has a live weight.
    func groupLive(_ e: ParameterEntry, _ g: Int) -> Bool {
        var live = false
        forEachGroupIndex(e, g) { if mask[$0] != 0 { live = true } }
        return live
    }

    /// Masks a group's weights; returns how many were live.
    func removeGroup(_ e: ParameterEntry, _ g: Int) -> Int {
        var n = 0
        forEachGroupIndex(e, g) { i in
            if mask[i] != 0 { n += 1 }
            mask[i] = 0
        }
        return n
    }

    func forEachGroupIndex(_ e: ParameterEntry, _ g: Int, _ body: (Int) -> Void) {
        switch e.group {
        case .convKernel:
            let k = e.shape[2] * e.shape[3]
            for j in 0..<k { body(e.offset + g * k + j) }
        case .linearColumn:
            let (outs, ins) = (e.shape[0], e.shape[1])
            for o in 0..<outs { body(e.offset + o * ins + g) }
        case .none: break
        }
    }
}
