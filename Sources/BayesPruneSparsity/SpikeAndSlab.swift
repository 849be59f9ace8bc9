// The spike-and-slab group prior's E-step and θ M-step (ALGORITHM.md §4). A group of m weights with
// squared norm r² has prior θ·N(0, v1·I) + (1−θ)·N(0, v0·I), v0 ≪ v1, with λ1 = 1/(N·v1), λ0 = 1/(N·v0).
import Foundation

public enum EStepMode: String, CaseIterable, Codable, Sendable {
    /// The authors' fixed threshold on the group's mean square.
    case threshold
    /// The Bayesian threshold t* from (λ0, λ1, θ, N, m), with θ updated by its M-step.
    case bayes
}

public enum SpikeAndSlab {
    /// Posterior inclusion probability p_g = 1 / (1 + ((1−θ)/θ)·(v1/v0)^(m/2)·exp(−(r²/2)·(1/v0 − 1/v1))),
    /// evaluated in log space.
    public static func inclusionProbability(
        squaredNorm r2: Double, groupSize m: Int, theta: Double,
        lambda0: Double, lambda1: Double, dataSize N: Double
    ) -> Double {
        // v1/v0 = λ0/λ1; 1/v0 − 1/v1 = N·(λ0 − λ1).
        let logOdds =
            log((1 - theta) / theta) + 0.5 * Double(m) * log(lambda0 / lambda1) - 0.5 * r2 * N * (lambda0 - lambda1)
        if logOdds > 700 { return 0 }
        return 1 / (1 + exp(logOdds))
    }

    /// The mean-square threshold t* at which p_g = ½:
    /// t* = [ln(λ0/λ1) − (2/m)·logit θ] / (N·(λ0 − λ1)).
    public static func meanSquareThreshold(
        groupSize m: Int, theta: Double, lambda0: Double, lambda1: Double,
        dataSize N: Double
    ) -> Double {
        (log(lambda0 / lambda1) - 2 / Double(m) * log(theta / (1 - theta))) / (N * (lambda0 - lambda1))
    }

    /// M-step for θ under a Beta(a, b) prior: θ ← (Σ_g p_g + a − 1)/(a + b + G − 2), kept inside (0, 1).
    public static func updatedTheta(inclusionSum: Double, groups: Int, a: Double, b: Double) -> Double {
        let t = (inclusionSum + a - 1) / (a + b + Double(groups) - 2)
        return min(max(t, 1e-6), 1 - 1e-6)
    }
}
