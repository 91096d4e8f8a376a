import Foundation

/// Resolves Railway's references (`${{Service.KEY}}`, `${{shared.KEY}}`, `${{KEY}}`)
/// anywhere inside values, following chains (a referenced value that holds references
/// itself) and refusing cycles and references to nothing, each error naming the variable,
/// its owner and the reference.
public struct VariableResolver {
    /// A variable: `owner` is a service name, or `shared` for the environment's shared ones.
    public struct Name: Hashable, Sendable, CustomStringConvertible {
        public var owner: String
        public var key: String

        public init(owner: String, key: String) {
            self.owner = owner
            self.key = key
        }

        public var description: String { "\(owner).\(key)" }
    }

    /// What a lookup found.
    public enum Lookup: Sendable {
        /// The variable's raw value, which may hold references.
        case value(String)
        /// The owner exists but has no such variable.
        case missingVariable
        /// No service of that name.
        case missingService
    }

    public static let sharedOwner = "shared"

    private let lookup: (Name) throws -> Lookup
    private var resolved: [Name: String] = [:]

    /// - Parameter lookup: the raw value of a variable of a service (by name) or of the
    ///   shared ones (owner `shared`).
    public init(lookup: @escaping (Name) throws -> Lookup) {
        self.lookup = lookup
    }

    /// The value of `name` with every reference in it resolved.
    public mutating func value(of name: Name) throws -> String {
        try value(of: name, chain: [])
    }

    /// `text` (the value of `name`, which need not be stored) with its references resolved.
    public mutating func resolve(_ text: String, as name: Name) throws -> String {
        try expand(text, of: name, chain: [name])
    }

    private mutating func value(of name: Name, chain: [Name]) throws -> String {
        if let done = resolved[name] { return done }
        if let start = chain.firstIndex(of: name) {
            let loop = (chain[start...] + [name]).map(\.description).joined(separator: " → ")
            throw YardError(.invalidConfig, "variable \(chain.last!.key) of \(Self.owner(chain.last!.owner)) is part of a reference cycle: \(loop)")
        }
        guard case .value(let text) = try lookup(name) else {
            throw YardError(.internal, "variable \(name) vanished while it was resolved")
        }
        let result = try expand(text, of: name, chain: chain + [name])
        resolved[name] = result
        return result
    }

    private mutating func expand(_ text: String, of name: Name, chain: [Name]) throws -> String {
        try VariableReferences.resolve(text) { reference throws -> String in
            // `${{KEY}}` is the same owner's: a service's own variable, or another shared one.
            let target = Name(owner: reference.service ?? name.owner, key: reference.key)
            let written = reference.service.map { "${{\($0).\(reference.key)}}" } ?? "${{\(reference.key)}}"
            let prefix = "variable \(name.key) of \(Self.owner(name.owner)) references \(written)"
            switch try lookup(target) {
            case .missingService:
                throw YardError(.invalidConfig, "\(prefix), but the project has no service named \(target.owner)")
            case .missingVariable where target.owner == Self.sharedOwner:
                throw YardError(.invalidConfig, "\(prefix), but the environment has no shared variable \(target.key) (yard variables --shared --set \(target.key)=…)")
            case .missingVariable where target.owner == name.owner:
                throw YardError(.invalidConfig, "\(prefix), which \(Self.owner(name.owner)) does not define")
            case .missingVariable:
                throw YardError(.invalidConfig, "\(prefix), but \(target.owner) has no variable \(target.key)")
            case .value:
                return try value(of: target, chain: chain)
            }
        }
    }

    private static func owner(_ owner: String) -> String {
        owner == sharedOwner ? "the shared variables" : "service \(owner)"
    }
}
