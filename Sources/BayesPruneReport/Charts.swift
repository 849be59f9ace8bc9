// The report's three kinds of chart as inline SVG: line charts over epochs, the reliability diagram and
// the paired histogram of out-of-distribution scores. Each is a <figure> with a caption, the <svg> (axes
// with ticks and labels, a <title> tooltip on every mark) and an HTML legend, readable without scripts.
// The plotted values ride along as data-* attributes, so the tests can check the drawing against the
// run's files.

import BayesPruneEvaluation
import Foundation
import Plot

/// Colours of the series (Tableau 10).
enum Palette {
    static let blue = "#1f77b4", orange = "#ff7f0e", green = "#2ca02c", red = "#d62728", purple = "#9467bd"
    static let brown = "#8c564b", pink = "#e377c2", gray = "#7f7f7f", olive = "#bcbd22", cyan = "#17becf"
    static let cycle = [blue, orange, green, red, purple, brown, pink, gray, olive, cyan]
}

/// One entry of a chart's legend: a swatch (solid or dashed line, or a filled box) and its text.
struct LegendEntry {
    enum Mark { case line, dashed, box }
    var text: String
    var color: String
    var mark: Mark = .line
}

/// The legend under a chart, as an HTML list.
func legend(_ entries: [LegendEntry]) -> BodyNode {
    .ul(
        .class("legend"),
        .group(
            entries.map { e in
                let style: String
                switch e.mark {
                case .line: style = "border-top: 3px solid \(e.color)"
                case .dashed: style = "border-top: 3px dashed \(e.color)"
                case .box: style = "background: \(e.color); height: 10px"
                }
                return .li(.span(.class("swatch"), .attr("style", style)), .safe(e.text))
            }))
}

/// A chart in a <figure>: caption, svg, legend.
func figure(caption: String, svg: BodyNode, legend entries: [LegendEntry]) -> BodyNode {
    .element(
        named: "figure",
        nodes: [
            .element(named: "figcaption", nodes: [.safe(caption)]), svg,
            entries.isEmpty ? .group([]) : legend(entries),
        ])
}

/// Axes, ticks, grid lines and axis labels of a chart.
func axes(
    _ f: ChartFrame, x: LinearScale, xTicks: Ticks, y: LinearScale, yTicks: Ticks, xLabel: String, yLabel: String
) -> [SVGNode] {
    var grid: [SVGNode] = []
    for (v, text) in zip(yTicks.values, yTicks.labels) {
        let py = coordinate(y(v))
        grid.append(
            .svg(
                "line",
                ["class": "grid", "x1": coordinate(f.plotLeft), "x2": coordinate(f.plotRight), "y1": py, "y2": py])
        )
        grid.append(.label(text, x: f.plotLeft - 6, y: y(v) + 4, anchor: "end", cssClass: "tick"))
    }
    for (v, text) in zip(xTicks.values, xTicks.labels) {
        let px = coordinate(x(v))
        grid.append(
            .svg(
                "line",
                [
                    "class": "tick-mark", "x1": px, "x2": px, "y1": coordinate(f.plotBottom),
                    "y2": coordinate(f.plotBottom + 5),
                ]
            ))
        grid.append(.label(text, x: x(v), y: f.plotBottom + 17, cssClass: "tick"))
    }
    return [
        .svg(
            "rect",
            [
                "class": "plot-area", "x": coordinate(f.plotLeft), "y": coordinate(f.plotTop),
                "width": coordinate(f.plotRight - f.plotLeft), "height": coordinate(f.plotBottom - f.plotTop),
            ]),
        .svg("g", ["class": "axes"], grid),
        .label(xLabel, x: (f.plotLeft + f.plotRight) / 2, y: f.height - 8, cssClass: "axis-label"),
        .label(yLabel, x: 14, y: (f.plotTop + f.plotBottom) / 2, cssClass: "axis-label", rotate: true),
    ]
}

/// The <svg> element of a chart with its frame and domains recorded.
func chartSVG(
    _ f: ChartFrame, name: String, title: String, xDomain: (Double, Double), yDomain: (Double, Double),
    _ children: [SVGNode]
) -> BodyNode {
    .inlineSVG(
        [
            ("class", "chart"), ("data-chart", name), ("viewBox", "0 0 \(coordinate(f.width)) \(coordinate(f.height))"),
            ("width", coordinate(f.width)), ("height", coordinate(f.height)), ("role", "img"), ("aria-label", title),
            ("data-x-domain", "\(xDomain.0) \(xDomain.1)"), ("data-y-domain", "\(yDomain.0) \(yDomain.1)"),
        ], [.tooltip(title)] + children)
}

