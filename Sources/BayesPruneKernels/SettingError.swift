// The one error type library code raises about a setting of a run, and the quoting of names read from
// files in messages. A setting is named by its key (the long option's name without dashes, which is also
// the key in a TOML config file), never by a command-line flag: the command line prints "--KEY: message",
// a config file "FILE: KEY: message".

/// A setting whose value is invalid or does not fit the others.
/// - `key`: the setting's name, e.g. "batch-size" (the `train` option `--batch-size`, the TOML key `batch-size`).
/// - `message`: what is wrong, starting lower-case, e.g. "must be at least 1, got 0".
public struct SettingError: Error, Equatable, CustomStringConvertible {
    public let key: String
    public let message: String

    public init(_ key: String, _ message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { "\(key): \(message)" }
}

extension CaseIterable where Self: RawRepresentable, Self.RawValue == String {
    /// The raw values, comma-separated, for messages ("expected one of mlp, lenet, ...").
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// A name or value read from a file, for a one-line message: in quotes, control characters escaped, at
/// most 40 characters (a damaged file may hold any bytes in a name, and a quoted CSV field a line break).
public func printableName(_ text: String) -> String {
    var out = ""
    for ch in text.unicodeScalars.prefix(40) {
        switch ch {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "\"": out += "\\\""
        default: out += ch.value < 0x20 || ch.value == 0x7F ? "\\u{\(String(ch.value, radix: 16))}" : String(ch)
        }
    }
    return "\"" + out + (text.unicodeScalars.count > 40 ? "…" : "") + "\""
}
