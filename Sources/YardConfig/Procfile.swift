import YardCore

/// A Heroku-style `Procfile`: one `name: command` per line. Its `web` command is a start
/// command source for Railpack-built services.
public struct Procfile: Sendable, Equatable {
    /// Process name to command, e.g. `"web"` → `"node server.js"`.
    public var processes: [String: String]

    public var web: String? { processes["web"] }

    public init(processes: [String: String]) {
        self.processes = processes
    }

    /// Blank lines and `#` comments are skipped. A line that is not `name: command`, an
    /// empty command or a name given twice is an error naming the line.
    public static func parse(_ text: String, fileName: String = "Procfile") throws(YardError) -> Procfile {
        var processes: [String: String] = [:]
        var lineNumber = 0
        // `isNewline` also splits CRLF, which Swift treats as one Character.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNumber += 1
            var line = Substring(rawLine)
            if lineNumber == 1, line.hasPrefix("\u{FEFF}") { line = line.dropFirst() }
            let trimmed = line.trimmingBlanks()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let colon = trimmed.firstIndex(of: ":") else {
                throw YardError(
                    .invalidConfig,
                    "\(fileName) line \(lineNumber): expected 'name: command' (e.g. 'web: npm start'), found no ':'"
                )
            }
            let name = trimmed[..<colon].trimmingBlanks()
            let command = trimmed[trimmed.index(after: colon)...].trimmingBlanks()
            guard !name.isEmpty, name.unicodeScalars.allSatisfy(Self.isNameScalar) else {
                throw YardError(
                    .invalidConfig,
                    "\(fileName) line \(lineNumber): process name '\(name.prefix(40))' must be letters, digits, '_' or '-' "
                        + "(e.g. 'web: npm start')"
                )
            }
            guard !command.isEmpty else {
                throw YardError(.invalidConfig, "\(fileName) line \(lineNumber): process '\(name)' has no command")
            }
            guard processes[String(name)] == nil else {
                throw YardError(
                    .invalidConfig,
                    "\(fileName) line \(lineNumber): process '\(name)' is defined twice; keep one line per process"
                )
            }
            processes[String(name)] = String(command)
        }
        return Procfile(processes: processes)
    }

    private static func isNameScalar(_ scalar: Unicode.Scalar) -> Bool {
        ("A"..."Z").contains(scalar) || ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar)
            || scalar == "_" || scalar == "-"
    }
}

extension Substring {
    /// Without surrounding spaces and tabs.
    fileprivate func trimmingBlanks() -> Substring {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = firstIndex(where: { !isBlank($0) }), let end = lastIndex(where: { !isBlank($0) }) else {
            return self[endIndex...]
        }
        return self[start...end]
    }
}
