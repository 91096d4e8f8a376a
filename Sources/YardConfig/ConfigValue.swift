import Foundation

/// A parsed config document, independent of the syntax it came from, so one decoder
/// checks TOML and JSON files the same way.
enum ConfigValue: Sendable, Equatable {
    typealias Member = (key: String, value: ConfigValue)

    case string(String)
    case integer(Int)
    case float(Double)
    case bool(Bool)
    /// JSON `null`; TOML has no null.
    case null
    case array([ConfigValue])
    /// Members in document order (TOML: the parser's order, which is alphabetical).
    case table([Member])
    /// A value this schema never accepts (TOML dates and times), kept by type name.
    case other(typeName: String)

    static func == (lhs: ConfigValue, rhs: ConfigValue) -> Bool {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)): a == b
        case (.integer(let a), .integer(let b)): a == b
        case (.float(let a), .float(let b)): a == b
        case (.bool(let a), .bool(let b)): a == b
        case (.null, .null): true
        case (.array(let a), .array(let b)): a == b
        case (.table(let a), .table(let b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.other(let a), .other(let b)): a == b
        default: false
        }
    }
}

/// One step into a document: a member name or an array position.
enum ConfigPathComponent: Sendable, Equatable {
    case key(String)
    case index(Int)
}

/// Where a value sits in a document, rendered as a dotted field name
/// (`deploy.preDeployCommand[1]`) or a JSON path (`$.deploy.preDeployCommand[1]`).
struct ConfigPath: Sendable, Equatable {
    var components: [ConfigPathComponent] = []

    func appending(_ key: String) -> ConfigPath {
        ConfigPath(components: components + [.key(key)])
    }

    func appending(index: Int) -> ConfigPath {
        ConfigPath(components: components + [.index(index)])
    }

    /// The member names up to the first array position: what a TOML line lookup can find.
    var keys: [String] {
        var keys: [String] = []
        for component in components {
            guard case .key(let key) = component else { break }
            keys.append(key)
        }
        return keys
    }

    var dotted: String {
        var text = ""
        for component in components {
            switch component {
            case .key(let key):
                if !text.isEmpty { text += "." }
                text += key
            case .index(let index):
                text += "[\(index)]"
            }
        }
        return text
    }

    var jsonPath: String {
        var text = "$"
        for component in components {
            switch component {
            case .key(let key):
                if key.isPlainIdentifier {
                    text += ".\(key)"
                } else {
                    let escaped = key.replacingOccurrences(of: "\\", with: "\\\\")
                        .replacingOccurrences(of: "\"", with: "\\\"")
                    text += "[\"\(escaped)\"]"
                }
            case .index(let index):
                text += "[\(index)]"
            }
        }
        return text
    }
}

extension String {
    fileprivate var isPlainIdentifier: Bool {
        guard let first = unicodeScalars.first, first == "$" || first == "_" || first.properties.isAlphabetic
        else { return false }
        return unicodeScalars.allSatisfy {
            $0 == "$" || $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0)
        }
    }
}
