// Normalization statistics against a naive two-pass Double computation, standardized moments after
// applying them, constant channels, and the regression target scaling round trip.
import BayesPruneData
import TestSupport
import Testing

/// Per-channel mean and population std by two plain passes in Double.
func naiveChannelMoments(_ data: Dataset) -> (mean: [Double], std: [Double]) {
    let plane = data.height * data.width
    var means = [Double]()
    var stds = [Double]()
    for c in 0..<data.channels {
        var values = [Double]()
        for n in 0..<data.count {
            for i in 0..<plane { values.append(Double(data.features[n * data.exampleSize + c * plane + i])) }
        }
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
        means.append(mean)
        stds.append(variance.squareRoot())
    }
    return (means, stds)
}

func imageDataset(count: Int, channels: Int, height: Int, width: Int, seed: UInt32) -> Dataset {
    let bytes = testBytes(count * channels * height * width, seed: seed)
    // Give channels different offsets and scales so a per-image or global statistic would fail.
    let plane = height * width
    let features = bytes.enumerated().map { (i, b) -> Float in
        let c = (i / plane) % channels
        return Float(b) / 255 * Float(c + 1) + Float(c) * 3
    }
    return Dataset(
        name: "synthetic", count: count, channels: channels, height: height, width: width,
        features: features, labels: (0..<count).map { Int32($0 % 10) }, targets: [],
        task: .multiclass, classes: 10)
}

@Suite struct NormalizationTests {
    @Test func statisticsMatchNaiveComputation() {
        let data = imageDataset(count: 20, channels: 3, height: 5, width: 4, seed: 11)
        let fitted = Normalization.fit(data)
        let naive = naiveChannelMoments(data)
        for c in 0..<3 {
            #expect(abs(Double(fitted.mean[c]) - naive.mean[c]) < 1e-5)
            #expect(abs(Double(fitted.std[c]) - naive.std[c]) < 1e-5)
        }
    }

    @Test func appliedTrainingDataIsStandardized() {
        var train = imageDataset(count: 30, channels: 3, height: 4, width: 4, seed: 12)
        var test = imageDataset(count: 5, channels: 3, height: 4, width: 4, seed: 13)
        let original = test.features
        let fitted = Normalization.fit(train)
        fitted.apply(to: &train)
        fitted.apply(to: &test)
        let after = naiveChannelMoments(train)
        for c in 0..<3 {
            #expect(abs(after.mean[c]) < 1e-5)
            #expect(abs(after.std[c] - 1) < 1e-4)
        }
        // The test set uses the training statistics, not its own.
        let i = 2 * 48 + 1 * 16 + 7
        #expect(abs(test.features[i] - (original[i] - fitted.mean[1]) / fitted.std[1]) < 1e-5)
    }

    @Test func csvColumnsAreNormalizedPerFeature() {
        var data = Dataset(
            name: "t", count: 4, channels: 2, height: 1, width: 1,
            features: [1, 100, 2, 200, 3, 300, 4, 400], labels: [], targets: [1, 2, 3, 4],
            task: .regression, classes: 1)
        let fitted = Normalization.fit(data)
        #expect(fitted.mean == [2.5, 250])
        #expect(
            abs(fitted.std[0] - Float(1.25).squareRoot()) < 1e-6
                && abs(fitted.std[1] - 100 * Float(1.25).squareRoot()) < 1e-3)
        fitted.apply(to: &data)
        #expect(abs(data.features[0] - data.features[1]) < 1e-6 && abs(data.features[6] + data.features[0]) < 1e-6)
    }

    @Test func constantChannelIsOnlyCentred() {
        var data = Dataset(
            name: "t", count: 3, channels: 2, height: 1, width: 1,
            features: [5, 1, 5, 2, 5, 3], labels: [0, 1, 0], targets: [], task: .binary, classes: 2)
        let fitted = Normalization.fit(data)
        #expect(fitted.std[0] == 1 && fitted.mean[0] == 5)
        fitted.apply(to: &data)
        #expect(data.features[0] == 0 && data.features[2] == 0 && data.features.allSatisfy { $0.isFinite })
    }

    @Test func targetScalingRoundTrip() {
        let targets: [Float] = [10, 12, 15, 19, 24]
        var data = Dataset(
            name: "t", count: 5, channels: 1, height: 1, width: 1, features: [0, 0, 0, 0, 0],
            labels: [], targets: targets, task: .regression, classes: 1)
        let scaling = TargetScaling.fit(data)
        let mean = targets.map(Double.init).reduce(0, +) / 5
        let std = (targets.map { (Double($0) - mean) * (Double($0) - mean) }.reduce(0, +) / 5).squareRoot()
        #expect(abs(Double(scaling.mean) - mean) < 1e-5 && abs(Double(scaling.std) - std) < 1e-5)
        scaling.apply(to: &data)
        #expect(abs(data.targets.reduce(0, +)) < 1e-5)
        #expect(abs(data.targets.map { $0 * $0 }.reduce(0, +) / 5 - 1) < 1e-5)
        for k in 0..<5 { #expect(abs(scaling.toOriginal(data.targets[k]) - targets[k]) < 1e-4) }
        #expect(abs(scaling.rmseInOriginalUnits(0.5) - 0.5 * std) < 1e-5)
    }
}
