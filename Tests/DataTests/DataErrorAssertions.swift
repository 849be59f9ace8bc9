// The data tests' assertion for one-line DataErrors (and SettingErrors). The scratch-directory and file
// writers they use live in the TestSupport target.
import BayesPruneData
import BayesPruneKernels
import Foundation
import Testing

/// Runs `body` and checks it throws a one-line DataError containing every phrase.
func expectDataError(
    containing phrases: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected a DataError containing \(phrases)", sourceLocation: sourceLocation)
    } catch let error as SettingError {
        for phrase in phrases {
            #expect(
                error.description.contains(phrase), "\"\(error.description)\" lacks \"\(phrase)\"",
                sourceLocation: sourceLocation)
        }
        #expect(!error.description.contains("\n"), "message is not one line", sourceLocation: sourceLocation)
    } catch let error as DataError {
        for phrase in phrases {
            #expect(
                error.description.contains(phrase), "\"\(error.description)\" lacks \"\(phrase)\"",
                sourceLocation: sourceLocation)
        }
        #expect(!error.description.contains("\n"), "message is not one line", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected a DataError, got \(error)", sourceLocation: sourceLocation)
    }
}
