// Step-size schedules as pure functions of the step count: constant, and the cyclical cosine schedule
// of cyclical SG-MCMC (Zhang et al. 2020): lr(t) = ½·lr₀·(1 + cos(π·(t mod ⌈K/M⌉)/⌈K/M⌉)).

import BayesPruneKernels

public enum ScheduleKind: String, CaseIterable, Codable, Sendable { case constant, cyclical }

public struct Schedule: Codable, Equatable, Sendable {
    public var kind: ScheduleKind
    public var baseLR: Double
    public var totalSteps: Int
    public var cycles: Int

    public init(kind: ScheduleKind, baseLR: Double, totalSteps: Int, cycles: Int) {
        self.kind = kind
        self.baseLR = baseLR
        self.totalSteps = max(totalSteps, 1)
        self.cycles = max(cycles, 1)
    }

    public var stepsPerCycle: Int { (totalSteps + cycles - 1) / cycles }

    public func learningRate(step t: Int) -> Double {
        switch kind {
        case .constant: return baseLR
        case .cyclical:
            let period = stepsPerCycle
            let phase = Double(t % period) / Double(period)
            return 0.5 * baseLR * (1 + _cos(Double.pi * phase))
        }
    }
}
