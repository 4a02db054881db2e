// Points and spans in a SourceFile. Every AST node and every diagnostic carries a SourceRange.

/// A point in a source file. `line` and `column` are 1-based; `offset` is 0-based (in scalars).
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
  public let file: SourceFile
  public let offset: Int
  public let line: Int
  public let column: Int

  /// `file:line:column`, the prefix of a rendered diagnostic.
  public var description: String { "\(file.name):\(line):\(column)" }
}

/// A span of `length` scalars starting at `start`. A zero length marks an insertion point, e.g.
/// "expected ')' here" just after the last argument.
public struct SourceRange: Hashable, Sendable, CustomStringConvertible {
  public let start: SourceLocation
  public let length: Int

  public init(start: SourceLocation, length: Int) {
    self.start = start
    self.length = max(0, length)
  }

  public var file: SourceFile { start.file }
  public var line: Int { start.line }
  public var column: Int { start.column }
  public var offset: Int { start.offset }
  /// Offset one past the last scalar of the range.
  public var endOffset: Int { start.offset + length }

  /// The location just past the end (where a missing token would be inserted).
  public var end: SourceLocation { file.location(at: endOffset) }

  /// The text the range covers.
  public var text: String {
    let scalars = file.scalars
    let lower = min(offset, scalars.count)
    let upper = min(endOffset, scalars.count)
    var view = String.UnicodeScalarView()
    view.append(contentsOf: scalars[lower..<upper])
    return String(view)
  }

  /// The smallest range covering both `self` and `other` (same file assumed).
  public func union(_ other: SourceRange) -> SourceRange {
    let lower = min(offset, other.offset)
    let upper = max(endOffset, other.endOffset)
    return file.range(from: lower, to: upper)
  }

  /// An empty range just past the end of `self`.
  public var afterEnd: SourceRange { SourceRange(start: end, length: 0) }

  public var description: String { start.description }
}
