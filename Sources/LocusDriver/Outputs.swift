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

extension Driver {
  /// Writes `files` (relative path → bytes) as the whole content of `directory`: into a staging
  /// folder beside it, then the old folder (if any) is moved aside, the new one renamed in and the
  /// old one deleted. A failure leaves the old folder as it was.
  public static func replaceFolder(_ directory: String, with files: [(path: String, data: Data)], copying extra: [(from: String, to: String)] = []) throws(DriverError) {
    let fm = FileManager.default
    let target = URL(fileURLWithPath: directory).standardizedFileURL
    let parent = target.deletingLastPathComponent()
    let staging = parent.appendingPathComponent(".\(target.lastPathComponent).locus-tmp-\(getpid())")
    let retired = parent.appendingPathComponent(".\(target.lastPathComponent).locus-old-\(getpid())")
    do {
      try fm.createDirectory(at: parent, withIntermediateDirectories: true)
      try? fm.removeItem(at: staging)
      try fm.createDirectory(at: staging, withIntermediateDirectories: true)
      defer { try? fm.removeItem(at: staging) }
      for (path, data) in files {
        let url = staging.appendingPathComponent(path)
        try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
      }
      for (from, to) in extra {
        let url = staging.appendingPathComponent(to)
        try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try fm.copyItem(atPath: from, toPath: url.path)
      }
      try? fm.removeItem(at: retired)
      if fm.fileExists(atPath: target.path) {
        guard rename(target.path, retired.path) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: target.path]) }
      }
      guard rename(staging.path, target.path) == 0 else {
        _ = rename(retired.path, target.path)
        throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: target.path])
      }
      try? fm.removeItem(at: retired)
    } catch {
      throw .io(path: directory, reason: "cannot write the output: \(error.localizedDescription)")
    }
  }
}
