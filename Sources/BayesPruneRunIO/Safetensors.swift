// The safetensors format (what PyTorch and NumPy users load directly): an 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}} padded
// with spaces to 8 bytes, then the raw little-endian tensor bytes. Written and read here without
// dependencies; only F32 tensors are produced.
import BayesPruneKernels
import Foundation

public struct NamedTensor {
    public var name: String
    public var shape: [Int]
    public var values: [Float]
    public init(name: String, shape: [Int], values: [Float]) {
        self.name = name
        self.shape = shape
        self.values = values
    }
}

public enum Safetensors {
    public static func encode(_ tensors: [NamedTensor], metadata: [String: String]) -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for t in tensors {
            let bytes = t.values.count * 4
            header[t.name] =
                ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(json)
        for t in tensors {
            t.values.withUnsafeBufferPointer { p in
                // Float is little-endian on every platform Swift targets here.
                out.append(
                    UnsafeBufferPointer(
                        start: UnsafeRawPointer(p.baseAddress!).assumingMemoryBound(to: UInt8.self),
                        count: p.count * 4))
            }
        }
        return out
    }

    public static func write(_ tensors: [NamedTensor], metadata: [String: String], to path: String) throws {
        try AtomicFile.write(encode(tensors, metadata: metadata), to: path)
    }

    /// Reads every F32 tensor and the metadata; errors name the file and the defect.
    public static func read(path: String) throws -> (tensors: [String: NamedTensor], metadata: [String: String]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OutputError(description: "\(path): missing or unreadable")
        }
        guard data.count >= 8 else {
            throw OutputError(description: "\(path): truncated safetensors file (\(data.count) bytes)")
        }
        let n = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        guard n <= UInt64(data.count - 8) else {
            throw OutputError(description: "\(path): header length \(n) exceeds the file size")
        }
        let headerData = data.subdata(in: 8..<(8 + Int(n)))
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw OutputError(description: "\(path): header is not a JSON object")
        }
        let base = 8 + Int(n)
        var tensors: [String: NamedTensor] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                metadata = value as? [String: String] ?? [:]
                continue
            }
            guard let d = value as? [String: Any], d["dtype"] as? String == "F32",
                let shape = d["shape"] as? [Int], let off = d["data_offsets"] as? [Int], off.count == 2
            else {
                throw OutputError(description: "\(path): tensor \(printableName(name)) is not an F32 tensor entry")
            }
            let count = shape.reduce(1, *)
            guard off[1] - off[0] == count * 4, base + off[1] <= data.count, off[0] >= 0 else {
                throw OutputError(
                    description: "\(path): tensor \(printableName(name)) has bad data offsets (truncated file?)")
            }
            var values = [Float](repeating: 0, count: count)
            values.withUnsafeMutableBytes { dst in
                data.copyBytes(to: dst.bindMemory(to: UInt8.self), from: (base + off[0])..<(base + off[1]))
            }
            tensors[name] = NamedTensor(name: name, shape: shape, values: values)
        }
        return (tensors, metadata)
    }
}
