// Posterior samples in the run directory: samples/sample-NNNN.safetensors plus samples/manifest.json.
import Foundation

public struct SampleRecord: Codable, Equatable {
    public var file: String
    public var epoch: Int
    public var step: Int
    public var cycle: Int

    public init(file: String, epoch: Int, step: Int, cycle: Int) {
        self.file = file
        self.epoch = epoch
        self.step = step
        self.cycle = cycle
    }
}

public struct SampleManifest: Codable, Equatable {
    public var format = "bayesprune-samples"
    public var version = 1
    public var samples: [SampleRecord] = []

    public init() {}

    public static func load(directory: String) throws -> SampleManifest {
        let path = directory + "/samples/manifest.json"
        guard let data = FileManager.default.contents(atPath: path) else { return SampleManifest() }
        do { return try JSONDecoder().decode(SampleManifest.self, from: data) } catch {
            throw OutputError(description: "\(path): not a valid sample manifest (\(decodingProblem(error)))")
        }
    }

    public func write(directory: String) throws {
        let path = directory + "/samples/manifest.json"
        try AtomicFile.write(try encodeJSON(self, for: path), to: path)
    }
}
