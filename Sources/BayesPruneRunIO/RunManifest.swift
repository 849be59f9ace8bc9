import BayesPruneConfig
// config.json of a run directory: the resolved configuration plus what the data looked like (shape,
// normalization fitted on the training set), so evaluation applies exactly the same transform.
import Foundation

/// What the run directory records besides the configuration: the data's shape and the input
/// normalization fitted on the training set, so evaluation applies exactly the same transform.
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

    public init(
        config: TrainConfig, inputShape: [Int], outputs: Int, task: String, classes: Int, featureNames: [String],
        normalizationMean: [Float], normalizationStd: [Float], targetMean: Float?, targetStd: Float?,
        parameterCount: Int, blasCore: String
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
    }

    public static func load(directory: String) throws -> RunManifest {
        let path = directory + "/config.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OutputError(description: "\(path): missing (is \(directory) a bayesprune run directory?)")
        }
        do { return try JSONDecoder().decode(RunManifest.self, from: data) } catch {
            throw OutputError(description: "\(path): not a valid run configuration (\(error))")
        }
    }

    public func write(directory: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(self), to: directory + "/config.json")
    }
}
