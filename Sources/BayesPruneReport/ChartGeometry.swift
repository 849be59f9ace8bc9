// The arithmetic of the report's charts, apart from any markup: linear scales from data to pixels,
// "nice" axis ticks (steps of 1, 2 or 5 times a power of ten) and their labels, and the frame of a
// chart (its size and the plot area inside the margins).

import Foundation

/// A linear map from a data interval onto a pixel interval; the pixel interval may run backwards, as an
/// SVG y axis does (larger values higher up, at smaller y).
struct LinearScale: Equatable {
    var domain: (lower: Double, upper: Double)
    var range: (from: Double, to: Double)

    /// Maps `domain.0` to `range.0` and `domain.1` to `range.1`.
    init(domain: (Double, Double), range: (Double, Double)) {
        self.domain = (domain.0, domain.1)
        self.range = (range.0, range.1)
    }

    /// The pixel of `x`; a zero-width domain maps everything to the middle of the range.
    func callAsFunction(_ x: Double) -> Double {
        let span = domain.upper - domain.lower
        guard span != 0 else { return (range.from + range.to) / 2 }
        return range.from + (x - domain.lower) / span * (range.to - range.from)
    }

    static func == (a: LinearScale, b: LinearScale) -> Bool {
        a.domain == b.domain && a.range == b.range
    }
}

/// Axis ticks at multiples of a "nice" step: 1, 2 or 5 times a power of ten.
struct Ticks: Equatable {
    /// The tick values, increasing.
    var values: [Double]
    /// The distance between two ticks.
    var step: Double

    /// The smallest step of the form {1, 2, 5}·10^k that is at least `rough` (> 0).
    static func niceStep(atLeast rough: Double) -> Double {
        precondition(rough > 0 && rough.isFinite)
        let power = pow(10, (log10(rough)).rounded(.down))
        for m in [1.0, 2, 5, 10] where m * power >= rough * (1 - 1e-12) { return m * power }
        return 10 * power
    }

    /// Ticks covering [lower, upper] with about `count` intervals: the step is the nice step at least
    /// (upper − lower)/count, and the first and last ticks are the multiples of the step at or just outside
    /// the data (so a chart's domain is [values.first, values.last]). `minimumStep` bounds the step from
    /// below (1 for epochs). A zero-width interval is widened first: by 1 around 0, else by 10 % of |x|.
    static func covering(_ lower: Double, _ upper: Double, count: Int = 5, minimumStep: Double = 0) -> Ticks {
        var (lo, hi) = (min(lower, upper), max(lower, upper))
        if hi - lo <= abs(hi) * 1e-12 {
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            (lo, hi) = (lo - pad, hi + pad)
        }
        let step = max(niceStep(atLeast: (hi - lo) / Double(max(count, 1))), minimumStep)
        // The 1e-9 absorbs rounding in the division (0.6 / 0.2 = 2.9999999999999996 is the tick 3).
        let first = (lo / step + 1e-9).rounded(.down)
        let last = (hi / step - 1e-9).rounded(.up)
        return Ticks(values: stride(from: first, through: last, by: 1).map { $0 * step }, step: step)
    }

    /// Ticks inside a fixed interval [lower, upper] (its ends need not be ticks), about `count` intervals.
    static func within(_ lower: Double, _ upper: Double, count: Int = 5) -> Ticks {
        guard upper > lower else { return Ticks(values: [lower], step: 1) }
        let step = niceStep(atLeast: (upper - lower) / Double(max(count, 1)))
        let first = (lower / step - 1e-9).rounded(.up)
        let last = (upper / step + 1e-9).rounded(.down)
        return Ticks(values: stride(from: first, through: last, by: 1).map { $0 * step }, step: step)
    }

    /// The labels of the ticks, all with the same number of decimals: as many as the step needs (a step
    /// of 0.05 → 2), none for a step of 1 or more. Beyond 6 decimals or above 10^6, significant digits.
    var labels: [String] {
        let decimals = max(0, Int(-(log10(step) + 1e-9).rounded(.down)))
        let largest = values.map(abs).max() ?? 0
        if decimals > 6 || largest >= 1e6 {
            return values.map { String(format: "%.3g", $0) }
        }
        return values.map { v in
            let s = String(format: "%.\(decimals)f", v)
            return s.hasPrefix("-") && Double(s) == 0 ? String(s.dropFirst()) : s  // no "-0.0"
        }
    }
}

/// The size of one chart and the plot area inside its margins (pixels; SVG y grows downwards).
struct ChartFrame: Equatable {
    var width: Double
    var height: Double
    var left: Double, right: Double, top: Double, bottom: Double

    /// A chart of `width` × `height` pixels with the given margins around its plot area.
    init(
        width: Double = 560, height: Double = 260, left: Double = 64, right: Double = 16, top: Double = 14,
        bottom: Double = 46
    ) {
        (self.width, self.height) = (width, height)
        (self.left, self.right, self.top, self.bottom) = (left, right, top, bottom)
    }

    /// The plot area: x from `plotLeft` to `plotRight`, y from `plotTop` to `plotBottom`.
    var plotLeft: Double { left }
    var plotRight: Double { width - right }
    var plotTop: Double { top }
    var plotBottom: Double { height - bottom }

    /// Scales onto the plot area: x left to right, y bottom to top.
    func xScale(_ domain: (Double, Double)) -> LinearScale {
        LinearScale(domain: domain, range: (plotLeft, plotRight))
    }
    func yScale(_ domain: (Double, Double)) -> LinearScale {
        LinearScale(domain: domain, range: (plotBottom, plotTop))
    }
}

/// A number for an SVG coordinate: two decimals at most, no trailing zeros ("12.5", "40").
func coordinate(_ x: Double) -> String {
    var s = String(format: "%.2f", x)
    while s.hasSuffix("0") { s.removeLast() }
    if s.hasSuffix(".") { s.removeLast() }
    return s == "-0" ? "0" : s
}
