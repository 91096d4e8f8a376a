/// A small strict JSON parser (RFC 8259) that keeps member order and exact types
/// (integer vs float vs boolean) and reports syntax errors by line and column, which
/// Foundation's `JSONSerialization` does not do portably. `railpack.json` is read with
/// `.railpack`: comments and trailing commas, as Railpack itself accepts them.
struct JSONDocumentParser {
    /// What a document may have beyond RFC 8259.
    struct Extensions: OptionSet, Sendable {
        let rawValue: Int
        /// `// line` and `/* block */` comments wherever whitespace may stand.
        static let comments = Extensions(rawValue: 1 << 0)
        /// A `,` before the closing `}` or `]`.
        static let trailingCommas = Extensions(rawValue: 1 << 1)
        /// What Railpack's own parser takes (its examples carry comments).
        static let railpack: Extensions = [.comments, .trailingCommas]
    }

    struct SyntaxError: Error, Equatable {
        var line: Int
        var column: Int
        var message: String
    }

    private let bytes: [UInt8]
    private let extensions: Extensions
    private var offset = 0
    private var depth = 0
    /// Deeper nesting than any config file needs; stops runaway recursion on hostile input.
    private static let maximumDepth = 128

    static func parse(_ text: String, allowing extensions: Extensions = []) throws(SyntaxError) -> ConfigValue {
        var parser = JSONDocumentParser(bytes: Array(text.utf8), extensions: extensions)
        // A UTF-8 byte order mark is harmless; editors on Windows write one.
        if parser.bytes.starts(with: [0xEF, 0xBB, 0xBF]) { parser.offset = 3 }
        try parser.skipWhitespace()
        let value = try parser.parseValue()
        try parser.skipWhitespace()
        guard parser.offset == parser.bytes.count else {
            throw parser.error("unexpected \(parser.describeCurrent()) after the end of the document")
        }
        return value
    }

    private init(bytes: [UInt8], extensions: Extensions) {
        self.bytes = bytes
        self.extensions = extensions
    }

    private var current: UInt8? { offset < bytes.count ? bytes[offset] : nil }

