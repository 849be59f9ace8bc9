// The CSV fast path against the general reader (its naive twin): the same values, bit for bit, and the
// same line numbers on every shape the fast path accepts; the general reader's answer (and its error
// messages) wherever the fast path declines. Also the paper examples' generator.

import Foundation
import TestSupport
import Testing

@testable import BayesPruneData
@testable import BayesPruneKernels

@Suite struct CSVFastPathTests {
    /// Cells in many spellings: signs, leading zeros, no integer part, exponents, 19+ digits (strtod's
    /// share), denormal-range and float32-edge magnitudes, spaces and tabs around them.
    static func cell(_ rng: inout Xoshiro256) -> String {
        let v = Double(rng.nextGaussian()) * pow(10, Double(Int(rng.next() % 9) - 4))
        switch rng.next() % 9 {
        case 0: return String(format: "%.6f", v)
        case 1: return String(format: "%.17g", v)
        case 2: return String(format: "%e", v)
        case 3: return "\(Int(v * 1000))"
        case 4: return String(format: " %.3f\t", v)
        case 5: return String(format: "+%.25f", abs(v))
        case 6: return "0000\(Int(abs(v) * 10)).5E-3"
        case 7: return v < 0 ? "-.5" : ".25e+2"
        default: return String(format: "%.9g", v * 1e33)
        }
    }

    static func table(rows: Int, columns: Int, seed: UInt64, lineEnd: String = "\n") -> String {
        var rng = Xoshiro256(seed: seed)
        var text = (0..<columns).map { "c\($0)" }.joined(separator: ",") + lineEnd
        for r in 0..<rows {
            if r % 7 == 3 { text += " \t" + lineEnd }  // blank lines count as lines, not rows
            text += (0..<columns).map { _ in cell(&rng) }.joined(separator: ",") + lineEnd
        }
        return text
    }

    /// Both line ends, with a byte-order mark, and without the last line's end.
    @Test(arguments: [("\n", false, false), ("\r\n", false, false), ("\n", true, true), ("\r\n", true, true)])
    func fastPathEqualsGeneralReader(lineEnd: String, bom: Bool, unterminated: Bool) throws {
        var text = Self.table(rows: 600, columns: 7, seed: 11, lineEnd: lineEnd)
        if unterminated { text.removeLast() }
        let bytes = (bom ? [0xEF, 0xBB, 0xBF] : []) + Array(text.utf8)
        let general = try CSVReader.generalTable(bytes, path: "t.csv")
        let fast = try #require(CSVReader.fastTable(bytes, path: "t.csv"))
        #expect(fast.header == general.header && fast.rowCount == general.rowCount && fast.lines == general.lines)
        #expect(fast.values.map(\.bitPattern) == general.values.map(\.bitPattern))
    }

    /// Chunked in parallel: a table large enough for several chunks gives the general reader's numbers.
    @Test func largeTableInChunks() throws {
        let bytes = Array(Self.table(rows: 60_000, columns: 30, seed: 5).utf8)
        #expect(bytes.count > 8 << 20)
        let general = try CSVReader.generalTable(bytes, path: "big.csv")
        let fast = try #require(CSVReader.fastTable(bytes, path: "big.csv"))
        #expect(fast.lines == general.lines)
        #expect(fast.values.map(\.bitPattern) == general.values.map(\.bitPattern))
    }

    /// Every file the fast path must leave to the general reader (which then reports or reads it).
    @Test(arguments: [
        "a,b\n1,2\n3\n",  // ragged row
        "a,b\n1,2\n3,4,5\n",  // too many cells
        "a,b\n1,x\n",  // not a number
        "a,b\n1,inf\n",  // Double(_:) would take it
        "a,b\n1,1e39\n",  // beyond float32
        "a,b\n1,\"2\"\n",  // quoted data
        "a,b\n1,2\r3,4\n",  // a lone carriage return ends a line
        "a,b\n1,\u{00A0}2\n",  // a space the general reader trims
        "\n\na,b\n1,2\n",  // blank lines before the header
        "a,b\n",  // no data rows
        "a,b\n1,0." + String(repeating: "0", count: 99_990) + "1e1000000\n",  // an exponent too long to accumulate
    ])
    func fastPathDeclines(text: String) throws {
        #expect(CSVReader.fastTable(Array(text.utf8), path: "d.csv") == nil)
    }

    /// A quoted header is still read by the fast path (only data cells must be plain numbers), and the
    /// public reader gives the general reader's error messages.
    @Test func quotedHeaderAndMessages() throws {
        let quoted = Array("\"x 1\",\"y\"\n1,2\n3,4\n".utf8)
        let t = try #require(CSVReader.fastTable(quoted, path: "q.csv"))
        #expect(t.header == ["x 1", "y"] && t.values == [1, 2, 3, 4] && t.lines == [2, 3])
        try withTemporaryDirectory { dir in
            try writeText("a,b\n1,2\n\n3,oops\n", to: dir + "/bad.csv")
            #expect {
                try CSVReader.readTable(path: dir + "/bad.csv")
            } throws: {
                "\($0)".contains("line 4, column 2") && "\($0)".contains("not a number")
            }
        }
    }

    /// Paper examples: header x0..x{P−1},y; every input pair correlates 0.5; example 3's labels follow
    /// its rule exactly from the written (6-decimal) inputs up to rounding near the boundary.
    @Test func paperExampleGenerator() throws {
        let (train, test) = PaperExample.three.csv(seed: 2, inputs: 12, trainRows: 4000, testRows: 10)
        let table = try CSVReader.generalTable(train, path: "train.csv")
        #expect(table.header == (0..<12).map { "x\($0)" } + ["y"] && table.rowCount == 4000)
        #expect(try CSVReader.generalTable(test, path: "test.csv").rowCount == 10)
        let x0 = table.column(0)
        let x7 = table.column(7)
        func mean(_ a: [Double]) -> Double { a.reduce(0, +) / Double(a.count) }
        let (m0, m7) = (mean(x0), mean(x7))
        let cov = mean(zip(x0, x7).map { ($0 - m0) * ($1 - m7) })
        let r = cov / (mean(x0.map { ($0 - m0) * ($0 - m0) }) * mean(x7.map { ($0 - m7) * ($0 - m7) })).squareRoot()
        #expect(abs(r - 0.5) < 0.05, "correlation \(r)")
        #expect(abs(mean(x0.map { $0 * $0 }) - 1) < 0.08)
        var agree = 0
        for i in 0..<table.rowCount {
            let x = (0..<5).map { table.values[i * 13 + $0] }
            let rule = exp(x[0]) + x[1] * x[1] + 5 * sin(x[2] * x[3]) - 3 > 0 ? 1.0 : 0.0
            if rule == table.values[i * 13 + 12] { agree += 1 }
        }
        #expect(agree >= 3995, "\(agree) of 4000 labels follow the rule")
        #expect(PaperExample.one.relevant == ["x0", "x1", "x2", "x3", "x4"] && PaperExample.two.inputs == 2000)
    }

    @Test func sixDecimalFormatting() {
        for v in [0.0, -0.0000004, 1.5, -2.25, 123.4567894, -0.0000006, 7.0000126] {
            var out: [UInt8] = []
            appendFixed(v, to: &out)
            #expect(
                String(decoding: out, as: UTF8.self)
                    == String(format: "%.6f", v).replacingOccurrences(of: "-0.000000", with: "0.000000"), "\(v)")
        }
    }
}
