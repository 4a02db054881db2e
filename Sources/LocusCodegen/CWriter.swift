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

  /// `depth` > 0 writes a fragment that will be pasted inside that many scopes.
  init(depth: Int = 0) { self.depth = depth }

  /// One line at the current indentation; preprocessor lines stay in column 0, as C is written
  /// by hand. An empty string is a blank line.
  mutating func line(_ s: String = "") {
    if s.isEmpty { return blank() }
    text += (s.hasPrefix("#") ? "" : String(repeating: Self.indentUnit, count: depth)) + s + "\n"
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
    open(header)
    try body(&self)
    close(closing)
  }

  /// The two halves of `scope`, for bodies that cannot be a closure (they mutate the object
  /// that owns the writer). Every `open` needs its `close`.
  mutating func open(_ header: String) {
    let before = (length: text.utf8.count, atBlank: atBlank)
    line(header + " {")
    depth += 1
    atBlank = true
    lastOpen = (before.length, text.utf8.count, before.atBlank)
  }

  /// The latest `open`: the text's length before and after its header, and `atBlank` before it.
  /// Anything written since (a nested scope included) makes the text longer than `after`.
  private var lastOpen: (before: Int, after: Int, atBlank: Bool)?

  /// `close`, except that a scope whose body wrote nothing is removed with its header (a
  /// per-sample loop around a node that needs no code).
  mutating func closeDroppingEmpty(_ closing: String? = nil) {
    guard let mark = lastOpen, text.utf8.count == mark.after else { return close(closing) }
    depth -= 1
    text = String(decoding: text.utf8.prefix(mark.before), as: UTF8.self)
    atBlank = mark.atBlank
    lastOpen = nil
  }

  /// `terminator` follows the brace (`;` after an initializer list).
  mutating func close(_ closing: String? = nil, terminator: String = "") {
    precondition(depth > 0, "close without open")
    depth -= 1
    atBlank = false
    line("}" + terminator + (closing.map { " // \($0)" } ?? ""))
  }

  /// Appends text written by another writer at the current depth (a function body built before
  /// the declarations that depend on it).
  mutating func append(_ fragment: CWriter) {
    precondition(fragment.depth == depth, "fragment written at depth \(fragment.depth), appended at \(depth)")
    guard !fragment.text.isEmpty else { return }
    text += fragment.text
    atBlank = fragment.atBlank
  }

  /// `fn(a, b, c);` on one line when it fits in `width` columns, else broken after commas with
  /// continuation lines indented twice (arguments stay in order, several per line). With
  /// `onFailure`, the call is a status check: `if (fn(a, b, c) != 0) return -1;`.
  mutating func call(_ fn: String, _ args: [String], width: Int = 100, onFailure: String? = nil) {
    let indent = String(repeating: Self.indentUnit, count: depth)
    let head = (onFailure == nil ? "" : "if (") + fn + "("
    let tail = onFailure.map { ") != 0) \($0)" } ?? ");"
    let flat = head + args.joined(separator: ", ") + tail
    guard indent.count + flat.count > width, !args.isEmpty else { return line(flat) }
    let continuation = indent + String(repeating: Self.indentUnit, count: 2)
    var lines: [String] = []
    var current = indent + head
    for (i, arg) in args.enumerated() {
      let piece = arg + (i == args.count - 1 ? tail : ",")
      if current.count + 1 + piece.count > width, current != indent + head, current != continuation {
        lines.append(current)
        current = continuation + piece
      } else {
        let fresh = current.hasSuffix("(") || current == continuation
        current += (fresh ? "" : " ") + piece
      }
    }
    lines.append(current)
    for l in lines { text += l + "\n" }
    atBlank = false
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
