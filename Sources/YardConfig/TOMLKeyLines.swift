/// The 1-based line on which each key path of a TOML document is first written.
///
/// TOMLKit (toml++) does not expose source positions of keys, so this scans the text
/// itself. It runs only on documents toml++ has already accepted, so it can be lenient:
/// it follows table headers (`[a.b]`, `[[a]]`), dotted and quoted keys, inline tables and
/// multi-line strings and arrays, and records every key path and its prefixes.
struct TOMLKeyLines: Sendable {
    private var lines: [[String]: Int] = [:]

    init(text: String) {
        var scanner = Scanner(scalars: Array(text.unicodeScalars))
        scanner.scanDocument()
        lines = scanner.lines
    }

    /// The line of `keys`, or of its longest recorded prefix (a value inside an array
    /// reports the line of the array's key).
    func line(for keys: [String]) -> Int? {
        var prefix = keys
        while !prefix.isEmpty {
            if let line = lines[prefix] { return line }
            prefix.removeLast()
        }
        return nil
    }

    private struct Scanner {
        let scalars: [Unicode.Scalar]
        var index = 0
        var line = 1
        var lines: [[String]: Int] = [:]

        init(scalars: [Unicode.Scalar]) {
            self.scalars = scalars
        }

        var current: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

        func peek(_ distance: Int) -> Unicode.Scalar? {
            index + distance < scalars.count ? scalars[index + distance] : nil
        }

        mutating func advance() {
            if current == "\n" { line += 1 }
            index += 1
        }

        mutating func record(_ keys: [String], from start: Int) {
            let first = max(1, start)
            guard first <= keys.count else { return }
            for length in first...keys.count {
                let prefix = Array(keys.prefix(length))
                if lines[prefix] == nil { lines[prefix] = line }
            }
        }

        mutating func skipBlanks() {
            while let scalar = current, scalar == " " || scalar == "\t" || scalar == "\r" { advance() }
        }

        mutating func skipBlanksNewlinesAndComments() {
            while let scalar = current {
                if scalar == " " || scalar == "\t" || scalar == "\r" || scalar == "\n" {
                    advance()
                } else if scalar == "#" {
                    skipToEndOfLine()
                } else {
                    return
                }
            }
        }

        mutating func skipToEndOfLine() {
            while let scalar = current, scalar != "\n" { advance() }
        }

        mutating func scanDocument() {
            var table: [String] = []
            while current != nil {
                skipBlanksNewlinesAndComments()
                guard let scalar = current else { return }
                if scalar == "[" {
                    advance()
                    let isArrayOfTables = current == "["
                    if isArrayOfTables { advance() }
                    table = scanKey()
                    record(table, from: 1)
                    skipToEndOfLine()
                    continue
                }
                let keys = scanKey()
                guard !keys.isEmpty else {
                    // Not a key: cannot happen in a valid document; skip the line.
                    skipToEndOfLine()
                    continue
                }
                let path = table + keys
                record(path, from: table.count + 1)
                skipBlanks()
                if current == "=" { advance() }
                scanValue(path: path)
            }
        }

        /// A dotted key: simple keys (bare, "basic" or 'literal') joined by dots.
        mutating func scanKey() -> [String] {
            var keys: [String] = []
            while true {
                skipBlanks()
                guard let scalar = current else { return keys }
                if scalar == "\"" {
                    keys.append(scanBasicString())
                } else if scalar == "'" {
                    keys.append(scanLiteralString())
                } else if Self.isBareKeyScalar(scalar) {
                    var key = String.UnicodeScalarView()
                    while let bare = current, Self.isBareKeyScalar(bare) {
                        key.append(bare)
                        advance()
                    }
                    keys.append(String(key))
                } else {
                    return keys
                }
                skipBlanks()
                guard current == "." else { return keys }
                advance()
            }
        }

        static func isBareKeyScalar(_ scalar: Unicode.Scalar) -> Bool {
            ("A"..."Z").contains(scalar) || ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar)
                || scalar == "_" || scalar == "-"
        }

        /// A value; inline table members are recorded under `path` (nil inside arrays,
        /// whose elements have no key path of their own).
        mutating func scanValue(path: [String]?) {
            skipBlanks()
            guard let scalar = current else { return }
            switch scalar {
            case "\"":
                if peek(1) == "\"" && peek(2) == "\"" {
                    scanMultilineString(delimiter: "\"")
                } else {
                    _ = scanBasicString()
                }
            case "'":
                if peek(1) == "'" && peek(2) == "'" {
                    scanMultilineString(delimiter: "'")
                } else {
                    _ = scanLiteralString()
                }
            case "[":
                advance()
                while true {
                    skipBlanksNewlinesAndComments()
                    guard let next = current else { return }
                    if next == "]" {
                        advance()
                        return
                    }
                    if next == "," {
                        advance()
                        continue
                    }
                    scanValue(path: nil)
                }
            case "{":
                advance()
                while true {
                    skipBlanksNewlinesAndComments()
                    guard let next = current else { return }
                    if next == "}" {
                        advance()
                        return
                    }
                    if next == "," {
                        advance()
                        continue
                    }
                    let keys = scanKey()
                    if keys.isEmpty {
                        advance()
                        continue
                    }
                    if let path { record(path + keys, from: path.count + 1) }
                    skipBlanks()
                    if current == "=" { advance() }
                    scanValue(path: path.map { $0 + keys })
                }
            default:
                // Numbers, booleans, dates: run to the next delimiter.
                while let next = current, next != "," && next != "]" && next != "}" && next != "\n" && next != "#" {
                    advance()
                }
            }
        }

        mutating func scanBasicString() -> String {
            advance()
            var text = String.UnicodeScalarView()
            while let scalar = current, scalar != "\n" {
                advance()
                if scalar == "\"" { break }
                if scalar == "\\" {
                    text.append(scanEscape())
                } else {
                    text.append(scalar)
                }
            }
            return String(text)
        }

        mutating func scanEscape() -> Unicode.Scalar {
            guard let scalar = current else { return "\\" }
            advance()
            switch scalar {
            case "n": return "\n"
            case "t": return "\t"
            case "r": return "\r"
            case "b": return "\u{08}"
            case "f": return "\u{0C}"
            case "e": return "\u{1B}"
            case "u", "U":
                let count = scalar == "u" ? 4 : 8
                var value: UInt32 = 0
                for _ in 0..<count {
                    guard let digit = current, let number = UInt32(String(digit), radix: 16) else { break }
                    value = value << 4 | number
                    advance()
                }
                return Unicode.Scalar(value) ?? "\u{FFFD}"
            default: return scalar
            }
        }

        mutating func scanLiteralString() -> String {
            advance()
            var text = String.UnicodeScalarView()
            while let scalar = current, scalar != "\n" {
                advance()
                if scalar == "'" { break }
                text.append(scalar)
            }
            return String(text)
        }

        mutating func scanMultilineString(delimiter: Unicode.Scalar) {
            advance()
            advance()
            advance()
            while let scalar = current {
                if scalar == "\\" && delimiter == "\"" {
                    advance()
                    advance()
                    continue
                }
                if scalar == delimiter && peek(1) == delimiter && peek(2) == delimiter {
                    advance()
                    advance()
                    advance()
                    // Up to two more delimiters belong to the content (`""""` ends with a quote).
                    var extra = 0
                    while current == delimiter && extra < 2 {
                        advance()
                        extra += 1
                    }
                    return
                }
                advance()
            }
        }
    }
}
