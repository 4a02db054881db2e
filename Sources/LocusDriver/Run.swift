import LocusRuntime
import LocusCodegen

extension Driver {
  /// Checks that an input array fits the compiled model: `[B, …]` with the model's per-image shape.
  public static func checkInput(_ x: NpyArray, path: String, for artifact: CompiledArtifact) throws(DriverError) {
    try checkInput(x, path: path, manifest: artifact.manifest)
  }

  /// The same check against any built library's manifest (a training library's first input too).
  public static func checkInput(_ x: NpyArray, path: String, manifest: Manifest) throws(DriverError) {
    let expected = manifest.inputs[0].shape
    guard x.shape == expected else {
      let perImage = expected.dropFirst().map(String.init).joined(separator: ", ")
      throw .usage("\(path): model '\(manifest.model)' takes '\(manifest.inputs[0].name)' as [B, \(perImage)]; the file holds \(x.shape)")
    }
  }

  /// The batch size an input array asks for: its leading dimension.
  public static func batch(of x: NpyArray, path: String) throws(DriverError) -> Int {
    guard x.shape.count >= 2, let b = x.shape.first, b >= 1 else {
      throw .usage("\(path): expected images [B, C, H, W], got an array of shape \(x.shape)")
    }
    return b
  }
}
