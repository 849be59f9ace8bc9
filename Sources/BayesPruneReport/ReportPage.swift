// The report page: a header with the run's settings and final metrics, then one section per topic
// (learning curves, reliability, τ, sparsity, connected inputs, out-of-distribution scores). Every
// section is always there, with a sentence saying why when it does not apply to the run. The page has
// no script and loads nothing: its style sheet is inline and its charts are inline SVG.

import BayesPruneConfig
import BayesPruneData
import BayesPruneEvaluation
import BayesPruneNN
import BayesPruneRunIO
import BayesPruneSampling
import BayesPruneSparsity
import BayesPruneTraining
import Foundation
import Plot

/// Numbers as the page writes them.
enum Format {
    /// Fixed decimals; "—" for an undefined (NaN or infinite) value.
    static func number(_ v: Double?, decimals: Int = 4) -> String {
        guard let v, v.isFinite else { return "—" }
        return String(format: "%.\(decimals)f", v)
    }

    /// A fraction as a percentage with two decimals ("84.75 %").
    static func percent(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "—" }
        return String(format: "%.2f %%", 100 * v)
    }

    /// "1 sample", "3 samples".
    static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

    /// Four significant digits (tooltips, settings).
    static func short(_ v: Double) -> String { v.isFinite ? String(format: "%.4g", v) : "—" }
}

/// The sections' ids and titles, in page order.
enum ReportSection: String, CaseIterable {
    case summary
    case learningCurves = "learning-curves"
    case reliability, tau, sparsity
    case connectedInputs = "connected-inputs"
    case ood

    var title: String {
        switch self {
        case .summary: return "Run"
        case .learningCurves: return "Learning curves"
        case .reliability: return "Reliability"
        case .tau: return "τ of adavb"
        case .sparsity: return "Sparsity"
        case .connectedInputs: return "Connected inputs"
        case .ood: return "Out-of-distribution scores"
        }
    }
}

struct ReportPage {
    let report: RunReport

    var config: TrainConfig { report.manifest.config }
    var epochs: [EpochMetrics] { report.epochs }
    var lastEpoch: EpochMetrics { report.epochs.last! }
    var isRegression: Bool { report.manifest.task == "regression" }
    var runName: String { URL(fileURLWithPath: report.directory).lastPathComponent }

    func render() -> String {
        let html = HTML(
            .lang(.english),
            .head(
                .meta(.charset(.utf8)),
                .meta(.name("viewport"), .content("width=device-width, initial-scale=1")),
                .meta(.name("generator"), .content("bayesprune report")),
                .element(named: "title", nodes: [.safe("BayesPrune report: \(runName)")]),
                .style(Self.css)
            ),
            .body(
                .h1(.safe("BayesPrune report: \(runName)")),
                .nav(
                    .group(
                        ReportSection.allCases.map { s in .a(.attr("href", "#\(s.rawValue)"), .safe(s.title)) })),
                summary(), learningCurves(), reliability(), tau(), sparsity(), connectedInputs(), outOfDistribution(),
                .footer(
                    .safe(
                        "Written by bayesprune \(report.scoresFromTraining ? "train" : "report") from "
                            + "\(report.directory): config.json, metrics.jsonl, "
                            + (report.scoresFromTraining
                                ? "the run's last evaluation of its final weights and model average"
                                : "the final weights and posterior samples (scored again on the test set)")
                            + " and the saved out-of-distribution results. No scripts; nothing is loaded from the "
                            + "network."))
            )
        )
        return html.render()
    }

    /// A section with its id and heading.
    func section(_ s: ReportSection, _ content: [BodyNode]) -> BodyNode {
        .section(.id(s.rawValue), .h2(.safe(s.title)), .group(content))
    }

    func note(_ text: String) -> BodyNode { .p(.class("note"), .safe(text)) }

    func charts(_ nodes: [BodyNode]) -> BodyNode { .div(.class("charts"), .group(nodes)) }

