import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// Replacing a file so that a reader, or the next run after a kill or a power cut, finds either the
// old complete file or the new complete one, never a mix: write `<path>.tmp-<pid>` in the same
// directory (rename is only atomic within one file system), fsync it, rename it over the target,
// then fsync the directory so the rename itself is durable.

enum AtomicFile {
  /// The temporary name a write by process `pid` uses.
  static func temporaryPath(for path: String, pid: Int32 = getpid()) -> String { "\(path).tmp-\(pid)" }

  static func write(_ data: Data, to path: String) throws(TrainingError) {
    let temporary = temporaryPath(for: path)
    func failure(_ action: String, _ on: String = temporary) -> TrainingError {
      .io(path: on, action: action, reason: String(cString: strerror(errno)))
    }
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw failure("create") }
    var written = 0
    let ok = data.withUnsafeBytes { raw -> Bool in
      while written < raw.count {
        let n = posixWrite(fd, raw.baseAddress! + written, raw.count - written)
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return false }
        written += n
      }
      return true
    }
    guard ok, fsync(fd) == 0 else {
      let error = failure(ok ? "sync" : "write")
      close(fd)
      unlink(temporary)
      throw error
    }
    guard close(fd) == 0 else {
      let error = failure("close")
      unlink(temporary)
      throw error
    }
    guard rename(temporary, path) == 0 else {
      let error = failure("rename \(temporary) to", path)
      unlink(temporary)
      throw error
    }
    syncDirectory(of: path)
  }

  /// Best effort: some file systems refuse fsync on a directory, and the data is safe either way.
  private static func syncDirectory(of path: String) {
    let directory = (path as NSString).deletingLastPathComponent
    let fd = open(directory.isEmpty ? "." : directory, O_RDONLY)
    guard fd >= 0 else { return }
    fsync(fd)
    close(fd)
  }
}

/// write(2), named apart from AtomicFile.write.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
  #if canImport(Glibc)
    Glibc.write(fd, buffer, count)
  #else
    Darwin.write(fd, buffer, count)
  #endif
}
