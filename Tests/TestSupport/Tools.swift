// The external programs the tests run: the debug `bayesprune` binary, `mpirun` (found on PATH) and
// other tools. A missing program is a recorded failure naming what to do, never a silent pass or skip.
import Foundation
import Testing

/// The package root (this file is Tests/TestSupport/Tools.swift).
public let packageRoot: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// The debug binary built by `swift build --build-tests`.
public func bayesprunePath() -> String { packageRoot + "/.build/debug/bayesprune" }

/// The first executable file called `name` in the directories of PATH (or `path`), or nil.
public func executableOnPath(_ name: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
    guard let path, !name.isEmpty, !name.contains("/") else { return nil }
    for dir in path.split(separator: ":", omittingEmptySubsequences: true) {
        let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent(name).path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
            FileManager.default.isExecutableFile(atPath: candidate)
        {
            return candidate
        }
    }
    return nil
}

/// The debug binary's path; records a failure and throws when it was not built.
@discardableResult
public func requireBayesprune(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let path = bayesprunePath()
    try #require(
        FileManager.default.isExecutableFile(atPath: path),
        "\(path) is missing: build it with `swift build --build-tests` before `swift test`",
        sourceLocation: sourceLocation)
    return path
}

/// mpirun as found on PATH; records a failure and throws when there is none.
@discardableResult
public func requireMPIRun(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    try #require(
        executableOnPath("mpirun"),
        "mpirun is not on PATH: install OpenMPI (`apt-get install openmpi-bin libopenmpi-dev`, see launch/deps.sh)",
        sourceLocation: sourceLocation)
}

/// An executable found on PATH; records a failure naming `hint` and throws when there is none.
@discardableResult
public func requireExecutable(
    _ name: String, _ hint: String, sourceLocation: SourceLocation = #_sourceLocation
) throws -> String {
    try #require(executableOnPath(name), "\(name) is not on PATH: \(hint)", sourceLocation: sourceLocation)
}

public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var seconds: Double
}

/// Runs `executable` to completion. stdout and stderr go to scratch files (no pipe can fill up and stall
/// the child); `environment` entries set or, when nil, remove variables of this process's environment.
public func runProcess(
    _ executable: String, _ arguments: [String], environment: [String: String?] = [:],
    currentDirectory: String? = nil
) throws -> ProcessResult {
    let scratch = try temporaryDirectory("proc")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let outPath = scratch + "/stdout"
    let errPath = scratch + "/stderr"
    FileManager.default.createFile(atPath: outPath, contents: nil)
    FileManager.default.createFile(atPath: errPath, contents: nil)
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if !environment.isEmpty {
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        p.environment = env
    }
    if let currentDirectory { p.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    let t0 = Date()
    try p.run()
    p.waitUntilExit()
    let seconds = Date().timeIntervalSince(t0)
    try out.close()
    try err.close()
    let o = try Data(contentsOf: URL(fileURLWithPath: outPath))
    let e = try Data(contentsOf: URL(fileURLWithPath: errPath))
    return ProcessResult(
        status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
        stderr: String(decoding: e, as: UTF8.self), seconds: seconds)
}

/// Runs the debug binary with `args`; a missing binary is a recorded failure.
public func runCLI(
    _ args: [String], sourceLocation: SourceLocation = #_sourceLocation
) throws -> (status: Int32, stdout: String, stderr: String) {
    let r = try runProcess(try requireBayesprune(sourceLocation: sourceLocation), args)
    return (r.status, r.stdout, r.stderr)
}

/// Runs the debug binary under mpirun (found on PATH) with R ranks, or alone when ranks == 0; returns
/// status, stderr, seconds. A missing binary or mpirun is a recorded failure.
public func runRanks(
    _ ranks: Int, _ args: [String], sourceLocation: SourceLocation = #_sourceLocation
) throws -> (status: Int32, stderr: String, seconds: Double) {
    let bin = try requireBayesprune(sourceLocation: sourceLocation)
    let r: ProcessResult
    if ranks == 0 {
        r = try runProcess(bin, args)
    } else {
        var mpi = ["-np", "\(ranks)", "--oversubscribe", "--bind-to", "none", "-x", "OPENBLAS_NUM_THREADS=1"]
        if getuid() == 0 { mpi.append("--allow-run-as-root") }
        r = try runProcess(try requireMPIRun(sourceLocation: sourceLocation), mpi + [bin] + args)
    }
    return (r.status, r.stderr, r.seconds)
}

/// The train_loss column of a run directory's metrics.jsonl.
public func trainLosses(_ dir: String) throws -> [Double] {
    try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
        (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["train_loss"] as! Double
    }
}
