// What the report shows, gathered from a run directory: config.json, every line of metrics.jsonl, the run
// scored again on its test set (the last weights and the model average, for the reliability diagrams),
// and the out-of-distribution results `evaluate --ood-data` saved. Writing replaces only a report: the
// page goes to a temporary name and is renamed over the target.

import BayesPruneEvaluation
import BayesPruneRunIO
import BayesPruneTraining
import Foundation

/// A run directory's report: its record, its epochs, its scores and its out-of-distribution results.
public struct RunReport {
    /// The run directory, as given.
    public var directory: String
    public var manifest: RunManifest
    /// metrics.jsonl, one record per epoch.
    public var epochs: [EpochMetrics]
    /// The run's scores (nil when it has no final weights yet: a run still training): from the training
    /// run's last evaluation when `train` writes the report, else the run scored again.
    public var scores: RunScores?
    /// Whether `scores` came from the training run's last evaluation (`load(scores:)`).
    public var scoresFromTraining = false
    /// `evaluate --ood-data` results of this run, by file name.
    public var ood: [OODResult]
    /// Result files in the directory that belong to another run (an earlier run in the same place).
    public var otherRunsOOD: [String]

    /// Reads `directory` and re-evaluates it (with `dataDir` overriding the recorded data directory), unless
    /// `given` holds the scores of the run's last evaluation (what `train` passes when it ends).
    /// Throws `OutputError` naming the file and what is wrong with it when the directory is missing or not
    /// a run directory, or a line of metrics.jsonl does not read.
    public static func load(
        directory: String, dataDir: String? = nil, scores given: RunScores? = nil
    ) throws
        -> RunReport
    {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw OutputError(description: "\(directory): no such run directory")
        }
        guard isDirectory.boolValue else {
            throw OutputError(description: "\(directory): not a run directory (a file)")
        }
        let manifest = try RunManifest.load(directory: directory)
        let metricsPath = directory + "/metrics.jsonl"
        let epochs = try EpochMetrics.read(path: metricsPath)
        guard !epochs.isEmpty else {
            throw OutputError(description: "\(metricsPath): no epoch recorded yet")
        }
        var scores = given
        if scores == nil && FileManager.default.fileExists(atPath: directory + "/weights.safetensors") {
            scores = try RunEvaluation.score(directory: directory, dataDir: dataDir)
        }
        let files = try OODResult.loadAll(directory: directory)
        let own = files.filter { $0.runId == manifest.runId }
        var report = RunReport(
            directory: directory, manifest: manifest, epochs: epochs, scores: scores, ood: own,
            otherRunsOOD: files.filter { $0.runId != manifest.runId }.map(\.fileName))
        report.scoresFromTraining = given != nil
        return report
    }

    /// The page, as one self-contained HTML document.
    public func html() -> String { ReportPage(report: self).render() }

    /// Marks a page as a report, so writing one replaces only a report.
    static let generatorTag = "name=\"generator\" content=\"bayesprune report\""

    /// Writes the page to `path` atomically. An existing file is replaced only when it is a report written
    /// by bayesprune; anything else there is refused (`OutputError` naming the path).
    public func write(to path: String) throws {
        try Self.checkReplaceable(path)
        try AtomicFile.write(html(), to: path)
    }

    /// Throws unless `path` is free or holds an earlier report.
    static func checkReplaceable(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return }
        guard !isDirectory.boolValue else { throw OutputError(description: "\(path): is a directory") }
        let head = FileHandle(forReadingAtPath: path).map { h -> Data in
            defer { try? h.close() }
            return h.readData(ofLength: 4096)
        }
        guard let head, String(decoding: head, as: UTF8.self).contains(generatorTag) else {
            throw OutputError(description: "\(path): exists and is not a bayesprune report; give another --out")
        }
    }
}
