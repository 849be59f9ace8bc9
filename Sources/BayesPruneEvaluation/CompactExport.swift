import BayesPruneConfig
import BayesPruneKernels
import BayesPruneNN
import BayesPruneRunIO
import BayesPruneSparsity
// `bayesprune export DIR --compact OUT`: a physically smaller network. The channels that pruning left
// dead are dropped from the tensors (rows, columns, filters, batch-norm entries) wherever the
// architecture allows it: hidden units of mlp, every lenet layer's outputs, the inner channels of every
// residual block (the residual streams keep their width, which the shortcuts fix). The result is a
// normal run directory (config.json with the compact widths, weights.safetensors) plus
// architecture.json, so `evaluate` loads it, and it predicts what the masked network predicts.
import Foundation

public struct CompactSummary: Codable {
    public var model: String
    public var source: String
    /// mlp's hidden widths (nil for the other models, which use `widths`).
    public var hidden: [Int]?
    public var widths: [Int]?
    public var denseParameters: Int
    public var compactParameters: Int
    public var denseMACsPerExample: Int
    public var compactMACsPerExample: Int
}

public enum CompactExport {
    /// Loads a run's final weights and its pruning mask (all ones when the run did not prune).
    /// `directory`: a run directory or one of its checkpoint files.
    public static func loadPruned(directory: String) throws -> (RunManifest, Network, Pruner) {
        let source = try RunSource.open(directory)
        let m = try RunManifest.load(directory: source.runDirectory)
        let net = try RunEvaluation.loadNetwork(m)
        try source.loadWeights(into: net)
        let pruner = Pruner(network: net, config: m.config.pruning, dataSize: 1, lambda1: Float(m.config.weightDecay))
        _ = try source.loadMask(into: pruner.mask, layout: net.store)
        pruner.refreshDeadChannels()
        return (m, net, pruner)
    }

    public static func export(directory: String, to out: String) throws -> CompactSummary {
        let (m, dense, pruner) = try loadPruned(directory: directory)
        let spaces = dense.graph.spaces
        // Live channels of every space that may shrink (at least one kept, so shapes stay valid).
        var alive: [Int: [Int]] = [:]
        for (k, sp) in spaces.enumerated() where sp.compactable {
            let live = (0..<sp.channels).filter { !pruner.dead[k][$0] }
            alive[k] = live.isEmpty ? [0] : live
        }
        var outIdx: [String: [Int]] = [:]
        var inIdx: [String: [Int]] = [:]
        var bnIdx: [String: [Int]] = [:]
        for (k, sp) in spaces.enumerated() {
            guard let live = alive[k] else { continue }
            for p in sp.producers {
                if let l = p.ref.layer { outIdx[l] = live }
                if let bn = p.batchNorm { bnIdx[bn.layer] = live }
            }
            for r in sp.consumers {
                if case .linearIn(let l, _, _, let block) = r {
                    inIdx[l] = live.flatMap { c in (0..<block).map { c * block + $0 } }
                } else if let l = r.layer {
                    inIdx[l] = live
                }
            }
        }
        var c = m.config
        let kind = c.model
        let count: (String) -> Int = { name in spaces.firstIndex { $0.name == name }.flatMap { alive[$0]?.count } ?? 0 }
        switch kind {
        case .mlp: c.hidden = (1...c.hidden.count).map { count("fc\($0).out") }
        case .lenet: c.widths = [count("conv1.out"), count("conv2.out"), count("fc1.out"), count("fc2.out")]
        default:
            c.widths = spaces.filter { $0.name.hasSuffix(".inner") }.map { count($0.name) }
        }
        c.pruning.enabled = false
        var cm = m
        cm.config = c
        let compact = try RunEvaluation.loadNetwork(cm)
        cm.parameterCount = compact.store.parameterCount

        // Copy every tensor, selecting the live rows/columns/filters.
        let ds = dense.store
        let cs = compact.store
        for e in cs.entries {
            guard let d = ds.entry(named: e.name) else {
                throw OutputError(description: "export: \(e.name) has no dense counterpart")
            }
            let src = ds.value(d.offset)
            let dst = cs.value(e.offset)
            switch e.role {
            case .weight where e.shape.count == 4:
                let rows = outIdx[e.layer] ?? Array(0..<d.shape[0])
                let cols = inIdx[e.layer] ?? Array(0..<d.shape[1])
                let k = d.shape[2] * d.shape[3]
                var i = 0
                for o in rows {
                    for ch in cols {
                        (dst + i * k).update(from: src + (o * d.shape[1] + ch) * k, count: k)
                        i += 1
                    }
                }
            case .weight:
                let rows = outIdx[e.layer] ?? Array(0..<d.shape[0])
                let cols = inIdx[e.layer] ?? Array(0..<d.shape[1])
                var i = 0
                for o in rows {
                    for j in cols {
                        dst[i] = src[o * d.shape[1] + j]
                        i += 1
                    }
                }
            case .bias:
                let rows = outIdx[e.layer] ?? Array(0..<d.count)
                for (i, o) in rows.enumerated() { dst[i] = src[o] }
            case .bnScale, .bnShift:
                let rows = bnIdx[e.layer] ?? Array(0..<d.count)
                for (i, o) in rows.enumerated() { dst[i] = src[o] }
            }
        }
        for e in cs.stateEntries {
            guard let d = ds.stateEntries.first(where: { $0.name == e.name }) else { continue }
            let layer = String(e.name.split(separator: ".").dropLast().joined(separator: "."))
            let rows = bnIdx[layer] ?? Array(0..<d.count)
            for (i, o) in rows.enumerated() { cs.stateValue(e.offset)[i] = ds.stateValue(d.offset)[o] }
        }

        try makeRunDirectory(out)
        try cm.write(directory: out)
        try WeightsFile.write(
            compact, to: out + "/weights.safetensors",
            metadata: ["model": c.model.rawValue, "format": "bayesprune-compact-1"])
        let summary = CompactSummary(
            model: c.model.rawValue, source: directory, hidden: c.model == .mlp ? c.hidden : nil, widths: c.widths,
            denseParameters: ds.parameterCount, compactParameters: cs.parameterCount,
            denseMACsPerExample: dense.macsPerExample, compactMACsPerExample: compact.macsPerExample)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(summary), to: out + "/architecture.json")
        return summary
    }
}
