// Optional per-layer-kind timing of forward and backward passes, for `bayesprune bench`'s GFLOPS per
// layer kind. Disabled it costs one branch per layer call.
import BayesPruneKernels

public final class LayerProfiler {
    public var enabled = false
    public private(set) var seconds: [LayerKind: Double] = [:]
    public private(set) var flops: [LayerKind: Double] = [:]
    public init() {}

    public func reset() {
        seconds = [:]
        flops = [:]
    }

    @inline(__always)
    public func forward(_ l: Layer, _ x: UnsafePointer<Float>, batch: Int, training: Bool) -> UnsafePointer<Float> {
        guard enabled, l.kind != .residual else { return l.forward(x, batch: batch, training: training) }
        let t0 = monotonicNanos()
        let y = l.forward(x, batch: batch, training: training)
        seconds[l.kind, default: 0] += Double(monotonicNanos() - t0) * 1e-9
        flops[l.kind, default: 0] += 2 * Double(l.macsPerExample * batch)
        return y
    }

    @inline(__always)
    public func backward(_ l: Layer, _ dy: UnsafePointer<Float>, batch: Int) -> UnsafePointer<Float>? {
        guard enabled, l.kind != .residual else { return l.backward(dy, batch: batch) }
        let t0 = monotonicNanos()
        let d = l.backward(dy, batch: batch)
        seconds[l.kind, default: 0] += Double(monotonicNanos() - t0) * 1e-9
        // Weight gradient always; input gradient only when requested.
        flops[l.kind, default: 0] += 2 * Double(l.macsPerExample * batch) * (l.needsInputGradient ? 2 : 1)
        return d
    }
}
