// Shrink while training (`--shrink`, mlp): once pruning has removed units or input columns for good, the
// trainer steps on a compact copy of the network, built with the surviving widths, so the remaining epochs
// cost what the small network costs. The full network stays the record: the pruner's E-step, checkpoints,
// posterior samples and the final weights use it, and the copy's values are scattered back into it at
// every epoch end and before every posterior sample. The copy takes the full network's values, sampler state, masks and λ through one
// index map (CompactLayout), and every weight draws the sampler noise of its place in the full network,
// so training the copy equals training the masked network up to float summation order. Every rank
// builds the same copy from the same masks. The layout is a pure function of the masks, so a resumed run
// rebuilds it exactly.

import BayesPruneConfig
import BayesPruneData
import BayesPruneEvaluation
import BayesPruneKernels
import BayesPruneNN
import BayesPruneSampling
import BayesPruneSparsity

/// The compact network the trainer steps on, with its sampler state, λ, mask and data.
final class CompactCopy {
    let network: Network
    let state: SamplerState
    let layout: CompactLayout
    let lambda: FloatBuffer
    let mask: FloatBuffer
    /// The training and test sets with only the live input columns (the full ones when no input went).
    let train: Dataset
    let test: Dataset
    /// The live channels it was built from (rebuilt when they change).
    let key: [[Int]]

    /// The copy of `full` for the pruner's current masks, with `fullState`'s sampler state; nil when no
    /// channel can be left out.
    init?(
        full: Network, fullState: SamplerState, pruner: Pruner, config: TrainConfig, sampler: SamplerConfig,
        data: PreparedData
    ) throws {
        guard
            let built = try CompactExport.compactNetwork(
                of: full, dead: pruner.dead, dropInputs: pruner.inputFeaturesDroppable, config: config,
                loss: data.modelSpecLoss)
        else { return nil }
        (network, layout, key) = (built.network, built.layout, built.key)
        let n = network.store.parameterCount
        state = SamplerState(config: sampler, parameterCount: n)
        lambda = FloatBuffer(count: n)
        mask = FloatBuffer(count: n)
        if let columns = built.inputColumns {
            let names = columns.map { data.train.featureNames[$0] }
            train = try data.train.selectingFeatures(names)
            test = try data.test.selectingFeatures(names)
        } else {
            (train, test) = (data.train, data.test)
        }
        gather(from: full, state: fullState, pruner: pruner)
    }

    /// Takes the full network's current weights, batch-norm state, sampler state, λ and mask.
    func gather(from full: Network, state fullState: SamplerState, pruner: Pruner) {
        layout.gather(full.store.values.pointer, into: network.store.values.pointer)
        layout.gather(full.store.state.pointer, into: network.store.state.pointer, state: true)
        for (c, f) in samplerBuffers(fullState) { layout.gather(f.pointer, into: c.pointer) }
        state.step = fullState.step
        refreshPruning(pruner)
    }

    /// λ and the mask after an E-step that left the live channels as they were.
    func refreshPruning(_ pruner: Pruner) {
        layout.gather(pruner.lambda.pointer, into: lambda.pointer)
        layout.gather(pruner.mask.pointer, into: mask.pointer)
    }

    /// Writes the copy's weights, batch-norm state and sampler state back into their places in the full
    /// network (the removed places keep their values: zero weights, the sampler state they had).
    func scatter(into full: Network, state fullState: SamplerState) {
        layout.scatter(network.store.values.pointer, into: full.store.values.pointer)
        layout.scatter(network.store.state.pointer, into: full.store.state.pointer, state: true)
        for (c, f) in samplerBuffers(fullState) { layout.scatter(c.pointer, into: f.pointer) }
        fullState.step = state.step
    }

    /// The copy's sampler buffers paired with the full state's (those the sampler uses).
    func samplerBuffers(_ full: SamplerState) -> [(compact: FloatBuffer, full: FloatBuffer)] {
        [(state.momentum, full.momentum), (state.rho, full.rho), (state.previousNoise, full.previousNoise)]
            .filter { $0.0.count > 0 }
    }
}

extension Trainer {
    /// After an E-step (or on resuming mid-epoch): with `--shrink`, (re)builds the compact copy when the
    /// live channels changed, or takes the new λ and mask into it; a copy that reads fewer input columns
    /// gets a loader over its columns (same order: the loader's shuffle depends only on the seed and epoch).
    func updateCompactCopy(epoch: Int, _ run: inout RunState) throws {
        guard config.shrink == true, let pruner else { return }
        if let c = compact,
            CompactExport.liveKey(network, dead: pruner.dead, dropInputs: pruner.inputFeaturesDroppable) == c.key
        {
            c.gather(from: network, state: state, pruner: pruner)
            return
        }
        guard
            let c = try CompactCopy(
                full: network, fullState: state, pruner: pruner, config: config, sampler: sampler, data: data)
        else { return }
        compact = c
        if c.train.channels != run.loader.dataset.channels {
            let augmentationRNG = run.loader.augmentationRNG
            run.loader = try makeLoader(c.train)
            run.loader.startEpoch(epoch - 1)
            run.loader.augmentationRNG = augmentationRNG
        }
        log(
            "epoch \(epoch): training a compact copy: \(c.network.store.parameterCount) of "
                + "\(network.store.parameterCount) parameters, \(c.network.macsPerExample) of "
                + "\(network.macsPerExample) multiply-adds per example")
    }
}
