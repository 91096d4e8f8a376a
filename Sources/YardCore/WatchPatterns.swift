/// A service's `watchPatterns` (gitignore syntax, relative to the repository root, as on
/// Railway even when the service has a root directory): a push deploys the service when
/// one of its changed paths matches. The last pattern that matches a path decides, so
/// `!` patterns take paths out again.
public struct WatchPatterns: Sendable, Equatable {
    struct Rule: Sendable, Equatable {
        var negated: Bool
        /// Matches directories only (a trailing `/`): a changed file matches through one
        /// of its parent folders.
        var directoryOnly: Bool
        /// Contains a `/` before its end: matched against the whole path from the root;
        /// otherwise against every path component.
        var anchored: Bool
        var segments: [Substring]
    }

    let rules: [Rule]

    /// Parses the patterns; blank lines and `#` comments are ignored.
    public init(_ patterns: [String]) {
        rules = patterns.compactMap { Self.parse($0) }
    }

    /// No usable pattern: every push deploys the service.
    public var isEmpty: Bool { rules.isEmpty }

    /// Whether a push that changed these paths (relative to the repository root) deploys.
    public func matchesAny(of paths: [String]) -> Bool {
        isEmpty || paths.contains(where: matches)
    }

    /// Whether one changed file's path matches.
    public func matches(_ path: String) -> Bool {
        let components = path.split(separator: "/")
        var matched = false
        for rule in rules where rule.negated == matched {
            if Self.rule(rule, matches: components) { matched = !rule.negated }
        }
        return matched
    }

    private static func parse(_ line: String) -> Rule? {
        var text = Substring(line)
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        if text.isEmpty || text.hasPrefix("#") { return nil }
        var negated = false
        if text.hasPrefix("!") {
            negated = true
            text = text.dropFirst()
        } else if text.hasPrefix("\\!") || text.hasPrefix("\\#") {
            text = text.dropFirst()
        }
        var directoryOnly = false
        if text.hasSuffix("/") {
            directoryOnly = true
            text = text.dropLast()
        }
        let anchored = text.contains("/")
        if text.hasPrefix("/") { text = text.dropFirst() }
        let segments = text.split(separator: "/", omittingEmptySubsequences: true)
        guard !segments.isEmpty else { return nil }
        return Rule(negated: negated, directoryOnly: directoryOnly, anchored: anchored, segments: segments)
    }

    /// A file matches when the pattern matches the file itself or one of its folders.
    private static func rule(_ rule: Rule, matches components: [Substring]) -> Bool {
        let lastPrefix = rule.directoryOnly ? components.count - 1 : components.count
        guard lastPrefix >= 1 else { return false }
        for length in 1...lastPrefix {
            let prefix = components[0..<length]
            if rule.anchored {
                if segments(rule.segments[...], match: prefix) { return true }
            } else if let name = prefix.last, glob(rule.segments[0], matches: name) {
                return true
            }
        }
        return false
    }

    /// Matches path segments, where a `**` segment stands for any number of folders.
    private static func segments(_ pattern: ArraySlice<Substring>, match path: ArraySlice<Substring>) -> Bool {
        guard let first = pattern.first else { return path.isEmpty }
        if first == "**" {
            let rest = pattern.dropFirst()
            if rest.isEmpty { return true }
            for skip in 0...path.count where segments(rest, match: path.dropFirst(skip)) {
                return true
            }
            return false
        }
        guard let name = path.first, glob(first, matches: name) else { return false }
        return segments(pattern.dropFirst(), match: path.dropFirst())
    }

    /// One path segment against a glob: `*`, `?`, `[a-z]`, `[!a-z]` and `\` escapes.
    static func glob(_ pattern: Substring, matches name: Substring) -> Bool {
        glob(Array(pattern), 0, Array(name), 0)
    }

    private static func glob(_ pattern: [Character], _ p: Int, _ name: [Character], _ n: Int) -> Bool {
        if p == pattern.count { return n == name.count }
        switch pattern[p] {
        case "*":
            for start in n...name.count where glob(pattern, p + 1, name, start) {
                return true
            }
            return false
        case "?":
            return n < name.count && glob(pattern, p + 1, name, n + 1)
        case "[":
            guard n < name.count else { return false }
            guard let found = characterClass(pattern, p, name[n]) else {
                // An unclosed `[` is a literal.
                return name[n] == "[" && glob(pattern, p + 1, name, n + 1)
            }
            return found.matched && glob(pattern, found.next, name, n + 1)
        case "\\" where p + 1 < pattern.count:
            return n < name.count && name[n] == pattern[p + 1] && glob(pattern, p + 2, name, n + 1)
        default:
            return n < name.count && name[n] == pattern[p] && glob(pattern, p + 1, name, n + 1)
        }
    }

    /// Whether `character` is in the class starting at `start`, and where the class ends.
    private static func characterClass(_ pattern: [Character], _ start: Int, _ character: Character) -> (matched: Bool, next: Int)? {
        var index = start + 1
        var negated = false
        if index < pattern.count, pattern[index] == "!" || pattern[index] == "^" {
            negated = true
            index += 1
        }
        var found = false
        var first = true
        while index < pattern.count {
            let current = pattern[index]
            if current == "]" && !first {
                return (found != negated, index + 1)
            }
            first = false
            if index + 2 < pattern.count, pattern[index + 1] == "-", pattern[index + 2] != "]" {
                if current <= character && character <= pattern[index + 2] { found = true }
                index += 3
            } else {
                if current == character { found = true }
                index += 1
            }
        }
        return nil
    }
}
