// The chart arithmetic against values worked out by hand: nice tick steps, tick positions and labels,
// linear scales (including SVG's upside-down y), the plot frame, coordinate text, HTML escaping, and the
// fixed entropy bins of the out-of-distribution histograms.
import Foundation
import Testing

@testable import BayesPruneEvaluation
@testable import BayesPruneReport

@Suite struct ChartGeometry {
    @Test(arguments: [
        (0.128, 0.2), (0.6, 1.0), (1.0, 1.0), (3.0, 5.0), (7.0, 10.0), (0.00013, 0.0002), (600.0, 1000.0),
        (0.2, 0.2), (5e-7, 5e-7), (45.0, 50.0),
    ])
    func niceStep(rough: Double, expected: Double) {
        #expect(close(Ticks.niceStep(atLeast: rough), expected, 1e-12))
    }

    /// (0.23, 0.87): span 0.64 / 5 = 0.128 → step 0.2; 0.23 → 0.2 below, 0.87 → 1.0 above.
    @Test func ticksCoverTheData() {
        let t = Ticks.covering(0.23, 0.87, count: 5)
        #expect(close(t.step, 0.2))
        #expect(t.values.count == 5)
        for (v, e) in zip(t.values, [0.2, 0.4, 0.6, 0.8, 1.0]) { #expect(close(v, e)) }
        #expect(t.labels == ["0.2", "0.4", "0.6", "0.8", "1.0"])
    }

    /// Epochs 1...3 on an axis from 0: 3 / 6 = 0.5 → step 1 (also the minimum).
    @Test func epochTicksAreWholeNumbers() {
        let t = Ticks.covering(0, 3, count: 6, minimumStep: 1)
        #expect(t.values == [0, 1, 2, 3] && t.labels == ["0", "1", "2", "3"])
        // 3000 epochs: 3000 / 6 = 500 → step 500.
        let long = Ticks.covering(0, 3000, count: 6, minimumStep: 1)
        #expect(long.step == 500 && long.values.first == 0 && long.values.last == 3000 && long.values.count == 7)
        #expect(long.labels[1] == "500")
    }

    /// Across zero: (−0.6, 0.6) → 1.2 / 5 = 0.24 → step 0.5 from −1 to 1; no "-0.0" label.
    @Test func ticksAcrossZero() {
        let t = Ticks.covering(-0.6, 0.6)
        #expect(t.values == [-1, -0.5, 0, 0.5, 1])
        #expect(t.labels == ["-1.0", "-0.5", "0.0", "0.5", "1.0"])
    }

    /// A single value is widened (by 10 % of it, or by 1 around zero) before the ticks are chosen.
    @Test func aConstantSeriesGetsAnAxis() {
        let t = Ticks.covering(2, 2)  // [1.8, 2.2]: 0.4 / 5 = 0.08 → step 0.1
        #expect(t.values.count == 5 && close(t.values[0], 1.8) && close(t.values[4], 2.2))
        #expect(t.labels == ["1.8", "1.9", "2.0", "2.1", "2.2"])
        let zero = Ticks.covering(0, 0)  // [−1, 1]: 2 / 5 = 0.4 → step 0.5
        #expect(zero.values == [-1, -0.5, 0, 0.5, 1])
    }

    /// adavb's τ barely moves: steps of 1e-6 need six decimals.
    @Test func tinyStepsKeepTheirDecimals() {
        let t = Ticks.covering(0.5015580, 0.5015623, count: 5)  // 4.3e-6 / 5 → 1e-6
        #expect(close(t.step, 1e-6, 1e-9))
        #expect(t.labels.first == "0.501558" && t.labels.last == "0.501563", "\(t.labels)")
        let big = Ticks.covering(0, 4e6)  // step 1e6: significant digits
        #expect(big.labels == ["0", "1e+06", "2e+06", "3e+06", "4e+06"])
    }

    /// Inside [0, ln 10 = 2.3026]: 2.3026 / 5 = 0.46 → step 0.5, ticks 0 ... 2.0 (the end is not a tick).
    @Test func ticksWithinAFixedInterval() {
        let t = Ticks.within(0, log(10.0))
        #expect(t.values == [0, 0.5, 1, 1.5, 2] && t.labels == ["0.0", "0.5", "1.0", "1.5", "2.0"])
        let unit = Ticks.within(0, 1)
        #expect(unit.values.count == 6 && close(unit.values[3], 0.6) && unit.labels[5] == "1.0")
    }

    @Test func scalesMapLinearly() {
        let x = LinearScale(domain: (0, 10), range: (64, 544))
        #expect(x(0) == 64 && x(10) == 544 && close(x(2.5), 184))  // 64 + 0.25 · 480
        let y = LinearScale(domain: (0, 1), range: (240, 14))  // upwards
        #expect(close(y(0.25), 183.5) && y(1) == 14)  // 240 − 0.25 · 226
        #expect(close(y(1.5), -99))  // extrapolates: 240 − 1.5 · 226
        #expect(LinearScale(domain: (3, 3), range: (0, 100))(7) == 50)  // no width: the middle
    }

    /// The default frame: 560 × 260 with margins 64, 16, 14, 46 → plot x 64...544, y 14...214.
    @Test func frameHoldsThePlotArea() {
        let f = ChartFrame()
        #expect(f.plotLeft == 64 && f.plotRight == 544 && f.plotTop == 14 && f.plotBottom == 214)
        #expect(f.yScale((0, 2))(1) == 114 && f.xScale((0, 4))(1) == 184)
    }

    @Test func coordinatesAreShort() {
        #expect(coordinate(12.5) == "12.5" && coordinate(40) == "40" && coordinate(3.14159) == "3.14")
        #expect(coordinate(-0.001) == "0" && coordinate(-7.5) == "-7.5" && coordinate(0) == "0")
    }

    @Test func escapingIsStrict() {
        let hostile = "<script>&amp;\"x\"'"
        #expect(Escape.text(hostile) == "&lt;script&gt;&amp;amp;\"x\"'")
        #expect(Escape.attribute(hostile) == "&lt;script&gt;&amp;amp;&quot;x&quot;&#39;")
    }

    /// K = 4, 4 bins of width ln 4 / 4: 0 and a rounding-negative value in the first, a value just below
    /// the first edge still there, the edge itself in the second, ln 4 (and a hair above) in the last.
    /// (The edge is top · 1 / 4 as computed for the edges: the bins compare against the stored edges.)
    @Test func entropyBinsAreFixed() {
        let top = log(4.0)
        let h = EntropyHistogram(
            inDistribution: [0, -1e-12, top / 4 - 1e-9, top / 4, top, top + 1e-9, .nan],
            outOfDistribution: [top * 0.6, top * 0.7], classes: 4, bins: 4)
        #expect(h.edges.count == 5 && h.edges[0] == 0 && close(h.edges[4], top) && close(h.edges[2], top / 2))
        #expect(h.inDistribution == [4, 1, 0, 2])  // NaN (never produced) falls in the first bin
        #expect(h.outOfDistribution == [0, 0, 2, 0])
    }
}
