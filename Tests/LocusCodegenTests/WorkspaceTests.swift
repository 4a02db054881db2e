import Foundation
import LocusBuild
import LocusIR
import XCTest

@testable import LocusCodegen

/// The emitter mirrors `lk_conv2d_workspace_floats` of conv.c in Swift (the arena is planned
/// before any C runs). This compiles conv.c and checks the two agree on every path: implicit
/// (general, strided, grouped, an image just under the limit), explicit (images too large to pad:
/// just past the limit, and strided and grouped), 1×1 and depthwise, batch 1 and 3.
final class WorkspaceTests: XCTestCase {
  func testConvWorkspaceMatchesTheKernel() throws {
    let cases: [(ci: Int, h: Int, w: Int, attrs: Conv2dAttrs)] = [
      (3, 12, 12, Conv2dAttrs(outChannels: 8, kernel: [4, 4], stride: [4, 4], padding: [0, 0], groups: 1, hasBias: true)),
      (5, 9, 7, Conv2dAttrs(outChannels: 6, kernel: [3, 2], stride: [2, 1], padding: [1, 0], groups: 1, hasBias: false)),
      (6, 8, 8, Conv2dAttrs(outChannels: 9, kernel: [3, 3], stride: [1, 1], padding: [1, 1], groups: 3, hasBias: true)),
      (4, 5, 5, Conv2dAttrs(outChannels: 7, kernel: [1, 1], stride: [1, 1], padding: [0, 0], groups: 1, hasBias: true)),
      (6, 9, 9, Conv2dAttrs(outChannels: 6, kernel: [3, 3], stride: [2, 2], padding: [1, 1], groups: 6, hasBias: true)),
      (40, 228, 228, Conv2dAttrs(outChannels: 2, kernel: [3, 3], stride: [1, 1], padding: [1, 1], groups: 1, hasBias: true)),
      (40, 228, 224, Conv2dAttrs(outChannels: 2, kernel: [3, 3], stride: [1, 1], padding: [1, 1], groups: 1, hasBias: true)),
      (8, 600, 500, Conv2dAttrs(outChannels: 4, kernel: [5, 3], stride: [2, 3], padding: [2, 0], groups: 2, hasBias: false)),
    ]
    var program = try Templates.closure(of: ["conv.c"]).map { try Templates.text($0) }.joined(separator: "\n")
    program += "\n#include <stdio.h>\nint main(void) {\n"
    var expected: [Int] = []
    for batch in [1, 3] {
      for c in cases {
        var g = Graph(name: "ws", batch: batch)
        let x = g.append(.input(name: "x"), [], type: TensorType([c.ci, c.h, c.w], batched: true))
        g.parameters.append(Parameter(name: "w", shape: [c.attrs.outChannels, c.ci / c.attrs.groups] + c.attrs.kernel, role: .weight, initializer: .zeros))
        let weight = g.append(.parameter(name: "w"), [], type: TensorType(g.parameters[0].shape, batched: false))
        var attrs = c.attrs
        attrs.hasBias = false  // the bias does not change the scratch
        let y = try g.add(.conv2d(attrs), [x, weight])
        expected.append(CEmitter.workspaceFloats(for: g[y], in: g))
        let a = c.attrs
        let args = [batch, c.ci, c.h, c.w, a.outChannels, a.kernel[0], a.kernel[1], a.stride[0], a.stride[1], a.padding[0], a.padding[1], a.groups]
        program += "  printf(\"%zu\\n\", lk_conv2d_workspace_floats(\(args.map(String.init).joined(separator: ", "))));\n"
      }
    }
    program += "  return 0;\n}\n"
    let dir = try temporaryDirectory("workspace")
    try program.write(toFile: "\(dir)/ws.c", atomically: true, encoding: .utf8)
    let clang = try Toolchain.discover().clang
    let build = try runTool([clang, "-std=c99", "-O1", "\(dir)/ws.c", "-lm", "-o", "\(dir)/ws"])
    XCTAssertEqual(build.status, 0, build.output)
    let result = try runTool(["\(dir)/ws"])
    XCTAssertEqual(result.output.split(separator: "\n").map { Int($0) ?? -1 }, expected)
  }
}
