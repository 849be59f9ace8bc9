// Bayesian model averaging of the posterior samples' predictive probabilities (probabilities, never logits).
import Foundation

/// Running Bayesian model average of predictive distributions.
public final class ModelAverage {
    public private(set) var count = 0
    private var sum: [Double] = []
    /// Per-sample predictions, kept for regression (the mixture likelihood needs each member).
    public private(set) var members: [Predictions] = []
    private var shape: (count: Int, width: Int) = (0, 0)
    public let keepMembers: Bool

    public init(keepMembers: Bool) { self.keepMembers = keepMembers }

    /// The running sums and members, for a checkpoint.
    public var sums: [Double] { sum }
    public func restore(count: Int, sums: [Double], width: Int, examples: Int, members: [Predictions]) {
        self.count = count
        sum = sums
        shape = (examples, width)
        self.members = members
    }

    public func add(_ p: Predictions) {
        if count == 0 {
            sum = [Double](repeating: 0, count: p.values.count)
            shape = (p.count, p.width)
        }
        precondition(p.values.count == sum.count, "model average: prediction shapes differ")
        for i in 0..<sum.count { sum[i] += Double(p.values[i]) }
        count += 1
        if keepMembers { members.append(p) }
    }

    /// The average prediction (probabilities averaged over samples), or nil before the first sample.
    public var mean: Predictions? {
        guard count > 0 else { return nil }
        let inv = 1 / Double(count)
        return Predictions(count: shape.count, values: sum.map { Float($0 * inv) }, width: shape.width)
    }
}
