// `bayesprune report` and the report `train` writes, on small real runs: the page's structure (one <svg> per
// chart, every section, nothing from the network), its values against metrics.jsonl and `evaluate` read
// here independently, the out-of-distribution results `evaluate --ood-data` saves, and bad input (one line,
// a non-zero exit, nothing written).
import BayesPruneData
import Foundation
import TestSupport
import Testing

@testable import BayesPruneReport
@testable import BayesPruneTraining

/// The chart names of a classification run that pruned with adavb and took samples.
let classificationCharts: Set = [
    "train-loss", "test-accuracy", "test-nll", "reliability-last", "reliability-bma", "tau", "sparsity-totals",
    "sparsity-layers",
]

@Suite(.serialized) struct ReportStructure {
    static let images = try! quadrantDataset("report-data", train: 192, test: 64)
    static let epochs = 3
    static let bins = 10

    /// mlp on the quadrant images, adavb, pruning, samples at epochs 2 and 3, 10 calibration bins.
    func train(_ out: String, _ extra: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
        try runCLI(
            [
                "train", "--data", "mnist", "--data-dir", Self.images, "--model", "mlp", "--hidden", "16",
                "--sampler", "adavb", "--epochs", "\(Self.epochs)", "--batch-size", "32", "--samples-per-cycle", "2",
                // 6 steps per epoch; a stage of the last 12 of 18 steps samples after steps 12 and 18.
                "--sampling-stage", "0.67",
                "--prune", "--calibration-bins", "\(Self.bins)", "--threads", "1", "--out", out,
            ] + extra)
    }

    @Test func trainWritesAReportWhoseChartsMatchTheRun() throws {
        let run = try temporaryDirectory("report") + "/run"
        let r = try train(run)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("report: \(run)/report.html"), "\(r.stderr)")
        let html = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
        // train's own report takes its scores from the run's last evaluation (no second scoring).
        #expect(html.contains("from the training run's last evaluation") && html.contains("Written by bayesprune train"))

        // Self-contained: no script, nothing fetched; links only to the page's own sections.
        #expect(!html.contains("http://") && !html.contains("https://"))
        #expect(!html.contains("<script") && !html.contains(" src=") && !html.contains("@import"))
        #expect(openingTags(html, "a").allSatisfy { attribute($0, "href")?.hasPrefix("#") == true })
        // Every section, with its heading; one <svg> per chart.
        for s in ReportSection.allCases {
            #expect(html.contains("<section id=\"\(s.rawValue)\"><h2>\(Escape.text(s.title))</h2>"), "\(s)")
        }
        let svgs = charts(html)
        #expect(openingTags(html, "svg").count == classificationCharts.count)
        #expect(Set(svgs.keys) == classificationCharts, "\(svgs.keys.sorted())")

