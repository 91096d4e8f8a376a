import Foundation
import GRDB
import YardCore

extension SQLiteStore {
    /// The project's webhook secret in clear, if one was generated: only to check a
    /// delivery's signature. It is stored sealed, like a sealed variable.
    public func webhookSecret(projectID: String) throws -> String? {
        let stored = try pool.read { db in
            try String.fetchOne(db, sql: "SELECT secret FROM webhook_secret WHERE project_id = ?", arguments: [projectID])
        }
        guard let stored else { return nil }
        // A clear one (written before 016) is read as it is; that migration seals them.
        return SealedValueCipher.isSealed(stored) ? try cipher.open(stored, for: .webhookSecret(projectID: projectID)) : stored
    }

    /// Whether the project has a webhook secret (opens nothing).
    public func hasWebhookSecret(projectID: String) throws -> Bool {
        try pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM webhook_secret WHERE project_id = ?)", arguments: [projectID])
                ?? false
        }
    }

    /// Stores a new webhook secret for the project, sealed, replacing any earlier one.
    public func setWebhookSecret(projectID: String, secret: String) throws {
        let sealed = try cipher.seal(secret, for: .webhookSecret(projectID: projectID))
        try write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO webhook_secret (project_id, secret, created_at) VALUES (?, ?, ?)",
                arguments: [projectID, sealed, Date()])
        }
    }

    /// How many deliveries per project are remembered: replays of older ones are not caught.
    public static let rememberedWebhookDeliveries = 10_000

    /// Records a delivery whose signature matched; false (and nothing written) when its id or
    /// its body was seen before, i.e. a replay. The oldest rows beyond the bound are dropped.
    public func recordWebhookDelivery(projectID: String, deliveryID: String, bodyDigest: String) throws -> Bool {
        try write { db in
            let seen =
                try Bool.fetchOne(
                    db,
                    sql: "SELECT EXISTS (SELECT 1 FROM webhook_delivery WHERE project_id = ? AND (delivery_id = ? OR body_digest = ?))",
                    arguments: [projectID, deliveryID, bodyDigest]) ?? false
            guard !seen else { return false }
            try db.execute(
                sql: "INSERT INTO webhook_delivery (project_id, delivery_id, body_digest, received_at) VALUES (?, ?, ?, ?)",
                arguments: [projectID, deliveryID, bodyDigest, Date()])
            try db.execute(
                sql: """
                    DELETE FROM webhook_delivery WHERE project_id = ? AND rowid NOT IN (
                        SELECT rowid FROM webhook_delivery WHERE project_id = ? ORDER BY received_at DESC, rowid DESC LIMIT ?)
                    """,
                arguments: [projectID, projectID, Self.rememberedWebhookDeliveries])
            return true
        }
    }

    /// Forgets a delivery whose handling failed, so GitHub's redelivery of it (after the
    /// branch is pushed, say) is accepted.
    public func forgetWebhookDelivery(projectID: String, deliveryID: String) throws {
        try write { db in
            try db.execute(
                sql: "DELETE FROM webhook_delivery WHERE project_id = ? AND delivery_id = ?", arguments: [projectID, deliveryID])
        }
    }

    /// Seals, in place, the webhook secrets migration `015_webhooks` stored in clear. Part of
    /// migration `016_webhook_secret_sealed`.
    static func sealClearWebhookSecrets(_ db: Database, with cipher: SealedValueCipher) throws {
        // An updated row's old bytes would stay in the page's free space, readable in the
        // file; secure_delete (on by default in some builds, e.g. Debian's) overwrites them with zeros.
        let secureDelete = try Int.fetchOne(db, sql: "PRAGMA secure_delete") ?? 0
        try db.execute(sql: "PRAGMA secure_delete = ON")
        defer { try? db.execute(sql: "PRAGMA secure_delete = \(secureDelete)") }
        for row in try Row.fetchAll(db, sql: "SELECT project_id, secret FROM webhook_secret") {
            let secret: String = row["secret"]
            guard !SealedValueCipher.isSealed(secret) else { continue }
            try db.execute(
                sql: "UPDATE webhook_secret SET secret = ? WHERE project_id = ?",
                arguments: [cipher.sealUnbound(secret), row["project_id"] as String])
        }
    }
}
