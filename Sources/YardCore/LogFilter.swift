import Foundation

/// A log search in Railway's filter syntax, matched line by line.
///
/// - `word`: the message contains it, in any case; `"exact phrase"`: contains it as written.
/// - Terms side by side, or joined by `AND`, must all match; `OR` between them: either;
///   `-term` excludes; parentheses group.
/// - `@attribute:value` matches a field: `@level:error` (stderr lines and 5xx requests;
///   `warn` is a 4xx), `@stream:stderr`, `@replica:rep_…` (a prefix is enough),
///   `@httpStatus:500`, `@method:GET`, `@host:app.test`, `@path:/api` (a prefix),
///   `@upstream:…`, `@responseTime:>500` (milliseconds). Numbers also take `>`, `>=`, `<`,
///   `<=` and ranges `400..499`.
public indirect enum LogFilter: Sendable, Equatable {
    case word(String)
    case phrase(String)
    case attribute(String, AttributeValue)
    case not(LogFilter)
    case and(LogFilter, LogFilter)
    case or(LogFilter, LogFilter)

    public enum AttributeValue: Sendable, Equatable {
        case text(String)
        case number(Comparison, Double)
        case range(Double, Double)
    }

    public enum Comparison: String, Sendable, Equatable {
        case equal = "", greater = ">", greaterOrEqual = ">=", less = "<", lessOrEqual = "<="
    }

    /// The attributes `@name:` takes, as written (matched in any case).
    public static let attributes = ["level", "stream", "replica", "httpStatus", "method", "host", "path", "upstream", "responseTime"]
    private static let numericAttributes: Set<String> = ["httpstatus", "responsetime"]

    /// Parses a filter; the error names what is wrong and where.
    public static func parse(_ text: String) throws -> LogFilter {
        var parser = Parser(tokens: try tokenize(text))
        guard let filter = try parser.orExpression() else {
            throw YardError(.invalidInput, "the log filter is empty")
        }
        if let extra = parser.peek {
            throw YardError(.invalidInput, "the log filter has an unexpected \(extra.description); group terms with ( )")
        }
        return filter
    }

    public func matches(_ line: LogLine) -> Bool {
        switch self {
        case .word(let word): line.message.range(of: word, options: .caseInsensitive) != nil
        case .phrase(let phrase): line.message.contains(phrase)
        case .attribute(let name, let value): Self.match(name, value, line)
        case .not(let inner): !inner.matches(line)
        case .and(let left, let right): left.matches(line) && right.matches(line)
        case .or(let left, let right): left.matches(line) || right.matches(line)
        }
    }

    /// `error` for stderr lines and 5xx requests, `warn` for 4xx requests, else `info`.
    public static func level(of line: LogLine) -> String {
        if let status = line.http?.status { return status >= 500 ? "error" : status >= 400 ? "warn" : "info" }
        return line.stream == .stderr ? "error" : "info"
    }

    private static func match(_ name: String, _ value: AttributeValue, _ line: LogLine) -> Bool {
        switch value {
        case .text(let expected):
            let actual: String? =
                switch name {
                case "level": level(of: line)
                case "stream": line.stream.rawValue
                case "replica": line.replica
                case "method": line.http?.method
                case "host": line.http?.host
                case "path": line.http?.path
                case "upstream": line.http?.upstream
                default: nil
                }
            guard let actual else { return false }
            if name == "path" || name == "replica" { return actual.hasPrefix(expected) }
            return actual.caseInsensitiveCompare(expected) == .orderedSame
        case .number(let comparison, let expected):
            guard let actual = number(name, line) else { return false }
            switch comparison {
            case .equal: return actual == expected
            case .greater: return actual > expected
            case .greaterOrEqual: return actual >= expected
            case .less: return actual < expected
            case .lessOrEqual: return actual <= expected
            }
        case .range(let low, let high):
            guard let actual = number(name, line) else { return false }
            return actual >= low && actual <= high
        }
    }

    private static func number(_ name: String, _ line: LogLine) -> Double? {
        switch name {
        case "httpstatus": line.http.map { Double($0.status) }
        case "responsetime": line.http?.durationMs
        default: nil
        }
    }

    // MARK: - Tokens

    enum Token: Equatable {
        case word(String), phrase(String), attribute(String, AttributeValue), and, or, minus, open, close

        var description: String {
            switch self {
            case .word(let word): "'\(word)'"
            case .phrase(let phrase): "\"\(phrase)\""
            case .attribute(let name, _): "@\(name)"
            case .and: "AND"
            case .or: "OR"
            case .minus: "'-'"
            case .open: "'('"
            case .close: "')'"
            }
        }
    }

    static func tokenize(_ text: String) throws -> [Token] {
        var tokens: [Token] = []
        var index = text.startIndex
        func quoted() throws -> String {
            // At an opening quote: up to the closing one.
            let start = text.index(after: index)
            guard let end = text[start...].firstIndex(of: "\"") else {
                throw YardError(.invalidInput, "the log filter has a \" without its closing \"")
            }
            index = text.index(after: end)
            return String(text[start..<end])
        }
        func bare() -> String {
            let start = index
            while index < text.endIndex, !text[index].isWhitespace, !"()\"".contains(text[index]) {
                index = text.index(after: index)
            }
            return String(text[start..<index])
        }
        while index < text.endIndex {
            let character = text[index]
            if character.isWhitespace {
                index = text.index(after: index)
            } else if character == "(" || character == ")" {
                tokens.append(character == "(" ? .open : .close)
                index = text.index(after: index)
            } else if character == "\"" {
                tokens.append(.phrase(try quoted()))
            } else if character == "-", text.index(after: index) < text.endIndex, !text[text.index(after: index)].isWhitespace {
                tokens.append(.minus)
                index = text.index(after: index)
            } else if character == "@" {
                index = text.index(after: index)
                let start = index
                while index < text.endIndex, text[index] != ":", !text[index].isWhitespace { index = text.index(after: index) }
                let name = String(text[start..<index])
                guard index < text.endIndex, text[index] == ":" else {
                    throw YardError(.invalidInput, "the log filter's @\(name) needs a value: @\(name):VALUE")
                }
                guard let known = attributes.first(where: { $0.caseInsensitiveCompare(name) == .orderedSame }) else {
                    throw YardError(
                        .invalidInput,
                        "the log filter has an unknown attribute @\(name); known: \(attributes.map { "@" + $0 }.joined(separator: ", "))")
                }
                index = text.index(after: index)
                let raw = index < text.endIndex && text[index] == "\"" ? try quoted() : bare()
                guard !raw.isEmpty else { throw YardError(.invalidInput, "the log filter's @\(known) has an empty value") }
                tokens.append(.attribute(known.lowercased(), try value(of: raw, for: known)))
            } else {
                let word = bare()
                tokens.append(word == "AND" ? .and : word == "OR" ? .or : .word(word))
            }
        }
        return tokens
    }

    private static func value(of raw: String, for name: String) throws -> AttributeValue {
        guard numericAttributes.contains(name.lowercased()) else { return .text(raw) }
        let invalid = YardError(
            .invalidInput, "the log filter's @\(name) needs a number, a comparison (>500, <=399) or a range (400..499), not '\(raw)'")
        if let dots = raw.range(of: "..") {
            guard let low = Double(raw[..<dots.lowerBound]), let high = Double(raw[dots.upperBound...]) else { throw invalid }
            return .range(low, high)
        }
        for comparison in [Comparison.greaterOrEqual, .lessOrEqual, .greater, .less, .equal] where raw.hasPrefix(comparison.rawValue) {
            guard let number = Double(raw.dropFirst(comparison.rawValue.count)) else { throw invalid }
            return .number(comparison, number)
        }
        throw invalid
    }

    // MARK: - Grammar: OR binds loosest, then AND (or juxtaposition), then '-'

    struct Parser {
        var tokens: [Token]
        var position = 0

        var peek: Token? { position < tokens.count ? tokens[position] : nil }

        mutating func next() -> Token? {
            defer { position += 1 }
            return peek
        }

        mutating func orExpression() throws -> LogFilter? {
            guard var left = try andExpression() else { return nil }
            while peek == .or {
                position += 1
                guard let right = try andExpression() else { throw YardError(.invalidInput, "the log filter ends after OR; add a term") }
                left = .or(left, right)
            }
            return left
        }

        mutating func andExpression() throws -> LogFilter? {
            guard var left = try unary() else { return nil }
            while let token = peek, token != .or, token != .close {
                if token == .and { position += 1 }
                guard let right = try unary() else { throw YardError(.invalidInput, "the log filter ends after AND; add a term") }
                left = .and(left, right)
            }
            return left
        }

        mutating func unary() throws -> LogFilter? {
            guard let token = next() else { return nil }
            switch token {
            case .minus:
                guard let inner = try unary() else { throw YardError(.invalidInput, "the log filter ends after '-'; add a term") }
                return .not(inner)
            case .open:
                guard let inner = try orExpression() else { throw YardError(.invalidInput, "the log filter has empty parentheses") }
                guard next() == .close else { throw YardError(.invalidInput, "the log filter has a ( without its )") }
                return inner
            case .word(let word): return .word(word)
            case .phrase(let phrase): return .phrase(phrase)
            case .attribute(let name, let value): return .attribute(name, value)
            case .and, .or, .close:
                throw YardError(.invalidInput, "the log filter has \(token.description) where a term should be")
            }
        }
    }
}

/// Which lines of a log to show: a filter and a time window, each optional.
public struct LogQuery: Sendable, Equatable {
    public var filter: LogFilter?
    public var since: Date?
    public var until: Date?

    public init(filter: LogFilter? = nil, since: Date? = nil, until: Date? = nil) {
        self.filter = filter
        self.since = since
        self.until = until
    }

    public static let all = LogQuery()

    public func includes(_ line: LogLine) -> Bool {
        if let since, line.timestamp < since { return false }
        if let until, line.timestamp >= until { return false }
        return filter?.matches(line) ?? true
    }
}
