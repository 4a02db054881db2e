// A spec's text plus the line table every diagnostic needs.
//
// Offsets and columns count Unicode scalars, not bytes: a caret printed under a line that holds
// `λ` or `é` then lines up with the character it points at (wide CJK glyphs excepted).

/// One spec source: a name to show in diagnostics (usually a path) and its full text.
///
/// A reference type so that every `SourceLocation` can point back at its file cheaply; it is
/// immutable, hence `Sendable`.
public final class SourceFile: Sendable, Hashable, CustomStringConvertible {
  public let name: String
  public let text: String
  /// The text as scalars; the lexer scans this and offsets index into it.
  let scalars: [Unicode.Scalar]
  /// Offset of the first scalar of each line; `lineStarts[0] == 0`.
  let lineStarts: [Int]

  public init(name: String, text: String) {
    self.name = name
    self.text = text
    let scalars = Array(text.unicodeScalars)
    self.scalars = scalars
    var starts = [0]
    for (offset, scalar) in scalars.enumerated() where scalar == "\n" {
      starts.append(offset + 1)
    }
    self.lineStarts = starts
  }

  /// Number of lines; a trailing newline does not start an extra, empty line.
  public var lineCount: Int {
    let last = lineStarts[lineStarts.count - 1]
    return last == scalars.count && lineStarts.count > 1 ? lineStarts.count - 1 : lineStarts.count
  }

  /// The location of `offset` (clamped to the text), with 1-based line and column.
  public func location(at offset: Int) -> SourceLocation {
    let offset = min(max(offset, 0), scalars.count)
    let lineIndex = lineIndex(containing: offset)
    return SourceLocation(
      file: self, offset: offset, line: lineIndex + 1, column: offset - lineStarts[lineIndex] + 1)
  }

  /// The range `[start, end)`; an inverted range is treated as empty at `start`.
  public func range(from start: Int, to end: Int) -> SourceRange {
    SourceRange(start: location(at: start), length: max(0, end - start))
  }

  /// The text of 1-based `line` without its line terminator (`\n` or `\r\n`); "" when out of range.
  public func lineText(_ line: Int) -> String {
    guard line >= 1, line <= lineStarts.count else { return "" }
    let start = lineStarts[line - 1]
    var end = line < lineStarts.count ? lineStarts[line] - 1 : scalars.count
    if end > start, scalars[end - 1] == "\r" { end -= 1 }
    var result = String.UnicodeScalarView()
    result.append(contentsOf: scalars[start..<max(start, end)])
    return String(result)
  }

  /// Offset one past the last scalar of 1-based `line`, before its terminator.
  func endOfLine(_ line: Int) -> Int {
    guard line >= 1, line <= lineStarts.count else { return scalars.count }
    return line < lineStarts.count ? lineStarts[line] - 1 : scalars.count
  }

  /// Binary search: the last line start that is <= offset.
  private func lineIndex(containing offset: Int) -> Int {
    var low = 0
    var high = lineStarts.count - 1
    while low < high {
      let mid = (low + high + 1) / 2
      if lineStarts[mid] <= offset { low = mid } else { high = mid - 1 }
    }
    return low
  }

  public var description: String { name }

  public static func == (lhs: SourceFile, rhs: SourceFile) -> Bool {
    lhs === rhs || (lhs.name == rhs.name && lhs.text == rhs.text)
  }

  public func hash(into hasher: inout Hasher) { hasher.combine(name) }
}
