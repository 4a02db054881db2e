// The lexical half of "newlines end statements": which line breaks do NOT end one.
//
//  - a line that ends in a binary operator, `|>`, `,`, `?` or `:` continues on the next line;
//  - a line that starts with `|>` continues the previous one, so pipelines can be stacked:
//        x = conv2d(pixels, out: dim, kernel: patch, stride: patch) @patch_embed.proj
//          |> img2seq
//  - a break at the very start of the file means nothing.
// The other half, ignoring breaks inside `(...)` and `[...]`, needs the nesting the parser knows
// (and keeps right after an error), so the parser does it.

enum LineContinuation {
  static func apply(to tokens: [Token]) -> [Token] {
    var kept: [Token] = []
    kept.reserveCapacity(tokens.count)
    for (index, token) in tokens.enumerated() {
      if token.kind == .newline {
        // The lexer already folds consecutive breaks: the next token is never another newline.
        let next = index + 1 < tokens.count ? tokens[index + 1] : nil
        guard endsStatement(after: kept.last, before: next) else { continue }
      }
      kept.append(token)
    }
    return kept
  }

  private static func endsStatement(after previous: Token?, before next: Token?) -> Bool {
    guard let previous, previous.kind != .newline else { return false }
    if case .symbol(let symbol) = previous.kind, Symbol.continuesLine.contains(symbol) {
      return false
    }
    return next?.isSymbol(.pipe) != true
  }
}
