// Tests for BayesPruneRuntime: CPU feature → OpenBLAS core mapping, the re-exec decision, the sgemm
// self-check, thread policy. Nothing here re-executes the test process.

import TestSupport
import Testing

@testable import BayesPruneRuntime

private let sseAll: UInt32 = (1 << 0) | (1 << 9) | (1 << 19) | (1 << 20)
private let fmaAVXosx: UInt32 = (1 << 12) | (1 << 27) | (1 << 28)
private let avx512Core: UInt32 = (1 << 16) | (1 << 17) | (1 << 30) | (1 << 31)  // F DQ BW VL
private let avx2: UInt32 = 1 << 5

private func cpu(l1: UInt32, l7b: UInt32 = 0, xcr0: UInt64 = 0) -> CPUFeatures {
    CPUFeatures.decode(leaf1ECX: l1, leaf7EBX: l7b, leaf7ECX: 0, leaf7EDX: 0, leaf7s1EAX: 0, xcr0: xcr0)
}

@Test func sapphireRapidsLikeMapsToSkylakeX() {
    let f = cpu(l1: sseAll | fmaAVXosx, l7b: avx2 | avx512Core | (1 << 28), xcr0: 0xE7)
    #expect(f.usableAVX512)
    #expect(OpenBLASCore.best(for: f) == "SkylakeX")
}

@Test func avx512WithoutOSStateFallsToHaswell() {
    // ZMM state not enabled by the OS (XCR0 lacks bits 5-7): AVX-512 unusable.
    let f = cpu(l1: sseAll | fmaAVXosx, l7b: avx2 | avx512Core, xcr0: 0x7)
    #expect(!f.usableAVX512)
    #expect(OpenBLASCore.best(for: f) == "Haswell")
}

@Test func partialAVX512IsNotSkylakeX() {
    // AVX-512F only (Knights Landing style: no BW/DQ/VL).
    let f = cpu(l1: sseAll | fmaAVXosx, l7b: avx2 | (1 << 16), xcr0: 0xE7)
    #expect(OpenBLASCore.best(for: f) == "Haswell")
}

@Test func olderFeatureSetsMapDown() {
    #expect(OpenBLASCore.best(for: cpu(l1: sseAll | fmaAVXosx, xcr0: 0x7)) == "Sandybridge")  // no AVX2
    #expect(OpenBLASCore.best(for: cpu(l1: sseAll | fmaAVXosx, l7b: avx2, xcr0: 0x3)) == "Nehalem")  // no OS AVX
    #expect(OpenBLASCore.best(for: cpu(l1: sseAll | fmaAVXosx, l7b: avx2)) == "Nehalem")  // xcr0 unread
    #expect(OpenBLASCore.best(for: cpu(l1: (1 << 0) | (1 << 9))) == "Core2")
    #expect(OpenBLASCore.best(for: cpu(l1: 1 << 0)) == nil)
    #expect(OpenBLASCore.best(for: CPUFeatures()) == nil)  // non-x86
}

@Test func xcr0IgnoredWithoutOSXSAVE() {
    let f = cpu(l1: sseAll | (1 << 12) | (1 << 28), l7b: avx2 | avx512Core, xcr0: 0xE7)
    #expect(!f.osAVX && !f.osAVX512)
    #expect(OpenBLASCore.best(for: f) == "Nehalem")
}

@Test func coreRanks() {
    #expect(OpenBLASCore.rank("Prescott") == 0)
    #expect(OpenBLASCore.rank("prescott")! < OpenBLASCore.rank("SkylakeX")!)
    #expect(OpenBLASCore.rank("Haswell")! < OpenBLASCore.rank("SKYLAKEX")!)
    #expect(OpenBLASCore.rank("Cooperlake") == OpenBLASCore.rank("SkylakeX"))
    #expect(OpenBLASCore.rank("SomethingNew") == nil)
}

