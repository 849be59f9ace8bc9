// Monotonic wall-clock time for throughput figures (CLOCK_MONOTONIC, nanoseconds).
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

@inline(__always)
public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

@inline(__always)
public func monotonicSeconds() -> Double { Double(monotonicNanos()) * 1e-9 }
