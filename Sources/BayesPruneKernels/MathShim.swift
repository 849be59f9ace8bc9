// Elementary functions for the kernels, taken from the C library (Foundation-free hot paths).
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

@inline(__always) public func _log(_ x: Double) -> Double { log(x) }
@inline(__always) public func _cos(_ x: Double) -> Double { cos(x) }
@inline(__always) public func _exp(_ x: Double) -> Double { exp(x) }
@inline(__always) public func _expf(_ x: Float) -> Float { expf(x) }
@inline(__always) public func _logf(_ x: Float) -> Float { logf(x) }
