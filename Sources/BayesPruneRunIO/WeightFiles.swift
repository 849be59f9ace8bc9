// Weights and pruning masks as safetensors, under the parameter store's tensor names.
/// The pruning mask as safetensors: one 0/1 tensor per trainable tensor, under the weights' names.

import BayesPruneKernels
import BayesPruneNN
import Foundation

public enum MaskFile {
    /// Writes `mask` (the store's layout: one Float per parameter, 1 live, 0 removed) to `path`.
    public static func write(_ mask: FloatBuffer, layout s: ParameterStore, to path: String) throws {
        let tensors = s.entries.map { e in
            NamedTensor(
                name: e.name, shape: e.shape,
                values: Array(UnsafeBufferPointer(start: mask.pointer + e.offset, count: e.count)))
        }
        try Safetensors.write(tensors, metadata: ["format": "bayesprune-mask-1"], to: path)
    }

    /// Reads a mask file into `mask` (the store's layout). Throws `OutputError` naming the file when a
    /// tensor is missing or of the wrong shape.
    public static func load(into mask: FloatBuffer, layout s: ParameterStore, from path: String) throws {
        let (tensors, _) = try Safetensors.read(path: path)
        for e in s.entries {
            guard let t = tensors[e.name], t.shape == e.shape else {
                throw OutputError(description: "\(path): mask for \(e.name) missing or of the wrong shape")
            }
            (mask.pointer + e.offset).update(from: t.values, count: e.count)
        }
    }
}

/// Weights as safetensors: every trainable tensor under its layer name plus batch-norm running statistics.
public enum WeightsFile {
    public static func write(_ net: Network, to path: String, metadata: [String: String]) throws {
        let s = net.store
        var tensors: [NamedTensor] = s.entries.map { e in
            NamedTensor(
                name: e.name, shape: e.shape,
                values: Array(UnsafeBufferPointer(start: s.value(e.offset), count: e.count)))
        }
        tensors += s.stateEntries.map { e in
            NamedTensor(
                name: e.name, shape: [e.count],
                values: Array(UnsafeBufferPointer(start: s.stateValue(e.offset), count: e.count)))
        }
        try Safetensors.write(tensors, metadata: metadata, to: path)
    }

    public static func load(_ net: Network, from path: String) throws {
        let (tensors, _) = try Safetensors.read(path: path)
        let s = net.store
        for e in s.entries {
            guard let t = tensors[e.name], t.shape == e.shape else {
                throw OutputError(
                    description: "\(path): tensor \(e.name) missing or of the wrong shape for \(net.modelName)")
            }
            s.value(e.offset).update(from: t.values, count: e.count)
        }
        for e in s.stateEntries {
            guard let t = tensors[e.name], t.values.count == e.count else {
                throw OutputError(description: "\(path): state \(e.name) missing or of the wrong size")
            }
            s.stateValue(e.offset).update(from: t.values, count: e.count)
        }
    }
}