/// A line of a line chart: y per x, nil where the value is not defined (the line breaks there).
struct Series {
    var key: String
    var name: String
    var x: [Double]
    var y: [Double?]
    var color: String
    var dashed = false
    var strokeWidth = 2.0
}

/// Lines over epochs. The y domain is `yDomain` when given, else nice ticks around the values.
struct LineChart {
    var name: String
    var title: String
    var xLabel = "epoch"
    var yLabel: String
    var series: [Series]
    var yDomain: (Double, Double)? = nil
    var frame = ChartFrame()
    /// Markers (with tooltips) on every point up to this many points per series.
    static let markerLimit = 40

    var xTicks: Ticks {
        let xs = series.flatMap(\.x)
        return Ticks.covering(0, max(xs.max() ?? 1, 1), count: 6, minimumStep: 1)
    }

    var yTicks: Ticks {
        if let d = yDomain { return Ticks.within(d.0, d.1) }
        let ys = series.flatMap { $0.y.compactMap { $0 } }.filter(\.isFinite)
        return Ticks.covering(ys.min() ?? 0, ys.max() ?? 1)
    }

    func node() -> BodyNode {
        let f = frame
        let xt = xTicks
        let yt = yTicks
        let xDomain = (xt.values.first!, xt.values.last!)
        let yDomain = yDomain ?? (yt.values.first!, yt.values.last!)
        let x = f.xScale(xDomain)
        let y = f.yScale(yDomain)
        var lines: [SVGNode] = []
        for s in series {
            // Runs of defined values, each one polyline.
            var runs: [[(Double, Double)]] = [[]]
            for (xv, yv) in zip(s.x, s.y) {
                if let yv, yv.isFinite {
                    runs[runs.count - 1].append((xv, yv))
                } else if !runs.last!.isEmpty {
                    runs.append([])
                }
            }
            for run in runs where !run.isEmpty {
                var attributes: [(String, String)] = [
                    ("class", "line"), ("data-series", s.key),
                    ("data-x", run.map { "\($0.0)" }.joined(separator: " ")),
                    ("data-values", run.map { "\($0.1)" }.joined(separator: " ")),
                    ("points", run.map { "\(coordinate(x($0.0))),\(coordinate(y($0.1)))" }.joined(separator: " ")),
                    ("fill", "none"), ("stroke", s.color), ("stroke-width", coordinate(s.strokeWidth)),
                ]
                if s.dashed { attributes.append(("stroke-dasharray", "6 4")) }
                lines.append(.svg("polyline", attributes: attributes, [.tooltip(s.name)]))
                guard s.x.count <= Self.markerLimit else { continue }
                for (xv, yv) in run {
                    lines.append(
                        .svg(
                            "circle",
                            [
                                "class": "marker", "cx": coordinate(x(xv)), "cy": coordinate(y(yv)), "r": "2.5",
                                "fill": s.color,
                            ], [.tooltip("\(s.name), \(xLabel) \(Format.short(xv)): \(Format.short(yv))")]))
                }
            }
        }
        let svg = chartSVG(
            f, name: name, title: title, xDomain: xDomain, yDomain: yDomain,
            axes(f, x: x, xTicks: xt, y: y, yTicks: yt, xLabel: xLabel, yLabel: yLabel) + lines)
        return figure(
            caption: title, svg: svg,
            legend: series.map { LegendEntry(text: $0.name, color: $0.color, mark: $0.dashed ? .dashed : .line) })
    }
}

/// Accuracy against confidence per confidence bin, with the diagonal of perfect calibration.
struct ReliabilityChart {
    var name: String
    var title: String
    var bins: [ReliabilityBin]
    var color: String
    var frame = ChartFrame(width: 540, height: 300)
    /// Bin counts are written above the bars up to this many bins (always in the table and tooltips).
    static let countLabelLimit = 20

