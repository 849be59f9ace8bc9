// Start-up OpenBLAS kernel selection. Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) does not recognise
// Sapphire Rapids-class CPUs and falls back to its slowest kernel ("Prescott"). OPENBLAS_CORETYPE is
// only read when the library loads, so when the loaded kernel is weaker than what CPUID says the CPU
// can run, the process sets OPENBLAS_CORETYPE and re-executes itself once (/proc/self/exe), then
// verifies one sgemm against the naive reference. If a forced kernel fails the check, the process
// re-executes once more without it (library default).

import BayesPruneKernels
import CShims
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What the start-up kernel selection did; printable as one line (`summary`) or encoded as JSON.
public struct KernelReport: Codable, Equatable, Sendable {
    /// Kernel OpenBLAS is running now (`openblas_get_corename()`).
    public var coreName: String
    /// Best core for this CPU according to CPUID, nil if none / non-x86.
    public var detectedBest: String?
    /// Feature summary behind `detectedBest`.
    public var cpuFeatures: String
    /// This process is the re-executed one (OPENBLAS_CORETYPE was set by us).
    public var reexecuted: Bool
    /// OPENBLAS_CORETYPE was set by the user; left alone.
    public var userSet: Bool
    /// A forced kernel failed the sgemm check and we re-executed with the library default.
    public var fellBack: Bool
    public var checkPassed: Bool
    public var maxRelativeError: Double
    /// OpenBLAS threads after setup.
    public var threads: Int
    /// Extra detail (e.g. why no re-exec happened, exec errors); empty when nothing to add.
    public var note: String

    enum CodingKeys: String, CodingKey {
        case coreName = "blas_core"
        case detectedBest = "blas_core_detected"
        case cpuFeatures = "cpu_features"
        case reexecuted = "blas_reexecuted"
        case userSet = "blas_core_user_set"
        case fellBack = "blas_fell_back"
        case checkPassed = "blas_check_passed"
        case maxRelativeError = "blas_check_max_rel_error"
        case threads = "blas_threads"
        case note = "blas_note"
    }

    /// E.g. "OpenBLAS kernel: SkylakeX (auto-selected from CPUID; sgemm check ok)".
    public var summary: String {
        var how: String
        if userSet {
            how = "OPENBLAS_CORETYPE set by user"
        } else if fellBack {
            how = "library default after \(detectedBest ?? "forced kernel") failed the sgemm check"
        } else if reexecuted {
            if let best = detectedBest, best.lowercased() == coreName.lowercased() {
                how = "auto-selected from CPUID"
            } else {
                how = "requested \(detectedBest ?? "?") from CPUID, library chose otherwise"
            }
        } else {
            how = "library default"
        }
        if !note.isEmpty { how += "; \(note)" }
        let check =
            checkPassed
            ? "sgemm check ok"
            : "sgemm check FAILED, max rel error \(maxRelativeError)"
        return "OpenBLAS kernel: \(coreName) (\(how); \(check))"
    }

    /// Compact JSON object with the fields above (snake_case keys, sorted).
    public func json() -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        enc.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf",
            negativeInfinity: "-inf", nan: "nan")
        guard let data = try? enc.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Outcome of comparing an sgemm result with the naive reference.
public struct SGEMMCheckResult: Equatable, Sendable {
    public var passed: Bool
    /// max |got − ref| / max |ref| over all products checked; +inf for non-finite output.
    public var maxRelativeError: Double
}

public enum OpenBLASSetup {
    public static let coreTypeVariable = "OPENBLAS_CORETYPE"
    /// Set (value `reexecMarkerAuto` or `reexecMarkerFallback`) before re-executing; prevents loops.
    public static let markerVariable = "BAYESPRUNE_REEXEC"
    public static let reexecMarkerAuto = "1"
    public static let reexecMarkerFallback = "fallback"
    /// Relative tolerance of the start-up sgemm check (float32 accumulation over k = 72 is ~1e-6).
    public static let checkTolerance = 1e-4

