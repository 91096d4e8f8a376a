import Foundation
import GRDB
import YardCore

/// A service's log drain, its URL opened.
public struct LogDrainRecord: Sendable, Equatable {
    public var id: String
    public var projectID: String
    public var serviceID: String
    public var environmentID: String
    /// `syslog` or `http`.
    public var kind: String
    public var url: String

    public init(id: String, projectID: String, serviceID: String, environmentID: String, kind: String, url: String) {
        self.id = id
        self.projectID = projectID
        self.serviceID = serviceID
        self.environmentID = environmentID
        self.kind = kind
        self.url = url
    }
}

extension SQLiteStore {
    /// Migration `021_log_drains_alerts20`.
    static func createLogDrainTable(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE log_drain (
                    id TEXT PRIMARY KEY,
                    project_id TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                    service_id TEXT NOT NULL REFERENCES service(id) ON DELETE CASCADE,
                    environment_id TEXT NOT NULL REFERENCES environment(id) ON DELETE CASCADE,
                    kind TEXT NOT NULL,
                    url TEXT NOT NULL,
                    created_at DATETIME NOT NULL
                )
                """)
    }

    /// Stores a drain, its URL sealed (an HTTP drain's URL often holds a token).
    public func createLogDrain(_ drain: LogDrainRecord) throws {
        let url = try cipher.seal(drain.url, for: .logDrainURL(drainID: drain.id))
        try write { db in
            try db.execute(
                sql: "INSERT INTO log_drain (id, project_id, service_id, environment_id, kind, url, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [drain.id, drain.projectID, drain.serviceID, drain.environmentID, drain.kind, url, Date()])
        }
    }

    /// Every drain, or a project's.
    public func logDrains(projectID: String? = nil) throws -> [LogDrainRecord] {
        let rows = try pool.read { db -> [Row] in
            if let projectID {
                return try Row.fetchAll(db, sql: "SELECT * FROM log_drain WHERE project_id = ? ORDER BY created_at, id", arguments: [projectID])
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM log_drain ORDER BY created_at, id")
        }
        return try rows.map { row in
            let id: String = row["id"]
            return LogDrainRecord(
                id: id, projectID: row["project_id"], serviceID: row["service_id"], environmentID: row["environment_id"], kind: row["kind"],
                url: try cipher.open(row["url"], for: .logDrainURL(drainID: id)))
        }
    }

    public func deleteLogDrain(id: String) throws {
        try write { db in try db.execute(sql: "DELETE FROM log_drain WHERE id = ?", arguments: [id]) }
    }
}
