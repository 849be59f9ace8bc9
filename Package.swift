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
        .executable(name: "bayesprune", targets: ["bayesprune"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/JohnSundell/Plot.git", from: "0.14.0"),
    ],
    targets: [
        // MARK: - C shims: what Swift cannot import or should not re-implement
        // OpenBLAS (cblas + openblas_* controls), CPUID, zlib.
        .target(
            name: "CShims",
            cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])],
            linkerSettings: [.linkedLibrary("openblas"), .linkedLibrary("z"), .linkedLibrary("m")]
        ),

        // libjpeg-turbo and libpng (Debian libjpeg62-turbo-dev, libpng-dev): decoding for image-folder data.
        .target(
            name: "CImage",
            cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16")]
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
        // Data sets: IDX, CIFAR binary, CSV, image folders; normalization, augmentation, shuffling, batching.
        .target(name: "BayesPruneData", dependencies: ["CShims", "CImage", "BayesPruneKernels"], swiftSettings: fast),
        // Parameter layout, layers with forward/backward, losses, models.
        .target(name: "BayesPruneNN", dependencies: ["BayesPruneKernels"], swiftSettings: fast),
        // The multi-process layer: Communicator (MPI or single process) over pointers and sizes.
        .target(name: "BayesPruneDistributed", dependencies: ["CMPI"], swiftSettings: fast),
        // Samplers (sgd, adavb, sghmc, sgld) as a step over explicit state; step-size schedules; which
        // epochs take a posterior sample.
        .target(name: "BayesPruneSampling", dependencies: ["CShims", "BayesPruneKernels"], swiftSettings: fast),
        // Spike-and-slab EM: E-step, θ's M-step, structured hard pruning, channel-graph consistency, masks.
        .target(
            name: "BayesPruneSparsity",
            dependencies: ["BayesPruneKernels", "BayesPruneNN", "BayesPruneDistributed"],
            swiftSettings: fast
        ),
        // The typed run configuration: enums, defaults, validation in one place, TOML config files, and
        // the data a configuration loads.
        .target(
            name: "BayesPruneConfig",
            dependencies: [
                "BayesPruneKernels", "BayesPruneNN", "BayesPruneData", "BayesPruneSampling", "BayesPruneSparsity",
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            swiftSettings: fast
        ),
        // The run directory's files: atomic writes, safetensors, checkpoints, config.json, sample lists.
        .target(
            name: "BayesPruneRunIO",
            dependencies: ["CShims", "BayesPruneKernels", "BayesPruneData", "BayesPruneNN", "BayesPruneConfig"],
            swiftSettings: fast
        ),
        // Reading finished runs: predictions, metrics (accuracy, NLL, Brier, ECE), BMA, OOD detection,
        // evaluating a run directory, the compact export of a pruned run.
        .target(
            name: "BayesPruneEvaluation",
            dependencies: [
                "BayesPruneKernels", "BayesPruneNN", "BayesPruneData", "BayesPruneDistributed", "BayesPruneSparsity",
                "BayesPruneConfig", "BayesPruneRunIO",
            ],
            swiftSettings: fast
        ),
        // The trainer (epoch loop in named steps), the MPI session, checkpoints and exact resume.
        .target(
            name: "BayesPruneTraining",
            dependencies: [
                "CShims", "BayesPruneKernels", "BayesPruneNN", "BayesPruneData", "BayesPruneDistributed",
                "BayesPruneSampling", "BayesPruneSparsity", "BayesPruneConfig", "BayesPruneRunIO",
                "BayesPruneEvaluation",
            ],
            swiftSettings: fast
        ),
        // `report`: one self-contained HTML page (inline SVG charts) of a run directory, written with Plot.
        .target(
            name: "BayesPruneReport",
            dependencies: [
                "BayesPruneNN", "BayesPruneData", "BayesPruneSampling", "BayesPruneSparsity", "BayesPruneConfig",
                "BayesPruneRunIO", "BayesPruneEvaluation", "BayesPruneTraining",
                .product(name: "Plot", package: "Plot"),
            ]
        ),
        // `bench`: training-step throughput and compact-vs-dense inference.
        .target(
            name: "BayesPruneBenchmark",
            dependencies: [
                "BayesPruneKernels", "BayesPruneNN", "BayesPruneRuntime", "BayesPruneDistributed",
                "BayesPruneSampling", "BayesPruneRunIO", "BayesPruneEvaluation", "BayesPruneData",
            ],
            swiftSettings: fast
        ),

        // The file readers as fuzz targets, and their libFuzzer binary (Fuzz/run builds it with the fuzzer).
        .target(
            name: "BayesPruneFuzzTargets", dependencies: ["BayesPruneKernels", "BayesPruneData", "BayesPruneRunIO"]),
        .executableTarget(name: "bayesprune-fuzz", dependencies: ["CShims", "BayesPruneFuzzTargets"]),

        // MARK: - Command-line tool
        .executableTarget(
            name: "bayesprune",
            dependencies: [
                "BayesPruneKernels", "BayesPruneNN", "BayesPruneData", "BayesPruneRuntime", "BayesPruneDistributed",
                "BayesPruneSampling", "BayesPruneSparsity", "BayesPruneConfig", "BayesPruneRunIO",
                "BayesPruneEvaluation", "BayesPruneTraining", "BayesPruneBenchmark", "BayesPruneReport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fast
        ),

        // MARK: - Tests
        // Helpers shared by the test targets: scratch files and data sets, the built binary, mpirun on
        // PATH, the process-wide thread-settings lock.
        .target(
            name: "TestSupport", dependencies: ["CShims", "BayesPruneKernels", "BayesPruneData"], path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["BayesPruneKernels"]),
        .testTarget(name: "RuntimeTests", dependencies: ["BayesPruneRuntime", "TestSupport"]),
        .testTarget(
            name: "DataTests",
            dependencies: ["BayesPruneKernels", "BayesPruneData", "TestSupport", "BayesPruneFuzzTargets"]),
        .testTarget(name: "NNTests", dependencies: ["BayesPruneKernels", "BayesPruneNN", "TestSupport"]),
        .testTarget(
            name: "TrainingTests",
            dependencies: [
                "CShims",
                "TestSupport", "BayesPruneKernels", "BayesPruneNN", "BayesPruneData", "BayesPruneDistributed",
                "BayesPruneSampling",
                "BayesPruneSparsity", "BayesPruneConfig", "BayesPruneRunIO", "BayesPruneEvaluation",
                "BayesPruneTraining", "BayesPruneBenchmark",
            ]
        ),
        .testTarget(
            name: "ReportTests",
            dependencies: [
                "TestSupport", "BayesPruneData", "BayesPruneConfig", "BayesPruneRunIO", "BayesPruneEvaluation",
                "BayesPruneTraining", "BayesPruneReport",
            ]
        ),
    ],
    swiftLanguageModes: [.v5]
)
