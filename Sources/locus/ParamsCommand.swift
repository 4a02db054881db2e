import ArgumentParser
import LocusDriver

struct ParamsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "params", abstract: "List every parameter of a model: name, shape, count.")

  @OptionGroup var options: CompileOptions

  func run() throws {
    try reportingErrors {
      let (graph, _) = try Driver.graph(options.request(batch: 1))
      let width = graph.parameters.map(\.name.count).max() ?? 4
      print("name".padding(toLength: width, withPad: " ", startingAt: 0) + "  shape" + String(repeating: " ", count: 18) + "count")
      for p in graph.parameters {
        let shape = "[" + p.shape.map(String.init).joined(separator: ", ") + "]"
        print(p.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + shape.padding(toLength: 22, withPad: " ", startingAt: 0) + " " + String(p.count))
      }
      let trainable = graph.parameters.filter { $0.role != .runningMean && $0.role != .runningVar }.reduce(0) { $0 + $1.count }
      print("\(graph.parameters.count) tensors, \(graph.parameterCount) floats (\(trainable) trainable, the rest BatchNorm running statistics)")
    }
  }
}
