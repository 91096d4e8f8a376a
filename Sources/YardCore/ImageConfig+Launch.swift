import Foundation

/// How an image's config and a service's settings combine into the process a replica runs.
extension ImageConfig {
    /// The argv of a replica: with a start command, its words replace the ENTRYPOINT (and the
    /// CMD goes), as Railway does for Dockerfile and image services: exec form, no shell, so
    /// `$VAR` is not expanded (wrap it in `/bin/sh -c "…"`). Without one, ENTRYPOINT + CMD.
    /// Throws when the result is empty or the command's quotes do not close.
    public func arguments(startCommand: String) throws(YardError) -> [String] {
        let trimmed = startCommand.trimmingCharacters(in: .whitespacesAndNewlines)
        let arguments = trimmed.isEmpty ? entrypoint + command : try Self.words(trimmed)
        guard let first = arguments.first, !first.isEmpty else {
            throw YardError(
                .invalidConfig,
                "the image has no ENTRYPOINT or CMD and the service has no start command: set one (`startCommand` in railway.toml)")
        }
        return arguments
    }

    /// The image's `KEY=value` entries as a dictionary (a later entry wins, as in Docker).
    public var environmentVariables: [String: String] {
        var variables: [String: String] = [:]
        for entry in environment {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = parts.first, !name.isEmpty else { continue }
            variables[String(name)] = parts.count > 1 ? String(parts[1]) : ""
        }
        return variables
    }

    /// The user and group parts of `USER` (`name`, `uid`, `uid:gid`, `name:group`).
    public var userAndGroup: (user: String, group: String?) {
        let parts = user.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let name = parts.first ?? ""
        return (name.isEmpty ? "0" : name, parts.count > 1 && !parts[1].isEmpty ? parts[1] : nil)
    }

    /// Resolves `USER` to numeric ids with the image's own `/etc/passwd` and `/etc/group`
    /// texts; a numeric user without a group gets its passwd entry's group, else the same
    /// number. Throws naming the user when a name is not in the image.
    public func resolveUser(passwd: String, group groupText: String) throws(YardError) -> (uid: UInt32, gid: UInt32) {
        let (name, groupName) = userAndGroup
        func entries(_ text: String) -> [[Substring]] {
            text.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false) }
        }
        let users = entries(passwd).filter { $0.count >= 4 }
        var uid: UInt32
        var gid: UInt32?
        if let number = UInt32(name) {
            uid = number
            gid = users.first { UInt32($0[2]) == number }.flatMap { UInt32($0[3]) }
        } else if let entry = users.first(where: { $0[0] == name }), let number = UInt32(entry[2]) {
            uid = number
            gid = UInt32(entry[3])
        } else {
            throw YardError(.invalidConfig, "the image's USER '\(name)' is not in its /etc/passwd: use a numeric uid or add the user in the Dockerfile")
        }
        if let groupName {
            if let number = UInt32(groupName) {
                gid = number
            } else if let entry = entries(groupText).first(where: { $0.count >= 3 && $0[0] == groupName }),
                let number = UInt32(entry[2])
            {
                gid = number
            } else {
                throw YardError(.invalidConfig, "the image's USER group '\(groupName)' is not in its /etc/group: use a numeric gid")
            }
        }
        guard uid < 65536, (gid ?? uid) < 65536 else {
            throw YardError(.invalidConfig, "the image's USER \(uid):\(gid ?? uid) is outside 0-65535, the ids an image box has")
        }
        return (uid, gid ?? uid)
    }

    /// Splits a start command into words: blanks separate, single and double quotes group
    /// (a backslash escapes the next character outside single quotes); nothing is expanded.
    static func words(_ text: String) throws(YardError) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for character in text {
            if escaped {
                current.append(character)
                escaped = false
                continue
            }
            if let open = quote {
                if character == open {
                    quote = nil
                } else if character == "\\" && open == "\"" {
                    escaped = true
                } else {
                    current.append(character)
                }
                continue
            }
            switch character {
            case " ", "\t", "\n":
                if inWord { words.append(current) }
                current = ""
                inWord = false
            case "'", "\"":
                quote = character
                inWord = true
            case "\\":
                escaped = true
                inWord = true
            default:
                current.append(character)
                inWord = true
            }
        }
        guard quote == nil, !escaped else {
            throw YardError(.invalidConfig, "the start command has an unclosed quote or a trailing backslash: close it")
        }
        if inWord { words.append(current) }
        return words
    }
}
