import Foundation
import GRDB
import YardCore

extension SQLiteStore {
    /// The project's webhook secret, if one was generated.
    public func webhookSecret(projectID: String) throws -> String? {
        try pool.read { db in
            try String.fetchOne(db, sql: "SELECT secret FROM webhook_secret WHERE project_id = ?", arguments: [projectID])
        }
    }

    /// Stores a new webhook secret for the project, replacing any earlier one.
    public func setWebhookSecret(projectID: String, secret: String) throws {
        try write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO webhook_secret (project_id, secret, created_at) VALUES (?, ?, ?)",
                arguments: [projectID, secret, Date()])
        }
    }
}
