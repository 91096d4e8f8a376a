import Foundation
import GRDB
import YardCore

/// Sealed values at rest: what is stored sealed, and the migration that seals the rows an
/// older data directory kept in clear.
extension SQLiteStore {
    /// Whether a variable's value is stored sealed: sealed variables and build secrets.
    static func storesSealed(sealed: Bool, buildSecret: Bool) -> Bool {
        sealed || buildSecret
    }

    /// Seals, in place, every value stored in clear that must not be: sealed variables
    /// (of services and shared), build secrets and deployments' variable snapshots; then
    /// records the key check. Part of migration `014_sealed_at_rest`.
    static func sealClearRows(_ db: Database, with cipher: SealedValueCipher) throws {
        try db.execute(sql: "CREATE TABLE sealed_key_check (id INTEGER PRIMARY KEY CHECK (id = 1), value TEXT NOT NULL)")
        try db.execute(
            sql: "INSERT INTO sealed_key_check (id, value) VALUES (1, ?)", arguments: [cipher.sealUnbound(SealedValueCipher.checkValue)])
        for row in try Row.fetchAll(db, sql: "SELECT rowid, value FROM variable WHERE sealed = 1 OR build_secret = 1") {
            let value: String = row["value"]
            guard !SealedValueCipher.isSealed(value) else { continue }
            try db.execute(sql: "UPDATE variable SET value = ? WHERE rowid = ?", arguments: [cipher.sealUnbound(value), row["rowid"] as Int64])
        }
        for row in try Row.fetchAll(db, sql: "SELECT rowid, value FROM shared_variable WHERE sealed = 1") {
            let value: String = row["value"]
            guard !SealedValueCipher.isSealed(value) else { continue }
            try db.execute(
                sql: "UPDATE shared_variable SET value = ? WHERE rowid = ?", arguments: [cipher.sealUnbound(value), row["rowid"] as Int64])
        }
        for row in try Row.fetchAll(db, sql: "SELECT id, variables FROM deployment WHERE variables IS NOT NULL") {
            let value: String = row["variables"]
            guard !SealedValueCipher.isSealed(value) else { continue }
            try db.execute(sql: "UPDATE deployment SET variables = ? WHERE id = ?", arguments: [cipher.sealUnbound(value), row["id"] as String])
        }
    }

    /// Seals every unbound (`yse1:`) value again, bound to its row (`SealedBinding`), so a
    /// value copied into another row stops opening. Migration `018_sealed_values_bound`.
    static func bindSealedValues(_ db: Database, with cipher: SealedValueCipher) throws {
        // The unbound bytes must not stay readable in the file's free pages (see 016).
        let secureDelete = try Int.fetchOne(db, sql: "PRAGMA secure_delete") ?? 0
        try db.execute(sql: "PRAGMA secure_delete = ON")
        defer { try? db.execute(sql: "PRAGMA secure_delete = \(secureDelete)") }
        func rebind(_ stored: String, _ binding: SealedBinding) throws -> String? {
            guard stored.hasPrefix(SealedValueCipher.unboundPrefix) else { return nil }
            return try cipher.seal(cipher.openUnbound(stored), for: binding)
        }
        for row in try Row.fetchAll(db, sql: "SELECT rowid, service_id, environment_id, key, value FROM variable") {
            let binding = SealedBinding.variable(serviceID: row["service_id"], environmentID: row["environment_id"], key: row["key"])
            if let bound = try rebind(row["value"], binding) {
                try db.execute(sql: "UPDATE variable SET value = ? WHERE rowid = ?", arguments: [bound, row["rowid"] as Int64])
            }
        }
        for row in try Row.fetchAll(db, sql: "SELECT rowid, environment_id, key, value FROM shared_variable") {
            if let bound = try rebind(row["value"], .sharedVariable(environmentID: row["environment_id"], key: row["key"])) {
                try db.execute(sql: "UPDATE shared_variable SET value = ? WHERE rowid = ?", arguments: [bound, row["rowid"] as Int64])
            }
        }
        for row in try Row.fetchAll(db, sql: "SELECT id, variables FROM deployment WHERE variables IS NOT NULL") {
            if let bound = try rebind(row["variables"], .deploymentVariables(deploymentID: row["id"])) {
                try db.execute(sql: "UPDATE deployment SET variables = ? WHERE id = ?", arguments: [bound, row["id"] as String])
            }
        }
        for row in try Row.fetchAll(db, sql: "SELECT project_id, secret FROM webhook_secret") {
            if let bound = try rebind(row["secret"], .webhookSecret(projectID: row["project_id"])) {
                try db.execute(sql: "UPDATE webhook_secret SET secret = ? WHERE project_id = ?", arguments: [bound, row["project_id"] as String])
            }
        }
        for row in try Row.fetchAll(db, sql: "SELECT id, value FROM sealed_key_check") {
            if let bound = try rebind(row["value"], .keyCheck) {
                try db.execute(sql: "UPDATE sealed_key_check SET value = ? WHERE id = ?", arguments: [bound, row["id"] as Int64])
            }
        }
    }

