// swift-tools-version:6.0
// An app that uses a model compiled by Locus: it depends on the Swift package that
// `locus compile specs/localvit_fmnist.locus --emit swift-package -o Gen/LocalViTFMNIST` writes
// (`make` here does that first), loads a checkpoint trained by `locus train`, and classifies the
// Fashion-MNIST test images.
import PackageDescription

let package = Package(
  name: "FashionApp",
  platforms: [.macOS(.v13)],
  dependencies: [.package(path: "Gen/LocalViTFMNIST")],
  targets: [
    .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
    .executableTarget(
      name: "FashionApp",
      dependencies: ["CZlib", .product(name: "LocalViTFMNIST", package: "LocalViTFMNIST")]),
  ])
