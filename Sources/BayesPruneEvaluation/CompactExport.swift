// `bayesprune export DIR --compact OUT`: a physically smaller network. The channels that pruning left
// dead are dropped from the tensors (rows, columns, filters, batch-norm entries): hidden units of mlp,
// every lenet layer's outputs, the inner channels of every residual block and the channels of the
// residual streams (the shortcuts between stages then map the kept channels), and a table's unread
// input columns. The result is a
// normal run directory (config.json with the compact widths, weights.safetensors) plus
// architecture.json, so `evaluate` loads it, and it predicts what the masked network predicts.

import BayesPruneConfig
import BayesPruneKernels
import BayesPruneNN
import BayesPruneRunIO
import BayesPruneSparsity
import Foundation

public struct CompactSummary: Codable {
    public var model: String
    public var source: String
    /// mlp's hidden widths (nil for the other models, which use `widths`).
    public var hidden: [Int]?
    public var widths: [Int]?
    /// ResNets: each stage's kept residual-stream channels (indices of the standard 16/32/64; nil: all).
    public var streamChannels: [[Int]]?
    public var denseParameters: Int
    public var compactParameters: Int
    public var denseMACsPerExample: Int
    public var compactMACsPerExample: Int
    /// For a table: the input columns the compact model reads, by name, in order.
    public var inputColumns: [String]?
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
        pruner.inputFeaturesDroppable = isTabular(m)
        _ = try source.loadMask(into: pruner.mask, layout: net.store)
        pruner.refreshDeadChannels()
        return (m, net, pruner)
    }

    /// A table's model (named feature columns, 1×1 "images"): its export may drop input columns.
    static func isTabular(_ m: RunManifest) -> Bool {
        m.inputShape.count == 3 && m.inputShape[1] == 1 && m.inputShape[2] == 1 && !m.featureNames.isEmpty
    }

    /// Which channels survive, as the rows/columns each layer keeps.
    struct Selection {
        /// Live channels of every space that may shrink (at least one kept, so shapes stay valid).
        var alive: [Int: [Int]] = [:]
        /// Kept output rows (filters, units), input columns and batch-norm channels, by layer name.
        var outputs: [String: [Int]] = [:]
        var inputs: [String: [Int]] = [:]
        var batchNorm: [String: [Int]] = [:]
    }

    /// Writes the compact network of the run (or checkpoint) `directory` as a run directory `out`.
    /// Throws `OutputError` naming a file that cannot be read or written.
    public static func export(directory: String, to out: String) throws -> CompactSummary {
        let (m, dense, pruner) = try loadPruned(directory: directory)
        let selection = select(dense, dead: pruner.dead, dropInputs: pruner.inputFeaturesDroppable)
        var cm = m
        cm.config = compactConfig(m.config, spaces: dense.graph.spaces, alive: selection.alive)
        if let k = dense.graph.spaces.firstIndex(where: \.isInput), let kept = selection.alive[k] {
            // A table's compact model reads only the kept columns: its record says which, by name.
            cm.inputShape = [kept.count, 1, 1]
            cm.featureNames = kept.map { m.featureNames[$0] }
            cm.normalizationMean = kept.map { m.normalizationMean[$0] }
            cm.normalizationStd = kept.map { m.normalizationStd[$0] }
        }
        let compact = try RunEvaluation.loadNetwork(cm)
        cm.parameterCount = compact.store.parameterCount
        try copyLive(from: dense.store, to: compact.store, selection)
        let c = cm.config
        try makeRunDirectory(out)
        try cm.write(directory: out)
        try WeightsFile.write(
            compact, to: out + "/weights.safetensors",
            metadata: ["model": c.model.rawValue, "format": "bayesprune-compact-1"])
        let summary = CompactSummary(
            model: c.model.rawValue, source: directory, hidden: c.model == .mlp ? c.hidden : nil, widths: c.widths,
            streamChannels: c.streamChannels,
            denseParameters: dense.store.parameterCount, compactParameters: compact.store.parameterCount,
            denseMACsPerExample: dense.macsPerExample, compactMACsPerExample: compact.macsPerExample,
            inputColumns: cm.featureNames.isEmpty ? nil : cm.featureNames)
        try AtomicFile.write(try encodeJSON(summary, for: out + "/architecture.json"), to: out + "/architecture.json")
        return summary
    }

    static func select(_ dense: Network, dead: [[Bool]], dropInputs: Bool) -> Selection {
        var sel = Selection()
        for (k, sp) in dense.graph.spaces.enumerated() where sp.compactable || sp.isInput && dropInputs {
            let live = (0..<sp.channels).filter { !dead[k][$0] }
            sel.alive[k] = live.isEmpty ? [0] : live
        }
        for (k, sp) in dense.graph.spaces.enumerated() {
            guard let live = sel.alive[k] else { continue }
            for p in sp.producers {
                if let l = p.ref.layer { sel.outputs[l] = live }
                if let bn = p.batchNorm { sel.batchNorm[bn.layer] = live }
            }
            for r in sp.consumers {
                if case .linearIn(let l, _, _, let block) = r {
                    sel.inputs[l] = live.flatMap { c in (0..<block).map { c * block + $0 } }
                } else if case .batchNormIn(let l, _, _, _) = r {
                    sel.batchNorm[l] = live
                } else if let l = r.layer {
                    sel.inputs[l] = live
                }
            }
        }
        return sel
    }

    /// The configuration of the compact model: the surviving widths, pruning off.
    static func compactConfig(_ dense: TrainConfig, spaces: [ChannelSpace], alive: [Int: [Int]]) -> TrainConfig {
        var c = dense
        let count: (String) -> Int = { name in spaces.firstIndex { $0.name == name }.flatMap { alive[$0]?.count } ?? 0 }
        switch c.model {
        case .mlp: c.hidden = (1...c.hidden.count).map { count("fc\($0).out") }
        case .lenet: c.widths = [count("conv1.out"), count("conv2.out"), count("fc1.out"), count("fc2.out")]
        case .resnet18, .preactResnet18, .wrn16x4, .wrn28x10, .resnet50:
            c.spaceWidths = Dictionary(
                uniqueKeysWithValues: spaces.filter { !$0.isInput }.map { ($0.name, count($0.name)) })
        case .resnet20, .resnet32, .resnet56:
            c.widths = spaces.filter { $0.name.hasSuffix(".inner") }.map { count($0.name) }
            // Kept stream channels as indices of the standard streams (a compact network's own are the
            // standard ones it kept, so compacting again composes).
            let standard = dense.streamChannels ?? [16, 32, 64].map { Array(0..<$0) }
            c.streamChannels = (1...3).map { stage in
                let k = spaces.firstIndex { $0.name == "stage\(stage).stream" }!
                return (alive[k] ?? Array(0..<spaces[k].channels)).map { standard[stage - 1][$0] }
            }
            if c.streamChannels == [16, 32, 64].map({ Array(0..<$0) }) { c.streamChannels = nil }
        }
        c.pruning.enabled = false
        return c
    }

    /// Copies every tensor, selecting the live rows/columns/filters, and the batch-norm statistics.
    static func copyLive(from ds: ParameterStore, to cs: ParameterStore, _ sel: Selection) throws {
        let layout = try CompactLayout(from: ds, to: cs, sel)
        layout.gather(ds.values.pointer, into: cs.values.pointer, state: false)
        layout.gather(ds.state.pointer, into: cs.state.pointer, state: true)
    }
}

