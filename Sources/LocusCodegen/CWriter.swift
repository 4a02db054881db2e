// LocusCodegen owns C emission: the writer (indentation, scopes), the kernel templates from
// `templates/`, the op → kernel-call table, the model and header files, and the manifest.
// It reads the IR and the memory plan; it never parses specs or runs clang.

/// The one object that writes C text. It owns indentation, scopes and blank lines, so emission
/// code never counts spaces: `scope("for (int b = 0; b < B; b++)", closing: "for b") { … }`
/// writes the opening brace, indents the body and closes with `} // for b`.
struct CWriter {
  private(set) var text = ""
  private var depth = 0
  /// Whether the last thing written was a blank line (or nothing at all): blank lines never
  /// double up and never open a scope or a file.
  private var atBlank = true
  static let indentUnit = "  "

  /// One line at the current indentation. An empty string is a blank line.
  mutating func line(_ s: String = "") {
    if s.isEmpty { return blank() }
    text += String(repeating: Self.indentUnit, count: depth) + s + "\n"
    atBlank = false
  }

  /// Several lines, each indented (for multi-line strings built elsewhere).
  mutating func lines(_ s: String) {
    for l in s.split(separator: "\n", omittingEmptySubsequences: false) { line(String(l)) }
  }

  /// A blank line, unless one was just written or a scope just opened.
  mutating func blank() {
    guard !atBlank else { return }
    text += "\n"
    atBlank = true
  }

  /// `/* text */` on one line, or a block comment with ` * ` lines when `text` has several.
  mutating func comment(_ s: String) {
    let parts = s.split(separator: "\n", omittingEmptySubsequences: false).map { sanitize(String($0)) }
    if parts.count == 1 {
      line("/* \(parts[0]) */")
    } else {
      line("/*")
      for p in parts { line(p.isEmpty ? " *" : " * " + p) }
      line(" */")
    }
  }

  /// `header {` … `} // closing`. The closing comment names what closes (`for b`, a function name).
  mutating func scope(_ header: String, closing: String? = nil, _ body: (inout CWriter) throws -> Void) rethrows {
    line(header + " {")
    depth += 1
    atBlank = true
    try body(&self)
    depth -= 1
    atBlank = false
    line("}" + (closing.map { " // \($0)" } ?? ""))
  }

  /// Text copied verbatim (a template file): no indentation is added, and it ends with a newline.
  mutating func verbatim(_ s: String) {
    precondition(depth == 0, "verbatim text inside a scope")
    text += s.hasSuffix("\n") ? s : s + "\n"
    atBlank = s.hasSuffix("\n\n")
  }
}

/// Keeps user-controlled text (scope names, parameter names) from closing a C comment early.
func sanitize(_ s: String) -> String {
  s.replacingOccurrences(of: "*/", with: "* /").replacingOccurrences(of: "/*", with: "/ *")
}

/// A C string literal for `s`: quotes, backslashes and control characters escaped.
func cString(_ s: String) -> String {
  var out = "\""
  for u in s.unicodeScalars {
    switch u {
    case "\"": out += "\\\""
    case "\\": out += "\\\\"
    case "\n": out += "\\n"
    case _ where u.value < 0x20 || u.value >= 0x7f:
      // Octal escapes are at most three digits, so a following digit cannot extend them.
      for byte in String(u).utf8 { out += "\\" + String(byte, radix: 8).leftPadded(to: 3) }
    default: out.unicodeScalars.append(u)
    }
  }
  return out + "\""
}

extension String {
  func leftPadded(to width: Int, with pad: Character = "0") -> String {
    count >= width ? self : String(repeating: pad, count: width - count) + self
  }
}