    /// A table from a header row and body rows; a cell is its text and an optional data-key.
    func table(_ cssClass: String, header: [String], rows: [[(String, String?)]]) -> BodyNode {
        .table(
            .class(cssClass),
            .thead(.tr(.group(header.map { .th(.safe($0)) }))),
            .tbody(
                .group(
                    rows.map { row in
                        .tr(
                            .group(
                                row.map { cell in
                                    .td(.unwrap(cell.1) { .attr("data-key", $0) }, .safe(cell.0))
                                }))
                    })))
    }

    // MARK: - Summary

    func summary() -> BodyNode {
        let c = config
        let m = report.manifest
        var model = c.model.rawValue
        if c.model == .mlp {
            let widths: [Int] = c.widths ?? c.hidden
            model += ", hidden " + widths.map { String($0) }.joined(separator: "-")
        }
        var data = c.data.rawValue
        if c.data == .csv {
            data += ": " + URL(fileURLWithPath: c.trainFile ?? "").lastPathComponent
            if let t = c.target { data += " (target \(t))" }
        }
        data += ", \(m.task)" + (m.task == "regression" ? "" : " with \(m.classes) classes")
        if let n = report.scores?.examples { data += ", \(n) test examples" }
        var sampler = c.sampler.rawValue
        switch c.sampler {
        case .adavb:
            sampler += " (β1 \(Format.short(c.beta1)), β2 \(Format.short(c.beta2)), η \(Format.short(c.eta))"
            sampler += c.temperature.map { ", T \(Format.short($0)))" } ?? ", T = 1/N)"
        case .sghmc, .sgld: sampler += " (temperature \(Format.short(c.temperature ?? 1)))"
        case .sgd: sampler += " (momentum \(Format.short(c.momentum)))"
        }
        let schedule =
            "\(c.schedule.rawValue)\(c.schedule == .cyclical ? ", \(c.cycles) cycle(s)" : ""), base step size "
            + "\(Format.short(c.lr)), batch \(c.batchSize), weight decay \(Format.short(c.weightDecay))"
        let recorded = lastEpoch.epoch == c.epochs ? "\(c.epochs)" : "\(lastEpoch.epoch) of \(c.epochs) (not finished)"
        var pruning = "off"
        if c.pruning.enabled {
            pruning = "on: \(c.pruning.eStep.rawValue) E-step after \(c.pruning.warmUp) warm-up epoch(s)"
            if let t = c.pruning.targetSparsity { pruning += ", target sparsity \(Format.short(t))" }
        }
        var rows: [(String, String, String?)] = [
            ("directory", report.directory, nil), ("run id", m.runId ?? "—", nil),
            ("model", "\(model) (\(m.parameterCount) parameters)", "model"), ("data", data, "data"),
            ("sampler", sampler, "sampler"), ("schedule", schedule, nil), ("epochs", recorded, "epochs"),
            ("seed", "\(c.seed)", "seed"),
            (
                "posterior samples", "\(lastEpoch.evaluation.bmaSamples) (\(c.samplesPerCycle) per cycle)",
                "samples"
            ),
            ("pruning", pruning, nil),
        ]
        if let p = lastEpoch.pruning {
            rows.append(
                (
                    "sparsity",
                    "\(Format.percent(p.weightSparsity)) of prunable weights zero, "
                        + "\(Format.percent(p.channelSparsity)) "
                        + "of channels removed, \(Format.percent(p.macSavings)) of multiply-adds saved",
                    "weight_sparsity"
                ))
        }
        rows.append(("training time", String(format: "%.1f s", lastEpoch.elapsedSeconds), nil))
        let settings: BodyNode = .table(
            .class("settings"),
            .tbody(
                .group(
                    rows.map { r in
                        .tr(.th(.safe(r.0)), .td(.unwrap(r.2) { .attr("data-key", $0) }, .safe(r.1)))
                    })))
        return section(
            .summary,
            [
                .div(
                    .class("summary"), settings,
                    .div(
                        .h3(.safe("Final test metrics (epoch \(lastEpoch.epoch), metrics.jsonl)")), finalMetrics()))
            ])
    }

