// Precedence, the pipe desugaring, scopes, and postfix chains.
import XCTest

@testable import LocusSpec

final class ExpressionTests: XCTestCase {
  private func expr(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> String {
    Spec.expression(text, file: file, line: line)
  }

  func testPrecedenceFollowsTheGrammar() {
    XCTAssertEqual(expr("a + b * c - d / e % f"), "(- (+ a (* b c)) (% (/ d e) f))")
    XCTAssertEqual(expr("a || b && c == d + 1"), "(|| a (&& b (== c (+ d 1))))")
    XCTAssertEqual(expr("-a * !b"), "(* (- a) (! b))")
    XCTAssertEqual(expr("-x[0]"), "(- (index x 0))")
    XCTAssertEqual(expr("(a + b) * c"), "(* (+ a b) c)")
    XCTAssertEqual(expr("a - b - c"), "(- (- a b) c)")
  }

  func testConditionalIsRightNestedAndLoosest() {
    XCTAssertEqual(expr("a ? b : c ? d : e"), "(? a b (? c d e))")
    XCTAssertEqual(expr("a == 0 ? b + 1 : c"), "(? (== a 0) (+ b 1) c)")
    // The branches are full expressions, so a pipe there stays in its branch.
    XCTAssertEqual(expr("c ? x : y |> f"), "(? c x (f y))")
    XCTAssertEqual(expr("(c ? x : y) |> f"), "(f (? c x y))")
  }

  func testPipeBecomesACall() {
    XCTAssertEqual(expr("x |> gelu"), "(gelu x)")
    XCTAssertEqual(expr("x |> linear(out: 10)"), "(linear x out:10)")
    XCTAssertEqual(expr("x |> concat(y, axis: 0)"), "(concat x y axis:0)")
    XCTAssertEqual(expr("a + b |> f |> g(1)"), "(g (f (+ a b)) 1)")
    XCTAssertEqual(expr("x |> layernorm() @norm |> gelu"), "(gelu (layernorm x @norm))")
    // A scope after a bare function name in a pipe scopes the call the pipe makes.
    XCTAssertEqual(expr("x |> img2seq @proj"), "(img2seq x @proj)")
    // Any other postfix target is called with the piped value.
    XCTAssertEqual(expr("x |> acts[1]"), "((index acts 1) x)")
  }

  func testPipeRangeAndArgumentOrder() {
    let file = Spec.parseClean("model m {\n  y = x |> linear(out: 3) @fc\n}")
    guard case .assignment(_, let value) = file.models[0].body.statements[0].kind,
      case .call(let call) = value.kind
    else { return XCTFail("expected a call") }
    XCTAssertEqual(value.range.text, "x |> linear(out: 3) @fc")
    XCTAssertEqual(call.calleeName, "linear")
    XCTAssertEqual(call.arguments.map(\.range.text), ["x", "out: 3"])
    XCTAssertEqual(call.arguments.map { $0.label?.name }, [nil, "out"])
    XCTAssertEqual(call.scope?.description, "@fc")
  }

  func testCallsIndexesAndLists() {
    XCTAssertEqual(expr("f()"), "(f)")
    XCTAssertEqual(expr("f(a)(b)"), "((f a) b)")
    XCTAssertEqual(expr("split(x, parts: 3)[0]"), "(index (split x parts:3) 0)")
    XCTAssertEqual(expr("[]"), "[]")
    XCTAssertEqual(expr("[[1, 2], [a + 1]]"), "[[1 2] [(+ a 1)]]")
    XCTAssertEqual(expr("reshape(x, shape: [c, 1, 1])"), "(reshape x shape:[c 1 1])")
    XCTAssertEqual(expr(#""a\"b""#), #""a\"b""#)
  }

  func testScopes() {
    XCTAssertEqual(expr("f(x) @a"), "(f x @a)")
    XCTAssertEqual(expr("f(x) @blocks.{i}.attn"), "(f x @blocks.{i}.attn)")
    XCTAssertEqual(expr("f(x) @conv.0"), "(f x @conv.0)")
    XCTAssertEqual(expr("f(x) @layers.{2 * i + 1}"), "(f x @layers.{(+ (* 2 i) 1)})")
    // Keywords are names in a scope path: parameter names come from foreign checkpoints.
    XCTAssertEqual(expr("f(x) @model.block.in"), "(f x @model.block.in)")
    // The scope binds to the call before any operator.
    XCTAssertEqual(expr("a + f(x) @s * 2"), "(+ a (* (f x @s) 2))")
  }

  func testFloatInScopePathIsReadAsItsDigits() {
    let file = Spec.parseClean("model m {\n  y = layernorm(x) @layers.0.12.norm1\n}")
    guard case .assignment(_, let value) = file.models[0].body.statements[0].kind,
      case .call(let call) = value.kind, let scope = call.scope
    else { return XCTFail("expected a scoped call") }
    XCTAssertEqual(scope.description, "@layers.0.12.norm1")
    XCTAssertEqual(
      scope.segments.map(\.kind), [.name("layers"), .integer(0), .integer(12), .name("norm1")])
    XCTAssertEqual(scope.segments.map(\.range.text), ["layers", "0", "12", "norm1"])
    XCTAssertEqual(scope.segments.map(\.range.column), [21, 28, 30, 33])
  }

  func testPipesAcrossLines() {
    XCTAssertEqual(
      Spec.statements("x = pixels\n  |> conv2d(out: 8, kernel: 4) @stem\n  |> img2seq\ny = x"),
      ["(= x (img2seq (conv2d pixels out:8 kernel:4 @stem)))", "(= y x)"])
  }
}
