import LocusIR

/// Where every value lives at run time. Inputs and parameters live in caller memory; views share
/// their source's storage; every other value gets a slice of one static activation arena, placed
/// so that values whose lifetimes overlap never share bytes.
///
/// The arena has two regions. The persistent region, at its start, holds the values computed once
/// per weight binding (`prepare`, DESIGN.md §6): each has its own slice, never reused, because the
/// forward pass reads them on every call. The transient region after it holds everything else.
public struct MemoryPlan: Sendable {
  public enum Storage: Hashable, Sendable {
    case input(index: Int)
    case parameter(index: Int)
    /// Offset in floats from the start of the arena.
    case arena(offset: Int)
  }

  /// Storage of each value's root (after following views).
  public var storage: [ValueID: Storage]
  /// For views: the value whose storage they share.
  public var root: [ValueID: ValueID]
  /// For strided views (slices, values placed into another's rows; `planViews`): where they sit
  /// in their root. Views without a layout (reshapes, in-place concats) are their root's bytes.
  public var layout: [ValueID: Layout] = [:]
  /// Values computed straight into their root's rows, or over all of it (an in-place residual
  /// that takes its operand's bytes): views that the code still writes.
  public var placed: Set<ValueID> = []
  /// Per concat, the operands that already sit in its rows (computed there): it copies the others.
  public var inPlaceOperands: [ValueID: Set<Int>] = [:]
  /// Scratch space per node (im2col, packing), in floats, live only while the node runs.
  public var workspace: [ValueID: (offset: Int, floats: Int)]
  /// The values placed in the persistent region, and its size: it spans `0..<persistentFloats`.
  public var persistent: Set<ValueID>
  public var persistentFloats: Int
  /// Both regions.
  public var arenaFloats: Int
  public var arenaBytes: Int { arenaFloats * MemoryLayout<Float>.size }
}

/// Arena slices start on 64-byte boundaries, the width of one AVX-512 vector.
let alignmentFloats = 16

private struct Interval {
  var value: ValueID?
  var floats: Int
  var first: Int, last: Int
  var offset = 0
}

/// Greedy-by-size placement (as TFLite's arena planner): the largest buffers are placed first,
/// each at the lowest offset that does not collide with an already placed buffer whose lifetime
/// overlaps. `workspaceFloats` asks the code generator how much scratch each node needs.
/// `persistent` marks the computed values that live in the persistent region (placed one after
/// another in graph order); their scratch, needed only while they are computed, stays transient.
/// `views` says which strided views the kernels can take (`planViews`); a view keeps its root alive,
/// and a root lives from the first value computed into it. A node that may write over an operand
/// (`ViewRules.writesOver`) takes that operand's whole buffer when nothing reads it afterwards, so a
/// chain of residual blocks keeps its tokens in one buffer.
public func planMemory(
  _ graph: Graph, workspaceFloats: (Node) -> Int = { _ in 0 }, persistent: (Node) -> Bool = { _ in false },
  views rules: ViewRules = .none
) -> MemoryPlan {
  var storage: [ValueID: MemoryPlan.Storage] = [:]
  var inputIndex = 0
  for node in graph.nodes {
    switch node.op {
    case .input:
      storage[node.id] = .input(index: inputIndex)
      inputIndex += 1
    case .parameter(let name):
      let index = graph.parameters.firstIndex { $0.name == name } ?? 0
      storage[node.id] = .parameter(index: index)
    default: break
    }
  }
  let views = planViews(graph, rules: rules) { node in
    switch node.op {
    case .input, .parameter: return false
    default: return !node.op.isView && node.type.batched && !persistent(node)
    }
  }
  var root = views.root
  var placedValues = views.placed
  for node in graph.nodes where node.op.isView && root[node.id] == nil && storage[node.id] == nil {
    root[node.id] = root[node.operands[0]] ?? node.operands[0]
  }
  var lastUse = lastUses(graph, root)
  for (node, over) in writesOver(graph, root: root, layout: views.layout, lastUse: lastUse, rules: rules, storage: storage, persistent: persistent) {
    for (v, r) in root where r == node { root[v] = over }
    root[node] = over
    placedValues.insert(node)
  }
  lastUse = lastUses(graph, root)
  var birth: [ValueID: Int] = [:]
  for v in placedValues { if let r = root[v] { birth[r] = min(birth[r] ?? r.raw, v.raw) } }

  var intervals: [Interval] = []
  var kept: Set<ValueID> = []
  var keptFloats = 0
  for node in graph.nodes where storage[node.id] == nil && (root[node.id] == nil || placedValues.contains(node.id)) {
    let floats = roundUp(node.type.count * (node.type.batched ? graph.batch : 1))
    if persistent(node) {
      storage[node.id] = .arena(offset: keptFloats)
      kept.insert(node.id)
      keptFloats += floats
    } else if root[node.id] == nil {  // a value placed into its root's rows has no slice of its own
      intervals.append(Interval(value: node.id, floats: floats, first: birth[node.id] ?? node.id.raw, last: lastUse[node.id] ?? node.id.raw))
    }
    let scratch = workspaceFloats(node)
    if scratch > 0 {
      intervals.append(Interval(value: nil, floats: roundUp(scratch), first: node.id.raw, last: node.id.raw))
    }
  }
  let order = intervals.indices.sorted {
    (intervals[$0].floats, -intervals[$0].first) > (intervals[$1].floats, -intervals[$1].first)
  }
  var placed: [Int] = []
  var arena = keptFloats
  for i in order {
    let overlapping = placed.map { intervals[$0] }
      .filter { $0.first <= intervals[i].last && intervals[i].first <= $0.last }
      .sorted { $0.offset < $1.offset }
    var offset = keptFloats
    for other in overlapping where other.offset < offset + intervals[i].floats {
      if other.offset + other.floats > offset { offset = other.offset + other.floats }
    }
    intervals[i].offset = offset
    arena = max(arena, offset + intervals[i].floats)
    placed.append(i)
  }

  var workspace: [ValueID: (offset: Int, floats: Int)] = [:]
  for interval in intervals {
    if let v = interval.value {
      storage[v] = .arena(offset: interval.offset)
    } else {
      workspace[ValueID(interval.first)] = (interval.offset, interval.floats)
    }
  }
  for (view, source) in root { storage[view] = storage[source] }
  return MemoryPlan(
    storage: storage, root: root, layout: views.layout, placed: placedValues, inPlaceOperands: views.inPlaceOperands,
    workspace: workspace, persistent: kept, persistentFloats: keptFloats, arenaFloats: arena)
}