    /// Last weights and model average at the last epoch, as metrics.jsonl recorded them.
    func finalMetrics() -> BodyNode {
        let e = lastEpoch.evaluation
        let metrics: [(EpochEvaluation.Metric, String, Bool)] =
            isRegression
            ? [(.rmse, "RMSE", false), (.nll, "NLL", false)]
            : [(.accuracy, "accuracy", true), (.nll, "NLL", false), (.brier, "Brier", false), (.ece, "ECE", false)]
        func row(_ name: String, _ prefix: String, _ values: [EpochEvaluation.Metric: Double]) -> [(String, String?)] {
            [(name, nil)]
                + metrics.map { m, _, percent in
                    let v = values[m]
                    return (percent ? Format.percent(v) : Format.number(v), prefix + m.rawValue)
                }
        }
        let bmaName =
            e.bmaSamples > 0 ? "model average (\(Format.count(e.bmaSamples, "sample")))" : "model average (no samples)"
        return table(
            "metrics", header: ["model"] + metrics.map(\.1),
            rows: [row("last weights", "test_", e.test), row(bmaName, "bma_", e.bma)])
    }

    // MARK: - Learning curves

    func epochSeries(
        _ key: String, _ name: String, _ color: String, dashed: Bool = false, _ value: (EpochMetrics) -> Double?
    )
        -> Series
    {
        Series(
            key: key, name: name, x: epochs.map { Double($0.epoch) }, y: epochs.map(value), color: color,
            dashed: dashed)
    }

    func learningCurves() -> BodyNode {
        let loss = LineChart(
            name: "train-loss", title: "Training loss (mean minibatch loss per epoch)", yLabel: "train loss",
            series: [epochSeries("train_loss", "train loss", Palette.purple) { $0.trainLoss }])
        let (metric, label): (EpochEvaluation.Metric, String) =
            isRegression ? (.rmse, "test RMSE (target units)") : (.accuracy, "test accuracy")
        func pair(_ m: EpochEvaluation.Metric, _ what: String) -> [Series] {
            [
                epochSeries("test_" + m.rawValue, "last weights: \(what)", Palette.blue) { $0.evaluation.test[m] },
                epochSeries("bma_" + m.rawValue, "model average: \(what)", Palette.orange, dashed: true) {
                    $0.evaluation.bma[m]
                },
            ]
        }
        let main = LineChart(
            name: "test-\(metric.rawValue)", title: isRegression ? "Test RMSE" : "Test accuracy", yLabel: label,
            series: pair(metric, isRegression ? "RMSE" : "accuracy"))
        let nll = LineChart(
            name: "test-nll", title: "Test negative log-likelihood", yLabel: "test NLL (nats per example)",
            series: pair(.nll, "NLL"))
        let firstSample = epochs.first { $0.evaluation.bmaSamples > 0 }
        let bmaNote =
            firstSample.map {
                "The model average is defined from epoch \($0.epoch), the first posterior sample; before it "
                    + "metrics.jsonl records null."
            } ?? "The run took no posterior sample, so there is no model average (--samples-per-cycle 0)."
        return section(.learningCurves, [charts([loss.node(), main.node(), nll.node()]), note(bmaNote)])
    }

    // MARK: - Reliability

