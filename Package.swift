// swift-tools-version:6.0
// Locus: an ahead-of-time compiler from model specs to C with OpenMP.
// Targets follow the pipeline: spec → frontend → IR → passes → codegen → build → runtime → CLI.
import PackageDescription

let package = Package(
  name: "Locus",
  platforms: [.macOS(.v13)],
  products: [
    .executable(name: "locus", targets: ["locus"]),
    .library(name: "LocusRuntime", targets: ["LocusRuntime"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
  ],
  targets: [
    // MARK: - The command-line tool

    .executableTarget(
      name: "locus",
      dependencies: [
        "LocusDriver", "LocusSpec", "LocusIR", "LocusPasses", "LocusCodegen", "LocusBuild", "LocusRuntime", "LocusTraining",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    // The whole pipeline as one call (spec → graph → passes → C → library), shared by the CLI and
    // the end-to-end tests.
    .target(
      name: "LocusDriver",
      dependencies: ["LocusSpec", "LocusFrontend", "LocusIR", "LocusPasses", "LocusCodegen", "LocusBuild", "LocusRuntime"]),

    // MARK: - Pipeline stages

    .target(name: "LocusSpec", resources: [.embedInCode("Prelude/prelude.locus")]),
    .target(name: "LocusFrontend", dependencies: ["LocusSpec", "LocusIR"]),
    .target(name: "LocusIR"),
    .target(name: "LocusPasses", dependencies: ["LocusIR"]),
    .target(name: "LocusReference", dependencies: ["LocusIR"]),
    .target(
      name: "LocusCodegen", dependencies: ["LocusIR", "LocusPasses"],
      // templates/ is a link to the repository's compilable kernel library; its C tests stay out.
      exclude: ["templates/tests", "templates/README.md"],
      resources: [.embedInCode("templates")]),
    .target(name: "LocusBuild", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
    .target(name: "LocusRuntime"),
    // Everything of `locus train` that does not depend on the compiled model: data sets, batching,
    // schedules, metrics, plots, progress, checkpoints.
    .target(name: "LocusTraining", dependencies: ["LocusRuntime", "CZlib"]),

    // MARK: - C libraries

    // zlib, to read the gzip IDX files of Fashion-MNIST (Debian: zlib1g-dev; macOS: in the SDK).
    .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),

    // MARK: - Tests

    .testTarget(name: "LocusSpecTests", dependencies: ["LocusSpec"]),
    .testTarget(
      name: "LocusFrontendTests", dependencies: ["LocusFrontend", "LocusSpec", "LocusIR"],
      resources: [.copy("StateDicts")]),
    .testTarget(name: "LocusIRTests", dependencies: ["LocusIR"]),
    .testTarget(
      name: "LocusPassesTests", dependencies: ["LocusPasses", "LocusIR", "LocusFrontend", "LocusSpec", "LocusReference"]),
    .testTarget(name: "LocusReferenceTests", dependencies: ["LocusReference", "LocusIR"]),
    .testTarget(
      name: "LocusCodegenTests",
      dependencies: ["LocusCodegen", "LocusIR", "LocusReference", "LocusBuild", "LocusRuntime"]),
    .testTarget(name: "LocusBuildTests", dependencies: ["LocusBuild"]),
    .testTarget(name: "LocusRuntimeTests", dependencies: ["LocusRuntime"]),
    .testTarget(name: "LocusTrainingTests", dependencies: ["LocusTraining", "LocusRuntime", "CZlib"]),
    .testTarget(
      name: "LocusEndToEndTests",
      dependencies: [
        "LocusDriver", "LocusSpec", "LocusFrontend", "LocusIR", "LocusPasses", "LocusReference", "LocusCodegen",
        "LocusBuild", "LocusRuntime", "LocusTraining",
      ],
      exclude: ["Golden", "Specs", "CPrograms"],
      resources: [.copy("Fixtures")]),
  ]
)
