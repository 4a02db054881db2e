import LocusIR
import XCTest

@testable import LocusCodegen

/// The writer's layout rules, the template loader, and the completeness of the kernel table.
final class WriterAndTemplateTests: XCTestCase {
  func testScopesIndentAndCloseWithComments() {
    var w = CWriter()
    w.comment("one line")
    w.blank()
    w.blank()  // never two blank lines
    w.scope("for (int b = 0; b < B; b++)", closing: "for b") { w in
      w.blank()  // never right after an opening brace
      w.line("f(b);")
      w.line("#ifdef X")  // preprocessor lines stay in column 0
      w.comment("two\nlines")
    }
    XCTAssertEqual(w.text, """
      /* one line */

      for (int b = 0; b < B; b++) {
        f(b);
      #ifdef X
        /*
         * two
         * lines
         */
      } // for b

      """)
  }

  func testLongCallsWrapAfterCommas() {
    var w = CWriter(depth: 1)
    w.call("lk_kernel", (0..<30).map { "argument\($0)" })
    let lines = w.text.split(separator: "\n")
    XCTAssertGreaterThan(lines.count, 1)
    XCTAssertTrue(lines.allSatisfy { $0.count <= 100 }, w.text)
    XCTAssertTrue(lines[0].hasPrefix("  lk_kernel(argument0, "))
    XCTAssertTrue(lines[1].hasPrefix("      argument"))
    XCTAssertTrue(w.text.hasSuffix("argument29);\n"))
  }

