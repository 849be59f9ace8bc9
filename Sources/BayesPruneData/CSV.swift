// CSV tables: a header row, numeric feature columns and one target column (by name, default the
// last). Handles CRLF, a UTF-8 BOM, blank lines, a missing trailing newline and RFC 4180 quoted
// fields; every data cell must be a finite number. Task kind is given or inferred (see `inferTask`).
import BayesPruneKernels
import Foundation

public enum CSVReader {
    /// Inferred multiclass tasks have at most this many classes.
    public static let maxInferredClasses = 100
    /// Explicit multiclass labels above this are rejected: they would allocate absurd output layers.
    public static let maxClasses = 100_000
    /// RNG stream of the hold-out split, distinct from the shuffling and augmentation streams.
    static let holdoutStream: UInt64 = 0x484F_4C44_4F55_5400

    /// A parsed table: header plus row-major numeric cells and each row's line number in the file.
    public struct Table {
        public var path: String
        public var header: [String]
        public var rowCount: Int
        public var values: [Double]
        public var lines: [Int]

        public func column(_ index: Int) -> [Double] {
            (0..<rowCount).map { values[$0 * header.count + index] }
        }
    }

    /// Splits bytes into records of fields, each with the line number where the record starts.
    static func records(_ bytes: [UInt8], path: String) throws -> [(line: Int, fields: [String])] {
        let (quote, comma, newline) = (UInt8(ascii: "\""), UInt8(ascii: ","), UInt8(ascii: "\n"))
        let (carriageReturn, space, tab) = (UInt8(ascii: "\r"), UInt8(ascii: " "), UInt8(ascii: "\t"))
        var result = [(line: Int, fields: [String])]()
        var fields = [String]()
        var field = [UInt8]()
        var line = 1
        var recordLine = 1
        var inQuotes = false
        var wasQuoted = false
        var afterClosingQuote = false
        var i = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0

        func endField() {
            var text = String(decoding: field, as: UTF8.self)
            if !wasQuoted { text = text.trimmingCharacters(in: .whitespaces) }
            fields.append(text)
            field.removeAll(keepingCapacity: true)
            wasQuoted = false
            afterClosingQuote = false
        }
        func endRecord() {
            let lastWasQuoted = wasQuoted
            endField()
            // A blank (or whitespace-only) line is not a record.
            if !(fields.count == 1 && fields[0].isEmpty && !lastWasQuoted) { result.append((recordLine, fields)) }
            fields.removeAll(keepingCapacity: true)
        }

        while i < bytes.count {
            let b = bytes[i]
            i += 1
            if inQuotes {
                if b == quote {
                    if i < bytes.count && bytes[i] == quote {
                        field.append(quote)
                        i += 1
                    } else {
                        inQuotes = false
                        afterClosingQuote = true
                    }
                } else {
                    if b == newline { line += 1 }
                    field.append(b)
                }
                continue
            }
            switch b {
            case comma:
                endField()
            case newline, carriageReturn:
                // CRLF counts once; a lone CR (old Mac files) ends the line too.
                if b == carriageReturn && i < bytes.count && bytes[i] == newline { i += 1 }
                endRecord()
                line += 1
                recordLine = line
            case quote:
                guard !wasQuoted, field.allSatisfy({ $0 == space || $0 == tab }) else {
                    throw DataError(path, "line \(line): stray quote inside a field")
                }
                field.removeAll(keepingCapacity: true)
                inQuotes = true
                wasQuoted = true
            default:
                if afterClosingQuote {
                    guard b == space || b == tab else {
                        throw DataError(path, "line \(line): unexpected text after a closing quote")
                    }
                } else {
                    field.append(b)
                }
            }
        }
        if inQuotes { throw DataError(path, "line \(recordLine): unterminated quoted field") }
        if !field.isEmpty || !fields.isEmpty || wasQuoted { endRecord() }
        return result
    }

