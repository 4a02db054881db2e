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
  /// Values computed straight into their root's rows: views that the code still writes.
  public var placed: Set<ValueID> = []
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
/// `views` says which strided views the kernels can take (`planViews`); a view keeps its root alive.
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
  var lastUse: [ValueID: Int] = [:]
  for node in graph.nodes {
    if node.op.isView, root[node.id] == nil, storage[node.id] == nil {
      root[node.id] = root[node.operands[0]] ?? node.operands[0]
    }
    for operand in node.operands { lastUse[root[operand] ?? operand] = node.id.raw }
  }
  for (_, value) in graph.outputs { lastUse[root[value] ?? value] = graph.nodes.count }

  var intervals: [Interval] = []
  var kept: Set<ValueID> = []
  var keptFloats = 0
  for node in graph.nodes where storage[node.id] == nil && (root[node.id] == nil || views.placed.contains(node.id)) {
    let floats = roundUp(node.type.count * (node.type.batched ? graph.batch : 1))
    if persistent(node) {
      storage[node.id] = .arena(offset: keptFloats)
      kept.insert(node.id)
      keptFloats += floats
    } else if root[node.id] == nil {  // a value placed into its root's rows has no slice of its own
      intervals.append(Interval(value: node.id, floats: floats, first: node.id.raw, last: lastUse[node.id] ?? node.id.raw))
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
    storage: storage, root: root, layout: views.layout, placed: views.placed, workspace: workspace, persistent: kept,
    persistentFloats: keptFloats, arenaFloats: arena)
}

private func roundUp(_ floats: Int) -> Int { (floats + alignmentFloats - 1) / alignmentFloats * alignmentFloats }
