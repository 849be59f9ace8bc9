// CPU feature detection from CPUID/XGETBV and the mapping to the best OpenBLAS kernel family that
// Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) offers. Decoding and mapping are pure functions of the raw
// register values so tests can feed synthetic CPUs.
import CShims

/// Instruction-set facts relevant to choosing an OpenBLAS kernel. `os*` flags say whether the OS saves
/// the wider register state (XGETBV), without which the instructions fault.
public struct CPUFeatures: Equatable, Sendable, Codable {
    public var vendor: String = ""
    public var sse3 = false, ssse3 = false, sse41 = false, sse42 = false
    public var fma = false, avx = false, osxsave = false, avx2 = false
    public var avx512f = false, avx512dq = false, avx512cd = false, avx512bw = false, avx512vl = false
    public var avx512vnni = false, avx512bf16 = false, avx512fp16 = false, avxvnni = false
    /// XCR0 has SSE+AVX state enabled (bits 1, 2).
    public var osAVX = false
    /// XCR0 has AVX-512 opmask/ZMM state enabled (bits 5, 6, 7) in addition to AVX.
    public var osAVX512 = false

    public init() {}

    /// AVX-512 usable for OpenBLAS's SkylakeX kernels: F, BW, DQ, VL and OS support.
    public var usableAVX512: Bool { avx512f && avx512bw && avx512dq && avx512vl && osAVX512 }
    public var usableAVX2FMA: Bool { avx2 && fma && avx && osAVX }
    public var usableAVX: Bool { avx && osAVX }

    /// Decode raw CPUID/XGETBV registers (leaf 1 ECX; leaf 7.0 EBX/ECX/EDX; leaf 7.1 EAX; XCR0).
    public static func decode(
        vendor: String = "", leaf1ECX: UInt32, leaf7EBX: UInt32, leaf7ECX: UInt32,
        leaf7EDX: UInt32, leaf7s1EAX: UInt32, xcr0: UInt64
    ) -> CPUFeatures {
        func bit(_ r: UInt32, _ b: Int) -> Bool { (r >> UInt32(b)) & 1 == 1 }
        var f = CPUFeatures()
        f.vendor = vendor
        f.sse3 = bit(leaf1ECX, 0)
        f.ssse3 = bit(leaf1ECX, 9)
        f.fma = bit(leaf1ECX, 12)
        f.sse41 = bit(leaf1ECX, 19)
        f.sse42 = bit(leaf1ECX, 20)
        f.osxsave = bit(leaf1ECX, 27)
        f.avx = bit(leaf1ECX, 28)
        f.avx2 = bit(leaf7EBX, 5)
        f.avx512f = bit(leaf7EBX, 16)
        f.avx512dq = bit(leaf7EBX, 17)
        f.avx512cd = bit(leaf7EBX, 28)
        f.avx512bw = bit(leaf7EBX, 30)
        f.avx512vl = bit(leaf7EBX, 31)
        f.avx512vnni = bit(leaf7ECX, 11)
        f.avx512fp16 = bit(leaf7EDX, 23)
        f.avxvnni = bit(leaf7s1EAX, 4)
        f.avx512bf16 = bit(leaf7s1EAX, 5)
        // XCR0 is only meaningful (and XGETBV only legal) when OSXSAVE is set.
        let xcr = f.osxsave ? xcr0 : 0
        f.osAVX = xcr & 0x6 == 0x6
        f.osAVX512 = f.osAVX && xcr & 0xE0 == 0xE0
        return f
    }

    /// The running CPU; all-false on non-x86 builds.
    public static func detect() -> CPUFeatures {
        #if arch(x86_64)
            var a: UInt32 = 0
            var b: UInt32 = 0
            var c: UInt32 = 0
            var d: UInt32 = 0
            guard bp_cpuid(0, 0, &a, &b, &c, &d) != 0 else { return CPUFeatures() }
            let maxLeaf = a
            var vendorBytes: [UInt8] = []
            for r in [b, d, c] { for i in 0..<4 { vendorBytes.append(UInt8((r >> UInt32(8 * i)) & 0xFF)) } }
            let vendor = String(decoding: vendorBytes, as: UTF8.self)
            _ = bp_cpuid(1, 0, &a, &b, &c, &d)
            let l1c = c
            var l7b: UInt32 = 0
            var l7c: UInt32 = 0
            var l7d: UInt32 = 0
            var l71a: UInt32 = 0
            if maxLeaf >= 7 {
                _ = bp_cpuid(7, 0, &a, &b, &c, &d)
                l7b = b
                l7c = c
                l7d = d
                if a >= 1 {
                    _ = bp_cpuid(7, 1, &a, &b, &c, &d)
                    l71a = a
                }
            }
            let osxsave = (l1c >> 27) & 1 == 1
            let xcr0: UInt64 = osxsave ? bp_xgetbv0() : 0
            return decode(
                vendor: vendor, leaf1ECX: l1c, leaf7EBX: l7b, leaf7ECX: l7c, leaf7EDX: l7d,
                leaf7s1EAX: l71a, xcr0: xcr0)
        #else
            return CPUFeatures()
        #endif
    }

    /// Short comma-separated list of the notable features present (for reports).
    public var summary: String {
        var s: [String] = []
        if sse42 { s.append("sse4.2") }
        if usableAVX { s.append("avx") }
        if usableAVX2FMA { s.append("avx2+fma") }
        if usableAVX512 {
            s.append("avx512(f,bw,dq,vl)")
        } else if avx512f {
            s.append("avx512f(unusable:\(osAVX512 ? "subset" : "no-os-state"))")
        }
        if avx512vnni { s.append("avx512vnni") }
        if avx512bf16 { s.append("avx512bf16") }
        if avx512fp16 { s.append("avx512fp16") }
        return s.isEmpty ? "none" : s.joined(separator: ",")
    }
}

public enum OpenBLASCore {
    /// Best OpenBLAS 0.3.21 core for these features, or nil when nothing beats the generic kernel.
    /// SkylakeX measured fastest on AVX-512 here (124 GFLOPS vs Cooperlake 111), so Cooperlake is not used.
    public static func best(for f: CPUFeatures) -> String? {
        if f.usableAVX512 { return "SkylakeX" }
        if f.usableAVX2FMA { return "Haswell" }
        if f.usableAVX { return "Sandybridge" }
        if f.sse42 { return "Nehalem" }
        if f.ssse3 { return "Core2" }
        return nil
    }

    /// Capability rank of an OpenBLAS core name (as `openblas_get_corename()` reports it, any case):
    /// 0 generic/SSE2-SSE3, 1 SSSE3, 2 SSE4.2, 3 AVX, 4 AVX2, 5 AVX-512; nil for names we do not know.
    public static func rank(_ name: String) -> Int? {
        switch name.lowercased() {
        case "prescott", "katmai", "coppermine", "northwood", "banias", "athlon", "opteron",
            "opteron(sse3)", "unknown", "generic":
            return 0
        case "core2", "penryn", "dunnington", "atom", "nano": return 1
        case "nehalem", "barcelona", "bobcat": return 2
        case "sandybridge", "bulldozer", "piledriver", "steamroller", "excavator": return 3
        case "haswell", "zen", "skylake": return 4
        case "skylakex", "cooperlake", "sapphirerapids": return 5
        default: return nil
        }
    }
}