    func reliability() -> BodyNode {
        guard !isRegression else {
            var text = "A regression run: there are no confidence bins."
            if let s = report.scores, let r = s.last.regression {
                text += " Scored again: RMSE \(Format.number(r.rmse)), NLL \(Format.number(r.nll)) (last weights)"
                if let b = s.bma?.regression {
                    text += "; RMSE \(Format.number(b.rmse)), NLL \(Format.number(b.nll)) (model average)"
                }
                text += "."
            }
            return section(.reliability, [note(text)])
        }
        guard let s = report.scores, let last = s.last.classification else {
            return section(
                .reliability,
                [note("The run has no final weights yet (weights.safetensors): the diagrams need a finished run.")])
        }
        let bma = s.bma?.classification
        var figures = [
            ReliabilityChart(
                name: "reliability-last",
                title: "Last weights: ECE \(Format.number(last.ece)), MCE \(Format.number(last.mce))",
                bins: last.reliability, color: Palette.blue
            ).node()
        ]
        if let bma {
            figures.append(
                ReliabilityChart(
                    name: "reliability-bma",
                    title: "Model average of \(Format.count(s.samples, "sample")): ECE \(Format.number(bma.ece)), MCE "
                        + "\(Format.number(bma.mce))",
                    bins: bma.reliability, color: Palette.orange
                ).node())
        }
        var header = ["confidence bin", "last: examples", "last: accuracy", "last: mean confidence"]
        if bma != nil { header += ["BMA: examples", "BMA: accuracy", "BMA: mean confidence"] }
        let rows = last.reliability.indices.map { i -> [(String, String?)] in
            func cells(_ b: ReliabilityBin) -> [(String, String?)] {
                [
                    ("\(b.count)", "count"), (b.count > 0 ? Format.number(b.accuracy) : "—", "accuracy"),
                    (b.count > 0 ? Format.number(b.confidence) : "—", "confidence"),
                ]
            }
            let b = last.reliability[i]
            return [(String(format: "(%.3f, %.3f]", b.lower, b.upper), nil)] + cells(b)
                + (bma.map { cells($0.reliability[i]) } ?? [])
        }
        var text =
            "The run's \(last.bins) equal-width confidence bins over its \(s.examples) test examples, "
            + (report.scoresFromTraining
                ? "from the training run's last evaluation of its final weights and model average"
                : "scored again from the final weights and the posterior samples")
            + ". A bar below the diagonal is over-confident."
        if bma == nil { text += " The run has no posterior samples: no model-average diagram." }
        return section(
            .reliability, [charts(figures), note(text), table("bins", header: header, rows: rows)])
    }

    // MARK: - τ

    func tau() -> BodyNode {
        guard config.sampler == .adavb, epochs.contains(where: { $0.preconditioner != nil }) else {
            return section(
                .tau,
                [
                    note(
                        "Not an adavb run (sampler \(config.sampler.rawValue)): τ is the per-weight step-size "
                            + "preconditioner of adavb.")
                ])
        }
        let chart = LineChart(
            name: "tau", title: "τ = sigmoid(ρ) over all weights", yLabel: "τ (per-weight step-size factor)",
            series: [  // the mean last, on top, when the three coincide
                epochSeries("tau_max", "max τ", Palette.red, dashed: true) { $0.preconditioner?.tauMax },
                epochSeries("tau_min", "min τ", Palette.green, dashed: true) { $0.preconditioner?.tauMin },
                epochSeries("tau_mean", "mean τ", Palette.blue) { $0.preconditioner?.tauMean },
            ])
        let t = lastEpoch.preconditioner
        return section(
            .tau,
            [
                charts([chart.node()]),
                note(
                    "At the last epoch: mean τ \(Format.short(t?.tauMean ?? .nan)), "
                        + "min \(Format.short(t?.tauMin ?? .nan)), "
                        + "max \(Format.short(t?.tauMax ?? .nan)); implied sampling temperature "
                        + "\(Format.short(t?.samplingTemperature ?? .nan))."),
            ])
    }

    // MARK: - Sparsity

