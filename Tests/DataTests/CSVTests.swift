// CSV loading: values, column order and target selection, CRLF/quotes/blank lines, the task
// inference rule, the seeded hold-out split, a separate test file, and every error case.

import TestSupport
import Testing

@testable import BayesPruneData

@Suite struct CSVTests {
    @Test func valuesAndTargetByName() throws {
        try withTemporaryDirectory { dir in
            // CRLF endings, no trailing newline, a blank line, spaces around cells, target in the middle.
            try writeText("a,label,b\r\n1.5, 2 ,-3\r\n\r\n4,0,5e-1\r\n7,1,8", to: dir + "/t.csv")
            try writeText("a,label,b\n0,1,2\n", to: dir + "/test.csv")
            let (train, test) = try CSVReader.load(
                trainPath: dir + "/t.csv", testPath: dir + "/test.csv",
                target: "label", seed: 1)
            #expect(train.task == .multiclass && train.classes == 3)
            #expect(train.featureNames == ["a", "b"])
            #expect((train.count, train.channels, train.height, train.width) == (3, 2, 1, 1))
            #expect(train.features == [1.5, -3, 4, 0.5, 7, 8])
            #expect(train.labels == [2, 0, 1])
            #expect(test.count == 1 && test.features == [0, 2] && test.labels == [1] && test.classes == 3)
        }
    }

    @Test func quotedFieldsAndDefaultLastColumnTarget() throws {
        try withTemporaryDirectory { dir in
            try writeText(
                "\u{FEFF}\"x, first\",\"say \"\"y\"\"\",\"z\"\n\"1\",2,\" 3.25\"\n4,5,6\n", to: dir + "/q.csv")
            let (train, test) = try CSVReader.load(trainPath: dir + "/q.csv", testPath: dir + "/q.csv", seed: 0)
            #expect(train.featureNames == ["x, first", "say \"y\""])
            #expect(train.task == .regression && train.classes == 1 && train.labels.isEmpty)
            #expect(train.targets == [3.25, 6] && train.features == [1, 2, 4, 5])
            #expect(test.targets == train.targets)
        }
    }

    @Test func taskInferenceRule() {
        #expect(CSVReader.inferTask([0, 1, 1, 0]) == .binary)
        #expect(CSVReader.inferTask([1, 1]) == .binary)
        #expect(CSVReader.inferTask([0, 2, 1, 2]) == .multiclass)
        #expect(CSVReader.inferTask((0..<100).map(Double.init)) == .multiclass)
        // 101 classes, a gap in 0..K-1, a non-integer, a negative value: all regression.
        #expect(CSVReader.inferTask((0...100).map(Double.init)) == .regression)
        #expect(CSVReader.inferTask([3, 4, 5, 9]) == .regression)
        #expect(CSVReader.inferTask([0, 1, 2.5]) == .regression)
        #expect(CSVReader.inferTask([0, 1, -1]) == .regression)
    }

    @Test func explicitTaskOverridesInference() throws {
        try withTemporaryDirectory { dir in
            try writeText("f,y\n1,0\n2,1\n3,1\n", to: dir + "/b.csv")
            let binary = try CSVReader.load(trainPath: dir + "/b.csv", testPath: dir + "/b.csv", seed: 0)
            #expect(binary.train.task == .binary && binary.train.classes == 2 && binary.train.labels == [0, 1, 1])
            let regression = try CSVReader.load(
                trainPath: dir + "/b.csv", testPath: dir + "/b.csv", task: .regression, seed: 0)
            #expect(regression.train.targets == [0, 1, 1] && regression.train.labels.isEmpty)
            let multiclass = try CSVReader.load(
                trainPath: dir + "/b.csv", testPath: dir + "/b.csv", task: .multiclass, seed: 0)
            #expect(multiclass.train.task == .multiclass && multiclass.train.classes == 2)
        }
    }

    @Test func seededHoldoutSplit() throws {
        try withTemporaryDirectory { dir in
            let rows = 50
            var text = "f1,f2,y\n"
            for r in 0..<rows { text += "\(r),\(r * 2),\(Double(r) + 0.5)\n" }
            try writeText(text, to: dir + "/r.csv")
            let first = try CSVReader.load(trainPath: dir + "/r.csv", seed: 42)
            let again = try CSVReader.load(trainPath: dir + "/r.csv", seed: 42)
            let other = try CSVReader.load(trainPath: dir + "/r.csv", seed: 43)
            #expect(first.test.count == 10 && first.train.count == 40)
            // Rows are identified by f1; each row appears in exactly one split with its own values.
            let trainRows = stride(from: 0, to: first.train.features.count, by: 2).map { Int(first.train.features[$0]) }
            let testRows = stride(from: 0, to: first.test.features.count, by: 2).map { Int(first.test.features[$0]) }
            #expect(Set(trainRows).isDisjoint(with: testRows))
            #expect((trainRows + testRows).sorted() == Array(0..<rows))
            #expect(trainRows == trainRows.sorted() && testRows == testRows.sorted())
            for (k, r) in testRows.enumerated() {
                #expect(first.test.features[2 * k + 1] == Float(2 * r) && first.test.targets[k] == Float(r) + 0.5)
            }
            #expect(again.test.features == first.test.features && again.train.targets == first.train.targets)
            #expect(other.test.features != first.test.features)
        }
    }

