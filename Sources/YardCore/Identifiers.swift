import Foundation

/// Opaque, prefixed identifiers (`prj_…`, `dep_…`) so an id says what it names.
public enum Identifier {
    public static func make(_ prefix: String) -> String {
        let raw = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        return "\(prefix)_\(raw.prefix(16))"
    }
}

/// Names users give to projects, services and environments: lower-case letters, digits
/// and dashes, so they can appear in domains and paths.
public enum ResourceName {
    /// Service names may also hold upper-case letters, as Railway's `Postgres` and
    /// `${{Postgres.DATABASE_URL}}` do; they are unique ignoring case, and their private
    /// domain is the lower-cased name (`postgres.railway.internal`).
    public static func validateService(_ name: String) throws(YardError) {
        let allowed = name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        guard !name.isEmpty, name.count <= 48, allowed, name.first != "-", name.last != "-" else {
            throw YardError(
                .invalidInput,
                "service name '\(name)' is not valid: use 1-48 letters, digits and dashes, not starting or ending with a dash"
            )
        }
    }

    public static func validate(_ name: String, kind: String) throws(YardError) {
        let allowed = name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
        guard !name.isEmpty, name.count <= 48, allowed, name.first != "-", name.last != "-" else {
            throw YardError(
                .invalidInput,
                "\(kind) name '\(name)' is not valid: use 1-48 lower-case letters, digits and dashes, not starting or ending with a dash"
            )
        }
    }

    /// Turns a folder name like `My_App` into a valid name like `my-app`.
    public static func slug(_ raw: String) -> String {
        var out = ""
        for ch in raw.lowercased() {
            if ch.isASCII && (ch.isLetter || ch.isNumber) {
                out.append(ch)
            } else if out.last != "-" {
                out.append("-")
            }
        }
        let trimmed = out.trimmingCharacters(in: CharacterSet(charactersIn: "-"))
        return trimmed.isEmpty ? "app" : String(trimmed.prefix(48))
    }
}