/// The last node (or `graph.nodes.count` for an output) that reads each root, through any view.
private func lastUses(_ graph: Graph, _ root: [ValueID: ValueID]) -> [ValueID: Int] {
  var lastUse: [ValueID: Int] = [:]
  for node in graph.nodes { for operand in node.operands { lastUse[root[operand] ?? operand] = node.id.raw } }
  for (_, value) in graph.outputs { lastUse[root[value] ?? value] = graph.nodes.count }
  return lastUse
}

/// (node, root) pairs, in graph order: the node writes its result over the whole buffer of
/// `root`, read through an operand it may write over (`ViewRules.writesOver`). Allowed when the
/// operand is all of that buffer, element for element (a computed transient value of the result's
/// size, or a layout-less view of one), nothing reads the buffer after the node, no other operand
/// of the node reads it, and the node is a computed transient value with no place of its own yet.
/// A root taken over extends to the taker's readers, so chains (x₁ over x₀, x₂ over x₁) share one buffer.
private func writesOver(
  _ graph: Graph, root: [ValueID: ValueID], layout: [ValueID: MemoryPlan.Layout], lastUse: [ValueID: Int], rules: ViewRules,
  storage: [ValueID: MemoryPlan.Storage], persistent: (Node) -> Bool
) -> [(ValueID, ValueID)] {
  var taken: [ValueID: ValueID] = [:]  // root → the root whose buffer it took
  var last = lastUse  // per buffer, over everything that shares it so far
  func buffer(_ v: ValueID) -> ValueID {
    var r = root[v] ?? v
    while let t = taken[r] { r = t }
    return r
  }
  let outputs = Set(graph.outputs.map(\.value))
  var pairs: [(ValueID, ValueID)] = []
  for node in graph.nodes where root[node.id] == nil && storage[node.id] == nil && node.type.batched {
    guard !node.op.isView, !persistent(node), !outputs.contains(node.id) else { continue }
    for (i, operand) in node.operands.enumerated() where rules.writesOver(node, i) {
      let r = buffer(operand), o = graph[operand]
      guard storage[r] == nil, !persistent(graph[r]), !graph[r].op.isView, graph[r].type == node.type, o.type == node.type,
            layout[operand] == nil || layout[operand] == MemoryPlan.Layout(offset: 0, rowStride: node.type.shape.last ?? 1, sampleStride: node.type.count),
            last[r] == node.id.raw,
            !node.operands.enumerated().contains(where: { $0.offset != i && buffer($0.element) == r })
      else { continue }
      taken[node.id] = r
      last[r] = max(last[r] ?? 0, last[node.id] ?? node.id.raw)
      pairs.append((node.id, r))
      break
    }
  }
  return pairs
}

private func roundUp(_ floats: Int) -> Int { (floats + alignmentFloats - 1) / alignmentFloats * alignmentFloats }