    /// Whitespace, and comments when they are allowed.
    private mutating func skipWhitespace() throws(SyntaxError) {
        while let byte = current {
            if byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
                offset += 1
            } else if byte == UInt8(ascii: "/"), extensions.contains(.comments) {
                try skipComment()
            } else {
                return
            }
        }
    }

    private mutating func skipComment() throws(SyntaxError) {
        let following: UInt8 = offset + 1 < bytes.count ? bytes[offset + 1] : 0
        switch following {
        case UInt8(ascii: "/"):
            while let byte = current, byte != 0x0A { offset += 1 }
        case UInt8(ascii: "*"):
            let start = position()
            offset += 2
            while offset + 1 < bytes.count, !(bytes[offset] == UInt8(ascii: "*") && bytes[offset + 1] == UInt8(ascii: "/")) {
                offset += 1
            }
            guard offset + 1 < bytes.count else {
                throw SyntaxError(line: start.line, column: start.column, message: "a /* comment is never closed with */")
            }
            offset += 2
        default:
            throw error("unexpected '/', expected a value (comments start with // or /*)")
        }
    }

    private mutating func parseValue() throws(SyntaxError) -> ConfigValue {
        guard let byte = current else { throw error("unexpected end of the document, expected a value") }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected \(describeCurrent()), expected a value")
        }
    }

    private mutating func enter() throws(SyntaxError) {
        depth += 1
        if depth > Self.maximumDepth { throw error("nesting deeper than \(Self.maximumDepth) levels") }
    }

    private mutating func parseObject() throws(SyntaxError) -> ConfigValue {
        try enter()
        defer { depth -= 1 }
        offset += 1
        var members: [ConfigValue.Member] = []
        try skipWhitespace()
        if current == UInt8(ascii: "}") {
            offset += 1
            return .table(members)
        }
        while true {
            try skipWhitespace()
            guard current == UInt8(ascii: "\"") else {
                throw error("unexpected \(describeCurrent()), expected a member name in double quotes")
            }
            let keyStart = (line: position().line, column: position().column)
            let key = try parseString()
            if members.contains(where: { $0.key == key }) {
                throw SyntaxError(line: keyStart.line, column: keyStart.column, message: "duplicate member \"\(key)\"")
            }
            try skipWhitespace()
            guard current == UInt8(ascii: ":") else {
                throw error("unexpected \(describeCurrent()), expected ':' after member name")
            }
            offset += 1
            try skipWhitespace()
            members.append((key, try parseValue()))
            try skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                offset += 1
                try skipWhitespace()
                if current == UInt8(ascii: "}"), extensions.contains(.trailingCommas) {
                    offset += 1
                    return .table(members)
                }
            case UInt8(ascii: "}"):
                offset += 1
                return .table(members)
            default: throw error("unexpected \(describeCurrent()), expected ',' or '}' after an object member")
            }
        }
    }

    private mutating func parseArray() throws(SyntaxError) -> ConfigValue {
        try enter()
        defer { depth -= 1 }
        offset += 1
        var elements: [ConfigValue] = []
        try skipWhitespace()
        if current == UInt8(ascii: "]") {
            offset += 1
            return .array(elements)
        }
        while true {
            try skipWhitespace()
            elements.append(try parseValue())
            try skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                offset += 1
                try skipWhitespace()
                if current == UInt8(ascii: "]"), extensions.contains(.trailingCommas) {
                    offset += 1
                    return .array(elements)
                }
            case UInt8(ascii: "]"):
                offset += 1
                return .array(elements)
            default: throw error("unexpected \(describeCurrent()), expected ',' or ']' after an array element")
            }
        }
    }

    private mutating func parseString() throws(SyntaxError) -> String {
        offset += 1
        var scalars = String.UnicodeScalarView()
        var runStart = offset
        func flushRun(_ parser: JSONDocumentParser, upTo end: Int, into scalars: inout String.UnicodeScalarView) {
            scalars.append(contentsOf: String(decoding: parser.bytes[runStart..<end], as: UTF8.self).unicodeScalars)
        }
        while true {
            guard let byte = current else { throw error("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                flushRun(self, upTo: offset, into: &scalars)
                offset += 1
                return String(scalars)
            case UInt8(ascii: "\\"):
                flushRun(self, upTo: offset, into: &scalars)
                offset += 1
                scalars.append(try parseEscape())
                runStart = offset
            case 0x00..<0x20:
                throw error("control character in a string; write it as an escape such as \\n")
            default:
                offset += 1
            }
        }
    }

    private mutating func parseEscape() throws(SyntaxError) -> Unicode.Scalar {
        guard let byte = current else { throw error("unterminated string") }
        offset += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let high = try parseHexQuad()
            if (0xD800..<0xDC00).contains(high) {
                guard current == UInt8(ascii: "\\"), offset + 1 < bytes.count, bytes[offset + 1] == UInt8(ascii: "u")
                else {
                    throw error("unpaired UTF-16 surrogate in a \\u escape")
                }
                offset += 2
                let low = try parseHexQuad()
                guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired UTF-16 surrogate in a \\u escape") }
                let value = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                return Unicode.Scalar(value) ?? "\u{FFFD}"
            }
            guard let scalar = Unicode.Scalar(high) else { throw error("unpaired UTF-16 surrogate in a \\u escape") }
            return scalar
        default:
            offset -= 1
            throw error("invalid escape \\\(describeCurrent())")
        }
    }

    private mutating func parseHexQuad() throws(SyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = current, let digit = Self.hexValue(byte) else {
                throw error("expected four hexadecimal digits after \\u")
            }
            value = value << 4 | digit
            offset += 1
        }
        return value
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    private mutating func parseNumber() throws(SyntaxError) -> ConfigValue {
        let start = offset
        var isInteger = true
        if current == UInt8(ascii: "-") { offset += 1 }
        guard let first = current, Self.isDigit(first) else { throw error("invalid number, expected a digit") }
        if first == UInt8(ascii: "0") {
            offset += 1
            if let next = current, Self.isDigit(next) { throw error("invalid number: leading zeros are not allowed") }
        } else {
            skipDigits()
        }
        if current == UInt8(ascii: ".") {
            isInteger = false
            offset += 1
            guard let next = current, Self.isDigit(next) else {
                throw error("invalid number, expected a digit after '.'")
            }
            skipDigits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            isInteger = false
            offset += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { offset += 1 }
            guard let next = current, Self.isDigit(next) else {
                throw error("invalid number, expected a digit in the exponent")
            }
            skipDigits()
        }
        let text = String(decoding: bytes[start..<offset], as: UTF8.self)
        if isInteger, let integer = Int(text) { return .integer(integer) }
        return .float(Double(text) ?? .nan)
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    private mutating func skipDigits() {
        while let byte = current, Self.isDigit(byte) { offset += 1 }
    }

    private mutating func expectLiteral(_ literal: String) throws(SyntaxError) {
        let expected = Array(literal.utf8)
        guard bytes[offset...].starts(with: expected) else {
            throw error("unexpected \(describeCurrent()), expected a value")
        }
        offset += expected.count
    }

    private func describeCurrent() -> String {
        guard offset < bytes.count else { return "end of the document" }
        let scalar = String(decoding: bytes[offset..<min(offset + 4, bytes.count)], as: UTF8.self)
            .unicodeScalars.first
        guard let scalar else { return "character" }
        return scalar.properties.isWhitespace || scalar.value < 0x20
            ? "character U+\(String(scalar.value, radix: 16, uppercase: true))" : "'\(scalar)'"
    }

    /// 1-based line and column (in characters) of the current offset.
    private func position() -> (line: Int, column: Int) {
        var line = 1
        var lineStart = 0
        for index in 0..<min(offset, bytes.count) where bytes[index] == 0x0A {
            line += 1
            lineStart = index + 1
        }
        let column = String(decoding: bytes[lineStart..<min(offset, bytes.count)], as: UTF8.self).count + 1
        return (line, column)
    }

    private func error(_ message: String) -> SyntaxError {
        let (line, column) = position()
        return SyntaxError(line: line, column: column, message: message)
    }
}
