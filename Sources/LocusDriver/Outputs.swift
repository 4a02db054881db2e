import Foundation
import LocusCodegen

extension Driver {
  /// Writes `<m>.c`, `<m>.h`, `lib<m>.so` and `manifest.json` into `directory`. Everything is
  /// first written to a fresh temporary folder beside it and moved into place only once all of it
  /// succeeded: a failure never leaves half an output behind.
  public static func write(_ artifact: CompiledArtifact, to directory: String) throws(DriverError) {
    let fm = FileManager.default
    let target = URL(fileURLWithPath: directory).standardizedFileURL
    let parent = target.deletingLastPathComponent()
    let staging = parent.appendingPathComponent(".\(target.lastPathComponent).locus-tmp-\(getpid())")
    let manifestData: Data
    do {
      manifestData = try artifact.manifest.json()
    } catch {
      throw .io(path: directory, reason: "cannot encode the manifest: \(error)")
    }
    let files: [(String, Data)] = [
      (artifact.emitted.sourceFileName, Data(artifact.emitted.source.utf8)),
      (artifact.emitted.headerFileName, Data(artifact.emitted.header.utf8)),
      ("manifest.json", manifestData),
    ]
    do {
      try fm.createDirectory(at: parent, withIntermediateDirectories: true)
      try? fm.removeItem(at: staging)
      try fm.createDirectory(at: staging, withIntermediateDirectories: true)
      defer { try? fm.removeItem(at: staging) }
      for (name, data) in files { try data.write(to: staging.appendingPathComponent(name)) }
      let library = "lib\(artifact.graph.name).so"
      try fm.copyItem(atPath: artifact.library.path, toPath: staging.appendingPathComponent(library).path)
      try fm.createDirectory(at: target, withIntermediateDirectories: true)
      for name in files.map(\.0) + [library] {
        let destination = target.appendingPathComponent(name)
        // rename(2) replaces an existing file atomically.
        guard rename(staging.appendingPathComponent(name).path, destination.path) == 0 else {
          throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: destination.path])
        }
      }
    } catch {
      throw .io(path: directory, reason: "cannot write the compiled model: \(error.localizedDescription)")
    }
  }
}
