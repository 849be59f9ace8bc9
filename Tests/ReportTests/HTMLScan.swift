// Reading the report back in the tests, independently of the code that wrote it: the opening tags of
// an element, an attribute's (unescaped) value, the <svg> blocks by their data-chart name, and the
// metrics.jsonl lines as plain JSON objects.
import Foundation

/// The opening tags `<name ...>` of every `name` element in `html`, in order.
func openingTags(_ html: String, _ name: String) -> [String] {
    var out: [String] = []
    var rest = html[...]
    while let start = rest.range(of: "<\(name) ") ?? rest.range(of: "<\(name)>") {
        guard let end = rest[start.lowerBound...].firstIndex(of: ">") else { break }
        out.append(String(rest[start.lowerBound...end]))
        rest = rest[rest.index(after: end)...]
    }
    return out
}

/// The value of attribute `name` in an opening tag, with the five entities undone.
func attribute(_ tag: String, _ name: String) -> String? {
    guard let r = tag.range(of: " \(name)=\"") else { return nil }
    let value = tag[r.upperBound...].prefix { $0 != "\"" }
    return String(value).replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
        .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
        .replacingOccurrences(of: "&amp;", with: "&")
}

/// Every `<svg ...>...</svg>` block, keyed by its data-chart attribute.
func charts(_ html: String) -> [String: String] {
    var out: [String: String] = [:]
    var rest = html[...]
    while let start = rest.range(of: "<svg "), let end = rest[start.lowerBound...].range(of: "</svg>") {
        let block = String(rest[start.lowerBound..<end.upperBound])
        out[attribute(openingTags(block, "svg")[0], "data-chart") ?? "?"] = block
        rest = rest[end.upperBound...]
    }
    return out
}

/// The numbers of a space-separated attribute value.
func numbers(_ s: String?) -> [Double] { (s ?? "").split(separator: " ").compactMap { Double($0) } }

/// The points of a polyline's `points` attribute.
func points(_ s: String?) -> [(Double, Double)] {
    (s ?? "").split(separator: " ").map { p in
        let xy = p.split(separator: ",").map { Double($0)! }
        return (xy[0], xy[1])
    }
}

/// metrics.jsonl as JSON objects, read here without the library.
func metricsLines(_ run: String) throws -> [[String: Any]] {
    try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
        try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
    }
}

/// A metrics.jsonl value: nil for null or a missing key.
func value(_ line: [String: Any], _ key: String) -> Double? { line[key] as? Double }

/// |a − b| within a relative tolerance.
func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-9) -> Bool {
    abs(a - b) <= tolerance * max(1, abs(a), abs(b))
}