    @Test func fileLevelErrors() throws {
        try withTemporaryDirectory { dir in
            expectDataError(containing: ["absent.csv", "missing file"]) {
                _ = try CSVReader.load(trainPath: dir + "/absent.csv", seed: 0)
            }
            try writeText("", to: dir + "/empty.csv")
            expectDataError(containing: ["empty.csv", "empty file"]) {
                _ = try CSVReader.load(trainPath: dir + "/empty.csv", seed: 0)
            }
            try writeText("\n\r\n", to: dir + "/blank.csv")
            expectDataError(containing: ["blank.csv", "empty file"]) {
                _ = try CSVReader.load(trainPath: dir + "/blank.csv", seed: 0)
            }
            try writeText("1,2,3\n4,5,6\n", to: dir + "/noheader.csv")
            expectDataError(containing: ["noheader.csv", "missing header"]) {
                _ = try CSVReader.load(trainPath: dir + "/noheader.csv", seed: 0)
            }
            try writeText("y\n1\n2\n", to: dir + "/one.csv")
            expectDataError(containing: ["one.csv", "fewer than 2 columns"]) {
                _ = try CSVReader.load(trainPath: dir + "/one.csv", seed: 0)
            }
            try writeText("a,b\n1,2\n3,4\n", to: dir + "/ok.csv")
            expectDataError(containing: ["ok.csv", "unknown target column \"price\"", "columns are \"a\", \"b\""]) {
                _ = try CSVReader.load(trainPath: dir + "/ok.csv", target: "price", seed: 0)
            }
            try writeText("a,c\n1,2\n", to: dir + "/otherheader.csv")
            expectDataError(containing: ["otherheader.csv", "differs from"]) {
                _ = try CSVReader.load(trainPath: dir + "/ok.csv", testPath: dir + "/otherheader.csv", seed: 0)
            }
        }
    }

    @Test func cellLevelErrorsNameLineAndColumn() throws {
        try withTemporaryDirectory { dir in
            try writeText("a,b,y\n1,2,0\n3,abc,1\n", to: dir + "/text.csv")
            expectDataError(containing: ["text.csv", "line 3, column 2 (\"b\")", "\"abc\" is not a number"]) {
                _ = try CSVReader.load(trainPath: dir + "/text.csv", seed: 0)
            }
            try writeText("a,b,y\r\n1,2,0\r\n\r\n3,,1\r\n", to: dir + "/hole.csv")
            expectDataError(containing: ["hole.csv", "line 4, column 2 (\"b\")", "\"\" is not a number"]) {
                _ = try CSVReader.load(trainPath: dir + "/hole.csv", seed: 0)
            }
            try writeText("a,b,y\n1,2,0\n3,4,1\n5,6\n", to: dir + "/ragged.csv")
            expectDataError(containing: ["ragged.csv", "line 4", "ragged row", "expected 3 columns, got 2"]) {
                _ = try CSVReader.load(trainPath: dir + "/ragged.csv", seed: 0)
            }
            try writeText("a,y\n1,0\n2,3\n3,2.5\n", to: dir + "/frac.csv")
            expectDataError(containing: ["frac.csv", "line 4", "multiclass", "2.5"]) {
                _ = try CSVReader.load(trainPath: dir + "/frac.csv", task: .multiclass, seed: 0)
            }
            try writeText("a,y\n1,0\n2,1\n", to: dir + "/bin-train.csv")
            try writeText("a,y\n1,1\n2,2\n", to: dir + "/bin-test.csv")
            expectDataError(containing: ["bin-test.csv", "line 3", "must be 0 or 1, got 2"]) {
                _ = try CSVReader.load(trainPath: dir + "/bin-train.csv", testPath: dir + "/bin-test.csv", seed: 0)
            }
            try writeText("a,y\n\"1,0\n", to: dir + "/quote.csv")
            expectDataError(containing: ["quote.csv", "line 2", "unterminated quoted field"]) {
                _ = try CSVReader.load(trainPath: dir + "/quote.csv", seed: 0)
            }
        }
    }

    /// A cell is a number only when it is written in decimal or scientific notation and fits a 32-bit
    /// float; anything else is refused with file, line and column, in a training or a test file alike.
    @Test(arguments: [
        ("1e39", "does not fit a 32-bit float"), ("-4e38", "does not fit a 32-bit float"),
        ("1e400", "does not fit a 32-bit float"), ("inf", "is not a number"), ("nan", "is not a number"),
        ("0x1p3", "is not a number"), ("1e", "is not a number"), (".", "is not a number"), ("1.2.3", "is not a number"),
        ("+-1", "is not a number"), ("1_000", "is not a number"),
    ])
    func strictCells(cell: String, problem: String) throws {
        try withTemporaryDirectory { dir in
            try writeText("a,b,y\n1,2,0.5\n3,4,1.5\n", to: dir + "/ok.csv")
            try writeText("a,b,y\n1,2,0.5\n3,\(cell),1.5\n", to: dir + "/bad.csv")
            expectDataError(containing: ["bad.csv", "line 3, column 2 (\"b\")", problem]) {
                _ = try CSVReader.load(trainPath: dir + "/bad.csv", seed: 0)
            }
            expectDataError(containing: ["bad.csv", "line 3, column 2 (\"b\")", problem]) {
                _ = try CSVReader.load(trainPath: dir + "/ok.csv", testPath: dir + "/bad.csv", seed: 0)
            }
        }
    }

    @Test func plainNumbersAreAccepted() {
        for good in ["0", "-1", "+2", "1.", ".5", "-0.25", "3e8", "3E+8", "2.5e-3", "3.4e38", "1e-45"] {
            #expect(CSVReader.isDecimalNumber(good), "\(good)")
        }
        for bad in ["", "e5", "-", "1e+", "0x10", "infinity", "NaN", " 1", "1 ", "1,0"] {
            #expect(!CSVReader.isDecimalNumber(bad), "\(bad)")
        }
    }
}
