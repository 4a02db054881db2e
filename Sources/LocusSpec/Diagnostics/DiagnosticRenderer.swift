// Renders diagnostics the way clang and rustc do, so that editors and people read them alike:
//
//   specs/x.locus:3:15: error: expected ')' to close the call to 'conv2d'
//     x = conv2d(pixels, out: 64
//                               ^
//   hint: add ')' after the last argument

public enum DiagnosticRenderer {
  /// One diagnostic, its notes after it; lines are joined by "\n", without a trailing newline.
  public static func render(_ diagnostic: Diagnostic) -> String {
    var lines = located(diagnostic.severity, diagnostic.message, diagnostic.range)
    if let hint = diagnostic.hint { lines.append("hint: \(hint)") }
    for note in diagnostic.notes {
      if let range = note.range {
        lines += located(.note, note.message, range)
      } else {
        lines.append("note: \(note.message)")
      }
    }
    return lines.joined(separator: "\n")
  }

  /// Several diagnostics, one after another, separated by newlines.
  public static func render(_ diagnostics: [Diagnostic]) -> String {
    diagnostics.map { render($0) }.joined(separator: "\n")
  }

  /// The header line, the source line and the caret line for a message at `range`.
  private static func located(_ severity: Severity, _ message: String, _ range: SourceRange)
    -> [String]
  {
    let source = range.file.lineText(range.line)
    return [
      "\(range.start): \(severity.rawValue): \(message)",
      source,
      caretLine(under: source, range: range),
    ]
  }

  /// `^` at the start column, `~` under the rest of the range on that line. Tabs of the source
  /// line are copied into the padding so the caret lines up whatever the tab width.
  static func caretLine(under source: String, range: SourceRange) -> String {
    let sourceScalars = Array(source.unicodeScalars)
    let startColumn = range.column - 1
    var line = String.UnicodeScalarView()
    for index in 0..<startColumn {
      let scalar = index < sourceScalars.count ? sourceScalars[index] : " "
      line.append(scalar == "\t" ? "\t" : " ")
    }
    line.append("^")
    let lineEnd = range.file.endOfLine(range.line)
    let tildes = min(range.endOffset, lineEnd) - range.offset - 1
    if tildes > 0 { line.append(contentsOf: repeatElement("~", count: tildes)) }
    return String(line)
  }
}