    func sparsity() -> BodyNode {
        guard config.pruning.enabled, let last = lastEpoch.pruning else {
            return section(.sparsity, [note("The run did not prune (train without --prune): every weight is kept.")])
        }
        var totals = [
            epochSeries("weight_sparsity", "prunable weights that are zero", Palette.blue) {
                $0.pruning?.weightSparsity
            },
            epochSeries("channel_sparsity", "channels removed", Palette.green) { $0.pruning?.channelSparsity },
            epochSeries("mac_savings", "multiply-adds saved", Palette.red, dashed: true) { $0.pruning?.macSavings },
        ]
        if config.pruning.pruneKernels {
            totals.append(
                epochSeries("kernel_sparsity", "kernels removed", Palette.brown) { $0.pruning?.kernelSparsity })
        }
        let layers = last.layers.filter(\.prunable).map(\.layer)
        let perLayer = layers.enumerated().map { k, name in
            epochSeries("layer:" + name, name, Palette.cycle[k % Palette.cycle.count]) { e in
                e.pruning?.layers.first { $0.layer == name }?.zeroFraction
            }
        }
        let figures = [
            LineChart(
                name: "sparsity-totals", title: "Whole network", yLabel: "fraction", series: totals, yDomain: (0, 1)
            )
            .node(),
            LineChart(
                name: "sparsity-layers", title: "Zero weights per prunable layer", yLabel: "fraction of the layer",
                series: perLayer, yDomain: (0, 1)
            ).node(),
        ]
        let rows = last.layers.map { l -> [(String, String?)] in
            [
                (l.layer, nil), (l.prunable ? "yes" : "no", nil), ("\(l.weights)", nil),
                (Format.percent(l.zeroFraction), "zero_fraction"), ("\(l.outputsRemoved) of \(l.outputs)", nil),
                ("\(l.inputsRemoved) of \(l.inputs)", nil), (Format.percent(l.macShareSaved), nil),
            ]
        }
        var text =
            "The E-step starts after epoch \(config.pruning.warmUp); θ at the last epoch "
            + "\(Format.short(last.theta)), \(last.eSteps) E-step(s)."
        if last.weightSparsity == 0 && last.channelSparsity == 0 {
            text += " Nothing has been removed: every prunable weight is still non-zero (the curves lie on 0)."
        }
        return section(
            .sparsity,
            [
                charts(figures), note(text),
                table(
                    "layers",
                    header: [
                        "layer (epoch \(lastEpoch.epoch))", "prunable", "weights", "zero", "filters or units removed",
                        "input channels or units removed", "multiply-adds saved",
                    ], rows: rows),
            ])
    }

    // MARK: - Connected inputs

    func connectedInputs() -> BodyNode {
        guard config.data == .csv else {
            return section(
                .connectedInputs,
                [note("Not a tabular run (\(config.data.rawValue)): connected inputs are listed for CSV data.")])
        }
        let all = report.manifest.featureNames
        guard config.pruning.enabled, let names = lastEpoch.connectedInputs ?? report.scores?.connectedInputs else {
            return section(
                .connectedInputs, [note("All \(all.count) input columns are connected: the run did not prune.")])
        }
        let removed = all.filter { !Set(names).contains($0) }
        return section(
            .connectedInputs,
            [
                .p(
                    .span(.attr("data-key", "connected_count"), .safe("\(names.count)")),
                    .safe(" of \(all.count) input columns still connected at epoch \(lastEpoch.epoch):")),
                .ul(.class("inputs"), .group(names.map { .li(.code(.safe($0))) })),
                note(
                    removed.isEmpty
                        ? "No input column was removed."
                        : "Removed (\(removed.count)): " + removed.prefix(50).joined(separator: ", ")
                            + (removed.count > 50 ? ", …" : "") + "."),
            ])
    }

    // MARK: - Out-of-distribution scores

