// The process-wide thread settings (BayesPruneKernels' `elementwiseThreads`, and OpenBLAS's and oneDNN's
// thread counts through `setBLASThreads`/`configureThreads`) are globals shared by every test in the
// test process, whatever its target. A test that writes them, or needs them fixed while it runs, does so
// inside `withExclusiveThreadSettings`, so no two such tests overlap and each leaves them as it found them.
import BayesPruneKernels
import Foundation

private let threadSettingsLock = NSLock()

/// Runs `body` holding the process-wide thread-settings lock; restores elementwiseThreads and the
/// OpenBLAS thread count afterwards.
public func withExclusiveThreadSettings<T>(_ body: () throws -> T) rethrows -> T {
    threadSettingsLock.lock()
    defer { threadSettingsLock.unlock() }
    let savedElementwise = elementwiseThreads
    let savedBLAS = blasThreads()
    defer {
        setBLASThreads(savedBLAS)  // also sets oneDNN's count and elementwiseThreads
        elementwiseThreads = savedElementwise
    }
    return try body()
}
