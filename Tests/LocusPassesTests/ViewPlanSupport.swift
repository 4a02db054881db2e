import XCTest
import LocusIR
@testable import LocusPasses

/// View rules for planner tests, independent of the C kernels: attention reads any row stride,
/// every computing op reads and writes per-sample views, and `add` may write over its second
/// operand (the in-place residual of a class-token pattern, or of a residual chain).
var testViewRules: ViewRules {
  ViewRules(
  readsStridedRows: { node, i in
    if case .sdpa = node.op { return i < 3 }
    return false
  },
  readsSampleStrided: { node, _ in !node.op.isView },
  writesSampleStrided: { node in ["relu", "add", "sdpa", "slice", "concat"].contains(node.op.mnemonic) },
  writesOver: { node, i in node.op.mnemonic == "add" && i == 1 })
}

/// Runs the plan on tags instead of numbers: a tag names the node, sample and element that
/// computed a number, and moving ops keep them (a slice holds its part of its source's tags, a
/// concat its operands', a reshape its source's). Every node that is not a view writes its tags at
/// the arena positions of its elements (through its layout when it is placed into a root); before
/// it runs, every operand's positions must hold the operand's tags. Scratch is overwritten first,
/// so it may not overlap them.
func assertViewsReadTheirElements(_ g: Graph, _ plan: MemoryPlan, file: StaticString = #filePath, line: UInt = #line) {
  var arena = [Int](repeating: -1, count: plan.arenaFloats)
  var memo: [ValueID: [Int]] = [:]
  func samples(_ v: ValueID) -> Int { g[v].type.batched ? g.batch : 1 }

  /// Arena positions of v's elements, sample by sample, or nil outside the arena.
  func positions(_ v: ValueID) -> [Int]? {
    guard case .arena(let base)? = plan.storage[v] else { return nil }
    let t = g[v].type, columns = t.shape.last ?? 1
    return (0..<samples(v)).flatMap { b in
      (0..<t.count).map { e in
        guard let l = plan.layout[v] else { return base + b * t.count + e }
        return base + l.offset + b * l.sampleStride + (e / columns) * l.rowStride + e % columns
      }
    }
  }

  /// The tags v denotes, sample by sample.
  func tags(_ v: ValueID) -> [Int] {
    if let known = memo[v] { return known }
    let node = g[v], t = node.type
    var result = (0..<samples(v) * t.count).map { v.raw * 1_000_000 + $0 }
    if node.op.isView || ["slice", "index", "concat"].contains(node.op.mnemonic) {
      let sources = node.operands.map(tags)
      switch node.op {
      case .slice(let axis, let start, let length):
        let x = g[node.operands[0]].type.shape
        result = (0..<samples(v)).flatMap { b in
          (0..<t.count).map { e in
            let (r, c) = (e / t.shape[1], e % t.shape[1])
            let (sr, sc) = axis == 0 ? (r + start, c) : (r, c + start)
            return sources[0][b * x[0] * x[1] + sr * x[1] + sc]
          }
        }
        _ = length
      case .index(_, let at):  // rows only
        let x = g[node.operands[0]].type.shape
        result = (0..<samples(v)).flatMap { b in (0..<t.count).map { sources[0][b * x[0] * x[1] + at * x[1] + $0] } }
      case .concat:
        result = (0..<samples(v)).flatMap { b in
          node.operands.indices.flatMap { i in
            let n = g[node.operands[i]].type.count
            return sources[i][(b * n)..<(b * n + n)]
          }
        }
      default: result = sources[0]
      }
    }
    memo[v] = result
    return result
  }

  func check(_ v: ValueID, at moment: String) {
    guard let where_ = positions(v) else { return }
    let want = tags(v)
    if let i = where_.indices.first(where: { arena[where_[$0]] != want[$0] }) {
      XCTFail("\(moment): element \(i) of \(v) at arena float \(where_[i]) holds tag \(arena[where_[i]]), not \(want[i])\n\(g.dump())\n\(describe(plan, g))",
              file: file, line: line)
    }
  }

  for node in g.nodes {
    if case .input = node.op { continue }
    if let ws = plan.workspace[node.id] { for p in ws.offset..<ws.offset + ws.floats { arena[p] = -2 } }
    for o in node.operands { check(o, at: "before \(node.id)") }
    guard plan.root[node.id] == nil || plan.placed.contains(node.id), let at = positions(node.id) else { continue }
    let copied = plan.inPlaceOperands[node.id].map { inPlace in  // a concat writes only what is not in place
      node.operands.indices.flatMap { i in Array(repeating: !inPlace.contains(i), count: g[node.operands[i]].type.count) }
    }
    for (k, (p, tag)) in zip(at, tags(node.id)).enumerated() {
      let perSample = g[node.id].type.count
      if let copied, !copied[k % perSample] { continue }
      arena[p] = tag
    }
  }
  for (name, v) in g.outputs { check(v, at: "output \(name)") }
}

/// Where the plan put each node (root, layout offset/row stride/sample stride, placed, storage, the
/// operands a concat holds in place), for failure messages.
func describe(_ plan: MemoryPlan, _ g: Graph) -> String {
  g.nodes.map { n in
    let layout = plan.layout[n.id].map { "\($0.offset)/\($0.rowStride)/\($0.sampleStride)" } ?? "-"
    let inPlace = plan.inPlaceOperands[n.id].map { "\($0.sorted())" } ?? "-"
    return "\(n.id): root \(plan.root[n.id].map { "\($0)" } ?? "-") layout \(layout) placed \(plan.placed.contains(n.id)) "
      + "storage \(plan.storage[n.id].map { "\($0)" } ?? "-") in place \(inPlace)"
  }.joined(separator: "\n")
}
