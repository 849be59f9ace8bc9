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

/// The three tabular examples of Ke & Fan (their notebooks' settings): P inputs x_j = (z_0 + z_j)/√2 with
/// z ~ N(0, 1) truncated at ±10, so every pair correlates 0.5; 10 240 training and 1 024 test rows; the
/// first few inputs drive the target. `bayesprune make-data paper-example-N` writes them.
public enum PaperExample: Int, CaseIterable, Sendable {
    /// Regression, P = 1000: y = tanh(2·tanh(2x0 − x1)) + 2·tanh(tanh(x2 − 2x3)) − tanh(2x4) + N(0, 1).
    case one = 1
    /// Regression, P = 2000: y = 5·x1/(1 + x0²) + 5·sin(x2·x3) + 2·x4 + N(0, 1).
    case two = 2
    /// Binary, P = 1000: y = 1 if exp(x0) + x1² + 5·sin(x2·x3) − 3 > 0, else 0 (no label noise).
    case three = 3

    public var name: String { "paper-example-\(rawValue)" }
    public var inputs: Int { self == .two ? 2000 : 1000 }
    public static let trainRows = 10_240
    public static let testRows = 1_024
    /// The columns the target depends on.
    public var relevant: [String] { (0..<(self == .three ? 4 : 5)).map { "x\($0)" } }

    /// The target for inputs `x` (the first five used) and a standard normal draw `noise`.
    public func target(_ x: UnsafePointer<Double>, noise: Double) -> Double {
        switch self {
        case .one:
            return tanh(2 * tanh(2 * x[0] - x[1])) + 2 * tanh(tanh(x[2] - 2 * x[3])) - tanh(2 * x[4]) + noise
        case .two:
            return 5 * x[1] / (1 + x[0] * x[0]) + 5 * sin(x[2] * x[3]) + 2 * x[4] + noise
        case .three:
            return exp(x[0]) + x[1] * x[1] + 5 * sin(x[2] * x[3]) - 3 > 0 ? 1 : 0
        }
    }

    /// train.csv and test.csv (header x0,…,x{P−1},y; inputs with 6 decimals) from one seeded stream, with
    /// `inputs` columns instead of P when given (for small tests).
    public func csv(
        seed: UInt64, inputs p: Int? = nil, trainRows: Int = Self.trainRows, testRows: Int = Self.testRows
    )
        -> (train: [UInt8], test: [UInt8])
    {
        let P = p ?? inputs
        precondition(P >= 5)
        var rng = Xoshiro256(seed: seed, stream: 0x9A9E_0000 + UInt64(rawValue))
        let header = Array(((0..<P).map { "x\($0)" }.joined(separator: ",") + ",y\n").utf8)
        func truncatedNormal() -> Double {
            while true {
                let z = Double(rng.nextGaussian())
                if abs(z) <= 10 { return z }
            }
        }
        var x = [Double](repeating: 0, count: P)
        func table(_ rows: Int) -> [UInt8] {
            var out = header
            out.reserveCapacity(header.count + rows * (P + 1) * 10)
            for _ in 0..<rows {
                let z0 = truncatedNormal()
                for j in 0..<P { x[j] = (z0 + truncatedNormal()) / 2.0.squareRoot() }
                let y = x.withUnsafeBufferPointer { target($0.baseAddress!, noise: Double(rng.nextGaussian())) }
                for j in 0..<P {
                    appendFixed(x[j], to: &out)
                    out.append(UInt8(ascii: ","))
                }
                appendFixed(y, to: &out)
                out.append(UInt8(ascii: "\n"))
            }
            return out
        }
        let train = table(trainRows)
        return (train, table(testRows))
    }
}

/// Appends `v` with six decimals ("-1.234568"), rounding half away from zero; |v| < 9e12.
func appendFixed(_ v: Double, to out: inout [UInt8]) {
    let scaled = (abs(v) * 1e6).rounded()
    var units = UInt64(scaled)
    if v < 0 && units != 0 { out.append(UInt8(ascii: "-")) }
    let fraction = units % 1_000_000
    units /= 1_000_000
    var digits: [UInt8] = []
    repeat {
        digits.append(UInt8(ascii: "0") + UInt8(units % 10))
        units /= 10
    } while units > 0
    out.append(contentsOf: digits.reversed())
    out.append(UInt8(ascii: "."))
    var f = fraction
    var frac = [UInt8](repeating: UInt8(ascii: "0"), count: 6)
    for i in stride(from: 5, through: 0, by: -1) {
        frac[i] = UInt8(ascii: "0") + UInt8(f % 10)
        f /= 10
    }
    out.append(contentsOf: frac)
}