    func outOfDistribution() -> BodyNode {
        var content: [BodyNode] = []
        if report.ood.isEmpty && isRegression {
            content.append(note("A regression run: out-of-distribution scoring needs a classifier."))
        } else if report.ood.isEmpty {
            content.append(
                note(
                    "No out-of-distribution result saved: `bayesprune evaluate \(report.directory) --ood-data KIND` "
                        + "saves one (ood-KIND.json), and `bayesprune report` then draws it."))
        }
        for r in report.ood {
            let stem = String(r.fileName.dropLast(".json".count))
            var what = r.data.rawValue + (r.transform == .none ? "" : " (\(r.transform.rawValue))")
            if let d = r.dataDir ?? r.testFile { what += " from \(d)" }
            content.append(
                .h3(
                    .attr("id", stem),
                    .safe(
                        "\(what): \(r.examples) examples against the \(r.inDistributionExamples) test examples "
                            + "(\(r.fileName))")))
            var figures: [BodyNode] = []
            var rows: [[(String, String?)]] = []
            let models: [(key: String, name: String, caption: String, scores: OODModelScores?, color: String)] = [
                ("last", "last weights", "Last weights", r.last, Palette.blue),
                (
                    "bma", "model average", "Model average of \(Format.count(r.bmaSamples, "sample"))", r.bma,
                    Palette.orange
                ),
            ]
            for m in models {
                guard let scores = m.scores else { continue }
                let h = scores.entropyHistogram
                figures.append(
                    HistogramChart(
                        name: "\(stem)-\(m.key)",
                        title: "\(m.caption): entropy AUROC \(Format.number(scores.entropy.auroc))",
                        xLabel: "predictive entropy (nats), 0 to ln K", edges: h.edges,
                        first: ("in-distribution: the run's test set", h.inDistribution, m.color),
                        second: ("out-of-distribution: \(what)", h.outOfDistribution, Palette.gray)
                    ).node())
                for (score, d) in [("max probability", scores.maxProbability), ("predictive entropy", scores.entropy)] {
                    rows.append([
                        (m.name, nil), (score, nil), (Format.number(d.auroc), "auroc"), (Format.number(d.aupr), "aupr"),
                        (Format.number(d.fprAt95TPR), "fpr_at_95_tpr"),
                    ])
                }
            }
            content.append(charts(figures))
            content.append(table("ood", header: ["model", "score", "AUROC", "AUPR", "FPR at 95 % TPR"], rows: rows))
        }
        if !report.ood.isEmpty {
            content.append(
                note(
                    "In-distribution examples are the positive class. Low entropy means confident: a good detector "
                        + "keeps the test set on the left and the other set on the right."))
        }
        if !report.otherRunsOOD.isEmpty {
            content.append(
                note("Not shown, another run's results: " + report.otherRunsOOD.joined(separator: ", ") + "."))
        }
        return section(.ood, content)
    }

    // MARK: - Style

    static let css = """
        body { font: 14px/1.45 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #222; margin: 20px auto;
          max-width: 1220px; padding: 0 16px; }
        h1 { font-size: 22px; margin: 0 0 6px; }
        h2 { font-size: 18px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin: 28px 0 10px; }
        h3 { font-size: 15px; margin: 16px 0 6px; }
        nav { margin-bottom: 8px; } nav a { margin-right: 14px; color: #1f5f9f; }
        .summary { display: flex; flex-wrap: wrap; gap: 12px 40px; align-items: flex-start; }
        .summary h3 { margin-top: 8px; }
        .charts { display: flex; flex-wrap: wrap; gap: 18px 28px; align-items: flex-start; }
        figure { margin: 0; }
        figcaption { font-weight: bold; margin-bottom: 4px; }
        svg.chart { display: block; background: #fff; }
        svg.chart text { font-size: 11px; fill: #333; }
        svg.chart text.axis-label { font-size: 12px; fill: #111; }
        svg.chart text.count { font-size: 9px; fill: #444; } svg.chart text.count.inside { fill: #fff; }
        .plot-area { fill: #fbfbfb; stroke: #999; }
        line.grid { stroke: #e3e3e3; } line.tick-mark { stroke: #999; }
        line.diagonal { stroke: #7f7f7f; stroke-dasharray: 5 4; }
        line.confidence { stroke: #222; stroke-width: 2; }
        rect.bin { fill-opacity: 0.75; } rect.bar { fill-opacity: 0.85; }
        ul.legend { list-style: none; padding: 0; margin: 6px 0 0; display: flex; flex-wrap: wrap; gap: 2px 16px;
          font-size: 12px; max-width: 560px; }
        .swatch { display: inline-block; width: 22px; vertical-align: middle; margin-right: 6px; }
        table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
        th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
        thead th { border-bottom: 1px solid #bbb; }
        table.settings th { font-weight: normal; color: #555; white-space: nowrap; }
        table.settings td { max-width: 560px; overflow-wrap: anywhere; }
        .note { color: #555; max-width: 1000px; }
        ul.inputs { display: flex; flex-wrap: wrap; gap: 4px 14px; list-style: none; padding: 0; }
        footer { margin: 32px 0 12px; color: #777; font-size: 12px; }
        """
}
