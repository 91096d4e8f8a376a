import Foundation

/// A release number as major.minor.patch, read from a toolchain's version output.
struct ToolVersion: Comparable, Hashable, Sendable, CustomStringConvertible {
    var major: Int
    var minor: Int
    var patch: Int

    init(_ major: Int, _ minor: Int = 0, _ patch: Int = 0) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// The first dotted number in a version command's output: "Python 3.11.7",
    /// "v20.20.2", "go version go1.19.8 linux/amd64", "openjdk 17.0.12 2024-07-16".
    init?(firstIn text: String) {
        guard let match = text.firstMatch(of: /(\d+)\.(\d+)(?:\.(\d+))?/),
            let major = Int(match.1), let minor = Int(match.2)
        else { return nil }
        self.init(major, minor, match.3.flatMap { Int($0) } ?? 0)
    }

    var description: String { "\(major).\(minor).\(patch)" }

    static func < (lhs: ToolVersion, rhs: ToolVersion) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
    }
}

/// An npm-style version range, as `package.json` `engines` and `railpack.json` `packages`
/// write them: `>=18 <21`, `^20.1`, `~1.2.3`, `20`, `20.x`, `*`, `1.2 - 2.0`, `18 || 20`.
/// Pre-release tags are ignored: hosts run releases.
struct VersionRange: Sendable, Equatable, CustomStringConvertible {
    private struct Comparator: Sendable, Equatable {
        enum Operator: Sendable, Equatable { case less, lessOrEqual, greater, greaterOrEqual, equal }
        var op: Operator
        var version: ToolVersion

        func accepts(_ candidate: ToolVersion) -> Bool {
            switch op {
            case .less: candidate < version
            case .lessOrEqual: candidate <= version
            case .greater: candidate > version
            case .greaterOrEqual: candidate >= version
            case .equal: candidate == version
            }
        }
    }

    /// A version with wildcards: nil parts were left out or written as `x`/`*`.
    private struct Partial {
        var major: Int?
        var minor: Int?
        var patch: Int?

        init?(_ text: Substring) {
            var text = text
            if text.hasPrefix("v") || text.hasPrefix("V") || text.hasPrefix("=") { text = text.dropFirst() }
            // Pre-release and build metadata do not matter against a release.
            if let cut = text.firstIndex(where: { $0 == "-" || $0 == "+" }) { text = text[..<cut] }
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard !parts.isEmpty, parts.count <= 3 else { return nil }
            var numbers: [Int?] = []
            for part in parts {
                if part == "x" || part == "X" || part == "*" {
                    numbers.append(nil)
                } else if let number = Int(part), number >= 0 {
                    // A number after a wildcard ("1.x.3") is not a range npm accepts either.
                    if numbers.contains(where: { $0 == nil }) { return nil }
                    numbers.append(number)
                } else {
                    return nil
                }
            }
            major = numbers[0]
            minor = numbers.count > 1 ? numbers[1] : nil
            patch = numbers.count > 2 ? numbers[2] : nil
        }

        var isWildcard: Bool { major == nil }
        var isFull: Bool { patch != nil }
        var floor: ToolVersion { ToolVersion(major ?? 0, minor ?? 0, patch ?? 0) }

        /// The first version past what this partial covers: 1 → 2.0.0, 1.2 → 1.3.0, 1.2.3 → 1.2.4.
        var ceiling: ToolVersion? {
            guard let major else { return nil }
            guard let minor else { return ToolVersion(major + 1) }
            guard let patch else { return ToolVersion(major, minor + 1) }
            return ToolVersion(major, minor, patch + 1)
        }
    }

    let text: String
    /// Alternatives joined by `||`; each is a set of comparators that must all hold.
    private let alternatives: [[Comparator]]

    init?(_ text: String) {
        self.text = text
        var alternatives: [[Comparator]] = []
        for alternative in text.components(separatedBy: "||") {
            guard let comparators = Self.parseSet(alternative) else { return nil }
            alternatives.append(comparators)
        }
        guard !alternatives.isEmpty else { return nil }
        self.alternatives = alternatives
    }

