// One training job on this process: MPI start-up (when launched by mpirun) or a single process, set-up
// on every rank with the ranks agreeing on its outcome, the run, and shutdown. Errors come back as one
// line per job: a set-up error is reported by the rank that met it, a collective error (divergence, a
// replica mismatch) once by rank 0; any other error on one rank takes the whole job down.

import BayesPruneDistributed
import Foundation

public enum TrainingSession {
    /// Exit status of a job that stopped on a bad setting or a training error.
    public static let failureStatus: Int32 = 2

    /// Runs one job and returns its exit status: 0, `failureStatus`, or 128 + signal after a stop on
    /// SIGTERM/SIGINT (with a checkpoint written).
    /// - `collectiveTimeout`: seconds before a stuck MPI collective aborts the job.
    /// - `setup`: builds the trainer on every rank (validating settings, loading data, restoring a
    ///   checkpoint); its error on any rank stops every rank before anything is written.
    /// - `describe`: the one-line message for an error (the command line maps setting keys to flags).
    /// - `report`: writes one line for the user (standard error).
    public static func run(
        collectiveTimeout: Double, blasCore: String,
        setup: (Communicator) throws -> Trainer,
        describe: (Error) -> String,
        report: (String) -> Void = { FileHandle.standardError.write(Data(("bayesprune: " + $0 + "\n").utf8)) }
    ) -> Int32 {
        // Before set-up: a stop signal that arrives while the data loads is then a request, not a kill.
        StopSignal.install()
        let comm: Communicator
        do {
            comm =
                MPICommunicator.launchedUnderMPI
                ? try MPICommunicator(timeoutSeconds: collectiveTimeout) : SingleProcess()
        } catch {
            report(describe(error))
            return failureStatus
        }
        defer { (comm as? MPICommunicator)?.finalize() }
        guard let trainer = agreeOnSetup(comm, setup: setup, describe: describe, report: report) else {
            return failureStatus
        }
        do {
            try trainer.run(blasCore: blasCore)
            return 0
        } catch let stop as StopSignal.Stopped {
            if comm.isRoot { report(describe(stop)) }
            return stop.exitStatus
        } catch {
            let collective = (error as? TrainingError)?.collective ?? (error is DivergenceError)
            if comm.isRoot || !collective { report(prefix(comm) + describe(error)) }
            if comm.size > 1 && !collective { comm.abort(code: failureStatus) }
            return failureStatus
        }
    }

    /// A rank that failed before it could set up (a bad option or config file, found while parsing) takes
    /// part in the set-up agreement as a failed rank, so that under mpirun the message is shown once, by
    /// the first failing rank, and every rank stops. Alone, it just reports. Returns the exit status.
    public static func reportFailureBeforeSetup(
        _ message: String,
        report: (String) -> Void = { FileHandle.standardError.write(Data(("bayesprune: " + $0 + "\n").utf8)) }
    ) -> Int32 {
        guard MPICommunicator.launchedUnderMPI, let comm = try? MPICommunicator(timeoutSeconds: 300) else {
            report(message)
            return failureStatus
        }
        defer { comm.finalize() }
        guard comm.size > 1 else {
            report(message)
            return failureStatus
        }
        _ = agreeOnFailure(comm, message: message, report: report)
        return failureStatus
    }

    /// The set-up allgather every rank joins: whether any rank failed, the message shown once, by the
    /// first failing rank (`message` nil: this rank succeeded). Returns true when the job must stop.
    static func agreeOnFailure(_ comm: Communicator, message: String?, report: (String) -> Void) -> Bool {
        guard let failed = try? comm.allgather(message == nil ? 0 : 1, what: "setup") else {
            report(prefix(comm) + (message ?? "the ranks could not agree on the set-up"))
            return true
        }
        guard let first = failed.firstIndex(of: 1) else { return false }
        if first == comm.rank, let message { report(prefix(comm) + message) }
        return true
    }

    /// Every rank sets up; the ranks then agree on the outcome, so a bad path or setting stops all of them
    /// with the message shown once (by the first rank that failed). nil: the job must stop.
    static func agreeOnSetup(
        _ comm: Communicator, setup: (Communicator) throws -> Trainer, describe: (Error) -> String,
        report: (String) -> Void
    ) -> Trainer? {
        var trainer: Trainer? = nil
        var failure: Error? = nil
        do { trainer = try setup(comm) } catch { failure = error }
        guard comm.size > 1 else {
            if let failure { report(describe(failure)) }
            return trainer
        }
        guard !agreeOnFailure(comm, message: failure.map(describe), report: report), let trainer else { return nil }
        let mismatch: String?
        do { mismatch = try disagreement(trainer, comm) } catch {
            report(prefix(comm) + "the ranks could not compare their settings")
            return nil
        }
        if let mismatch {
            if comm.isRoot { report(mismatch) }
            return nil
        }
        return trainer
    }

    /// The ranks compare a digest of every resolved setting and of the data they loaded (example counts,
    /// shapes, normalization); nil when all agree, else one line naming what differs and on which ranks.
    static func disagreement(_ trainer: Trainer, _ comm: Communicator) throws -> String? {
        let named = trainer.setupDigests()
        var mine = named.map(\.digest)
        var all = [UInt64](repeating: 0, count: mine.count * comm.size)
        try mine.withUnsafeMutableBytes { m in
            try all.withUnsafeMutableBytes { a in
                try comm.allgather(m.baseAddress!, bytes: m.count, into: a.baseAddress!, what: "settings agreement")
            }
        }
        var differing: [String] = []
        for (k, item) in named.enumerated() {
            let ranks = (1..<comm.size).filter { all[$0 * named.count + k] != all[k] }
            guard !ranks.isEmpty else { continue }
            differing.append(
                "\(item.name) (rank\(ranks.count == 1 ? "" : "s") \(ranks.map(String.init).joined(separator: ", ")))")
        }
        guard !differing.isEmpty else { return nil }
        return "the ranks were given different settings or data; differing from rank 0: "
            + "\(differing.joined(separator: "; ")); every rank must run the same command on the same data"
    }

    static func prefix(_ comm: Communicator) -> String {
        comm.size > 1 && comm.rank != 0 ? "rank \(comm.rank): " : ""
    }
}
