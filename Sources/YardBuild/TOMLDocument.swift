import Foundation
import TOMLKit
import YardCore

/// A parsed TOML manifest (pyproject.toml, Pipfile, Cargo.toml) as plain values, with
/// the few lookups detection needs. Copied out of TOMLKit's reference tree at once.
struct TOMLDocument: Sendable, Equatable {
    indirect enum Value: Sendable, Equatable {
        case string(String)
        case table([String: Value])
        case array([Value])
        /// Numbers, booleans and dates: detection never reads them.
        case other
    }

    let values: [String: Value]

    init(values: [String: Value]) {
        self.values = values
    }

    /// Parses `relativePath` in `source`; a syntax error names the file, line and column.
    static func parse(_ source: SourceTree, _ relativePath: String) throws(YardError) -> TOMLDocument {
        let text = try source.text(relativePath)
        do {
            return TOMLDocument(values: Self.values(of: try TOMLTable(string: text)))
        } catch let error as TOMLParseError {
            throw YardError(
                .buildFailed,
                "\(relativePath) line \(error.source.begin.line) column \(error.source.begin.column): TOML syntax error: "
                    + "\(error.description); fix the file so the build can read it",
                cause: error
            )
        } catch {
            throw YardError(.buildFailed, "\(relativePath) could not be parsed as TOML; fix the file so the build can read it", cause: error)
        }
    }

    private static func values(of table: TOMLTable) -> [String: Value] {
        var result: [String: Value] = [:]
        for key in table.keys {
            if let value = table[key] { result[key] = Self.value(value) }
        }
        return result
    }

    private static func value(_ value: any TOMLValueConvertible) -> Value {
        switch value.type {
        case .string: .string(value.string ?? "")
        case .table: .table(value.table.map(values(of:)) ?? [:])
        case .array: .array(value.array.map { $0.map(Self.value) } ?? [])
        default: .other
        }
    }

    /// `a.b.c` style lookup of a sub-table.
    func table(_ path: String) -> TOMLDocument? {
        var current = values
        for key in path.split(separator: ".") {
            guard case .table(let next)? = current[String(key)] else { return nil }
            current = next
        }
        return TOMLDocument(values: current)
    }

    /// An array of tables (`[[bin]]`).
    func tables(_ key: String) -> [TOMLDocument] {
        guard case .array(let items)? = values[key] else { return [] }
        return items.compactMap { item in
            if case .table(let table) = item { return TOMLDocument(values: table) }
            return nil
        }
    }

    func string(_ key: String) -> String? {
        if case .string(let text)? = values[key] { return text }
        return nil
    }

    /// The strings of an array value (PEP 621 `dependencies`).
    func strings(_ key: String) -> [String] {
        guard case .array(let items)? = values[key] else { return [] }
        return items.compactMap { item in
            if case .string(let text) = item { return text }
            return nil
        }
    }

    var keys: [String] { values.keys.sorted() }
}
