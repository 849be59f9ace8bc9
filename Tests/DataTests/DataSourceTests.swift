// The top-level entry: option combinations are validated with one-line errors naming the option,
// kinds dispatch to the right loader, and the real Debian Fashion-MNIST loads when installed.
import BayesPruneData
import Foundation
import TestSupport
import Testing

@Suite struct DataSourceTests {
    @Test func optionCombinationsAreValidated() {
        #expect(DataKind(rawValue: "svhn") == nil && DataKind(rawValue: "fashion-mnist") == .fashionMNIST)
        expectDataError(containing: ["train:", "required for csv"]) {
            _ = try DataSource.load(kind: .csv, testFile: "x.csv", seed: 0)
        }
        expectDataError(containing: ["data-dir:", "not used for csv"]) {
            _ = try DataSource.load(kind: .csv, dataDir: "/tmp", trainFile: "x.csv", seed: 0)
        }
        expectDataError(containing: ["data-dir:", "required for cifar10"]) {
            _ = try DataSource.load(kind: .cifar10, seed: 0)
        }
        expectDataError(containing: ["data-dir:", "required for cifar100"]) {
            _ = try DataSource.load(kind: .cifar100, seed: 0, cifar100Labels: .coarse)
        }
        expectDataError(containing: ["data-dir:", "required for mnist"]) {
            _ = try DataSource.load(kind: .mnist, seed: 0)
        }
        expectDataError(containing: ["train:", "only for csv"]) {
            _ = try DataSource.load(kind: .cifar10, dataDir: "/tmp", trainFile: "a.csv", seed: 0)
        }
        expectDataError(containing: ["target:", "only for csv"]) {
            _ = try DataSource.load(kind: .mnist, dataDir: "/tmp", target: "y", seed: 0)
        }
        expectDataError(containing: ["task:", "multiclass"]) {
            _ = try DataSource.load(kind: .fashionMNIST, dataDir: "/tmp", task: .regression, seed: 0)
        }
    }

    @Test func csvAndIdxDispatch() throws {
        try withTemporaryDirectory { dir in
            var text = "x,y\n"
            for r in 0..<10 { text += "\(r),\(r % 2)\n" }
            try writeText(text, to: dir + "/d.csv")
            let (train, test) = try DataSource.load(kind: .csv, trainFile: dir + "/d.csv", seed: 4)
            #expect(train.count == 8 && test.count == 2 && train.task == .binary)

            let pixels = testBytes(2 * 28 * 28, seed: 1)
            for name in [IDXReader.trainImagesName, IDXReader.testImagesName] {
                try writeGzip(idxImages(count: 2, rows: 28, cols: 28, pixels: pixels), to: dir + "/" + name + ".gz")
            }
            for name in [IDXReader.trainLabelsName, IDXReader.testLabelsName] {
                try writeBytes(idxLabels([4, 9]), to: dir + "/" + name)
            }
            let fashion = try DataSource.load(kind: .fashionMNIST, dataDir: dir, seed: 0)
            #expect(fashion.train.labels == [4, 9] && fashion.test.features == pixels.map { Float($0) / 255 })
            #expect(fashion.train.height == 28 && fashion.train.width == 28 && fashion.train.channels == 1)
        }
    }

    /// Not skipped when the data set is missing: a missing system data set is a failure naming the package.
    @Test func realFashionMNIST() throws {
        let file = IDXReader.fashionMNISTSystemDirectory + "/train-images-idx3-ubyte.gz"
        try #require(
            FileManager.default.fileExists(atPath: file),
            "\(file) is missing: apt-get install dataset-fashion-mnist (see launch/deps.sh)"
        )
        let (train, test) = try DataSource.load(kind: .fashionMNIST, seed: 0)
        #expect(train.count == 60_000 && test.count == 10_000)
        #expect((train.channels, train.height, train.width) == (1, 28, 28))
        #expect(train.features.count == 60_000 * 784 && test.features.count == 10_000 * 784)
        #expect(train.labels.allSatisfy { (0..<10).contains($0) } && test.labels.allSatisfy { (0..<10).contains($0) })
        // Fashion-MNIST is balanced: 6000 training and 1000 test images per class.
        var trainPerClass = [Int](repeating: 0, count: 10)
        var testPerClass = trainPerClass
        for label in train.labels { trainPerClass[Int(label)] += 1 }
        for label in test.labels { testPerClass[Int(label)] += 1 }
        #expect(trainPerClass == [Int](repeating: 6000, count: 10) && testPerClass == [Int](repeating: 1000, count: 10))
        #expect(train.features.allSatisfy { $0 >= 0 && $0 <= 1 } && train.features.contains(1))
    }
}
