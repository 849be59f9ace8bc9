// Which steps take a posterior sample. Cyclical SG-MCMC (Zhang et al., 2020) splits every cycle into an
// exploration stage at large step sizes and a sampling stage near its end; samples come only from the
// sampling stage. Runs of earlier versions (no stage recorded) sampled at the end of each of the last K
// epochs of every cycle; that plan is kept for them.

public enum SamplingPlan {
    /// Steps (global step counts, 1-based: the sample is taken right after that step) that take a posterior
    /// sample, with the cycle (0-based) each belongs to: `perCycle` samples spread evenly over the last
    /// `stage` fraction of every cycle's steps, the last one at the cycle's final step. Sample k of K
    /// (k = 1...K) is taken after step `end − round((K − k)·L/K)`, L = max(1, round(stage·cycleSteps)),
    /// so every sample lies inside the stage. When the stage has fewer than K steps, K = L: every step of
    /// the stage takes one. A `.constant` schedule is one cycle spanning the run.
    public static func sampleSteps(totalSteps: Int, schedule: Schedule, perCycle: Int, stage: Double) -> [Int: Int] {
        guard perCycle > 0, totalSteps > 0, stage > 0 else { return [:] }
        let spc = schedule.kind == .cyclical ? schedule.stepsPerCycle : totalSteps
        var out: [Int: Int] = [:]
        var start = 0
        var cycle = 0
        while start < totalSteps {
            let end = min(start + spc, totalSteps)
            let length = max(1, Int((min(stage, 1) * Double(end - start)).rounded()))
            let count = min(perCycle, length)
            for k in 1...count {
                let back = Int((Double(count - k) * Double(length) / Double(count)).rounded())
                out[end - min(back, length - 1)] = cycle
            }
            start = end
            cycle += 1
        }
        return out
    }

    /// The plan of runs without a sampling stage: the steps ending the last `perCycle` epochs of every
    /// cycle, where an epoch belongs to the cycle of its last step. Same result type as `sampleSteps`.
    public static func epochEndSteps(epochs: Int, stepsPerEpoch: Int, schedule: Schedule, perCycle: Int) -> [Int: Int] {
        var out: [Int: Int] = [:]
        for (epoch, cycle) in sampleEpochs(
            epochs: epochs, stepsPerEpoch: stepsPerEpoch, schedule: schedule, perCycle: perCycle)
        {
            out[epoch * stepsPerEpoch] = cycle
        }
        return out
    }

    /// Epochs (1-based) at whose end a sample is taken: the last `perCycle` epochs of every cycle, where
    /// an epoch belongs to the cycle of its last step.
    public static func sampleEpochs(epochs: Int, stepsPerEpoch: Int, schedule: Schedule, perCycle: Int) -> [Int: Int] {
        guard perCycle > 0, epochs > 0, stepsPerEpoch > 0 else { return [:] }
        let spc = schedule.kind == .cyclical ? schedule.stepsPerCycle : epochs * stepsPerEpoch
        func cycle(_ e: Int) -> Int { (e * stepsPerEpoch - 1) / spc }
        var lastEpochOfCycle: [Int: Int] = [:]
        for e in 1...epochs { lastEpochOfCycle[cycle(e)] = e }
        var out: [Int: Int] = [:]
        for e in 1...epochs where lastEpochOfCycle[cycle(e)]! - e < perCycle { out[e] = cycle(e) }
        return out
    }
}
