import Foundation
import GRDB
import Testing
import YardCore

@testable import YardStore

/// Issue 14, item 5: migrations are registered in numeric order. Before, they were
/// registered in the order they shipped (…012, 014, 013, 007, 015…); a database migrated
/// that way, completely or up to any point, must keep working with the new order.
@Suite("migration order")
struct MigrationOrderTests {
    /// The registration order before issue 14.
    static let oldOrder = [
        "001_core", "002_isolation", "003_builds", "004_sleep_setting", "005_cron_runs", "006_domain_paths", "009_shared_variables",
        "010_variables_digest", "011_databases", "012_backups", "014_sealed_at_rest", "013_tcp_proxy", "007_git", "015_webhooks",
        "016_webhook_secret_sealed", "017_webhook_delivery", "018_sealed_values_bound",
    ]
    /// Migrations added after issue 14, in numeric order after the old ones.
    static let addedSince = ["019_service_image", "020_metrics_points", "021_alerts", "022_log_drains"]
    /// The tables those change.
    static let changedSince: Set<String> = ["service", "metrics_point", "alert_channel", "alert_rule", "alert_rule_service", "log_drain"]
    static let cipher = SealedValueCipher(keyBytes: Data(repeating: 7, count: 32), keyFile: URL(fileURLWithPath: "/nonexistent/sealed.key"))

    static func migrator(order: some Sequence<String>) -> DatabaseMigrator {
        let byName = Dictionary(uniqueKeysWithValues: Migrations.all(sealing: cipher).map { ($0.identifier, $0) })
        return Migrations.migrator(registering: order.map { byName[$0]! })
    }

    /// The schema, independent of the order objects were created in: each table's columns
    /// (by name), foreign keys and indexes, and every index's and trigger's SQL.
    static func schema(_ db: Database) throws -> [String] {
        var lines: [String] = []
        let objects = try Row.fetchAll(
            db, sql: "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
        for object in objects {
            let type: String = object["type"]
            let name: String = object["name"]
            guard type == "table" else {
                lines.append("\(type) \(name) on \(object["tbl_name"] as String): \(object["sql"] as String? ?? "")")
                continue
            }
            for column in try Row.fetchAll(
                db, sql: "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY name", arguments: [name])
            {
                lines.append("table \(name) column \(column)")
            }
            for key in try Row.fetchAll(
                db, sql: "SELECT \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list(?) ORDER BY \"from\"",
                arguments: [name])
            {
                lines.append("table \(name) foreign key \(key)")
            }
            for index in try Row.fetchAll(db, sql: "SELECT name, \"unique\", origin FROM pragma_index_list(?)", arguments: [name]) {
                let columns = try String.fetchAll(
                    db, sql: "SELECT name FROM pragma_index_info(?) ORDER BY seqno", arguments: [index["name"] as String])
                lines.append("table \(name) index unique=\(index["unique"] as Int) origin=\(index["origin"] as String) \(columns)")
            }
        }
        return lines.sorted()
    }

    static func masterSQL(_ db: Database) throws -> [String: String] {
        Dictionary(
            uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").map {
                ($0["name"] as String, $0["sql"] as String)
            })
    }

    @Test("the migrations are registered in numeric order, and a fresh database runs them in it")
    func freshDatabase() throws {
        let identifiers = Migrations.all(sealing: Self.cipher).map(\.identifier)
        #expect(identifiers == identifiers.sorted())
        #expect(Set(identifiers) == Set(Self.oldOrder + Self.addedSince), "a migration was added or removed: only the order may change")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-migrate-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        #expect(try store.appliedMigrations() == identifiers)
    }

    @Test("a database migrated in the old order, to its end or to any point in it, migrates with no error to the same schema")
    func oldOrderDatabases() throws {
        let fresh = try DatabaseQueue()
        try Self.migrator(order: Migrations.all(sealing: Self.cipher).map(\.identifier)).migrate(fresh)
        let (freshSchema, freshSQL) = try fresh.read { db in (try Self.schema(db), try Self.masterSQL(db)) }
        #expect(freshSchema.count > 100, "the schema comparison must see the tables")

        for count in 1...Self.oldOrder.count {
            let old = try DatabaseQueue()
            try Self.migrator(order: Self.oldOrder.prefix(count)).migrate(old)
            let before = try old.read { db in try Self.masterSQL(db) }

            try Migrations.migrator(sealing: Self.cipher).migrate(old)

            let (schema, sql, applied) = try old.read { db in
                (try Self.schema(db), try Self.masterSQL(db), try Migrations.migrator(sealing: Self.cipher).appliedIdentifiers(db))
            }
            let upTo = Self.oldOrder[count - 1]
            #expect(applied == Set(Self.oldOrder + Self.addedSince), "old order up to \(upTo)")
            #expect(schema == freshSchema, "old order up to \(upTo): \(Set(schema).symmetricDifference(freshSchema).sorted())")
            // The text SQLite keeps differs at most in the deployment table's column order:
            // 007 adds git_commit and 010 variables_digest, now one before the other.
            let differing = Set(freshSQL.keys).union(sql.keys).filter { freshSQL[$0] != sql[$0] }
            #expect(differing.isSubset(of: ["deployment"]), "old order up to \(upTo): \(differing.sorted())")
            if count == Self.oldOrder.count {
                // A database the old order migrated to its end: the new migrator changes only
                // what the migrations added since change.
                #expect(sql.filter { !Self.changedSince.contains($0.key) } == before.filter { !Self.changedSince.contains($0.key) })
                #expect(differing == ["deployment"])
            }
        }
    }

