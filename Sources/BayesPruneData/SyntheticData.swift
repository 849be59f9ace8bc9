// Synthetic variable-selection data: many correlated Gaussian inputs (AR(1) correlation ρ between
// neighbouring columns), of which the first few drive the target through a nonlinear function, plus
// Gaussian noise. The truth is known, so a pruning run can be checked for keeping exactly those inputs.

import BayesPruneKernels
import Foundation

public struct VariableSelectionSpec: Sendable {
    public var rows = 12_800
    public var inputs = 200
    public var correlation = 0.5
    public var noise = 0.5
    public var seed: UInt64 = 1
    public init() {}

    /// The relevant inputs (1-based column names x1..x5).
    public static let relevant = ["x1", "x2", "x3", "x4", "x5"]

    /// y = 2·tanh(x1) + x2·x3 + sin(2·x4) + ½·x5² + noise.
    public static func signal(_ x: [Double]) -> Double {
        2 * tanh(x[0]) + x[1] * x[2] + sin(2 * x[3]) + 0.5 * x[4] * x[4]
    }
}

public enum SyntheticData {
    public static func variableSelectionCSV(_ s: VariableSelectionSpec) -> String {
        precondition(s.inputs >= 5 && s.rows > 0)
        var rng = Xoshiro256(seed: s.seed, stream: 0x5E1EC7)
        var out = (1...s.inputs).map { "x\($0)" }.joined(separator: ",") + ",y\n"
        out.reserveCapacity(s.rows * s.inputs * 8)
        let r = s.correlation
        let c = (1 - r * r).squareRoot()
        var x = [Double](repeating: 0, count: s.inputs)
        for _ in 0..<s.rows {
            x[0] = Double(rng.nextGaussian())
            for j in 1..<s.inputs { x[j] = r * x[j - 1] + c * Double(rng.nextGaussian()) }
            let y = VariableSelectionSpec.signal(x) + s.noise * Double(rng.nextGaussian())
            out += x.map { String(format: "%.5f", $0) }.joined(separator: ",") + String(format: ",%.5f\n", y)
        }
        return out
    }
}
