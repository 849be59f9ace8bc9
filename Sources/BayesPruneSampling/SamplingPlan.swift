// Which epochs take a posterior sample: the last K epochs of every cycle of the schedule.

public enum SamplingPlan {
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
