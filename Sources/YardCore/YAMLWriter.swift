import Foundation

/// A value written as YAML: the tree of maps, lists and scalars Kubernetes manifests are
/// made of. Maps keep their keys' order, so the output reads as written.
public indirect enum YAMLValue: Sendable, Equatable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case list([YAMLValue])
    case entries([YAMLEntry])

    public static func map(_ pairs: KeyValuePairs<String, YAMLValue>) -> YAMLValue {
        .entries(pairs.map { YAMLEntry($0.key, $0.value) })
    }

    /// The entry `key`, when this is a map that has it.
    public subscript(key: String) -> YAMLValue? {
        guard case .entries(let entries) = self else { return nil }
        return entries.first { $0.key == key }?.value
    }
}

public struct YAMLEntry: Sendable, Equatable {
    public var key: String
    public var value: YAMLValue

    public init(_ key: String, _ value: YAMLValue) {
        self.key = key
        self.value = value
    }
}

/// Block-style YAML. Every string is double-quoted with escapes, so no value can be read
/// back as another type (`"on"`, `"08"`) or break the document, whatever a user named things.
public enum YAMLWriter {
    /// Several documents, each after a `---` line.
    public static func stream(_ documents: [YAMLValue], header: [String] = []) -> String {
        var text = header.map { "# \($0)\n" }.joined()
        for document in documents {
            text += "---\n" + self.document(document)
        }
        return text
    }

    public static func document(_ value: YAMLValue) -> String {
        var lines: [String] = []
        write(value, indent: 0, into: &lines)
        return lines.joined(separator: "\n") + "\n"
    }

    private static func write(_ value: YAMLValue, indent: Int, into lines: inout [String]) {
        let pad = String(repeating: " ", count: indent)
        switch value {
        case .entries(let entries) where !entries.isEmpty:
            for entry in entries {
                let key = pad + quotedKey(entry.key) + ":"
                if let inline = inline(entry.value) {
                    lines.append(key + " " + inline)
                } else {
                    lines.append(key)
                    write(entry.value, indent: indent + 2, into: &lines)
                }
            }
        case .list(let items) where !items.isEmpty:
            for item in items {
                if let inline = inline(item) {
                    lines.append(pad + "- " + inline)
                    continue
                }
                // The item's first line goes after the dash; the rest keep its indentation.
                var nested: [String] = []
                write(item, indent: indent + 2, into: &nested)
                lines.append(pad + "- " + nested[0].dropFirst(indent + 2))
                lines.append(contentsOf: nested.dropFirst())
            }
        default:
            lines.append(pad + (inline(value) ?? ""))
        }
    }

    /// A scalar or an empty collection, written on its key's line.
    private static func inline(_ value: YAMLValue) -> String? {
        switch value {
        case .string(let text): quoted(text)
        case .int(let number): String(number)
        case .bool(let flag): flag ? "true" : "false"
        case .list(let items): items.isEmpty ? "[]" : nil
        case .entries(let entries): entries.isEmpty ? "{}" : nil
        }
    }

    private static func quotedKey(_ key: String) -> String {
        let plain = !key.isEmpty && key.unicodeScalars.allSatisfy {
            CharacterSet.alphanumerics.contains($0) && $0.isASCII || "._/-".unicodeScalars.contains($0)
        } && !"-.".contains(key.first!)
        return plain ? key : quoted(key)
    }

    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value):
                out += String(format: "\\u%04X", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
