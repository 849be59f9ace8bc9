// CIFAR ResNet basic block (He et al. 2016): relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)),
// with the parameter-free "option A" shortcut: stride-s subsampling and zero-padded extra channels
// (split evenly before and after the input's channels), the shortcut of the original CIFAR ResNets.
// The shortcut is held as a channel map (output channel c takes input channel shortcutSource[c], or
// nothing), so a compacted network whose residual streams lost channels keeps exactly the additions of
// the full one.
import BayesPruneKernels

public final class ResidualBlock: Layer {
    public let name: String
    public var kind: LayerKind { .residual }
    public let inShape: ActShape, outShape: ActShape
    public let conv1: Conv2d, bn1: BatchNorm2d, relu1: ReLU, conv2: Conv2d, bn2: BatchNorm2d
    public let stride: Int
    public let inner: Int
    /// Output channel c adds input channel `shortcutSource[c]` (subsampled by the stride), or nothing when
    /// it is −1. Option A: c − padBefore for c in [padBefore, padBefore + inShape.c), else −1.
    public let shortcutSource: [Int]
    /// The inverse map: input channel sc feeds output channel `shortcutTarget[sc]` (−1: none).
    public let shortcutTarget: [Int]
    public var needsInputGradient = true { didSet { conv1.needsInputGradient = needsInputGradient } }
    public var gradientBuffers: GradientBuffers? {
        didSet { for l in children { l.gradientBuffers = gradientBuffers } }
    }
    /// The layout of the residual stream (input and output; 0 plain, k channel-blocked, see
    /// `ActivationLayout`), set with the inner layout by `setLayouts`.
    public private(set) var streamBlock = 0
    private var out = Scratch(), dsum = Scratch()
    private var input: UnsafePointer<Float>?
    /// `shortcutSource` as Int32 for the blocked kernels, and whether it is the identity at stride 1.
    private let source32: [Int32]
    private let identityShortcut: Bool
    /// Set by the owning network so sub-layers are timed under their own kinds.
    public var profiler = LayerProfiler()

    /// `inner`: channels between the two convolutions (= planes in the standard block; fewer in a
    /// compacted network). `shortcut`: the channel map (count `planes`, entries in −1..<input.c, no input
    /// channel twice); nil: option A, which needs planes ≥ input.c.
    public init(
        _ name: String, store: ParameterStore, input: ActShape, planes: Int, stride: Int, inner: Int? = nil,
        shortcut: [Int]? = nil
    ) {
        self.name = name
        inShape = input
        self.stride = stride
        self.inner = inner ?? planes
        let source = shortcut ?? Self.optionA(inChannels: input.c, planes: planes)
        precondition(source.count == planes, "\(name): shortcut map needs one entry per output channel")
        var target = [Int](repeating: -1, count: input.c)
        for (c, sc) in source.enumerated() where sc >= 0 {
            precondition(sc < input.c && target[sc] < 0, "\(name): shortcut map entry \(sc) invalid or repeated")
            target[sc] = c
        }
        shortcutSource = source
        shortcutTarget = target
        source32 = source.map { Int32($0) }
        identityShortcut = stride == 1 && input.c == planes && source == Array(0..<planes)
        conv1 = Conv2d(
            "\(name).conv1", store: store, input: input, outChannels: self.inner, kernel: 3, stride: stride,
            padding: 1, bias: false)
        bn1 = BatchNorm2d("\(name).bn1", store: store, shape: conv1.outShape)
        relu1 = ReLU("\(name).relu1", shape: conv1.outShape)
        conv2 = Conv2d(
            "\(name).conv2", store: store, input: conv1.outShape, outChannels: planes, kernel: 3,
            stride: 1, padding: 1, bias: false)
        bn2 = BatchNorm2d("\(name).bn2", store: store, shape: conv2.outShape)
        outShape = conv2.outShape
    }

    /// Option A's map: the input's channels in the middle of the output's, zeros padded evenly around them.
    public static func optionA(inChannels: Int, planes: Int) -> [Int] {
        precondition(planes >= inChannels, "option-A shortcut cannot reduce channels")
        let padBefore = (planes - inChannels) / 2
        return (0..<planes).map { c in c - padBefore >= 0 && c - padBefore < inChannels ? c - padBefore : -1 }
    }

    public var children: [Layer] { [conv1, bn1, relu1, conv2, bn2] }

    /// Lays the residual stream out with block `stream` and the inner activations (conv1's output, bn1,
    /// relu1) with block `inner` (0: plain); with a blocked inner layout bn1 applies relu1.
    public func setLayouts(stream: Int, inner innerBlock: Int) {
        streamBlock = stream
        conv1.inputBlock = stream
        conv1.outputBlock = innerBlock
        bn1.block = innerBlock
        bn1.fusedReLU = innerBlock > 0
        relu1.passThrough = innerBlock > 0
        conv2.inputBlock = innerBlock
        conv2.outputBlock = stream
        bn2.block = stream
    }
    public var macsPerExample: Int { conv1.macsPerExample + conv2.macsPerExample }
    public func initialize(rng: inout Xoshiro256, scheme: InitScheme) {
        for l in children { l.initialize(rng: &rng, scheme: scheme) }
    }