    /// Whether `s` is a number written the plain way: optional sign, digits with an optional decimal
    /// point, optional exponent (`-1.5`, `.5`, `2e-3`). Swift's `Double(_:)` also takes "inf", "nan" and
    /// hexadecimal floats, none of which a data file should contain.
    static func isDecimalNumber(_ s: String) -> Bool {
        var bytes = Array(s.utf8)[...]
        if let f = bytes.first, f == UInt8(ascii: "+") || f == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        func digits() -> Int {
            let n = bytes.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }.count
            bytes = bytes.dropFirst(n)
            return n
        }
        var mantissa = digits()
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            mantissa += digits()
        }
        guard mantissa > 0 else { return false }
        if let e = bytes.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if let f = bytes.first, f == UInt8(ascii: "+") || f == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
            guard digits() > 0 else { return false }
        }
        return bytes.isEmpty
    }

    /// Reads and validates a table: header present, ≥ 2 uniquely named columns, rectangular, numeric.
    public static func readTable(path: String) throws -> Table {
        let bytes = try FileBytes.read(path)
        return try fastTable(bytes, path: path) ?? generalTable(bytes, path: path)
    }

    /// The general reader: any RFC 4180 file, and every error message.
    static func generalTable(_ bytes: [UInt8], path: String) throws -> Table {
        let parsed = try records(bytes, path: path)
        guard let first = parsed.first else { throw DataError(path, "empty file (no header row)") }
        let header = try checkHeader(first, path: path)
        let rows = parsed.dropFirst()
        guard !rows.isEmpty else { throw DataError(path, "no data rows after the header") }
        var values = [Double]()
        values.reserveCapacity(rows.count * header.count)
        var lines = [Int]()
        lines.reserveCapacity(rows.count)
        for row in rows {
            guard row.fields.count == header.count else {
                throw DataError(
                    path, "line \(row.line): ragged row: expected \(header.count) columns, got \(row.fields.count)")
            }
            for (c, cell) in row.fields.enumerated() {
                let place = "line \(row.line), column \(c + 1) (\(printableName(header[c])))"
                // Spaces inside quotes matter for names, never for numbers.
                let text = cell.trimmingCharacters(in: .whitespaces)
                guard isDecimalNumber(text), let value = Double(text) else {
                    throw DataError(
                        path, "\(place): \(printableName(cell)) is not a number in decimal or scientific notation")
                }
                // Features and targets are 32-bit floats: a value that overflows one is refused here, by
                // name, rather than becoming ±inf later.
                guard value.isFinite, Float(value).isFinite else {
                    throw DataError(path, "\(place): \(printableName(cell)) does not fit a 32-bit float (|x| < 3.4e38)")
                }
                values.append(value)
            }
            lines.append(row.line)
        }
        return Table(path: path, header: header, rowCount: rows.count, values: values, lines: lines)
    }

    /// The header's names, after checking there are at least two, none empty, none repeated, and not
    /// only numbers (a file without a header).
    static func checkHeader(_ first: (line: Int, fields: [String]), path: String) throws -> [String] {
        let header = first.fields
        if header.allSatisfy({ Double($0) != nil }) {
            throw DataError(
                path, "missing header: line \(first.line) holds only numbers; the first row must name the columns")
        }
        guard header.count >= 2 else {
            throw DataError(path, "fewer than 2 columns (\(header.count)); need feature columns and a target column")
        }
        var seen = Set<String>()
        for (c, name) in header.enumerated() {
            if name.isEmpty { throw DataError(path, "line \(first.line): column \(c + 1) of the header has no name") }
            if !seen.insert(name).inserted {
                throw DataError(path, "line \(first.line): duplicate column name \(printableName(name))")
            }
        }
        return header
    }

    /// The table by the fast path (CSVFastPath.swift), or nil when the general reader must read it.
    static func fastTable(_ bytes: [UInt8], path: String) -> Table? {
        guard let end = bytes.firstIndex(of: UInt8(ascii: "\n")),
            let parsed = try? records(Array(bytes[...end]), path: path), parsed.count == 1, parsed[0].line == 1,
            let header = try? checkHeader(parsed[0], path: path),
            let rows = fastRows(bytes, from: end + 1, columns: header.count, headerLine: 1), !rows.lines.isEmpty
        else { return nil }
        return Table(path: path, header: header, rowCount: rows.lines.count, values: rows.values, lines: rows.lines)
    }

    /// The task a target column implies when none is given:
    /// - binary: every value is 0 or 1;
    /// - multiclass: every value is a non-negative integer and the distinct values are exactly
    ///   0, 1, …, K−1 with K ≤ 100 (so an integer target such as a 3…9 quality score is regression);
    /// - regression: anything else.
    public static func inferTask(_ targets: [Double]) -> TaskKind {
        if targets.allSatisfy({ $0 == 0 || $0 == 1 }) { return .binary }
        var present = [Bool](repeating: false, count: maxInferredClasses)
        for value in targets {
            guard value >= 0, value < Double(maxInferredClasses), value == value.rounded() else { return .regression }
            present[Int(value)] = true
        }
        let classes = (present.lastIndex(of: true) ?? 0) + 1
        return present[0..<classes].allSatisfy { $0 } ? .multiclass : .regression
    }

    /// The class count of a classification target (1 for regression), after checking every label of
    /// every table: binary targets are 0 or 1, multiclass targets class indices 0..K-1 with K >= 2.
    static func classCount(_ tables: [Table], targetIndex: Int, task: TaskKind, trainPath: String) throws -> Int {
        guard task != .regression else { return 1 }
        var maxLabel = 0
        for table in tables {
            for r in 0..<table.rowCount {
                let value = table.values[r * table.header.count + targetIndex]
                let name = table.header[targetIndex]
                if task == .binary {
                    guard value == 0 || value == 1 else {
                        throw DataError(
                            table.path,
                            "line \(table.lines[r]): binary target \(printableName(name)) must be 0 or 1, got "
                                + "\(formatted(value))"
                        )
                    }
                } else {
                    guard value >= 0, value == value.rounded(), value < Double(maxClasses) else {
                        throw DataError(
                            table.path,
                            "line \(table.lines[r]): multiclass target \(printableName(name)) must be a class index "
                                + "0..K-1, got \(formatted(value))"
                        )
                    }
                }
                maxLabel = max(maxLabel, Int(value))
            }
        }
        let classes = task == .binary ? 2 : maxLabel + 1
        if task == .multiclass && classes < 2 {
            throw DataError(
                trainPath, "multiclass target \(printableName(tables[0].header[targetIndex])) has a single class (0)")
        }
        return classes
    }

    /// Train and test sets from a CSV file, with an optional separate test file; without one, a
    /// seeded `holdoutFraction` of the rows (at least one, never all) becomes the test set.
    public static func load(
        trainPath: String, testPath: String? = nil, target: String? = nil, task: TaskKind? = nil,
        seed: UInt64, holdoutFraction: Double = 0.2
    ) throws -> (train: Dataset, test: Dataset) {
        guard holdoutFraction > 0, holdoutFraction < 1 else {
            throw DataError("holdout fraction \(holdoutFraction) must be strictly between 0 and 1")
        }
        let trainTable = try readTable(path: trainPath)
        let targetIndex: Int
        if let target {
            guard let index = trainTable.header.firstIndex(of: target) else {
                let columns = trainTable.header.map(printableName).joined(separator: ", ")
                throw DataError(trainPath, "unknown target column \(printableName(target)); columns are \(columns)")
            }
            targetIndex = index
        } else {
            targetIndex = trainTable.header.count - 1
        }
        var tables = [trainTable]
        if let testPath {
            let testTable = try readTable(path: testPath)
            guard testTable.header == trainTable.header else {
                throw DataError(
                    testPath,
                    "header (\(testTable.header.map(printableName).joined(separator: ", "))) differs from \(trainPath) "
                        + "(\(trainTable.header.map(printableName).joined(separator: ", ")))"
                )
            }
            tables.append(testTable)
        }
        let resolvedTask = task ?? inferTask(trainTable.column(targetIndex))

        // Validate every label before choosing the class count, which spans both files.
        let classes = try classCount(tables, targetIndex: targetIndex, task: resolvedTask, trainPath: trainPath)

        let featureNames = trainTable.header.enumerated().filter { $0.offset != targetIndex }.map(\.element)
        let baseName = URL(fileURLWithPath: trainPath).lastPathComponent
        let sets = tables.enumerated().map { (k, table) in
            makeDataset(
                table, targetIndex: targetIndex, task: resolvedTask, classes: classes,
                featureNames: featureNames,
                name: k == 0 ? baseName + " train" : URL(fileURLWithPath: table.path).lastPathComponent + " test")
        }
        if sets.count == 2 { return (sets[0], sets[1]) }

        let all = sets[0]
        guard all.count >= 2 else {
            throw DataError(trainPath, "need at least 2 data rows to hold out a test set (or give a test file)")
        }
        let testCount = min(all.count - 1, max(1, Int((Double(all.count) * holdoutFraction).rounded())))
        var rng = Xoshiro256(seed: seed, stream: holdoutStream)
        let order = rng.permutation(all.count).map(Int.init)
        // Sorted indices keep the file's row order within each split.
        let testIndices = order[0..<testCount].sorted()
        let trainIndices = order[testCount...].sorted()
        return (
            all.subset(trainIndices, name: baseName + " train"),
            all.subset(testIndices, name: baseName + " held-out test")
        )
    }

    static func makeDataset(
        _ table: Table, targetIndex: Int, task: TaskKind, classes: Int, featureNames: [String], name: String
    ) -> Dataset {
        let columns = table.header.count
        var features = [Float]()
        features.reserveCapacity(table.rowCount * (columns - 1))
        var labels = [Int32]()
        var targets = [Float]()
        for r in 0..<table.rowCount {
            for c in 0..<columns where c != targetIndex { features.append(Float(table.values[r * columns + c])) }
            let value = table.values[r * columns + targetIndex]
            if task == .regression { targets.append(Float(value)) } else { labels.append(Int32(value)) }
        }
        return Dataset(
            name: name, count: table.rowCount, channels: columns - 1, height: 1, width: 1,
            features: features, labels: labels, targets: targets, task: task, classes: classes,
            featureNames: featureNames)
    }

    /// Integers print without a trailing ".0" so messages echo the file's text.
    static func formatted(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
