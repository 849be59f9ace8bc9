// FNV-1a, the 64-bit hash the project uses to tell layouts, settings and data apart (not for security).

/// 64-bit FNV-1a over bytes, or over whole 64-bit words fed as one unit each.
public struct FNV1a {
    public private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    public init() {}

    public mutating func add<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        for b in bytes { add(UInt64(b)) }
    }

    public mutating func add(_ word: UInt64) { value = (value ^ word) &* 0x0000_0100_0000_01B3 }
}
