// Every committed fuzz input (the seed corpora and the inputs that once crashed a reader or produced a
// bad message, Fuzz/regressions) runs through its reader: each is accepted or refused with one line
// naming the file, without internal text (FuzzTarget traps otherwise, failing the test run).

import BayesPruneFuzzTargets
import Foundation
import TestSupport
import Testing

@Suite struct FuzzRegressions {
    static let root = packageRoot + "/Fuzz"

    static func files(_ folder: String, _ target: FuzzTarget) -> [String] {
        let dir = root + "/" + folder + "/" + target.rawValue
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.sorted().map { dir + "/" + $0 }
    }

    @Test(arguments: FuzzTarget.allCases)
    func committedInputsAreAcceptedOrRefusedCleanly(target: FuzzTarget) throws {
        let seeds = Self.files("corpus", target)
        #expect(!seeds.isEmpty, "no seed corpus in Fuzz/corpus/\(target.rawValue)")
        let scratch = try temporaryDirectory("fuzz-replay")
        for file in seeds {
            let message = target.run(try Data(contentsOf: URL(fileURLWithPath: file)), directory: scratch)
            #expect(message == nil, "seed \(file) is refused: \(message ?? "")")
        }
        for file in Self.files("regressions", target) {
            let message = target.run(try Data(contentsOf: URL(fileURLWithPath: file)), directory: scratch)
            #expect(message.map { !$0.contains("\n") } ?? true, "\(file): \(message ?? "")")
        }
    }

    /// The regressions found so far, each with the refusal it now gets.
    @Test func findingsGetTheirMessages() throws {
        let scratch = try temporaryDirectory("fuzz-findings")
        func message(_ target: FuzzTarget, _ name: String) throws -> String {
            let data = try Data(contentsOf: URL(fileURLWithPath: Self.root + "/regressions/\(target.rawValue)/" + name))
            return target.run(data, directory: scratch) ?? "accepted"
        }
        // Four-byte dims whose product overflows Int: refused (the image read, then the label read), not a trap.
        #expect(try message(.idx, "crash-9c7254924a493695d59d74dbde8a3418f927551d").contains("bad magic"))
        // A header section length above Int.max: refused, not a conversion trap.
        #expect(try message(.checkpoint, "crash-f3766fe29ad19711ad8a0ec87e1f229c3806d1f7").contains("truncated"))
        // A section name with a line break (found by the CI's 5-second run): escaped in the message.
        #expect(try message(.checkpoint, "crash-aa163dea61cadeda5856c5063cee0494394cabe6").contains(#"section "h\r\n"#))
        // A quoted column name with a line break: escaped in the one-line message.
        #expect(try message(.csv, "crash-01efbb0d00eb55207bbcd4e19e2d4565697c839f").contains(#"("x2,0.5\n3,4 1")"#))
        // A field that itself contains "Optional(" (the fuzzer writes the oracle's markers into its inputs):
        // quoted back as the user's data, which the oracle no longer mistakes for internal text.
        #expect(try message(.csv, "quoted-marker-799b6c10").contains("is not a number"))
    }
}