    public enum KeepReason: String, Sendable {
        case userSet, alreadyReexecuted, noDetectedCore, unknownCurrentCore, alreadyBest
    }

    public enum Decision: Equatable, Sendable {
        case keep(KeepReason)
        case reexec(coreType: String)
    }

    /// The re-exec decision as a pure function. `userCoreType`: OPENBLAS_CORETYPE (nil/empty = unset);
    /// `marker`: BAYESPRUNE_REEXEC; `currentCore`: what OpenBLAS loaded; `best`: from CPUID.
    public static func decide(
        userCoreType: String?, marker: String?, currentCore: String,
        best: String?
    ) -> Decision {
        if let m = marker, !m.isEmpty { return .keep(.alreadyReexecuted) }
        if let u = userCoreType, !u.isEmpty { return .keep(.userSet) }
        guard let best, let bestRank = OpenBLASCore.rank(best) else { return .keep(.noDetectedCore) }
        guard let currentRank = OpenBLASCore.rank(currentCore) else { return .keep(.unknownCurrentCore) }
        return currentRank < bestRank ? .reexec(coreType: best) : .keep(.alreadyBest)
    }

    /// Call first thing in `main`. May not return (re-executes the process image) when OpenBLAS loaded
    /// a weaker kernel than the CPU supports. `threads`: passed to `configureThreads(requested:)`.
    /// `allowReexec: false` only reports what would happen (for diagnostics); the environment is untouched.
    @discardableResult
    public static func ensureBestKernel(
        arguments: [String] = CommandLine.arguments, threads: Int? = nil,
        allowReexec: Bool = true
    ) -> KernelReport {
        let marker = env(markerVariable)
        let user = env(coreTypeVariable)
        let features = CPUFeatures.detect()
        let best = OpenBLASCore.best(for: features)
        let current = blasCoreName()
        var note = ""

        switch decide(userCoreType: user, marker: marker, currentCore: current, best: best) {
        case .reexec(let core):
            if allowReexec {
                setenv(coreTypeVariable, core, 1)
                setenv(markerVariable, reexecMarkerAuto, 1)
                let err = reexec(arguments)  // returns only on failure
                unsetenv(coreTypeVariable)
                unsetenv(markerVariable)
                note = "re-exec with \(coreTypeVariable)=\(core) failed: \(String(cString: strerror(err)))"
            } else {
                note = "would re-exec with \(coreTypeVariable)=\(core)"
            }
        case .keep(.unknownCurrentCore):
            note = "unrecognised core name, left alone"
        case .keep:
            break
        }

        let reexecuted = marker == reexecMarkerAuto
        let fellBack = marker == reexecMarkerFallback
        // Do not leak the marker to child processes; OPENBLAS_CORETYPE (if we set it) stays, and a child
        // sees it as user-set, so it never loops either.
        if marker != nil && allowReexec { unsetenv(markerVariable) }

        let nThreads = configureThreads(requested: threads)
        let check = sgemmCheck()
        var report = KernelReport(
            coreName: current, detectedBest: best, cpuFeatures: features.summary,
            reexecuted: reexecuted, userSet: !reexecuted && !fellBack && user?.isEmpty == false,
            fellBack: fellBack, checkPassed: check.passed,
            maxRelativeError: check.maxRelativeError, threads: nThreads, note: note)
        if !check.passed {
            fputs(
                "bayesprune: OpenBLAS kernel \(current) failed the sgemm self-check "
                    + "(max rel error \(check.maxRelativeError), tolerance \(checkTolerance))\n", stderr)
            if reexecuted && allowReexec {
                fputs("bayesprune: re-executing with the library's default kernel\n", stderr)
                unsetenv(coreTypeVariable)
                setenv(markerVariable, reexecMarkerFallback, 1)
                let err = reexec(arguments)
                unsetenv(markerVariable)
                report.note = "fallback re-exec failed: \(String(cString: strerror(err)))"
            } else {
                fputs("bayesprune: continuing with \(current); results may be wrong\n", stderr)
            }
        }
        return report
    }

