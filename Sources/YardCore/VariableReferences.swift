import Foundation

/// Railway's reference syntax inside variable values: `${{service.KEY}}`, `${{KEY}}`
/// (the same service) and `${{shared.KEY}}`.
public enum VariableReferences {
    public struct Reference: Equatable, Sendable {
        /// nil: the same service.
        public var service: String?
        public var key: String

        public init(service: String?, key: String) {
            self.service = service
            self.key = key
        }
    }

    /// Replaces every reference in `value` with what `lookup` returns for it. `lookup`
    /// throws for a reference it cannot resolve.
    public static func resolve(_ value: String, lookup: (Reference) throws -> String) throws -> String {
        guard value.contains("${{") else { return value }
        var result = ""
        var rest = Substring(value)
        while let start = rest.range(of: "${{") {
            result += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].range(of: "}}") else {
                result += rest[start.lowerBound...]
                return result
            }
            let inner = rest[start.upperBound..<end.lowerBound].trimmingCharacters(in: .whitespaces)
            let parts = inner.split(separator: ".", maxSplits: 1).map(String.init)
            let reference = parts.count == 2 ? Reference(service: parts[0], key: parts[1]) : Reference(service: nil, key: inner)
            result += try lookup(reference)
            rest = rest[end.upperBound...]
        }
        return result + rest
    }

    /// The service names a value's `${{service.KEY}}` references name (not `shared`).
    public static func services(in value: String) -> [String] {
        var names: [String] = []
        _ = try? resolve(value) { reference in
            if let service = reference.service, service != "shared" { names.append(service) }
            return ""
        }
        return names
    }
}