        // Curves: one point per epoch (the model average from its first sample on), values as recorded.
        let lines = try metricsLines(run)
        #expect(lines.count == Self.epochs)
        let curves: [(String, String)] = [
            ("train-loss", "train_loss"), ("test-accuracy", "test_accuracy"), ("test-accuracy", "bma_accuracy"),
            ("test-nll", "test_nll"), ("test-nll", "bma_nll"), ("tau", "tau_mean"), ("tau", "tau_min"),
            ("tau", "tau_max"), ("sparsity-totals", "weight_sparsity"), ("sparsity-totals", "mac_savings"),
        ]
        for (chart, key) in curves {
            let svg = try #require(svgs[chart])
            let polylines = openingTags(svg, "polyline").filter { attribute($0, "data-series") == key }
            #expect(polylines.count == 1, "\(chart) \(key)")
            guard let line = polylines.first else { continue }
            let recorded = lines.compactMap { l in value(l, key).map { (Double(l["epoch"] as! Int), $0) } }
            #expect(recorded.count == (key.hasPrefix("bma_") ? 2 : Self.epochs), "\(key): \(recorded)")
            let pts = points(attribute(line, "points"))
            let values = numbers(attribute(line, "data-values"))
            #expect(pts.count == recorded.count && values.count == recorded.count, "\(key)")
            #expect(numbers(attribute(line, "data-x")) == recorded.map(\.0), "\(key)")
            for (v, r) in zip(values, recorded) { #expect(close(v, r.1), "\(key): \(v) vs \(r.1)") }
            // The pixels follow from the chart's domains and plot area.
            let tag = openingTags(svg, "svg")[0]
            let area = try #require(openingTags(svg, "rect").first { attribute($0, "class") == "plot-area" })
            let (x0, y0) = (numbers(attribute(area, "x"))[0], numbers(attribute(area, "y"))[0])
            let (w, h) = (numbers(attribute(area, "width"))[0], numbers(attribute(area, "height"))[0])
            let xd = numbers(attribute(tag, "data-x-domain"))
            let yd = numbers(attribute(tag, "data-y-domain"))
            #expect(xd[0] <= 1 && xd[1] >= Double(Self.epochs) && yd[0] <= recorded.map(\.1).min()!)
            #expect(yd[1] >= recorded.map(\.1).max()!)
            for (p, r) in zip(pts, recorded) {
                #expect(abs(p.0 - (x0 + (r.0 - xd[0]) / (xd[1] - xd[0]) * w)) < 0.01, "\(key) x")
                #expect(abs(p.1 - (y0 + h - (r.1 - yd[0]) / (yd[1] - yd[0]) * h)) < 0.01, "\(key) y")
            }
        }
        // Per-layer sparsity: one curve per prunable layer.
        let layerLines = openingTags(try #require(svgs["sparsity-layers"]), "polyline")
        #expect(layerLines.compactMap { attribute($0, "data-series") } == ["layer:fc1", "layer:fc2"])
        #expect(layerLines.allSatisfy { points(attribute($0, "points")).count == Self.epochs })

        // Reliability: the run's bins, and the counts `evaluate` gives (an independent path).
        let evaluated = try runCLI(["evaluate", run])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(evaluated.stdout.utf8)) as! [String: Any]
        for (chart, model) in [("reliability-last", "last"), ("reliability-bma", "bma")] {
            let bins = openingTags(try #require(svgs[chart]), "rect").filter {
                attribute($0, "class")?.hasPrefix("bin") == true
            }
            #expect(bins.count == Self.bins, "\(chart)")
            let expected = ((json[model] as! [String: Any])["reliability"] as! [[String: Any]]).map {
                $0["count"] as! Int
            }
            #expect(bins.compactMap { Int(attribute($0, "data-count") ?? "") } == expected, "\(chart)")
            #expect(expected.reduce(0, +) == 64)
        }
        // The header's final metrics are metrics.jsonl's last line.
        let last = lines.last!
        for key in ["test_accuracy", "bma_accuracy"] {
            let cell = try #require(html.range(of: "data-key=\"\(key)\">"))
            let text = html[cell.upperBound...].prefix { $0 != "<" }
            #expect(text == String(format: "%.2f %%", 100 * value(last, key)!), "\(key): \(text)")
        }
        for key in ["test_nll", "bma_ece"] {
            let cell = try #require(html.range(of: "data-key=\"\(key)\">"))
            #expect(html[cell.upperBound...].prefix { $0 != "<" } == String(format: "%.4f", value(last, key)!))
        }
        #expect(html.contains("Not a tabular run (mnist)"))
        #expect(html.contains("No out-of-distribution result saved"))

        // The library reads metrics.jsonl back line for line (what the charts were drawn from).
        let read = try EpochMetrics.read(path: run + "/metrics.jsonl")
        let text = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(try read.map { String(decoding: try $0.jsonLine(), as: UTF8.self) } == text.map(String.init))
    }