@Test func reexecDecision() {
    typealias S = OpenBLASSetup
    #expect(
        S.decide(userCoreType: "Haswell", marker: nil, currentCore: "Haswell", best: "SkylakeX")
            == .keep(.userSet))
    #expect(
        S.decide(userCoreType: "Prescott", marker: nil, currentCore: "Prescott", best: "SkylakeX")
            == .keep(.userSet))
    #expect(
        S.decide(userCoreType: "SkylakeX", marker: "1", currentCore: "Prescott", best: "SkylakeX")
            == .keep(.alreadyReexecuted))
    #expect(
        S.decide(userCoreType: nil, marker: "fallback", currentCore: "Prescott", best: "SkylakeX")
            == .keep(.alreadyReexecuted))
    #expect(
        S.decide(userCoreType: nil, marker: nil, currentCore: "Prescott", best: "SkylakeX")
            == .reexec(coreType: "SkylakeX"))
    #expect(
        S.decide(userCoreType: "", marker: "", currentCore: "Prescott", best: "SkylakeX")
            == .reexec(coreType: "SkylakeX"))  // empty values count as unset
    #expect(
        S.decide(userCoreType: nil, marker: nil, currentCore: "Haswell", best: "SkylakeX")
            == .reexec(coreType: "SkylakeX"))
    #expect(
        S.decide(userCoreType: nil, marker: nil, currentCore: "SkylakeX", best: "SkylakeX")
            == .keep(.alreadyBest))
    #expect(
        S.decide(userCoreType: nil, marker: nil, currentCore: "Cooperlake", best: "SkylakeX")
            == .keep(.alreadyBest))
    #expect(
        S.decide(userCoreType: nil, marker: nil, currentCore: "Zen", best: "Haswell")
            == .keep(.alreadyBest))
    #expect(
        S.decide(userCoreType: nil, marker: nil, currentCore: "Prescott", best: nil)
            == .keep(.noDetectedCore))
    #expect(
        S.decide(userCoreType: nil, marker: nil, currentCore: "FutureCore", best: "SkylakeX")
            == .keep(.unknownCurrentCore))
}

@Test func sgemmCheckPassesAndDetectsCorruption() {
    let ok = OpenBLASSetup.sgemmCheck()
    #expect(ok.passed)
    #expect(ok.maxRelativeError < 1e-5)
    let bad = OpenBLASSetup.sgemmCheck(tamper: { $0[1234] += 0.5 })
    #expect(!bad.passed)
    #expect(bad.maxRelativeError > 1e-3)
    let nan = OpenBLASSetup.sgemmCheck(tamper: { $0[0] = .nan })
    #expect(!nan.passed)
    #expect(!OpenBLASSetup.compare([1, 2], reference: [1, 2, 3]).passed)
}

@Test func reportSummaryAndJSON() {
    let r = KernelReport(
        coreName: "SkylakeX", detectedBest: "SkylakeX", cpuFeatures: "avx512(f,bw,dq,vl)",
        reexecuted: true, userSet: false, fellBack: false, checkPassed: true,
        maxRelativeError: 1e-7, threads: 2, note: "")
    #expect(r.summary == "OpenBLAS kernel: SkylakeX (auto-selected from CPUID; sgemm check ok)")
    let j = r.json()
    #expect(j.contains("\"blas_core\":\"SkylakeX\""))
    #expect(j.contains("\"blas_reexecuted\":true"))
    var bad = r
    bad.checkPassed = false
    bad.maxRelativeError = .infinity
    #expect(bad.summary.contains("FAILED"))
    #expect(bad.json().contains("\"inf\""))
}

@Test func dryRunReportDoesNotExec() {
    // allowReexec: false never touches the environment or the process image.
    // ensureBestKernel sets the process-wide thread counts (configureThreads): under the thread-settings
    // lock, restored afterwards, so it cannot change them under another test.
    let r = withExclusiveThreadSettings { OpenBLASSetup.ensureBestKernel(threads: 1, allowReexec: false) }
    #expect(r.checkPassed)
    #expect(r.threads == 1)
    #expect(!r.coreName.isEmpty)
}

@Test func threadPolicy() {
    #expect(chooseThreadCount(requested: 3, cores: 32, environment: [:]) == 3)
    #expect(chooseThreadCount(requested: nil, cores: 32, environment: [:]) == 32)
    #expect(chooseThreadCount(requested: 0, cores: 8, environment: [:]) == 8)
    #expect(chooseThreadCount(requested: nil, cores: 32, environment: ["OMPI_COMM_WORLD_LOCAL_SIZE": "4"]) == 8)
    #expect(chooseThreadCount(requested: nil, cores: 2, environment: ["OMPI_COMM_WORLD_LOCAL_SIZE": "2"]) == 1)
    #expect(chooseThreadCount(requested: nil, cores: 2, environment: ["SLURM_NTASKS_PER_NODE": "8"]) == 1)
    #expect(chooseThreadCount(requested: nil, cores: 16, environment: ["SLURM_NTASKS_PER_NODE": "2(x3)"]) == 8)
    #expect(chooseThreadCount(requested: nil, cores: 16, environment: ["OMPI_COMM_WORLD_LOCAL_SIZE": "junk"]) == 16)
}

@Test func machineInfo() {
    let m = MachineInfo.current()
    #expect(m.onlineCores >= 1 && m.usableCores >= 1)
    #expect(m.memoryBytes > 0)
    #expect(
        MachineInfo.parseCPUModel("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\n")
            == "Intel(R) Xeon(R) Processor")
    #expect(m.json().contains("\"cpu_model\""))
}

@Test func gflopsBenchRuns() {
    let g = measureSGEMMGFLOPS(size: 64, repeats: 3)
    #expect(g > 0.01)
}
