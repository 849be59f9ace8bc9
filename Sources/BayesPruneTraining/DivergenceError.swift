// A diverged run: what happened, and what the user can do next. The checkpoints the run kept were all
// written before the divergence was detected, so the newest one is a good place to continue from with a
// smaller step size (`train --resume` takes a new lr for that).

import BayesPruneRunIO

/// Training stopped because the loss became non-finite or rose far above its running level.
/// - `lastCheckpoint`: the header of the newest checkpoint of this run (nil: none was written yet;
///   only rank 0 knows it).
public struct DivergenceError: Error, CustomStringConvertible {
    /// Detection: loss > absoluteMargin + factor · running level, once warmUpSteps steps set the level.
    public static let factor = 100.0
    public static let absoluteMargin = 10.0
    public static let warmUpSteps = 5

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
    public var description: String { "training diverged at epoch \(epoch), step \(step): \(what) (step size \(lr))" }
}