    var description: String { text }

    func contains(_ version: ToolVersion) -> Bool {
        alternatives.contains { set in set.allSatisfy { $0.accepts(version) } }
    }

    private static let operators = ["<=", ">=", "~>", "<", ">", "=", "~", "^"]

    private static func parseSet(_ text: String) -> [Comparator]? {
        var tokens = text.split(whereSeparator: \.isWhitespace).map(String.init)
        if tokens.isEmpty { return [] }  // "" means any version, like "*"
        // A hyphen range: "1.2.3 - 2.3".
        if tokens.count == 3, tokens[1] == "-" {
            guard let low = Partial(tokens[0][...]), let high = Partial(tokens[2][...]) else { return nil }
            var set: [Comparator] = []
            if !low.isWildcard { set.append(Comparator(op: .greaterOrEqual, version: low.floor)) }
            if high.isFull {
                set.append(Comparator(op: .lessOrEqual, version: high.floor))
            } else if let ceiling = high.ceiling {
                set.append(Comparator(op: .less, version: ceiling))
            }
            return set
        }
        // An operator may stand apart from its version (">= 18").
        var merged: [String] = []
        while !tokens.isEmpty {
            let token = tokens.removeFirst()
            if operators.contains(token), let next = tokens.first {
                tokens.removeFirst()
                merged.append(token + next)
            } else {
                merged.append(token)
            }
        }
        var set: [Comparator] = []
        for token in merged {
            guard let comparators = comparators(for: token) else { return nil }
            set += comparators
        }
        return set
    }

    private static func comparators(for token: String) -> [Comparator]? {
        let op = operators.first { token.hasPrefix($0) } ?? ""
        guard let partial = Partial(token.dropFirst(op.count)) else { return nil }
        let nothing = [Comparator(op: .less, version: ToolVersion(0))]
        switch op {
        case ">":
            if partial.isWildcard { return nothing }
            if partial.isFull { return [Comparator(op: .greater, version: partial.floor)] }
            return partial.ceiling.map { [Comparator(op: .greaterOrEqual, version: $0)] }
        case ">=":
            return partial.isWildcard ? [] : [Comparator(op: .greaterOrEqual, version: partial.floor)]
        case "<":
            return partial.isWildcard ? nothing : [Comparator(op: .less, version: partial.floor)]
        case "<=":
            if partial.isWildcard { return [] }
            if partial.isFull { return [Comparator(op: .lessOrEqual, version: partial.floor)] }
            return partial.ceiling.map { [Comparator(op: .less, version: $0)] }
        case "~", "~>":
            guard let major = partial.major else { return [] }
            let ceiling = partial.minor.map { ToolVersion(major, $0 + 1) } ?? ToolVersion(major + 1)
            return [Comparator(op: .greaterOrEqual, version: partial.floor), Comparator(op: .less, version: ceiling)]
        case "^":
            guard let major = partial.major else { return [] }
            let ceiling: ToolVersion
            if major > 0 {
                ceiling = ToolVersion(major + 1)
            } else if let minor = partial.minor, minor > 0 {
                ceiling = ToolVersion(0, minor + 1)
            } else if let minor = partial.minor, let patch = partial.patch {
                ceiling = ToolVersion(0, minor, patch + 1)
            } else if let minor = partial.minor {
                ceiling = ToolVersion(0, minor + 1)
            } else {
                ceiling = ToolVersion(1)
            }
            return [Comparator(op: .greaterOrEqual, version: partial.floor), Comparator(op: .less, version: ceiling)]
        default:
            // A bare or `=` version: an X-range unless all three parts are given.
            if partial.isWildcard { return [] }
            if partial.isFull { return [Comparator(op: .equal, version: partial.floor)] }
            return partial.ceiling.map {
                [Comparator(op: .greaterOrEqual, version: partial.floor), Comparator(op: .less, version: $0)]
            }
        }
    }
}
