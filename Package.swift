// swift-tools-version:6.0
// BayesPrune: Bayesian neural networks trained with an adaptive variational Bayes sampler and pruned
// in the same run (Ke & Fan, "On the optimization and pruning for Bayesian deep learning").
import PackageDescription

// Release builds are the product; -Ounchecked drops bounds/overflow traps from the numeric kernels,
// whose indices are checked once at the layer boundary instead.
let fast: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]

let package = Package(
    name: "BayesPrune",
    products: [
        .executable(name: "bayesprune", targets: ["bayesprune"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
    ],
    targets: [
        // MARK: - C shims: what Swift cannot import or should not re-implement
        // OpenBLAS (cblas + openblas_* controls), CPUID, zlib.
        .target(
            name: "CShims",
            cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])],
            linkerSettings: [.linkedLibrary("openblas"), .linkedLibrary("z"), .linkedLibrary("m")]
        ),

        // OpenMPI: wrappers for the handle macros Swift cannot import, with collective timeouts.
        .target(name: "CMPI", linkerSettings: [.linkedLibrary("mpi")]),

        // oneDNN (Debian libdnnl-dev; dnnl.h at build time, libdnnl.so.2 dlopened at run time) convolutions on our
        // [C, N, H, W] layout; im2col + GEMM is the fallback when either is missing.
        .target(
            name: "CDNNL",
            cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("dl")]
        ),

        // MARK: - Library modules (one concern each, one-way dependencies)
        // Flat buffers, RNG, GEMM wrapper and the numeric kernels with their naive twins.
        .target(name: "BayesPruneKernels", dependencies: ["CShims", "CDNNL"], swiftSettings: fast),
        // OpenBLAS kernel selection at start-up, thread control, machine facts.
        .target(name: "BayesPruneRuntime", dependencies: ["CShims", "BayesPruneKernels"], swiftSettings: fast),
        // Data sets: IDX, CIFAR binary, CSV; normalization, augmentation, shuffling, batching.
        .target(name: "BayesPruneData", dependencies: ["CShims", "BayesPruneKernels"], swiftSettings: fast),
        // Parameter layout, layers with forward/backward, losses, models.
        .target(name: "BayesPruneNN", dependencies: ["BayesPruneKernels"], swiftSettings: fast),
        // The multi-process layer: Communicator (MPI or single process) over pointers and sizes.
        .target(name: "BayesPruneDistributed", dependencies: ["CMPI"], swiftSettings: fast),
        // Optimizers/samplers, training loop, metrics, run directory.
        .target(
            name: "BayesPruneTraining",
            dependencies: ["BayesPruneKernels", "BayesPruneNN", "BayesPruneData", "BayesPruneRuntime", "BayesPruneDistributed"],
            swiftSettings: fast
        ),

        // MARK: - Command-line tool
        .executableTarget(
            name: "bayesprune",
            dependencies: [
                "BayesPruneTraining", "BayesPruneRuntime", "BayesPruneDistributed",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fast
        ),

        // MARK: - Tests
        .testTarget(name: "KernelsTests", dependencies: ["BayesPruneKernels"]),
        .testTarget(name: "RuntimeTests", dependencies: ["BayesPruneRuntime"]),
        .testTarget(name: "DataTests", dependencies: ["BayesPruneData"]),
        .testTarget(name: "NNTests", dependencies: ["BayesPruneNN"]),
        .testTarget(name: "TrainingTests", dependencies: ["BayesPruneTraining"]),
    ],
    swiftLanguageModes: [.v5]
)
