import XCTest
import LocusIR
@testable import LocusPasses

final class DeadCodeTests: XCTestCase {
  func testRemovesWhatNoOutputNeedsButKeepsParametersAndInputs() throws {
    var g = Graph(name: "m", batch: 1)
    let x = g.append(.input(name: "x"), [], type: TensorType([4, 8], batched: true))
    g.parameters = [Parameter(name: "w", shape: [8, 8], role: .weight, initializer: .zeros)]
    let w = g.append(.parameter(name: "w"), [], type: TensorType([8, 8], batched: false))
    let used = try g.add(.unary(.relu), [x])
    _ = try g.add(.linear(hasBias: false), [used, w])  // dead: nothing reads it
    g.outputs = [("y", used)]
    let out = try Pipeline.run(g)
    XCTAssertEqual(out.nodes.map(\.op.mnemonic), ["input", "relu"])
    XCTAssertEqual(out.parameters.map(\.name), ["w"], "weights files still carry dead parameters")
  }
}

final class MemoryPlanTests: XCTestCase {
  /// A chain with a long-lived skip connection and a view, then random graphs: values that are
  /// live at the same time must never share arena bytes.
  func testLiveValuesNeverOverlap() throws {
    var rng = SystemRandomNumberGenerator()
    for trial in 0..<200 {
      var g = Graph(name: "r\(trial)", batch: Int.random(in: 1...3, using: &rng))
      var values = [g.append(.input(name: "x"), [], type: TensorType([4, 16], batched: true))]
      for _ in 0..<Int.random(in: 2...30, using: &rng) {
        let a = values.randomElement(using: &rng)!, b = values.randomElement(using: &rng)!
        let op: Op = [Op.unary(.relu), .binary(.add), .reshape([64]), .scalar(.mul, 2, scalarFirst: false)].randomElement(using: &rng)!
        switch op {
        case .binary:
          if g[a].type == g[b].type { values.append(try g.add(op, [a, b])) }
        case .reshape:
          if g[a].type.shape == [4, 16] { values.append(try g.add(op, [a])) }
        default:
          values.append(try g.add(op, [a]))
        }
      }
      g.outputs = [("y", values.last!)]
      try assertNoOverlap(g)
    }
  }

  /// The same with slice views and in-place concats (`planViews`): random token graphs with
  /// column and row slices, row indices, attention over them, class-token split/re-join patterns,
  /// concats of several operands and chains of them, and residual adds (written over). Besides
  /// roots never overlapping, every value read (through its view) must hold exactly the elements
  /// it denotes when it is read: no view is written through while another live value shares its
  /// bytes (`assertViewsReadTheirElements`).
  func testLiveValuesNeverOverlapWithSliceViews() throws {
    var rng = SystemRandomNumberGenerator()
    var columnViews = 0, placed = 0, writtenOver = 0, hosts = 0
    for trial in 0..<400 {
      var g = Graph(name: "v\(trial)", batch: Int.random(in: 1...3, using: &rng))
      var values = [g.append(.input(name: "x"), [], type: TensorType([5, 12], batched: true))]
      values.append(try g.add(.unary(.relu), [values[0]]))
      for _ in 0..<Int.random(in: 2...24, using: &rng) {
        let a = values.randomElement(using: &rng)!, b = values.randomElement(using: &rng)!
        let (ta, tb) = (g[a].type, g[b].type)
        let (rows, cols) = (ta.shape[0], ta.shape[1])
        switch Int.random(in: 0..<10, using: &rng) {
        case 0: values.append(try g.add(.unary(.relu), [a]))
        case 1: if ta == tb { values.append(try g.add(.binary(.add), [a, b])) }
        case 2:
          let length = Int.random(in: 1...rows, using: &rng), start = Int.random(in: 0...(rows - length), using: &rng)
          values.append(try g.add(.slice(axis: 0, start: start, length: length), [a]))
        case 3:
          let length = Int.random(in: 1...cols, using: &rng), start = Int.random(in: 0...(cols - length), using: &rng)
          values.append(try g.add(.slice(axis: 1, start: start, length: length), [a]))
        case 4:
          if cols == tb.shape[1] { values.append(try g.add(.sdpa(heads: 1, kvHeads: 1), [a, b, b])) }
        case 5:
          if cols == tb.shape[1] { values.append(try g.add(.concat(axis: 0), [a, b])) }
        case 6:  // a stack of class tokens, grown one concat at a time (CeiT's layer-wise class tokens)
          var stack = try g.add(.slice(axis: 0, start: 0, length: 1), [a])
          for source in [b, a] where g[source].type.shape[1] == cols {
            stack = try g.add(.concat(axis: 0), [stack, try g.add(.slice(axis: 0, start: 0, length: 1), [source])])
          }
          values.append(stack)
        case 7:
          if cols == tb.shape[1] {
            let c = values.randomElement(using: &rng)!
            if g[c].type.shape[1] == cols { values.append(try g.add(.concat(axis: 0), [a, try g.add(.unary(.relu), [b]), c])) }
          }
        case 8:  // one row broadcast over another value's rows
          if cols == tb.shape[1] {
            let row = try g.add(.index(axis: 0, at: Int.random(in: 0..<rows, using: &rng)), [a])
            values.append(try g.add(.binary(.add), [b, row]))
          }
        default:
          guard rows >= 2 else { continue }
          let cls = try g.add(.slice(axis: 0, start: 0, length: 1), [a])
          let patches = try g.add(.slice(axis: 0, start: 1, length: rows - 1), [a])
          let f = try g.add(.binary(.add), [try g.add(.unary(.relu), [patches]), patches])
          values += [cls, patches, f, try g.add(.concat(axis: 0), [cls, f])]
        }
      }
      g.outputs = [("y", values.last!)] + (Bool.random(using: &rng) ? [("z", values.randomElement(using: &rng)!)] : [])
      let plan = try assertNoOverlap(g, views: testViewRules)
      assertViewsReadTheirElements(g, plan)
      columnViews += plan.layout.filter { g[$0.key].type.rank == 2 && g[$0.key].type.shape[1] != $0.value.rowStride }.count
      placed += plan.placed.count
      writtenOver += plan.placed.filter { plan.layout[$0] == nil }.count
      hosts += plan.inPlaceOperands.keys.filter { plan.root[$0] == nil }.count
    }
    XCTAssertGreaterThan(columnViews, 0, "the random graphs exercise column views")
    XCTAssertGreaterThan(placed, 0, "and in-place concats")
    XCTAssertGreaterThan(writtenOver, 0, "and values written over an operand")
    XCTAssertGreaterThan(hosts, 0, "and concats whose operands are computed in their rows")
  }