    func node() -> BodyNode {
        let f = frame
        let ticks = Ticks.within(0, 1)
        let x = f.xScale((0, 1))
        let y = f.yScale((0, 1))
        var marks: [SVGNode] = [
            .svg(
                "line",
                [
                    "class": "diagonal", "x1": coordinate(x(0)), "y1": coordinate(y(0)), "x2": coordinate(x(1)),
                    "y2": coordinate(y(1)),
                ])
        ]
        for b in bins {
            let left = x(b.lower) + 1
            let width = max(x(b.upper) - x(b.lower) - 2, 0.5)
            let top = b.count > 0 ? y(b.accuracy) : f.plotBottom
            let tip = String(
                format: "confidence (%.3f, %.3f]: %d examples, accuracy %.4f, mean confidence %.4f", b.lower, b.upper,
                b.count, b.accuracy, b.confidence)
            marks.append(
                .svg(
                    "rect",
                    attributes: [
                        ("class", b.count > 0 ? "bin" : "bin empty"), ("data-lower", "\(b.lower)"),
                        ("data-upper", "\(b.upper)"), ("data-count", "\(b.count)"), ("data-accuracy", "\(b.accuracy)"),
                        ("data-confidence", "\(b.confidence)"), ("x", coordinate(left)), ("y", coordinate(top)),
                        ("width", coordinate(width)), ("height", coordinate(f.plotBottom - top)), ("fill", color),
                    ], [.tooltip(tip)]))
            guard b.count > 0 else { continue }
            marks.append(
                .svg(
                    "line",
                    [
                        "class": "confidence", "x1": coordinate(left), "x2": coordinate(left + width),
                        "y1": coordinate(y(b.confidence)), "y2": coordinate(y(b.confidence)),
                    ], [.tooltip(tip)]))
            if bins.count <= Self.countLabelLimit {
                // Inside the bar's foot when it is tall enough, else just above it: never where the
                // confidence line of an over-confident bin runs.
                let inside = f.plotBottom - top >= 14
                marks.append(
                    .label(
                        "\(b.count)", x: left + width / 2, y: inside ? f.plotBottom - 4 : top - 3,
                        cssClass: inside ? "count inside" : "count"))
            }
        }
        let svg = chartSVG(
            f, name: name, title: title, xDomain: (0, 1), yDomain: (0, 1),
            axes(
                f, x: x, xTicks: ticks, y: y, yTicks: ticks, xLabel: "confidence (max probability)", yLabel: "accuracy")
                + marks)
        return figure(
            caption: title, svg: svg,
            legend: [
                LegendEntry(text: "accuracy of the bin (examples in it at its foot)", color: color, mark: .box),
                LegendEntry(text: "mean confidence of the bin", color: "#222", mark: .line),
                LegendEntry(text: "perfect calibration", color: Palette.gray, mark: .dashed),
            ])
    }
}

/// Two sets' shares per bin, side by side: the predictive entropy of in- and out-of-distribution examples.
struct HistogramChart {
    var name: String
    var title: String
    var xLabel: String
    var edges: [Double]
    var first: (name: String, counts: [Int], color: String)
    var second: (name: String, counts: [Int], color: String)
    var frame = ChartFrame()

    func node() -> BodyNode {
        let f = frame
        let shares = [first.counts, second.counts].map { c -> [Double] in
            let total = Double(max(c.reduce(0, +), 1))
            return c.map { Double($0) / total }
        }
        let lo = edges.first ?? 0
        let hi = edges.last ?? 1
        let xt = Ticks.within(lo, hi)
        let yt = Ticks.covering(0, max(shares.flatMap { $0 }.max() ?? 0, 0.01))
        let x = f.xScale((lo, hi))
        let y = f.yScale((0, yt.values.last!))
        var bars: [SVGNode] = []
        for (k, set) in [first, second].enumerated() {
            for i in 0..<(edges.count - 1) {
                let half = (x(edges[i + 1]) - x(edges[i])) / 2
                let left = x(edges[i]) + Double(k) * half + (k == 0 ? 1 : 0)
                let width = max(half - 1, 0.5)
                let top = y(shares[k][i])
                let tip = String(
                    format: "%@, entropy [%.3f, %.3f): %d examples (%.1f %%)", set.name, edges[i], edges[i + 1],
                    set.counts[i], 100 * shares[k][i])
                bars.append(
                    .svg(
                        "rect",
                        attributes: [
                            ("class", "bar set-\(k)"), ("data-count", "\(set.counts[i])"), ("x", coordinate(left)),
                            ("y", coordinate(top)), ("width", coordinate(width)),
                            ("height", coordinate(f.plotBottom - top)), ("fill", set.color),
                        ], [.tooltip(tip)]))
            }
        }
        let svg = chartSVG(
            f, name: name, title: title, xDomain: (lo, hi), yDomain: (0, yt.values.last!),
            axes(f, x: x, xTicks: xt, y: y, yTicks: yt, xLabel: xLabel, yLabel: "share of the set's examples") + bars)
        return figure(
            caption: title, svg: svg,
            legend: [
                LegendEntry(text: first.name, color: first.color, mark: .box),
                LegendEntry(text: second.name, color: second.color, mark: .box),
            ])
    }
}
