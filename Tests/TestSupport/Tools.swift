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
/// The tests' `train` runs checkpoint at every epoch end (`--checkpoint-every 1`) unless they set the
/// cadence themselves or print or read a configuration: the product's default checkpoints by time (every
/// 5 minutes), which a seconds-long test run never reaches, and the tests resume from epoch checkpoints.
public func withEpochCheckpoints(_ args: [String]) -> [String] {
    let own = ["--checkpoint-every", "--checkpoint-minutes", "--print-config", "--config"]
    guard args.first == "train", !args.contains(where: { a in own.contains { a.hasPrefix($0) } }) else { return args }
    return args + ["--checkpoint-every", "1"]
}

public func runCLI(
    _ args: [String], sourceLocation: SourceLocation = #_sourceLocation
) throws -> (status: Int32, stdout: String, stderr: String) {
    let r = try runProcess(try requireBayesprune(sourceLocation: sourceLocation), withEpochCheckpoints(args))
    return (r.status, r.stdout, r.stderr)
}

/// Runs the debug binary under mpirun (found on PATH) with R ranks, or alone when ranks == 0; returns
/// status, stderr, seconds. A missing binary or mpirun is a recorded failure.
public func runRanks(
    _ ranks: Int, _ args: [String], sourceLocation: SourceLocation = #_sourceLocation
) throws -> (status: Int32, stderr: String, seconds: Double) {
    let bin = try requireBayesprune(sourceLocation: sourceLocation)
    let args = withEpochCheckpoints(args)
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

/// Starts `executable` with every signal unblocked and at its default disposition (as a scheduler or a
/// shell would), unlike Foundation's Process, whose children inherit the test runner's blocked and
/// ignored signals. stdout and stderr go to `log`. Returns the process id; `waitForExit` reaps it.
public func spawnWithDefaultSignals(_ executable: String, _ arguments: [String], log: String) throws -> pid_t {
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigmask(&attr, &none)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigdefault(&attr, &all)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, executable, &actions, &attr, argv, environ)
    guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EINVAL) }
    return pid
}

/// Waits for `pid` and returns its exit status (128 + signal when a signal ended it).
public func waitForExit(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let signal = status & 0x7f
    return signal == 0 ? (status >> 8) & 0xff : 128 + signal
}
