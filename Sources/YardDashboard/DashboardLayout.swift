import Foundation
import Synchronization

/// Where the cards of each project's canvas were dragged to, kept in one JSON file in the
/// data directory (0600, written whole and atomically); a card never moved has no entry.
public final class DashboardLayout: Sendable {
    public struct Position: Codable, Sendable, Equatable {
        public var x: Int
        public var y: Int

        public init(x: Int, y: Int) {
            self.x = x
            self.y = y
        }
    }

    /// The most a card may be moved right or down, in pixels.
    public static let limit = 20_000

    let file: URL?
    private let projects: Mutex<[String: [String: Position]]>

    /// Reads `file` when it exists; nil keeps the positions in memory only.
    public init(file: URL?) {
        self.file = file
        let saved = file.flatMap { try? Data(contentsOf: $0) }.flatMap {
            try? JSONDecoder().decode([String: [String: Position]].self, from: $0)
        }
        projects = Mutex(saved ?? [:])
    }

    public func positions(project: String) -> [String: Position] {
        projects.withLock { $0[project] ?? [:] }
    }

    public func move(project: String, service: String, to position: Position) throws {
        let snapshot = projects.withLock { projects -> [String: [String: Position]] in
            projects[project, default: [:]][service] = position
            return projects
        }
        guard let file else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try encoder.encode(snapshot).write(to: file, options: .atomic)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
    }
}