    @Test("a data directory from a version that had run 014 but not 013 and 007 opens, runs them, and keeps its data")
    func oldDataDirectoryWithGaps() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-migrate-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let cipher = try SealedValueCipher.load(directory: directory, mustExist: false)
        let byName = Dictionary(uniqueKeysWithValues: Migrations.all(sealing: cipher).map { ($0.identifier, $0) })
        let oldMigrator = Migrations.migrator(registering: Self.oldOrder.map { byName[$0]! })
        let buildResult =
            #"{"environment":{},"plan":{"buildCommands":[],"detectedFrom":"index.html","environment":{},"#
            + #""installCommands":[],"notes":[],"provider":"staticfile","secrets":[],"startCommand":"serve","toolchains":[]},"#
            + #""startCommand":"serve"}"#
        let settings =
            #"{"drainingSeconds":3,"healthcheckTimeout":300,"numReplicas":2,"overlapSeconds":0,"#
            + #""restartPolicyMaxRetries":10,"restartPolicyType":"ON_FAILURE","sleepApplication":false}"#
        do {
            let pool = try DatabasePool(path: directory.appendingPathComponent("switchyard.sqlite").path)
            try oldMigrator.migrate(pool, upTo: "012_backups")
            // Rows as that version wrote them: values in clear, before 014 sealed them.
            try pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO project (id, name, created_at) VALUES ('prj_1', 'shop', '2026-01-01 00:00:00.000');
                        INSERT INTO environment (id, project_id, name, created_at)
                            VALUES ('env_1', 'prj_1', 'production', '2026-01-01 00:00:00.000');
                        INSERT INTO service (id, project_id, name, build_overrides, deploy_overrides, created_at, resource_limits)
                            VALUES ('svc_1', 'prj_1', 'web', '{}', '{}', '2026-01-01 00:00:00.000', '{"memoryBytes":67108864}');
                        INSERT INTO variable (service_id, environment_id, key, value, sealed, updated_at)
                            VALUES ('svc_1', 'env_1', 'API_KEY', 'clear-secret', 1, '2026-01-01 00:00:00.000');
                        """)
                try db.execute(
                    sql: """
                        INSERT INTO deployment (id, service_id, environment_id, status, trigger, build_result, deploy_settings, variables,
                            created_at, updated_at, variables_digest)
                        VALUES ('dep_1', 'svc_1', 'env_1', 'SUCCESS', 'up', ?, ?, '{"API_KEY":"clear-secret"}',
                            '2026-01-01 00:00:00.000', '2026-01-01 00:00:00.000', 'd')
                        """,
                    arguments: [buildResult, settings])
            }
            try oldMigrator.migrate(pool, upTo: "014_sealed_at_rest")
            #expect(try pool.read { db in try oldMigrator.appliedMigrations(db) }.last == "014_sealed_at_rest")
            #expect(try pool.read { db in try db.columns(in: "deployment").map(\.name) }.contains("git_commit") == false)
        }

        let store = try SQLiteStore(directory: directory)
        #expect(try store.appliedMigrations() == (Self.oldOrder + Self.addedSince).sorted())
        #expect(try store.variables(serviceID: "svc_1", environmentID: "env_1").map(\.value) == ["clear-secret"])
        let deployment = try store.deployment(id: "dep_1")
        #expect(deployment.buildResult?.plan.provider == "staticfile")
        #expect(deployment.deploySettings?.numReplicas == 2)
        #expect(deployment.gitCommit == nil)
        #expect(try store.openSnapshot(deployment.variables, deploymentID: "dep_1") == ["API_KEY": "clear-secret"])
        #expect(try store.service(id: "svc_1").resourceLimits == ResourceLimits(memoryBytes: 67_108_864))
        // 007 and 013 ran after 014: their tables work.
        try store.linkBranch(serviceID: "svc_1", environmentID: "env_1", branch: "main")
        #expect(try store.linkedBranch(serviceID: "svc_1", environmentID: "env_1") == "main")
        try store.addTCPProxy(
            TCPProxyRecord(serviceID: "svc_1", environmentID: "env_1", targetPort: 5432, hostPort: 40_000, createdAt: Date()))
        #expect(try store.allTCPProxies().count == 1)
    }
}
