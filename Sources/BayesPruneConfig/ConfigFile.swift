// `train --config FILE`: settings from a TOML file with the same keys as `train`'s long options, and
// `--print-config`: the resolved settings as such a file.
/// A config file that cannot be read or has a bad key or value. `description`: "FILE: what", one line.

import BayesPruneData
import BayesPruneKernels
import BayesPruneNN
import Foundation
import TOMLKit

public struct ConfigFileError: Error, CustomStringConvertible {
    public let description: String
}

extension TrainSettings {
    /// Reads `path` (TOML, top-level `key = value` lines). Throws `ConfigFileError` naming the file and,
    /// for a bad value, the key; unknown keys are refused (a typo must not be ignored silently).
    public static func load(configFile path: String) throws -> TrainSettings {
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw ConfigFileError(description: "\(path): cannot read the config file")
        }
        guard let text = String(data: bytes, encoding: .utf8) else {
            throw ConfigFileError(description: "\(path): not UTF-8 text")
        }
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let e as TOMLParseError {
            throw ConfigFileError(description: "\(path): line \(e.source.begin.line): not valid TOML")
        } catch {
            throw ConfigFileError(description: "\(path): not valid TOML")
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        for key in table.keys.sorted() where !known.contains(key) {
            let hint =
                ["resume", "config", "print-config", "debug-fault"].contains(key)
                ? "a command-line option only" : "not a train setting"
            throw ConfigFileError(description: "\(path): \(key): \(hint)")
        }
        for key in table.keys.sorted() {
            if let d = table[key]?.double, !d.isFinite {
                throw ConfigFileError(description: "\(path): \(key): must be a finite number, got \(d)")
            }
        }
        // Through JSON, one key at a time, so every problem is reported with the key it belongs to.
        guard let json = try? JSONSerialization.jsonObject(with: Data(table.convert(to: .json).utf8)),
            let fields = json as? [String: Any]
        else { throw ConfigFileError(description: "\(path): not a table of settings") }
        for key in fields.keys.sorted() {
            do { _ = try decode([key: fields[key]!]) } catch {
                throw ConfigFileError(description: "\(path): \(key): \(problem(error, key: key))")
            }
        }
        do { return try decode(fields) } catch {
            throw ConfigFileError(description: "\(path): invalid settings")
        }
    }

    private static func decode(_ fields: [String: Any]) throws -> TrainSettings {
        try JSONDecoder().decode(TrainSettings.self, from: JSONSerialization.data(withJSONObject: fields))
    }

    /// What is wrong with one key's value, in words (never a decoder's own text).
    private static func problem(_ error: Error, key: String) -> String {
        switch error {
        case let e as SettingError: return e.message
        case DecodingError.typeMismatch(let type, _), DecodingError.valueNotFound(let type, _):
            return "expected \(kindName(type))"
        default:
            let allowed = allowedValues[key].map { "; expected one of \($0)" } ?? ""
            let integer = [
                "seed", "epochs", "batch-size", "eval-batch-size", "cycles", "threads", "warm-up",
                "samples-per-cycle", "calibration-bins", "sync-check-every", "checkpoint-every",
                "keep-checkpoints", "lambda0-steps",
            ].contains(key)
            return integer ? "expected a non-negative integer" : "invalid value\(allowed)"
        }
    }

    /// The settings as a TOML document (keys sorted), which `load(configFile:)` reads back to the same values.
    /// Throws TOMLKit's encoding error only for a value TOML cannot hold (resolve() refuses those first).
    public func toml() throws -> String {
        let text: String = try TOMLEncoder().encode(self)
        // toml++ writes doubles with 17 significant digits (0.10000000000000001); Swift's shortest form
        // reads back to the same Double and is what a person would type.
        let lines = text.split(separator: "\n").map { line -> String in
            let parts = line.components(separatedBy: " = ")
            guard parts.count == 2, parts[1].contains(where: { $0 == "." || $0 == "e" }),
                let v = Double(parts[1])
            else { return String(line) }
            return "\(parts[0]) = \(v)"
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func kindName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is UInt64.Type: return "an integer"
        case is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        default: return "a string"
        }
    }

    /// Values of the enum-valued keys, for messages.
    static let allowedValues: [String: String] = [
        "data": DataKind.allCases.map(\.rawValue).joined(separator: ", "), "model": ModelKind.allCases.map(\.rawValue).joined(separator: ", "),
        "sampler": "sgd, adavb, sghmc, sgld", "schedule": "constant, cyclical", "e-step": "threshold, bayes",
        "task": "multiclass, binary, regression", "cifar100-labels": "fine, coarse",
        "init": "pytorch, he-normal", "target-scaling": "standardize, none", "shrink": "on, off",
        "conv-groups": "kernels, channels", "preset": "kefan-cifar",
    ]
}
