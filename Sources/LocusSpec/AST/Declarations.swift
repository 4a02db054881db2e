// The top level of a spec file: `block` and `model` definitions, in source order.

public struct File: Hashable, Sendable {
  public var source: SourceFile
  public var declarations: [Declaration]

  public init(source: SourceFile, declarations: [Declaration]) {
    self.source = source
    self.declarations = declarations
  }

  public var blocks: [BlockDecl] {
    declarations.compactMap { if case .block(let block) = $0 { block } else { nil } }
  }

  public var models: [ModelDecl] {
    declarations.compactMap { if case .model(let model) = $0 { model } else { nil } }
  }
}

public enum Declaration: Hashable, Sendable {
  case block(BlockDecl)
  case model(ModelDecl)

  public var name: Identifier {
    switch self {
    case .block(let block): block.name
    case .model(let model): model.name
    }
  }

  public var range: SourceRange {
    switch self {
    case .block(let block): block.range
    case .model(let model): model.range
    }
  }
}

/// `block name(params) { body }`, inlined at every call during elaboration.
public struct BlockDecl: Hashable, Sendable {
  public var name: Identifier
  public var parameters: [BlockParameter]
  public var body: Body
  public var range: SourceRange

  public init(name: Identifier, parameters: [BlockParameter], body: Body, range: SourceRange) {
    self.name = name
    self.parameters = parameters
    self.body = body
    self.range = range
  }
}

/// `name` or `name = default`.
public struct BlockParameter: Hashable, Sendable {
  public var name: Identifier
  public var defaultValue: Expr?
  public var range: SourceRange

  public init(name: Identifier, defaultValue: Expr?, range: SourceRange) {
    self.name = name
    self.defaultValue = defaultValue
    self.range = range
  }
}

/// `model name { body }`
public struct ModelDecl: Hashable, Sendable {
  public var name: Identifier
  public var body: Body
  public var range: SourceRange

  public init(name: Identifier, body: Body, range: SourceRange) {
    self.name = name
    self.body = body
    self.range = range
  }
}
