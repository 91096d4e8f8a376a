import Foundation

/// The process types of a Procfile (`web: gunicorn app:app`); only `web` starts a service.
enum Procfile {
    /// The command of the `web:` line, or nil when there is none.
    static func webCommand(in text: String) -> String? {
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            guard !line.hasPrefix("#"), let colon = line.firstIndex(of: ":") else { continue }
            guard line[..<colon].trimmingCharacters(in: .whitespaces) == "web" else { continue }
            let command = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            return command.isEmpty ? nil : command
        }
        return nil
    }
}