    public func forward(_ x: UnsafePointer<Float>, batch: Int, training: Bool) -> UnsafePointer<Float> {
        input = x
        var h = x
        for l in children { h = profiler.forward(l, h, batch: batch, training: training) }
        let P = outShape.plane
        let n = outShape.c * batch * P
        let y = out.pointer(count: n)
        let inP = inShape.plane
        let (outW, outH, inW, stride) = (outShape.w, outShape.h, inShape.w, stride)
        if streamBlock > 0 {
            let perExample = outShape.size
            if identityShortcut {
                parallelRanges(batch, work: n) { b0, b1 in
                    vAddReLU(h + b0 * perExample, x + b0 * perExample, y + b0 * perExample, count: (b1 - b0) * perExample)
                }
            } else {
                let geometry = shortcutGeometry
                source32.withUnsafeBufferPointer { source in
                    parallelRanges(batch, work: n) { b0, b1 in
                        vBlockedResidualForward(
                            main: h, x: x, y: y, source: source.baseAddress!, geometry, examples: b0, b1)
                    }
                }
            }
            return UnsafePointer(y)
        }
        shortcutSource.withUnsafeBufferPointer { source in
            parallelRanges(outShape.c, work: n) { cLo, cHi in
                for c in cLo..<cHi {
                    let sc = source[c]
                    let hasShortcut = sc >= 0
                    if hasShortcut && stride == 1 {
                        // Same plane size: one fused pass over the channel's whole batch.
                        vAddReLU(h + c * batch * P, x + sc * batch * inP, y + c * batch * P, count: batch * P)
                        continue
                    }
                    for b in 0..<batch {
                        let dst = y + (c * batch + b) * P
                        let main = h + (c * batch + b) * P
                        if !hasShortcut {
                            vReLU(main, dst, count: P)
                        } else {
                            let src = x + (sc * batch + b) * inP
                            for oh in 0..<outH {
                                let srow = src + oh * stride * inW
                                for ow in 0..<outW {
                                    let v = main[oh * outW + ow] + srow[ow * stride]
                                    dst[oh * outW + ow] = v > 0 ? v : 0
                                }
                            }
                        }
                    }
                }
            }
        }
        return UnsafePointer(y)
    }

    private var shortcutGeometry: ShortcutGeometry {
        ShortcutGeometry(
            channels: outShape.c, inChannels: inShape.c, h: outShape.h, w: outShape.w, inH: inShape.h, inW: inShape.w,
            stride: stride, block: streamBlock)
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int) -> UnsafePointer<Float>? {
        let P = outShape.plane
        let n = outShape.c * batch * P
        let y = out.pointer(count: n)
        let ds = gradientBuffers?.heldPointer(count: n) ?? dsum.pointer(count: n)
        parallelRanges(n) { lo, hi in vReLUBackward(y: y + lo, dy: dy + lo, dx: ds + lo, count: hi - lo) }
        var g = UnsafePointer(ds)
        for l in [bn2, conv2, relu1, bn1] as [Layer] { g = profiler.backward(l, g, batch: batch)! }
        let mainDxOrNil = profiler.backward(conv1, g, batch: batch)
        guard needsInputGradient, let mainDx = mainDxOrNil else { return nil }
        // The input gradient is conv1's, plus the shortcut's adjoint added in place.
        let d = UnsafeMutablePointer(mutating: mainDx)
        let inP = inShape.plane
        let m = inShape.c * batch * inP
        if streamBlock > 0 {
            if identityShortcut {
                parallelRanges(m) { lo, hi in vAdd(d + lo, ds + lo, count: hi - lo) }
            } else {
                let geometry = shortcutGeometry
                source32.withUnsafeBufferPointer { source in
                    parallelRanges(batch, work: m) { b0, b1 in
                        vBlockedResidualBackward(d: d, ds: ds, source: source.baseAddress!, geometry, examples: b0, b1)
                    }
                }
            }
            return mainDx
        }
        let (outW, outH, inW, stride) = (outShape.w, outShape.h, inShape.w, stride)
        shortcutTarget.withUnsafeBufferPointer { target in
            parallelRanges(inShape.c, work: m) { cLo, cHi in
                for sc in cLo..<cHi {
                    let c = target[sc]
                    // Not carried on (c < 0): only the main path's gradient reaches this channel.
                    if c < 0 { continue }
                    if stride == 1 {
                        // Input and output planes coincide: one fused pass over the channel's whole batch.
                        vAdd(d + sc * batch * inP, ds + c * batch * P, count: batch * inP)
                        continue
                    }
                    for b in 0..<batch {
                        let dst = d + (sc * batch + b) * inP
                        let src = ds + (c * batch + b) * P
                        for oh in 0..<outH {
                            let drow = dst + oh * stride * inW
                            for ow in 0..<outW { drow[ow * stride] += src[oh * outW + ow] }
                        }
                    }
                }
            }
        }
        return mainDx
    }
}