    /// Whether the database already holds values sealed with a key (migration 014 ran).
    static func hasSealedValues(_ pool: DatabasePool) throws -> Bool {
        try pool.read { db in
            try db.tableExists("sealed_key_check") && (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sealed_key_check") ?? 0) > 0
        }
    }

    /// Opens the key check with the loaded key: a wrong key fails here, at start, naming the file.
    static func checkKey(_ pool: DatabasePool, _ cipher: SealedValueCipher, directory: URL) throws {
        guard let stored = try pool.read({ db in try String.fetchOne(db, sql: "SELECT value FROM sealed_key_check WHERE id = 1") })
        else { return }
        guard (try? cipher.open(stored, for: .keyCheck)) == SealedValueCipher.checkValue else {
            throw YardError(
                .unavailable,
                "\(cipher.keyFile.path) is not the key the sealed variables in \(directory.appendingPathComponent("switchyard.sqlite").path) "
                    + "were encrypted with: restore the key file this data directory was created with")
        }
    }

    /// A variable as callers see it: sealed values opened when `revealing`.
    func revealed(_ record: VariableRecord, revealing: Bool) throws -> VariableRecord {
        guard revealing, Self.storesSealed(sealed: record.sealed, buildSecret: record.buildSecret),
            SealedValueCipher.isSealed(record.value)
        else { return record }
        var clear = record
        clear.value = try cipher.open(
            record.value, for: .variable(serviceID: record.serviceID, environmentID: record.environmentID, key: record.key))
        return clear
    }

    /// A deployment's variable snapshot, sealed for the `deployment.variables` column.
    public func sealedSnapshot(_ variables: [String: String], deploymentID: String) throws -> String {
        try cipher.seal(YardJSON.encodeString(variables), for: .deploymentVariables(deploymentID: deploymentID))
    }

    /// Another deployment's snapshot (a rollback's), sealed again for `deploymentID`'s row.
    public func resealedSnapshot(_ stored: String?, from sourceID: String, to deploymentID: String) throws -> String? {
        guard stored != nil else { return nil }
        return try sealedSnapshot(openSnapshot(stored, deploymentID: sourceID), deploymentID: deploymentID)
    }

    /// The variables a deployment ran with, from its stored (sealed) snapshot; empty when it
    /// has none. A clear JSON snapshot (written before sealing) is read as it is.
    public func openSnapshot(_ stored: String?, deploymentID: String) throws -> [String: String] {
        guard let stored else { return [:] }
        let json = SealedValueCipher.isSealed(stored) ? try cipher.open(stored, for: .deploymentVariables(deploymentID: deploymentID)) : stored
        do {
            return try YardJSON.decode([String: String].self, from: json)
        } catch {
            throw StoredValueError.unreadable(
                table: "deployment", row: "id \(deploymentID)",
                error: ColumnJSONError(column: "variables", type: [String: String].self, error: error))
        }
    }

    /// The clear values of every sealed variable of an environment (of its services and
    /// its shared ones), for masking them in logs.
    public func sealedValues(environmentID: String) throws -> [String] {
        let rows = try pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT service_id, key, value FROM variable WHERE environment_id = ? AND sealed = 1", arguments: [environmentID])
                .map { row in
                    (row["value"] as String, SealedBinding.variable(serviceID: row["service_id"], environmentID: environmentID, key: row["key"]))
                }
                + Row.fetchAll(
                    db, sql: "SELECT key, value FROM shared_variable WHERE environment_id = ? AND sealed = 1", arguments: [environmentID])
                .map { row in (row["value"] as String, SealedBinding.sharedVariable(environmentID: environmentID, key: row["key"])) }
        }
        return try rows.map { value, binding in SealedValueCipher.isSealed(value) ? try cipher.open(value, for: binding) : value }
    }
}
