// The fast path of CSV reading, for the common shape of numeric tables: no quoted fields and no lone
// carriage returns. Rows are parsed in parallel chunks (split at line ends) straight from the bytes, with
// decimal numbers converted exactly (Clinger's fast path, strtod for the rest). Whenever a file is not
// that simple or a row is wrong in any way, the caller falls back to the general reader, which gives
// the same values and reports the problem with its usual message; so this path never words an error.

import Foundation

extension CSVReader {
    /// Row-major values and line numbers of the data rows of `bytes[start...]` (after the header line,
    /// which is line `headerLine`), each row `columns` cells; nil when the general reader must decide.
    static func fastRows(
        _ bytes: [UInt8], from start: Int, columns: Int, headerLine: Int
    )
        -> (values: [Double], lines: [Int])?
    {
        let quote = UInt8(ascii: "\"")
        let n = bytes.count
        return bytes.withUnsafeBufferPointer { buffer -> (values: [Double], lines: [Int])? in
            let base = buffer.baseAddress!
            if n > start && memchr(base + start, Int32(quote), n - start) != nil { return nil }
            // Chunks of at least 4 MB, one per core, each starting just after a line feed.
            let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
            let pieces = max(1, min(cores, (n - start) / (4 << 20)))
            var bounds = [start]
            for k in 1..<pieces {
                var p = start + (n - start) * k / pieces
                while p < n && base[p - 1] != UInt8(ascii: "\n") { p += 1 }
                if p > bounds.last! { bounds.append(p) }
            }
            bounds.append(n)
            let count = bounds.count - 1
            var results = [FastChunk?](repeating: nil, count: count)
            results.withUnsafeMutableBufferPointer { out in
                let slots = out.baseAddress!
                DispatchQueue.concurrentPerform(iterations: count) { k in
                    slots[k] = parseChunk(base, from: bounds[k], to: bounds[k + 1], columns: columns)
                }
            }
            // Line numbers: each chunk's rows count from the line its first byte is on.
            var values = [Double]()
            var lines = [Int]()
            values.reserveCapacity(results.reduce(0) { $0 + ($1?.values.count ?? 0) })
            var line = headerLine + 1
            for r in results {
                guard let r else { return nil }
                values.append(contentsOf: r.values)
                lines.append(contentsOf: r.lineOffsets.map { $0 + line })
                line += r.lineFeeds
            }
            return (values, lines)
        }
    }

    struct FastChunk {
        var values: [Double] = []
        /// Each row's line, counted from the chunk's first line (0).
        var lineOffsets: [Int] = []
        var lineFeeds = 0
    }

    /// Parses the lines in [from, to); nil at the first row the general reader must look at.
    static func parseChunk(_ p: UnsafePointer<UInt8>, from: Int, to: Int, columns: Int) -> FastChunk? {
        var chunk = FastChunk()
        chunk.values.reserveCapacity((to - from) / 8)
        var i = from
        var line = 0
        while i < to {
            var end = i
            while end < to && p[end] != UInt8(ascii: "\n") { end += 1 }
            var stop = end
            if stop > i && p[stop - 1] == UInt8(ascii: "\r") { stop -= 1 }  // CRLF
            if !isBlank(p, i, stop) {
                var cell = i
                for c in 0..<columns {
                    var e = cell
                    while e < stop && p[e] != UInt8(ascii: ",") { e += 1 }
                    // A row with fewer cells, more cells, or a cell that is not a float32 decimal number.
                    if (c < columns - 1) != (e < stop) { return nil }
                    guard let v = parseDecimal(p, cell, e) else { return nil }
                    chunk.values.append(v)
                    cell = e + 1
                }
                chunk.lineOffsets.append(line)
            }
            line += 1
            i = end + 1
        }
        chunk.lineFeeds = line
        return chunk
    }

    static func isBlank(_ p: UnsafePointer<UInt8>, _ a: Int, _ b: Int) -> Bool {
        var k = a
        while k < b {
            if p[k] != UInt8(ascii: " ") && p[k] != UInt8(ascii: "\t") { return false }
            k += 1
        }
        return true
    }

