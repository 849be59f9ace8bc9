// A diverged run: what happened, and what the user can do next. The checkpoints the run kept were all
// written before the divergence was detected, so the newest one is a good place to continue from with a
// smaller step size (`train --resume` takes a new lr for that).

import BayesPruneRunIO
import Foundation

/// Training stopped because the loss became non-finite or rose far above its running level.
/// - `lastCheckpoint`: the header of the newest checkpoint of this run (nil: none was written yet;
///   only rank 0 knows it).
public struct DivergenceError: Error, CustomStringConvertible {

    public let epoch: Int
    public let step: Int
    /// What was seen, e.g. "loss 3.1e+04 far above its running level 0.02" or "non-finite weight 17".
    public let what: String
    /// This step's step size, and the schedule's base step size (the `lr` setting).
    public let lr: Double
    public let baseLR: Double
    public let run: String
    public let lastCheckpoint: CheckpointHeader?

    /// The base step size to suggest: a quarter of the one that diverged.
    public var suggestedLR: Double { baseLR / 4 }

    /// What went wrong, without advice (the command line adds the commands to run).
    public var description: String {
        "training diverged at epoch \(epoch), step \(step): \(what) (step size \(String(format: "%g", lr)))"
    }
}

/// Watches the training loss for divergence. The loss is far above its level when it exceeds
/// `absoluteMargin + factor · level` (the level: the mean of the losses that were not far above it, over
/// the first 100 steps, then an exponential average over ~100 steps; checked after `warmUpSteps`); the
/// run diverged when that holds for `streak` steps in a row (one spike is not a divergence) or the loss is
/// not finite. A rise starts at the first step of a
/// streak of losses above `1 + 2 · level`: checkpoints from that step on hold weights already on the way up.
public struct LossWatch: Equatable {
    public static let factor = 100.0
    public static let absoluteMargin = 10.0
    public static let warmUpSteps = 5
    public static let streak = 3

    public var level = 0.0
    public var steps = 0
    public var highStreak = 0
    /// The sampler step at which the current rise began (nil: the loss is at its level).
    public var risingSince: Int?

    public init() {}

    /// Observes the loss of sampler step `step`; returns true when the run has diverged.
    public mutating func observe(_ loss: Double, step: Int) -> Bool {
        guard loss.isFinite else {
            risingSince = risingSince ?? step
            return true
        }
        let far = steps >= Self.warmUpSteps && loss > Self.absoluteMargin + Self.factor * level
        highStreak = far ? highStreak + 1 : 0
        risingSince = loss > 1 + 2 * level && steps >= Self.warmUpSteps ? (risingSince ?? step) : nil
        if !far {
            // The running mean over the first 100 steps, then an exponential average over ~100 steps.
            steps += 1
            level += (loss - level) * max(0.01, 1 / Double(steps))
        }
        return highStreak >= Self.streak
    }

    /// The state as stored in a checkpoint header, and back.
    public var stored: [Double] { [level, Double(steps), Double(highStreak), Double(risingSince ?? -1)] }
    public init(stored s: [Double]) {
        guard s.count == 4 else { return }
        (level, steps, highStreak) = (s[0], Int(s[1]), Int(s[2]))
        risingSince = s[3] < 0 ? nil : Int(s[3])
    }
}