/// Where every value of a compact network comes from in the full one: compact parameter i is full
/// parameter `parameterSource[i]` (likewise batch-norm state values). The one map serves the export, the
/// compact copy the trainer steps on (`--shrink`), its sampler state, masks and λ, and its noise draws.
public struct CompactLayout: Equatable {
    public let parameterSource: [UInt32]
    public let stateSource: [UInt32]

    /// The map for `cs` (a compact build) from `ds` (the full network), by the selection's kept
    /// rows/columns/filters. Throws `OutputError` when a compact tensor has no full counterpart.
    init(from ds: ParameterStore, to cs: ParameterStore, _ sel: CompactExport.Selection) throws {
        var source = [UInt32](repeating: 0, count: cs.parameterCount)
        for e in cs.entries {
            guard let d = ds.entry(named: e.name) else {
                throw OutputError(description: "export: \(e.name) has no dense counterpart")
            }
            var i = e.offset
            func take(_ full: Int) {
                source[i] = UInt32(d.offset + full)
                i += 1
            }
            switch e.role {
            case .weight:
                let rows = sel.outputs[e.layer] ?? Array(0..<d.shape[0])
                let cols = sel.inputs[e.layer] ?? Array(0..<d.shape[1])
                let k = e.shape.count == 4 ? d.shape[2] * d.shape[3] : 1  // kernel size; 1 for a linear layer
                for o in rows {
                    for ch in cols {
                        for j in 0..<k { take((o * d.shape[1] + ch) * k + j) }
                    }
                }
            case .bias:
                for o in sel.outputs[e.layer] ?? Array(0..<d.count) { take(o) }
            case .bnScale, .bnShift:
                for o in sel.batchNorm[e.layer] ?? Array(0..<d.count) { take(o) }
            }
        }
        // A compact state value without a full counterpart keeps its own value (gather skips UInt32.max).
        var state = [UInt32](repeating: .max, count: cs.stateCount)
        for e in cs.stateEntries {
            guard let d = ds.stateEntries.first(where: { $0.name == e.name }) else { continue }
            let layer = String(e.name.split(separator: ".").dropLast().joined(separator: "."))
            for (i, o) in (sel.batchNorm[layer] ?? Array(0..<d.count)).enumerated() {
                state[e.offset + i] = UInt32(d.offset + o)
            }
        }
        parameterSource = source
        stateSource = state
    }