    /// Powers of ten exactly representable as Double (10^0 … 10^22), for Clinger's fast path.
    static let exactPowersOfTen: [Double] = (0...22).map { pow(10, Double($0)) }

    /// The value of the decimal number in p[a..<b] (spaces and tabs around it allowed), exactly as
    /// `Double(_:)` gives it; nil when the text is not `isDecimalNumber` or the value is not a finite float32.
    static func parseDecimal(_ p: UnsafePointer<UInt8>, _ a: Int, _ b: Int) -> Double? {
        var s = a
        var e = b
        while s < e && (p[s] == UInt8(ascii: " ") || p[s] == UInt8(ascii: "\t")) { s += 1 }
        while e > s && (p[e - 1] == UInt8(ascii: " ") || p[e - 1] == UInt8(ascii: "\t")) { e -= 1 }
        let text = s
        var negative = false
        if s < e && (p[s] == UInt8(ascii: "-") || p[s] == UInt8(ascii: "+")) {
            negative = p[s] == UInt8(ascii: "-")
            s += 1
        }
        var mantissa: UInt64 = 0
        var digits = 0  // significant digits accumulated in `mantissa`
        var scale = 0  // decimal exponent adjustment from the digits after the point
        var seen = 0  // mantissa digits in the text
        var exact = true
        while s < e, p[s] &- UInt8(ascii: "0") < 10 {
            accumulate(p[s], &mantissa, &digits, &exact)  // once inexact, strtod decides
            seen += 1
            s += 1
        }
        if s < e && p[s] == UInt8(ascii: ".") {
            s += 1
            while s < e, p[s] &- UInt8(ascii: "0") < 10 {
                accumulate(p[s], &mantissa, &digits, &exact)
                if exact { scale -= 1 }
                seen += 1
                s += 1
            }
        }
        guard seen > 0 else { return nil }
        var exponent = 0
        if s < e && (p[s] == UInt8(ascii: "e") || p[s] == UInt8(ascii: "E")) {
            s += 1
            var negativeExponent = false
            if s < e && (p[s] == UInt8(ascii: "-") || p[s] == UInt8(ascii: "+")) {
                negativeExponent = p[s] == UInt8(ascii: "-")
                s += 1
            }
            let first = s
            while s < e, p[s] &- UInt8(ascii: "0") < 10 {
                if exponent < 100_000 {
                    exponent = exponent * 10 + Int(p[s] &- UInt8(ascii: "0"))
                } else {
                    exact = false  // an exponent this long: strtod decides
                }
                s += 1
            }
            guard s > first else { return nil }
            if negativeExponent { exponent = -exponent }
        }
        guard s == e else { return nil }
        let power = exponent + scale
        var value: Double
        if exact && mantissa < (1 << 53) && abs(power) <= 22 {
            // Both operands exact: one correctly rounded operation, as strtod would give.
            value = Double(mantissa)
            value = power >= 0 ? value * exactPowersOfTen[power] : value / exactPowersOfTen[-power]
            if negative { value = -value }
        } else {
            let length = e - text
            let parsed: Double? = withUnsafeTemporaryAllocation(of: CChar.self, capacity: length + 1) { t in
                for k in 0..<length { t[k] = CChar(bitPattern: p[text + k]) }
                t[length] = 0
                var end: UnsafeMutablePointer<CChar>? = nil
                let v = strtod(t.baseAddress!, &end)
                // All of the cell, or the general reader decides (strtod follows the C locale's decimal point).
                return end == t.baseAddress! + length ? v : nil
            }
            guard let parsed else { return nil }
            value = parsed
        }
        guard value.isFinite, Float(value).isFinite else { return nil }
        return value
    }

    /// Adds one digit to the mantissa while it stays exact (at most 19 digits); later digits only mark the
    /// value inexact (the caller then uses strtod).
    @inline(__always)
    static func accumulate(_ byte: UInt8, _ mantissa: inout UInt64, _ digits: inout Int, _ exact: inout Bool) {
        let d = UInt64(byte &- UInt8(ascii: "0"))
        if mantissa == 0 && d == 0 { return }  // leading zeros carry no digits
        if digits < 19 {
            mantissa = mantissa * 10 + d
            digits += 1
        } else {
            exact = false
        }
    }
}