    /// Multiply seeded m×k · k×n matrices with `gemm` (two variants: plain, and transposed A with
    /// alpha/beta) and compare with `gemmNaive`. `tamper` may alter the first `gemm` result before the
    /// comparison (tests use it to prove corruption is detected).
    public static func sgemmCheck(
        m: Int = 96, n: Int = 80, k: Int = 72, seed: UInt64 = 0x5EED_B1A5,
        tolerance: Double = checkTolerance,
        tamper: ((inout [Float]) -> Void)? = nil
    ) -> SGEMMCheckResult {
        var rng = Xoshiro256(seed: seed)
        let a = (0..<(m * k)).map { _ in rng.nextUniform() * 2 - 1 }
        let b = (0..<(k * n)).map { _ in rng.nextUniform() * 2 - 1 }
        let c0 = (0..<(m * n)).map { _ in rng.nextUniform() * 2 - 1 }
        var worst = SGEMMCheckResult(passed: true, maxRelativeError: 0)
        for variant in 0..<2 {
            let ta: Transpose = variant == 0 ? .no : .yes
            let alpha: Float = variant == 0 ? 1 : -0.75
            let beta: Float = variant == 0 ? 0 : 0.5
            let lda = ta == .no ? k : m  // A stored k×m when transposed (same data, reinterpreted)
            var got = c0
            var ref = c0
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    got.withUnsafeMutableBufferPointer { cp in
                        gemm(
                            ta, .no, m: m, n: n, k: k, alpha: alpha, a: ap.baseAddress!, lda: lda,
                            b: bp.baseAddress!, ldb: n, beta: beta, c: cp.baseAddress!, ldc: n)
                    }
                    ref.withUnsafeMutableBufferPointer { cp in
                        gemmNaive(
                            ta, .no, m: m, n: n, k: k, alpha: alpha, a: ap.baseAddress!, lda: lda,
                            b: bp.baseAddress!, ldb: n, beta: beta, c: cp.baseAddress!, ldc: n)
                    }
                }
            }
            if variant == 0, let tamper { tamper(&got) }
            let r = compare(got, reference: ref, tolerance: tolerance)
            worst.passed = worst.passed && r.passed
            worst.maxRelativeError = max(worst.maxRelativeError, r.maxRelativeError)
        }
        return worst
    }

    /// Normwise relative error max|got−ref| / max|ref|; fails on size mismatch or non-finite values.
    public static func compare(
        _ got: [Float], reference ref: [Float],
        tolerance: Double = checkTolerance
    ) -> SGEMMCheckResult {
        guard got.count == ref.count else { return SGEMMCheckResult(passed: false, maxRelativeError: .infinity) }
        var maxDiff = 0.0
        var maxRef = 0.0
        for i in 0..<got.count {
            let g = Double(got[i])
            let r = Double(ref[i])
            if !g.isFinite { return SGEMMCheckResult(passed: false, maxRelativeError: .infinity) }
            maxDiff = max(maxDiff, abs(g - r))
            maxRef = max(maxRef, abs(r))
        }
        let rel = maxDiff / max(maxRef, Double(Float.leastNormalMagnitude))
        return SGEMMCheckResult(passed: rel <= tolerance, maxRelativeError: rel)
    }

    // MARK: - Helpers

    static func env(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        return String(cString: p)
    }

    /// execv("/proc/self/exe") with the original argv; returns errno on failure.
    private static func reexec(_ arguments: [String]) -> Int32 {
        fflush(nil)  // buffered output would be lost with the old image
        #if os(Linux)
            if arguments == CommandLine.arguments {
                // The kernel's argv bytes exactly, even if not valid UTF-8.
                execv("/proc/self/exe", CommandLine.unsafeArgv)
            } else {
                var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
                argv.append(nil)
                execv("/proc/self/exe", &argv)
                for p in argv { free(p) }
            }
            return errno
        #else
            return ENOSYS
        #endif
    }
}
