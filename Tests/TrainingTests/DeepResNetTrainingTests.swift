// The deep ResNets end to end on generated CIFAR-10 binaries: every model trains (the loss falls), prunes
// by channel groups while training on its compact copy, and its compact export scores what the run's
// masked network scored.

import Foundation
import TestSupport
import Testing

/// CIFAR-10 binaries (5 training batches + test batch) of a learnable 10-class task: class k brightens
/// the 6-row band ⌊k/2⌋ mod 5 of channel k mod 3, on uniform noise.
func learnableCIFAR10(_ tag: String, perBatch: Int, test: Int) throws -> String {
    let dir = try temporaryDirectory(tag)
    func batch(_ n: Int, seed: UInt32) -> [UInt8] {
        let noise = testBytes(n * 3072, seed: seed)
        var bytes: [UInt8] = []
        for r in 0..<n {
            let k = (r * 7 + Int(seed)) % 10
            bytes.append(UInt8(k))
            for c in 0..<3 {
                for y in 0..<32 {
                    for x in 0..<32 {
                        let base = Int(noise[r * 3072 + c * 1024 + y * 32 + x]) / 3
                        let band = c == k % 3 && y / 6 == k / 2 % 5 ? 150 : 0
                        bytes.append(UInt8(min(255, base + band)))
                    }
                }
            }
        }
        return bytes
    }
    for b in 1...5 { try writeBytes(batch(perBatch, seed: UInt32(b)), to: dir + "/data_batch_\(b).bin") }
    try writeBytes(batch(test, seed: 99), to: dir + "/test_batch.bin")
    return dir
}

/// The compact export of `run` scores what the run's masked network scored (its last weights, on the same
/// test set): NLL within 1e-4 relative.
func expectCompactExportScoresLikeTheRun(
    _ run: String, metrics m: [String: Any], _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let out = run + "-compact"
    let e = try runCLI(["export", run, "--compact", out])
    #expect(e.status == 0, "\(e.stderr)", sourceLocation: sourceLocation)
    let ev = try runCLI(["evaluate", out])
    #expect(ev.status == 0, "\(ev.stderr)", sourceLocation: sourceLocation)
    let json = try JSONSerialization.jsonObject(with: Data(ev.stdout.utf8)) as! [String: Any]
    let (nll, runNLL) = ((json["last"] as! [String: Any])["nll"] as! Double, m["test_nll"] as! Double)
    #expect(
        abs(nll - runNLL) <= 1e-4 * max(1, runNLL), "\(what): export NLL \(nll) vs run \(runNLL)",
        sourceLocation: sourceLocation)
}

@Suite(.serialized) struct DeepResNetTraining {
    static let data = try! learnableCIFAR10("deep-cifar", perBatch: 32, test: 64)

    @Test(arguments: ["resnet18", "preact-resnet18", "wrn-16-4", "resnet50"])
    func trainsPrunesAndExports(model: String) throws {
        let run = try temporaryDirectory("deep-\(model)") + "/run"
        let r = try runRanks(
            0,
            [
                "train", "--data", "cifar10", "--data-dir", Self.data, "--model", model, "--epochs", "3",
                "--batch-size", "32", "--lr", "0.05", "--prune", "--warm-up", "1", "--conv-groups", "channels",
                "--target-sparsity", "0.5", "--target-epoch", "2", "--samples-per-cycle", "1", "--threads", "2",
                "--seed", "2", "--out", run,
            ])
        #expect(r.status == 0, "\(model): \(r.stderr)")
        let losses = try trainLosses(run)
        #expect(losses.count == 3 && losses[2] < losses[0], "\(model): train loss \(losses)")
        #expect(r.stderr.contains("training a compact copy"), "\(model): \(r.stderr)")
        let m = try lastMetrics(run)
        #expect((m["weight_sparsity"] as? Double ?? 0) >= 0.49, "\(model): \(m)")
        try expectCompactExportScoresLikeTheRun(run, metrics: m, model)
    }

    /// resnet18 on a generated image folder (JPEG and PNG files of several sizes, random-resized crops of
    /// 32×32): the loss falls, and the compact export of the pruned run scores what its masked network did
    /// on the center-cropped validation images.
    @Test func trainsOnAnImageFolder() throws {
        let data = try writeImageFolder(
            temporaryDirectory("deep-folder") + "/d", classes: 4, trainPerClass: 24, valPerClass: 8)
        let run = try temporaryDirectory("deep-folder-run") + "/run"
        let r = try runRanks(
            0,
            [
                "train", "--data", "image-folder", "--data-dir", data, "--image-size", "32", "--model", "resnet18",
                "--epochs", "3", "--batch-size", "16", "--lr", "0.05", "--prune", "--warm-up", "1", "--conv-groups",
                "channels", "--target-sparsity", "0.5", "--target-epoch", "2", "--samples-per-cycle", "1",
                "--threads", "2", "--seed", "2", "--out", run,
            ])
        #expect(r.status == 0, "\(r.stderr)")
        let losses = try trainLosses(run)
        #expect(losses.count == 3 && losses[2] < losses[0], "train loss \(losses)")
        let m = try lastMetrics(run)
        #expect((m["weight_sparsity"] as? Double ?? 0) >= 0.49, "\(m)")
        #expect((m["decode_images_per_second_per_thread"] as? Double ?? 0) > 0, "\(m)")
        try expectCompactExportScoresLikeTheRun(run, metrics: m, "resnet18 on an image folder")
    }
}
