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
  /// Refuses an output folder that Locus did not write: `-o` may name a new path, an empty folder
  /// or an earlier output of Locus (it has a manifest.json, or nothing but entries this output
  /// writes), never a file or someone's project.
  public static func checkOutputFolder(_ directory: String, writing entries: Set<String> = []) throws(DriverError) {
    let fm = FileManager.default
    let target = URL(fileURLWithPath: directory).standardizedFileURL
    var isDirectory: ObjCBool = false
    guard fm.fileExists(atPath: target.path, isDirectory: &isDirectory) else { return }
    guard isDirectory.boolValue else { throw .io(path: directory, reason: "exists and is not a folder; choose another -o") }
    let present = ((try? fm.contentsOfDirectory(atPath: target.path)) ?? []).filter { !$0.hasPrefix(".") }
    guard present.isEmpty || present.contains("manifest.json") || Set(present).isSubset(of: entries) else {
      throw .io(path: directory, reason: "is a folder Locus did not write (no manifest.json) and would be replaced; choose an empty or new -o")
    }
  }

  /// Writes `files` (relative path → bytes) as the whole content of `directory`: into a staging
  /// folder beside it, then the old folder (if any) is moved aside, the new one renamed in and the
  /// old one deleted. Hidden entries of the old folder that Locus does not write (`.git` of a
  /// package consumed by version, `.build`) move over to the new one. A failure leaves the old
  /// folder as it was.
  public static func replaceFolder(_ directory: String, with files: [(path: String, data: Data)], copying extra: [(from: String, to: String)] = []) throws(DriverError) {
    let written = Set(files.map { String($0.path.split(separator: "/")[0]) } + extra.map { String($0.to.split(separator: "/")[0]) })
    try checkOutputFolder(directory, writing: written)
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
      for entry in (try? fm.contentsOfDirectory(atPath: target.path)) ?? [] where entry.hasPrefix(".") && !written.contains(entry) {
        try posix(rename(target.appendingPathComponent(entry).path, staging.appendingPathComponent(entry).path), entry)
      }
      try? fm.removeItem(at: retired)
      if fm.fileExists(atPath: target.path) { try posix(rename(target.path, retired.path), target.path) }
      do {
        try posix(rename(staging.path, target.path), target.path)
      } catch {
        _ = rename(retired.path, target.path)
        throw error
      }
      try? fm.removeItem(at: retired)
    } catch {
      throw .io(path: directory, reason: "cannot write the output: \(error)")
    }
  }
}

/// A failed POSIX call as an error that says which path and why (errno's text).
struct PosixFailure: Error, CustomStringConvertible {
  var path: String
  var code: Int32
  var description: String { "\(path): \(String(cString: strerror(code)))" }
}

func posix(_ status: Int32, _ path: String) throws {
  if status != 0 { throw PosixFailure(path: path, code: errno) }
}