  @discardableResult
  func assertNoOverlap(_ g: Graph, views: ViewRules = .none, file: StaticString = #filePath, line: UInt = #line) throws -> MemoryPlan {
    let plan = planMemory(g, workspaceFloats: { $0.id.raw % 3 == 0 ? 40 : 0 }, views: views)
    var lastUse: [ValueID: Int] = [:]
    func root(_ v: ValueID) -> ValueID { plan.root[v] ?? v }
    for node in g.nodes { for o in node.operands { lastUse[root(o)] = node.id.raw } }
    for (_, v) in g.outputs { lastUse[root(v)] = g.nodes.count }
    var birth: [ValueID: Int] = [:]  // a root lives from the first value computed into it
    for v in plan.placed { birth[root(v)] = min(birth[root(v)] ?? root(v).raw, v.raw) }
    var buffers: [(first: Int, last: Int, start: Int, end: Int)] = []
    for node in g.nodes where plan.root[node.id] == nil {
      guard case .arena(let offset)? = plan.storage[node.id] else { continue }
      XCTAssertEqual(offset % 16, 0, "arena slices are 64-byte aligned", file: file, line: line)
      let floats = node.type.count * (node.type.batched ? g.batch : 1)
      buffers.append((birth[node.id] ?? node.id.raw, lastUse[node.id] ?? node.id.raw, offset, offset + floats))
    }
    for (id, ws) in plan.workspace { buffers.append((id.raw, id.raw, ws.offset, ws.offset + ws.floats)) }
    for i in buffers.indices {
      XCTAssertLessThanOrEqual(buffers[i].end, plan.arenaFloats, file: file, line: line)
      for j in buffers.indices where j > i {
        let (a, b) = (buffers[i], buffers[j])
        let liveTogether = a.first <= b.last && b.first <= a.last
        let shareBytes = a.start < b.end && b.start < a.end
        XCTAssertFalse(liveTogether && shareBytes, "buffers \(a) and \(b) overlap in \(g.dump())", file: file, line: line)
      }
    }
    return plan
  }

  func testAChainReusesMemory() throws {
    var g = Graph(name: "chain", batch: 1)
    var v = g.append(.input(name: "x"), [], type: TensorType([1024], batched: true))
    for _ in 0..<10 { v = try g.add(.unary(.relu), [v]) }
    g.outputs = [("y", v)]
    // Two buffers ping-pong: never more than two values are live.
    XCTAssertEqual(planMemory(g).arenaFloats, 2 * 1024)
  }
}
