// libFuzzer entry point for the file readers (see Fuzz/run). Built with `-sanitize=fuzzer -DFUZZING`, the
// fuzzer supplies main and calls LLVMFuzzerTestOneInput with the reader named by BP_FUZZ_TARGET. In an
// ordinary build this is a small replay tool: `bayesprune-fuzz TARGET FILE...` runs files through it.

import BayesPruneFuzzTargets
import Foundation

/// The scratch directory the readers' input files go to (tmpfs when there is one: it is written per input).
let scratch: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let dir = base + "/bayesprune-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}()

#if FUZZING
    import CShims

    let fuzzTarget: FuzzTarget = {
        guard let name = ProcessInfo.processInfo.environment["BP_FUZZ_TARGET"], let t = FuzzTarget(rawValue: name)
        else {
            fatalError("set BP_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue))")
        }
        return t
    }()

    /// libFuzzer's loop with the reader BP_FUZZ_TARGET names (SwiftPM gives the executable this entry point,
    /// so the driver is called rather than libFuzzer's own main).
    @main
    struct Fuzz {
        static func main() {
            _ = fuzzTarget
            var argc = CommandLine.argc
            var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
            exit(
                LLVMFuzzerRunDriver(&argc, &argv) { data, size in
                    fuzzTarget.run(size > 0 ? Data(bytes: data!, count: size) : Data(), directory: scratch)
                    return 0
                })
        }
    }
#else
    @main
    struct Replay {
        static func main() {
            let args = CommandLine.arguments.dropFirst()
            guard let name = args.first, let target = FuzzTarget(rawValue: name) else {
                print("usage: bayesprune-fuzz \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) FILE...")
                exit(2)
            }
            for file in args.dropFirst() {
                let bytes = FileManager.default.contents(atPath: file) ?? Data()
                print("\(file): \(target.run(bytes, directory: scratch) ?? "accepted")")
            }
        }
    }
#endif
