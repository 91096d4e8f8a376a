import Foundation
import GRDB
import YardCore

/// A record of one table, read and written through GRDB's Codable support. A property of
/// a Codable type (settings, overrides, a build result, a commit) is stored as JSON text in
/// `YardJSON`'s format, the text the store has always written, so older rows read as they
/// are. Every row is decoded here: a value that does not decode is one `YardError` naming
/// the table, the row and the column; never a default, never a crash.
public protocol StoredRecord: Codable, FetchableRecord, PersistableRecord {
    /// The columns that name a row in an error: its primary key.
    static var keyColumns: [String] { get }
}

extension StoredRecord {
    public static var keyColumns: [String] { ["id"] }

    public init(row: Row) throws {
        do {
            self = try FetchableRecordDecoder().decode(Self.self, from: row)
        } catch {
            throw StoredValueError.unreadable(
                table: Self.databaseTableName, row: StoredValueError.rowName(row, keyColumns: Self.keyColumns), error: error)
        }
    }

    public static func databaseJSONEncoder(for column: String) -> JSONEncoder { YardJSON.encoder() }

    public static func databaseJSONDecoder(for column: String) -> JSONDecoder { ColumnJSONDecoder(column: column) }
}

/// `YardJSON.decoder()` for one column: its errors say which column failed, which GRDB's
/// own decoding error would not.
final class ColumnJSONDecoder: JSONDecoder, @unchecked Sendable {
    let column: String

    init(column: String) {
        self.column = column
        super.init()
        dateDecodingStrategy = YardJSON.decoder().dateDecodingStrategy
    }

    override func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        do {
            return try super.decode(type, from: data)
        } catch {
            throw ColumnJSONError(column: column, type: T.self, error: error)
        }
    }
}

struct ColumnJSONError: Error {
    let column: String
    let type: Any.Type
    let error: any Error
}

/// The one failure behaviour of stored values that do not decode.
enum StoredValueError {
    /// The error for a row of `table` that cannot be read. It names the column and the
    /// place in its JSON, never a stored value (a value may be a secret).
    static func unreadable(table: String, row: String, error: any Error) -> YardError {
        let column: String
        let problem: String
        switch error {
        case let error as YardError:
            return error
        case let error as ColumnJSONError:
            column = error.column
            problem = "is not the JSON of \(jsonKind(error.type)) (\(describe(error.error)))"
        case let error as DecodingError:
            // A plain column decoded through Codable (an enum's raw value): the path starts at the column.
            column = context(of: error)?.codingPath.first?.stringValue ?? "a column"
            if case .dataCorrupted(let context) = error, context.codingPath.count <= 1 {
                problem = "holds a value that is not one of those it can take"
            } else {
                problem = "does not hold a value of its type (\(describe(error, droppingFirst: 1)))"
            }
        default:
            // GRDB's `RowDecodingError` (a NULL or a mismatched type in a plain column) only
            // names the column in its description, which also prints the row: take the name.
            column = columnName(in: String(describing: error)) ?? "a column"
            problem = "does not hold a value of its type"
        }
        // No `cause`: GRDB's error prints the whole row, values included.
        return YardError(
            .internal,
            "the \(table) row \(row) cannot be read: \(column) \(problem). The database was changed by something other than "
                + "this version of yard; restore the data directory from a backup, or correct that column")
    }

    /// `id dep_1`, or `service_id svc_1, key PORT` for a composite key.
    static func rowName(_ row: Row, keyColumns: [String]) -> String {
        let parts = keyColumns.map { column in
            let value: DatabaseValue = row[column] ?? .null
            switch value.storage {
            case .string(let text): return "\(column) \(text)"
            case .int64(let number): return "\(column) \(number)"
            default: return "\(column) ?"
            }
        }
        return parts.joined(separator: ", ")
    }

    /// What a decoding error says went wrong, by the path in the JSON; never the value.
    static func describe(_ error: any Error, droppingFirst dropped: Int = 0) -> String {
        guard let error = error as? DecodingError else { return "not readable" }
        let path = (context(of: error)?.codingPath ?? []).dropFirst(dropped).map(\.stringValue)
        let place = path.isEmpty ? "the value" : "'\(path.joined(separator: "."))'"
        switch error {
        case .keyNotFound(let key, _):
            return "key '\((path + [key.stringValue]).joined(separator: "."))' is missing"
        case .valueNotFound(let type, _):
            return "\(place) is null where \(jsonKind(type)) is needed"
        case .typeMismatch(let type, _):
            return "\(place) is not \(jsonKind(type))"
        case .dataCorrupted:
            return path.isEmpty ? "not valid JSON" : "\(place) is not one of the values it can take"
        @unknown default:
            return "not readable"
        }
    }

    /// What JSON a Swift type reads from, as people say it.
    static func jsonKind(_ type: Any.Type) -> String {
        let name = String(describing: type)
        if name.hasPrefix("Dictionary") { return "an object" }
        if name.hasPrefix("Array") { return "a list" }
        if name == "String" { return "a string" }
        if name == "Bool" { return "true or false" }
        if ["Int", "Int64", "Int32", "Double", "Float", "UInt64"].contains(name) { return "a number" }
        return "a \(name)"
    }

    static func context(of error: DecodingError) -> DecodingError.Context? {
        switch error {
        case .keyNotFound(_, let context), .valueNotFound(_, let context), .typeMismatch(_, let context), .dataCorrupted(let context):
            context
        @unknown default:
            nil
        }
    }

    /// The `column: "name"` part of GRDB's description of a row decoding error.
    static func columnName(in description: String) -> String? {
        guard let start = description.range(of: "column: \"") else { return nil }
        let name = description[start.upperBound...].prefix { $0 != "\"" }
        return name.isEmpty || !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) ? nil : String(name)
    }
}
