// config.json of a run directory: the resolved configuration plus what the data looked like (shape,
// normalization fitted on the training set), so evaluation applies exactly the same transform.
/// What the run directory records besides the configuration: the data's shape and the input
/// normalization fitted on the training set, so evaluation applies exactly the same transform.

import BayesPruneConfig
import Foundation

public struct RunManifest: Codable, Equatable {
    public var format = "bayesprune-run"
    public var version = 1
    public var config: TrainConfig
    public var inputShape: [Int]  // channels, height, width
    public var outputs: Int
    public var task: String
    public var classes: Int
    public var featureNames: [String]
    public var normalizationMean: [Float]
    public var normalizationStd: [Float]
    public var targetMean: Float?
    public var targetStd: Float?
    public var parameterCount: Int
    public var blasCore: String
    /// Identifies the run: its checkpoints carry the same identifier (nil in runs of earlier versions).
    public var runId: String?

    public init(
        config: TrainConfig, inputShape: [Int], outputs: Int, task: String, classes: Int, featureNames: [String],
        normalizationMean: [Float], normalizationStd: [Float], targetMean: Float?, targetStd: Float?,
        parameterCount: Int, blasCore: String, runId: String?
    ) {
        self.config = config
        self.inputShape = inputShape
        self.outputs = outputs
        self.task = task
        self.classes = classes
        self.featureNames = featureNames
        self.normalizationMean = normalizationMean
        self.normalizationStd = normalizationStd
        self.targetMean = targetMean
        self.targetStd = targetStd
        self.parameterCount = parameterCount
        self.blasCore = blasCore
        self.runId = runId
    }

    public static func load(directory: String) throws -> RunManifest {
        let path = directory + "/config.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OutputError(description: "\(path): missing (is \(directory) a bayesprune run directory?)")
        }
        do { return try JSONDecoder().decode(RunManifest.self, from: data) } catch {
            throw OutputError(description: "\(path): not a valid run configuration (\(decodingProblem(error)))")
        }
    }

    /// Writes config.json atomically. Throws `OutputError` naming the file (never an encoder's text).
    public func write(directory: String) throws {
        let path = directory + "/config.json"
        try AtomicFile.write(try encodeJSON(self, for: path), to: path)
    }
}

/// "key.path: what" for a JSON decoding error, without Foundation's internal wording.
public func decodingProblem(_ error: Error) -> String {
    func at(_ path: [CodingKey]) -> String { path.map(\.stringValue).joined(separator: ".") }
    switch error as? DecodingError {
    case .keyNotFound(let key, let c)?: return "\(at(c.codingPath + [key])) missing"
    case .typeMismatch(_, let c)?, .valueNotFound(_, let c)?: return "\(at(c.codingPath)) has the wrong type"
    case .dataCorrupted(let c)?: return c.codingPath.isEmpty ? "not JSON" : "\(at(c.codingPath)) is invalid"
    default: return "unreadable"
    }
}

/// The system's reason for a failed file operation ("no space left on device"), without Foundation's
/// wording around it.
public func systemReason(_ error: Error) -> String {
    let ns = error as NSError
    if let posix = (ns.userInfo[NSUnderlyingErrorKey] as? NSError) ?? (ns.domain == NSPOSIXErrorDomain ? ns : nil) {
        return String(cString: strerror(Int32(posix.code))).lowercased()
    }
    return "error \(ns.code)"
}

/// Encodes `value` as JSON for `path`; an unencodable value (a non-finite number) becomes an `OutputError`
/// naming the file and the key.
public func encodeJSON<T: Encodable>(_ value: T, for path: String, pretty: Bool = true) throws -> Data {
    let enc = JSONEncoder()
    enc.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
    do { return try enc.encode(value) } catch {
        throw OutputError(description: "\(path): cannot record a non-finite value (\(encodingProblem(error)))")
    }
}

/// The key path of a value JSON cannot encode.
public func encodingProblem(_ error: Error) -> String {
    guard case .invalidValue(_, let c)? = error as? EncodingError else { return "unencodable" }
    return c.codingPath.map(\.stringValue).joined(separator: ".")
}
