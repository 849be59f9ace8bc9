// Seedable random number generators as value types: xoshiro256** for streams whose state is part of a
// checkpoint (data order, augmentation, initialisation), SplitMix64 to expand a user seed into state.
// Library code never touches the system RNG, so a run is reproduced by its seed alone.

/// SplitMix64 (Steele, Lea, Flood 2014): used only to turn a 64-bit seed into well-mixed state.
public struct SplitMix64 {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** (Blackman & Vigna 2018). 256 bits of state, period 2^256 − 1.
public struct Xoshiro256: RandomNumberGenerator, Equatable {
    public var s: (UInt64, UInt64, UInt64, UInt64)

    /// Independent streams come from distinct (seed, stream) pairs, e.g. stream = rank or purpose.
    public init(seed: UInt64, stream: UInt64 = 0) {
        var sm = SplitMix64(seed: seed ^ (stream &* 0xD134_2543_DE82_EF95))
        s = (sm.next(), sm.next(), sm.next(), sm.next())
        if s.0 | s.1 | s.2 | s.3 == 0 { s.0 = 1 }
    }

    public init(state: [UInt64]) {
        precondition(state.count == 4, "xoshiro256 state has 4 words")
        s = (state[0], state[1], state[2], state[3])
    }

    public var stateWords: [UInt64] { [s.0, s.1, s.2, s.3] }

    public static func == (a: Xoshiro256, b: Xoshiro256) -> Bool { a.stateWords == b.stateWords }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = rotl(s.3, 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 24 random bits (every representable step of a Float in [0.5, 1)).
    @inline(__always)
    public mutating func nextUniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func nextDouble() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    /// Uniform integer in [0, n) without modulo bias (Lemire's multiply-and-reject).
    @inline(__always)
    public mutating func nextInt(below n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return Int(m.high)
    }

    /// Standard normal by Box-Muller (scalar; the sampler uses the vectorised generator instead).
    public mutating func nextGaussian() -> Float {
        let u1 = max(nextDouble(), 1e-300)
        let u2 = nextDouble()
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }

    /// Fisher-Yates permutation of 0..<n.
    public mutating func permutation(_ n: Int) -> [Int32] {
        var p = (0..<Int32(n)).map { $0 }
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) {
                let j = nextInt(below: i + 1)
                p.swapAt(i, j)
            }
        }
        return p
    }
}