    /// compact[i] = full[source[i]] over the parameter (or, with `state`, the batch-norm state) map.
    public func gather(_ full: UnsafePointer<Float>, into compact: UnsafeMutablePointer<Float>, state: Bool = false) {
        let map = state ? stateSource : parameterSource
        for (i, f) in map.enumerated() where f != .max { compact[i] = full[Int(f)] }
    }

    /// full[source[i]] = compact[i]: the compact values back in their places (the rest untouched).
    public func scatter(_ compact: UnsafePointer<Float>, into full: UnsafeMutablePointer<Float>, state: Bool = false) {
        let map = state ? stateSource : parameterSource
        for (i, f) in map.enumerated() where f != .max { full[Int(f)] = compact[i] }
    }
}

extension CompactExport {
    /// The compact network of `full` given its dead channels, and the map between them: the channels of the
    /// spaces that may shrink (and, with `dropInputs`, the input columns) that are dead are left out.
    /// Returns nil when nothing can be left out. `config` describes `full`; `input` is its input shape.
    public static func compactNetwork(
        of full: Network, dead: [[Bool]], dropInputs: Bool, config: TrainConfig, loss: LossKind
    ) throws -> (network: Network, layout: CompactLayout, inputColumns: [Int]?, key: [[Int]])? {
        let sel = select(full, dead: dead, dropInputs: dropInputs)
        let spaces = full.graph.spaces
        let shrinks = sel.alive.contains { k, live in live.count < spaces[k].channels }
        guard shrinks else { return nil }
        let c = compactConfig(config, spaces: spaces, alive: sel.alive)
        var inputColumns: [Int]? = nil
        var input = full.inputShape
        if let k = spaces.firstIndex(where: \.isInput), let kept = sel.alive[k] {
            inputColumns = kept
            input = ActShape(kept.count, input.h, input.w)
        }
        let net = try ModelBuilder.build(c.modelSpec(input: input, outputs: full.outputs, loss: loss), seed: c.seed)
        let layout = try CompactLayout(from: full.store, to: net.store, sel)
        return (net, layout, inputColumns, liveKey(sel))
    }

    /// The live channels `compactNetwork` would keep, as a value to compare (a copy is rebuilt when it changes).
    public static func liveKey(_ full: Network, dead: [[Bool]], dropInputs: Bool) -> [[Int]] {
        liveKey(select(full, dead: dead, dropInputs: dropInputs))
    }

    static func liveKey(_ sel: Selection) -> [[Int]] { sel.alive.keys.sorted().map { sel.alive[$0]! } }
}