  func testCommentsAndStringsCannotEscape() {
    XCTAssertEqual(sanitize("a */ b /* c"), "a * / b / * c")
    XCTAssertEqual(cString("blocks.0\"\\\n"), #""blocks.0\"\\\n""#)
    XCTAssertEqual(cString("é"), #""\303\251""#)
  }

  func testFloatLiteralsReadBackExactly() {
    XCTAssertEqual(cFloat(1e-6), "1e-06f")
    XCTAssertEqual(cFloat(0.5), "0.5f")
    XCTAssertEqual(cFloat(3), "3.0f")
    XCTAssertEqual(cFloat(-.infinity), "-INFINITY")
    XCTAssertEqual(cFloat(.nan), "NAN")
  }

  func testTemplateClosurePutsDependenciesFirst() throws {
    XCTAssertEqual(try Templates.requirements(of: "shifted_attention.c").sorted(), ["attention.c", "conv.c", "gemm.c", "layout.c", "norm.c", "prologue.h"])
    XCTAssertEqual(try Templates.requirements(of: "prologue.h"), [])
    let order = try Templates.closure(of: ["shifted_attention.c", "conv.c"])
    XCTAssertEqual(order.first, "prologue.h")
    for file in order {
      for dependency in try Templates.requirements(of: file) {
        XCTAssertLessThan(order.firstIndex(of: dependency)!, order.firstIndex(of: file)!, "\(dependency) before \(file)")
      }
    }
    XCTAssertEqual(order, try Templates.closure(of: ["conv.c", "shifted_attention.c"]))
    XCTAssertThrowsError(try Templates.closure(of: ["no_such_kernel.c"])) { error in
      XCTAssertEqual(error as? CodegenError, .missingTemplate("no_such_kernel.c"))
    }
  }

  func testHolesMustAllBeFilled() throws {
    let template = "int x = /*{{VALUE}}*/; int y = /*{{OTHER}}*/;"
    XCTAssertEqual(try Templates.fill(template, named: "t.c", holes: ["VALUE": "1", "OTHER": "2"]), "int x = 1; int y = 2;")
    XCTAssertThrowsError(try Templates.fill(template, named: "t.c", holes: ["VALUE": "1"])) { error in
      XCTAssertEqual(error as? CodegenError, .unfilledHole(template: "t.c", hole: "OTHER"))
    }
  }

  /// Every op of the IR has a kernel-table row. The switch has no default, so a new op case fails
  /// to compile here until it is listed (and then fails the test until the table has its row).
  func testKernelTableCoversEveryOp() {
    func example(_ op: Op) -> [Op] {
      switch op {
      case .input, .parameter: return []
      case .conv2d, .linear, .layernorm, .batchnorm, .softmax, .matmul, .gap, .maxpool, .mean, .roll,
        .circularPad, .concat, .stack, .slice, .index, .seq2img, .img2seq, .im2col, .reshape, .transpose, .sdpa,
        .localAttention, .fusedLinear, .tokenDWConv, .shiftedLocalAttention, .training:
        return [op]
      case .unary: return UnaryOp.allCases.map { .unary($0) }
      case .binary: return BinaryOp.allCases.map { .binary($0) }
      case .scalar: return BinaryOp.allCases.map { .scalar($0, 1, scalarFirst: false) }
      }
    }
    let attrs = Conv2dAttrs(outChannels: 1, kernel: [1, 1], stride: [1, 1], padding: [0, 0], groups: 1, hasBias: false)
    let tokenConv = TokenConvAttrs(height: 1, width: 1, kernel: [1, 1], stride: [1, 1], padding: [0, 0], hasBias: true)
    let all: [Op] = [
      .conv2d(attrs), .linear(hasBias: true), .layernorm(eps: 1), .batchnorm(eps: 1), .unary(.gelu), .softmax(axis: 0),
      .matmul, .binary(.add), .scalar(.add, 1, scalarFirst: false), .gap, .maxpool(kernel: [1, 1], stride: [1, 1], padding: [0, 0]),
      .mean(axis: 0), .roll(dy: 0, dx: 0), .circularPad(left: 0, right: 0, top: 0, bottom: 0), .concat(axis: 0),
      .stack(axis: 0), .slice(axis: 0, start: 0, length: 1), .index(axis: 0, at: 0), .seq2img(height: 1), .img2seq,
      .im2col(kernel: [1, 1], stride: [1, 1], padding: [0, 0]),
      .reshape([1]), .transpose([0]), .sdpa(heads: 1, kvHeads: 1), .localAttention(heads: 1, kvHeads: 1),
      .fusedLinear(FusedLinearAttrs(hasBias: true)),
      .tokenDWConv(tokenConv),
      .shiftedLocalAttention(ShiftedAttentionAttrs(shifts: [], kernel: [1, 1], stride: [1, 1], padding: [0, 0], heads: 1, kvHeads: 1, eps: 1)),
    ] + [
      .normalize(eps: 1), .normalizeGrad(eps: 1), .batchNormalize(eps: 1, channelsLast: false),
      .batchNormalizeGrad(eps: 1, channelsLast: false), .batchNormalizeParamGrad(eps: 1, channelsLast: false),
      .batchMoments(channelsLast: false), .softmaxGrad(axis: 0), .reduceSum(axes: [], batch: true), .expand([1]), .conv2dGradInput(attrs, height: 1, width: 1),
      .conv2dGradWeight(attrs), .linearGradWeight, .maxpoolGrad(kernel: [1, 1], stride: [1, 1], padding: [0, 0]),
      .circularPadGrad(left: 0, right: 0, top: 0, bottom: 0), .zeroPad(axis: 0, before: 0, after: 0), .crossEntropy,
      .crossEntropyGrad, .tokenDWConvGradInput(tokenConv), .tokenDWConvGradWeight(tokenConv), .matmulPermuted(a: [0, 1], b: [1, 0], out: [0, 1]),
    ].map { Op.training($0) } + UnaryOp.allCases.map { Op.training(.unaryGrad($0)) }
    for op in all.flatMap(example) {
      XCTAssertNotNil(KernelTable.entries[op.mnemonic], "no kernel-table row for '\(op.mnemonic)'")
    }
  }

  func testTablesNeedUniqueNamesAndAtMostEightAxes() throws {
    var g = Graph(name: "dup", batch: 1)
    let x = g.input("x", [2])
    g.output("y", x)
    g.output("y", x)
    XCTAssertThrowsError(try CEmitter.emit(g)) { XCTAssertEqual($0 as? CodegenError, .duplicateName(kind: "output", name: "y")) }
    var deep = Graph(name: "deep", batch: 1)
    deep.output("y", deep.input("x", Array(repeating: 1, count: 8)))
    XCTAssertThrowsError(try CEmitter.emit(deep)) { XCTAssertEqual($0 as? CodegenError, .rankTooHigh(kind: "input", name: "x", rank: 9)) }
  }

  func testModelNameMustBeACIdentifier() {
    for bad in ["3d", "tiny-vit", "", "a b"] {
      XCTAssertThrowsError(try CEmitter.emit(Graph(name: bad, batch: 1))) { error in
        XCTAssertEqual(error as? CodegenError, .invalidModelName(bad))
      }
    }
  }
}