    /// evaluate --ood-data saves its result in the run directory (its own file only, replaced by the same
    /// set's next evaluation); the report then draws its histograms; --overwrite removes it with the run.
    @Test func outOfDistributionResultsAreSavedAndDrawn() throws {
        let run = try temporaryDirectory("report-ood") + "/run"
        #expect(try train(run).status == 0)
        let before = try snapshot(run)
        let ood = ["evaluate", run, "--ood-data", "mnist", "--ood-data-dir", Self.images, "--ood-transform", "noise"]
        let first = try runCLI(ood)
        #expect(first.status == 0 && first.stderr.contains("ood-mnist-noise.json"), "\(first.stderr)")
        let file = run + "/ood-mnist-noise.json"
        let saved =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as! [String: Any]
        let printed = (try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as! [String: Any])["ood"]
        #expect(NSDictionary(dictionary: saved).isEqual(to: printed as! [String: Any]), "stdout and file differ")
        #expect(saved["examples"] as? Int == 64 && saved["in_distribution_examples"] as? Int == 64)
        let config =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/config.json")))
            as! [String: Any]
        #expect(saved["run_id"] as? String == config["runId"] as? String)
        let classes = try #require(config["outputs"] as? Int)  // the MNIST reader's 10
        for model in ["last", "bma"] {
            let h = try #require((saved[model] as? [String: Any])?["entropy_histogram"] as? [String: Any], "\(model)")
            let edges = h["edges"] as! [Double]
            #expect(edges.count == 21 && edges.first == 0 && close(edges.last!, log(Double(classes))), "\(edges)")
            #expect((h["in_distribution"] as! [Int]).reduce(0, +) == 64)
            #expect((h["out_of_distribution"] as! [Int]).reduce(0, +) == 64)
        }
        // Nothing else changed; the same set again replaces its own file; another set has its own.
        var after = try snapshot(run)
        after["ood-mnist-noise.json"] = nil
        #expect(after == before)
        #expect(try runCLI(ood).status == 0)
        #expect(try runCLI(Array(ood.dropLast(2)) + ["--ood-transform", "invert"]).status == 0)
        let names = try FileManager.default.contentsOfDirectory(atPath: run).filter { $0.hasPrefix("ood-") }.sorted()
        #expect(names == ["ood-mnist-invert.json", "ood-mnist-noise.json"], "\(names)")
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: run)).contains { $0.contains(".tmp-") })

        let report = try runCLI(["report", run])
        #expect(report.status == 0 && report.stderr.contains("wrote \(run)/report.html"), "\(report.stderr)")
        let html = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
        #expect(html.contains("scored again from the final weights") && html.contains("Written by bayesprune report"))
        let svgs = charts(html)
        let histograms = [
            "ood-mnist-invert-last", "ood-mnist-invert-bma", "ood-mnist-noise-last", "ood-mnist-noise-bma",
        ]
        #expect(Set(svgs.keys) == classificationCharts.union(histograms), "\(svgs.keys.sorted())")
        for name in histograms {
            let bars = openingTags(try #require(svgs[name]), "rect").filter {
                attribute($0, "class")?.hasPrefix("bar") == true
            }
            #expect(bars.count == 40, "\(name)")  // 20 bins, two sets
            for set in ["set-0", "set-1"] {
                let counts = bars.filter { attribute($0, "class") == "bar \(set)" }.compactMap {
                    Int(attribute($0, "data-count") ?? "")
                }
                #expect(counts.count == 20 && counts.reduce(0, +) == 64, "\(name) \(set)")
            }
        }
        #expect(!html.contains("No out-of-distribution result saved"))

        // A new run in its place (--overwrite) takes the old results with the old run.
        let replaced = try train(run, ["--overwrite", "--epochs", "1"])
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: run).filter { $0.hasPrefix("ood-") }.isEmpty)
        #expect(try String(contentsOfFile: run + "/report.html", encoding: .utf8).contains("No out-of-distribution"))
    }

    /// A table: the inputs still connected, by name and count, as the last metrics line lists them;
    /// a regression run draws RMSE instead of accuracy and has no reliability diagram.
    @Test func tabularRunListsItsConnectedInputs() throws {
        let dir = try temporaryDirectory("report-table")
        let (trainCSV, testCSV) = PaperExample.one.csv(seed: 4, inputs: 60, trainRows: 512, testRows: 128)
        try writeBytes(trainCSV, to: dir + "/train.csv")
        try writeBytes(testCSV, to: dir + "/test.csv")
        let run = dir + "/run"
        let r = try runCLI([
            "train", "--data", "csv", "--train", dir + "/train.csv", "--test", dir + "/test.csv", "--model", "mlp",
            "--hidden", "8,4", "--sampler", "adavb", "--temperature", "0.02", "--batch-size", "64", "--lr", "0.01",
            "--epochs", "12", "--cycles", "2", "--prune", "--warm-up", "3", "--lambda0", "1e-2", "--hard-threshold",
            "1e-2", "--init", "pytorch", "--threads", "1", "--seed", "5", "--out", run,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let html = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
        let connected = try #require(metricsLines(run).last?["connected_inputs"] as? [String])
        #expect(!connected.isEmpty && connected.count < 60, "\(connected)")
        let count = try #require(html.range(of: "data-key=\"connected_count\">"))
        #expect(html[count.upperBound...].prefix { $0 != "<" } == "\(connected.count)")
        #expect(html.contains(" of 60 input columns still connected"))
        let listed = html.components(separatedBy: "<li><code>").dropFirst().map { String($0.prefix { $0 != "<" }) }
        #expect(listed == connected)
        let svgs = charts(html)
        #expect(svgs["test-rmse"] != nil && svgs["test-accuracy"] == nil && svgs["reliability-last"] == nil)
        #expect(html.contains("A regression run: there are no confidence bins."))
        #expect(html.contains("out-of-distribution scoring needs a classifier"))
    }

    /// A report that cannot be written does not fail the run: one warning line names the file and why.
    @Test func aReportThatCannotBeWrittenOnlyWarns() throws {
        let run = try temporaryDirectory("report-blocked") + "/run"
        try FileManager.default.createDirectory(atPath: run + "/report.html", withIntermediateDirectories: true)
        let r = try train(run)
        #expect(r.status == 0, "\(r.stderr)")
        let warnings = r.stderr.split(separator: "\n").filter { $0.contains("warning:") }
        #expect(warnings.count == 1, "\(r.stderr)")
        #expect(warnings.first?.contains("\(run)/report.html: not written") == true, "\(r.stderr)")
        #expect(warnings.first?.contains("is a directory") == true, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: run + "/weights.safetensors"))
    }
}

@Suite(.serialized) struct ReportRefusals {
    /// One line naming the file and what is wrong, a non-zero exit, and no page (nor a temporary file).
    func expectRefused(_ args: [String], mentions: String, nothingAt paths: [String]) throws {
        let r = try runCLI(["report"] + args)
        #expect(r.status != 0)
        let lines = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("OpenBLAS") }
        #expect(lines.count == 1 && lines[0].hasPrefix("bayesprune: "), "\(r.stderr)")
        #expect(lines.first?.contains(mentions) == true, "\(r.stderr)")
        for p in paths { #expect(!FileManager.default.fileExists(atPath: p), "\(p) was written") }
    }

    @Test func badRunDirectories() throws {
        let base = try temporaryDirectory("report-bad")
        try expectRefused(
            [base + "/missing"], mentions: "\(base)/missing: no such run directory", nothingAt: [base + "/missing"])
        try expectRefused(
            [base + "/missing", "--out", base + "/r.html"], mentions: "no such run directory",
            nothingAt: [base + "/r.html"])
        try FileManager.default.createDirectory(atPath: base + "/empty", withIntermediateDirectories: true)
        try expectRefused(
            [base + "/empty"], mentions: "\(base)/empty/config.json: missing", nothingAt: [base + "/empty/report.html"])
    }

    /// A run whose metrics.jsonl has a damaged line (and one whose report path holds another file).
    @Test func aDamagedMetricsLine() throws {
        let base = try temporaryDirectory("report-corrupt")
        let run = base + "/run"
        let r = try runCLI([
            "train", "--data", "mnist", "--data-dir", ReportStructure.images, "--model", "mlp", "--hidden", "8",
            "--epochs", "2", "--batch-size", "32", "--threads", "1", "--out", run,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        try FileManager.default.removeItem(atPath: run + "/report.html")
        let metrics = run + "/metrics.jsonl"
        let good = try String(contentsOfFile: metrics, encoding: .utf8).split(separator: "\n").map(String.init)
        let cases: [(String, String)] = [
            (good[0] + "\n{\"epoch\": 2, \"sam", "metrics.jsonl: line 2: not JSON"),
            (
                good[0] + "\n"
                    + good[1].replacingOccurrences(of: "\"train_loss\":", with: "\"train_loss\":\"x\",\"y\":"),
                "metrics.jsonl: line 2: train_loss has the wrong type"
            ),
            (good[1] + "\n" + good[0] + "\n", "metrics.jsonl: line 2: epoch 1 after epoch 2"),
            (good[0].replacingOccurrences(of: "\"epoch\":1,", with: "") + "\n", "metrics.jsonl: line 1: epoch missing"),
            ("", "metrics.jsonl: no epoch recorded yet"),
        ]
        for (text, message) in cases {
            try writeText(text, to: metrics)
            try expectRefused([run], mentions: message, nothingAt: [run + "/report.html"])
            try expectRefused(
                [run, "--out", base + "/elsewhere.html"], mentions: message, nothingAt: [base + "/elsewhere.html"])
        }
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: run)).contains { $0.contains(".tmp-") })
        try FileManager.default.removeItem(atPath: metrics)
        try expectRefused([run], mentions: "metrics.jsonl: missing", nothingAt: [run + "/report.html"])

        // --out never replaces a file that is not a report.
        try writeText(good.joined(separator: "\n") + "\n", to: metrics)
        try writeText("notes", to: base + "/notes.html")
        try expectRefused(
            [run, "--out", base + "/notes.html"], mentions: "notes.html: exists and is not a bayesprune report",
            nothingAt: [])
        #expect(try String(contentsOfFile: base + "/notes.html", encoding: .utf8) == "notes")
        #expect(try runCLI(["report", run, "--out", base + "/page.html"]).status == 0)
        #expect(try runCLI(["report", run, "--out", base + "/page.html"]).status == 0)  // its own report: replaced
    }
}
