// The flat parameter buffer and its layout table: every trainable tensor of a network is a named view
// (offset, shape) into ONE buffer of values and ONE buffer of gradients, so optimizers, allreduce,
// checkpoints and masks are single calls over contiguous memory. Non-trainable state (batch-norm
// running statistics) lives in a second flat buffer with its own table.
import BayesPruneKernels

public enum ParameterRole: String, Codable, Sendable { case weight, bias, bnScale, bnShift }

/// How the spike-and-slab E-step groups a tensor's weights.
public enum GroupKind: String, Codable, Sendable {
    case convKernel  // w[o, c, :, :] of a convolution weight [O, C, kh, kw]
    case linearColumn  // w[:, j] of a linear weight [out, in]: one input unit
    case none
}

public struct ParameterEntry: Sendable {
    public let name: String
    public let layer: String
    public let offset: Int
    public let shape: [Int]
    public let role: ParameterRole
    public let group: GroupKind
    /// Index of the owning weight layer in forward order (first = 0) and whether it is the last one.
    public let layerIndex: Int
    public var isLastLayer: Bool
    public var count: Int { shape.reduce(1, *) }
}

public struct StateEntry: Sendable {
    public let name: String
    public let offset: Int
    public let count: Int
}

public final class ParameterStore {
    public private(set) var entries: [ParameterEntry] = []
    public private(set) var stateEntries: [StateEntry] = []
    public private(set) var parameterCount = 0
    public private(set) var stateCount = 0
    private var weightLayers = 0
    /// Values and gradients of all trainable tensors, laid out as `entries` says.
    public private(set) var values = FloatBuffer(count: 0)
    public private(set) var grads = FloatBuffer(count: 0)
    /// Non-trainable state (batch-norm running mean and variance).
    public private(set) var state = FloatBuffer(count: 0)
    public private(set) var finalized = false

    public init() {}

    /// Starts a new weight layer; returns its index (the order in which layers were built).
    public func beginWeightLayer() -> Int {
        weightLayers += 1
        return weightLayers - 1
    }

    /// Reserves a trainable tensor; returns its offset. Pointers are valid after `finalize()`.
    public func register(
        name: String, layer: String, shape: [Int], role: ParameterRole, group: GroupKind,
        layerIndex: Int
    ) -> Int {
        precondition(!finalized, "register before finalize")
        let e = ParameterEntry(
            name: name, layer: layer, offset: parameterCount, shape: shape, role: role,
            group: group, layerIndex: layerIndex, isLastLayer: false)
        entries.append(e)
        parameterCount += e.count
        return e.offset
    }

    public func registerState(name: String, count: Int) -> Int {
        precondition(!finalized)
        let e = StateEntry(name: name, offset: stateCount, count: count)
        stateEntries.append(e)
        stateCount += count
        return e.offset
    }

    public func finalize() {
        precondition(!finalized)
        let last = entries.map(\.layerIndex).max() ?? -1
        for i in entries.indices where entries[i].layerIndex == last { entries[i].isLastLayer = true }
        values = FloatBuffer(count: parameterCount)
        grads = FloatBuffer(count: parameterCount)
        state = FloatBuffer(count: stateCount)
        finalized = true
    }

    @inline(__always) public func value(_ offset: Int) -> UnsafeMutablePointer<Float> { values.pointer + offset }
    @inline(__always) public func grad(_ offset: Int) -> UnsafeMutablePointer<Float> { grads.pointer + offset }
    @inline(__always) public func stateValue(_ offset: Int) -> UnsafeMutablePointer<Float> { state.pointer + offset }

    public func entry(named name: String) -> ParameterEntry? { entries.first { $0.name == name } }
}

/// A per-layer scratch buffer that grows to the largest batch seen and is reused afterwards.
public struct Scratch {
    public private(set) var buffer = FloatBuffer(count: 0)
    public init() {}
    @inline(__always)
    public mutating func pointer(count: Int) -> UnsafeMutablePointer<Float> {
        if buffer.count < count { buffer = FloatBuffer(count: count) }
        return buffer.pointer
    }
}

extension ParameterStore {
    /// FNV-1a over every tensor's name and shape: equal for the same model, different for another.
    public var layoutHash: UInt64 {
        var h = FNV1a()
        func mix(_ s: String) { h.add(s.utf8) }
        for e in entries {
            mix(e.name)
            mix(e.shape.map(String.init).joined(separator: "x"))
        }
        for e in stateEntries {
            mix(e.name)
            mix("\(e.count)")
        }
        return h.value
    }
}
