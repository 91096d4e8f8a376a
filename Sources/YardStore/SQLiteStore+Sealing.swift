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
            sql: "INSERT INTO sealed_key_check (id, value) VALUES (1, ?)", arguments: [cipher.seal(SealedValueCipher.checkValue)])
        for row in try Row.fetchAll(db, sql: "SELECT rowid, value FROM variable WHERE sealed = 1 OR build_secret = 1") {
            let value: String = row["value"]
            guard !SealedValueCipher.isSealed(value) else { continue }
            try db.execute(sql: "UPDATE variable SET value = ? WHERE rowid = ?", arguments: [cipher.seal(value), row["rowid"] as Int64])
        }
        for row in try Row.fetchAll(db, sql: "SELECT rowid, value FROM shared_variable WHERE sealed = 1") {
            let value: String = row["value"]
            guard !SealedValueCipher.isSealed(value) else { continue }
            try db.execute(
                sql: "UPDATE shared_variable SET value = ? WHERE rowid = ?", arguments: [cipher.seal(value), row["rowid"] as Int64])
        }
        for row in try Row.fetchAll(db, sql: "SELECT id, variables FROM deployment WHERE variables IS NOT NULL") {
            let value: String = row["variables"]
            guard !SealedValueCipher.isSealed(value) else { continue }
            try db.execute(sql: "UPDATE deployment SET variables = ? WHERE id = ?", arguments: [cipher.seal(value), row["id"] as String])
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
        guard (try? cipher.open(stored)) == SealedValueCipher.checkValue else {
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
        clear.value = try cipher.open(record.value)
        return clear
    }

    /// A deployment's variable snapshot, sealed for the `deployment.variables` column.
    public func sealedSnapshot(_ variables: [String: String]) throws -> String {
        try cipher.seal(YardJSON.encodeString(variables))
    }

    /// The variables a deployment ran with, from its stored (sealed) snapshot; empty when it
    /// has none. A clear JSON snapshot (written before sealing) is read as it is.
    public func openSnapshot(_ stored: String?) throws -> [String: String] {
        guard let stored else { return [:] }
        let json = SealedValueCipher.isSealed(stored) ? try cipher.open(stored) : stored
        return try YardJSON.decode([String: String].self, from: json)
    }

    /// The clear values of every sealed variable of an environment (of its services and
    /// its shared ones), for masking them in logs.
    public func sealedValues(environmentID: String) throws -> [String] {
        let stored = try pool.read { db in
            try String.fetchAll(db, sql: "SELECT value FROM variable WHERE environment_id = ? AND sealed = 1", arguments: [environmentID])
                + String.fetchAll(
                    db, sql: "SELECT value FROM shared_variable WHERE environment_id = ? AND sealed = 1", arguments: [environmentID])
        }
        return try stored.map { SealedValueCipher.isSealed($0) ? try cipher.open($0) : $0 }
    }
}
