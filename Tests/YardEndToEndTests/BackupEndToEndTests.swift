import Foundation
import Testing
import YardClient
import YardCore
import YardRuntime

/// Issue 6, point 6: backups of database services that are known to restore — pg_dump,
/// point-in-time recovery from the WAL archive, restores into a new service, a schedule
/// driven by the fast clock whose backups are test-restored, and redis snapshots.
@Suite("database backups end to end", .serialized)
struct BackupEndToEndTests {
    /// Runs a client tool from the host against a database's private address, the password
    /// in the environment.
    static func tool(_ tool: String, _ arguments: [String], password: String, variable: String) throws -> (
        status: Int32, out: String, err: String
    ) {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.environment = ["PATH": "/usr/bin:/bin", variable: password]
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (
            process.terminationStatus, String(decoding: stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines),
            String(decoding: stderr, as: UTF8.self)
        )
    }

    struct Database {
        var host: String
        var port: Int
        var password: String
    }

    /// Where a database service's live replica listens, and its password; waits for it.
    static func database(_ server: YardServer, _ service: String) async throws -> Database {
        let client = try server.client()
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let status = try await client.status(project: "bk", environment: "production")
            if let live = status.services.first(where: { $0.service.name == service })?.live,
                let replica = live.replicas.first, replica.status == .running
            {
                let password = try await client.databaseConnection(.init(project: "bk", environment: "production", service: service)).password
                return Database(host: replica.address ?? "127.0.0.1", port: replica.port, password: password)
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        throw YardError(.unavailable, "\(service) did not become live")
    }

    /// Runs SQL against the service's `railway` database; retries while the server starts.
    static func sql(_ server: YardServer, _ service: String, _ statement: String) async throws -> String {
        var last = ""
        for _ in 0..<60 {
            let db = try await database(server, service)
            let result = try tool(
                "/usr/bin/psql", ["-h", db.host, "-p", String(db.port), "-U", "postgres", "-d", "railway", "-XAtc", statement],
                password: db.password, variable: "PGPASSWORD")
            if result.status == 0 { return result.out }
            last = result.err
            try await Task.sleep(for: .milliseconds(500))
        }
        throw YardError(.unavailable, "psql failed: \(last)")
    }

    static func redis(_ server: YardServer, _ arguments: [String]) async throws -> String {
        let db = try await database(server, "Redis")
        let result = try tool(
            "/usr/bin/redis-cli", ["-h", db.host, "-p", String(db.port), "--no-auth-warning"] + arguments,
            password: db.password, variable: "REDISCLI_AUTH")
        try #require(result.status == 0, "redis-cli failed: \(result.err)")
        return result.out
    }

    func list(_ server: YardServer, _ folder: URL, _ service: String) async throws -> BackupListView {
        let listed = try await server.yard(["backup", "list", service, "--json"], in: folder)
        try #require(listed.status == 0, "\(listed.output)")
        return try YardJSON.decoder().decode(BackupListView.self, from: Data(listed.stdout.utf8))
    }

    @Test(
        "postgres: restore to a backup, to a moment (PITR), into a new service; scheduled backups are test-restored; redis round trip; failures show in status",
        .timeLimit(.minutes(12)))
    func backupsRestore() async throws {
        try DatabaseEndToEndTests.requireDatabases()
        for tool in ["pg_dump", "pg_restore", "pg_basebackup"] {
            try #require(
                FileManager.default.isExecutableFile(atPath: "/usr/bin/\(tool)"), "\(tool) is missing: apt-get install -y postgresql-client"
            )
        }
        // A fake day lasts 10 s: the schedule fires without waiting for midnight.
        // The notification hook appends every event it gets to a file.
        let events = FileManager.default.temporaryDirectory.appendingPathComponent("yard-backup-events-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: events) }
        try await YardServer.with(serveArguments: ["--cron-time-scale", "8640", "--notify-command", "cat >> '\(events.path)'"]) { server in
            let folder = try await server.prepareApp("db-client", project: "bk")
            let added = try await server.yard(["add", "--database", "postgres"], in: folder)
            try #require(added.status == 0, "\(added.output)\n\(server.serveLog)")
            let password = try await Self.database(server, "Postgres").password

            // Rows, a backup, more rows and a table: restoring gives exactly the first rows.
            _ = try await Self.sql(server, "Postgres", "CREATE TABLE items (v text); INSERT INTO items VALUES ('a'), ('b')")
            let creating = ContinuousClock.now
            let created = try await server.yard(["backup", "create", "Postgres"], in: folder)
            print("backup create (pg_dump, pg_basebackup, restore check) took \(ContinuousClock.now - creating)")
            try #require(created.status == 0, "\(created.output)\n\(server.serveLog)")
            #expect(created.stdout.contains("SUCCEEDED") && created.stdout.contains("restore check PASSED"), "\(created.stdout)")
            #expect(created.stdout.contains("1 tables") && created.stdout.contains("point-in-time base"), "\(created.stdout)")
            let first = try #require(try await list(server, folder, "Postgres").backups.first)
            #expect(first.check == .passed && first.pointInTime && (first.sizeBytes ?? 0) > 0)
            #expect(first.checkReason?.contains("1 tables restored into a throwaway server") == true, "\(first.checkReason ?? "")")
            #expect(first.checkReason?.contains("the base backup recovers (1 tables)") == true, "\(first.checkReason ?? "")")
            _ = try await Self.sql(server, "Postgres", "INSERT INTO items VALUES ('c'); CREATE TABLE extra (n int)")

            let refused = try await server.yard(["backup", "restore", "Postgres"], in: folder)
            #expect(refused.status != 0 && refused.stderr.contains("--yes"), "\(refused.output)")
            #expect(try await Self.sql(server, "Postgres", "SELECT string_agg(v, ',' ORDER BY v) FROM items") == "a,b,c")
            let restored = try await server.yard(["backup", "restore", "Postgres", "--yes"], in: folder)
            try #require(restored.status == 0, "\(restored.output)\n\(server.serveLog)")
            #expect(try await Self.sql(server, "Postgres", "SELECT string_agg(v, ',' ORDER BY v) FROM items") == "a,b")
            #expect(try await Self.sql(server, "Postgres", "SELECT count(*) FROM pg_tables WHERE tablename = 'extra'") == "0")

            // PITR: row A, the moment T, row B; restoring to T keeps A and not B.
            _ = try await Self.sql(server, "Postgres", "INSERT INTO items VALUES ('pitr-A')")
            try await Task.sleep(for: .milliseconds(1500))
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            let moment = formatter.string(from: Date())
            try await Task.sleep(for: .milliseconds(1500))
            _ = try await Self.sql(server, "Postgres", "INSERT INTO items VALUES ('pitr-B')")
            let started = ContinuousClock.now
            let pitr = try await server.yard(["backup", "restore", "Postgres", "--to", moment, "--yes"], in: folder)
            try #require(pitr.status == 0, "\(pitr.output)\n\(server.serveLog)")
            print("PITR restore took \(ContinuousClock.now - started)")
            #expect(try await Self.sql(server, "Postgres", "SELECT string_agg(v, ',' ORDER BY v) FROM items") == "a,b,pitr-A")
            // The server runs normally again, same credentials, writable (promoted).
            #expect(try await Self.database(server, "Postgres").password == password)
            #expect(try await Self.sql(server, "Postgres", "SELECT pg_is_in_recovery()") == "f")
            _ = try await Self.sql(server, "Postgres", "INSERT INTO items VALUES ('after')")
            let badMoment = try await server.yard(["backup", "restore", "Postgres", "--to", "yesterday", "--yes"], in: folder)
            #expect(badMoment.status != 0 && badMoment.stderr.contains("is not a moment"), "\(badMoment.output)")
            let tooEarly = try await server.yard(["backup", "restore", "Postgres", "--to", "2020-01-01T00:00:00Z", "--yes"], in: folder)
            #expect(tooEarly.status != 0 && tooEarly.stderr.contains("no backup of Postgres finished before"), "\(tooEarly.output)")

            // Into a new service: its own credentials, the first backup's rows; the original untouched.
            let into = try await server.yard(["backup", "restore", "Postgres", "--backup", first.id, "--into", "PostgresCopy"], in: folder)
            try #require(into.status == 0, "\(into.output)\n\(server.serveLog)")
            #expect(try await Self.sql(server, "PostgresCopy", "SELECT string_agg(v, ',' ORDER BY v) FROM items") == "a,b")
            #expect(try await Self.sql(server, "Postgres", "SELECT string_agg(v, ',' ORDER BY v) FROM items") == "a,after,b,pitr-A")
            #expect(try await Self.database(server, "PostgresCopy").password != password)
            // A moment into a new service: the WAL replayed there, then its own password works.
            let pitrInto = try await server.yard(["backup", "restore", "Postgres", "--to", moment, "--into", "PostgresAtT"], in: folder)
            try #require(pitrInto.status == 0, "\(pitrInto.output)\n\(server.serveLog)")
            #expect(try await Self.database(server, "PostgresAtT").password != password)
            #expect(try await Self.sql(server, "PostgresAtT", "SELECT string_agg(v, ',' ORDER BY v) FROM items") == "a,b,pitr-A")
            #expect(try await Self.sql(server, "Postgres", "SELECT string_agg(v, ',' ORDER BY v) FROM items") == "a,after,b,pitr-A")

            // The schedule, on the fast clock: backups appear, test-restored; --keep 1 keeps one.
            let schedule = try await server.yard(["backup", "schedule", "daily", "Postgres", "--keep", "1"], in: folder)
            try #require(schedule.status == 0, "\(schedule.output)")
            #expect(schedule.stdout.contains("Schedule: daily, keeping 1"), "\(schedule.stdout)")
            var seen: [String] = []
            let deadline = ContinuousClock.now + .seconds(120)
            while seen.count < 2, ContinuousClock.now < deadline {
                let scheduled = try await list(server, folder, "Postgres").backups.filter { $0.trigger == "scheduled" }
                let finished = scheduled.filter { $0.status != .running && $0.check != .running }
                #expect(finished.count <= 1, "retention keeps one finished scheduled backup: \(finished.map(\.id))")
                if let newest = scheduled.first, newest.check == .passed, !seen.contains(newest.id) { seen.append(newest.id) }
                try await Task.sleep(for: .milliseconds(500))
            }
            try #require(seen.count == 2, "two scheduled backups with a passed restore check: \(seen)\n\(server.serveLog)")
            #expect(try await server.yard(["backup", "schedule", "off", "Postgres"], in: folder).status == 0)
            let afterSchedule = try await list(server, folder, "Postgres")
            #expect(afterSchedule.schedule == nil)
            #expect(!afterSchedule.backups.contains { $0.id == seen[0] }, "the older scheduled backup was pruned")
            #expect(afterSchedule.backups.contains { $0.id == first.id }, "manual backups are kept")
            let backupFiles = (FileManager.default.subpaths(atPath: server.dataDirectory.appendingPathComponent("backups").path) ?? [])
            #expect(!backupFiles.contains { $0.contains(seen[0]) }, "the pruned backup's files are gone: \(backupFiles)")
            let listing = try await server.yard(["backup", "list", "Postgres"], in: folder)
            #expect(listing.stdout.contains("scheduled") && listing.stdout.contains("restore check PASSED"), "\(listing.stdout)")

            // Redis: a snapshot, more writes, restore: the snapshot's data.
            let redisAdded = try await server.yard(["add", "--database", "redis"], in: folder)
            try #require(redisAdded.status == 0, "\(redisAdded.output)")
            #expect(try await Self.redis(server, ["set", "k", "v1"]) == "OK")
            let redisBackup = try await server.yard(["backup", "create", "Redis"], in: folder)
            try #require(redisBackup.status == 0, "\(redisBackup.output)\n\(server.serveLog)")
            #expect(redisBackup.stdout.contains("1 keys") && redisBackup.stdout.contains("restore check PASSED"), "\(redisBackup.stdout)")
            _ = try await Self.redis(server, ["set", "k", "v2"])
            _ = try await Self.redis(server, ["set", "k2", "x"])
            let redisRestore = try await server.yard(["backup", "restore", "Redis", "--yes"], in: folder)
            try #require(redisRestore.status == 0, "\(redisRestore.output)\n\(server.serveLog)")
            #expect(try await Self.redis(server, ["get", "k"]) == "v1")
            #expect(try await Self.redis(server, ["exists", "k2"]) == "0")
            // It keeps appending after the restore: a write survives a redeploy.
            _ = try await Self.redis(server, ["set", "k3", "kept"])
            #expect(try await server.yard(["redeploy", "--service", "Redis"], in: folder).status == 0)
            try await Task.sleep(for: .seconds(1))
            #expect(try await Self.redis(server, ["get", "k3"]) == "kept")

            // A failed backup is not silent: the command fails, list and status say so.
            #expect(try await server.yard(["down", "--service", "Redis"], in: folder).status == 0)
            try await Task.sleep(for: .seconds(2))
            let failed = try await server.yard(["backup", "create", "Redis"], in: folder)
            #expect(failed.status != 0 && failed.stderr.contains("not running"), "\(failed.output)")
            #expect(try await list(server, folder, "Redis").backups.first?.status == .failed)
            let status = try await server.yard(["status"], in: folder)
            #expect(status.stdout.contains("Redis: last backup FAILED at"), "\(status.stdout)")
            // …and the hook heard of it, with the service named.
            var heard = ""
            for _ in 0..<50 where !heard.contains("backup.failed") {
                try await Task.sleep(for: .milliseconds(100))
                heard = (try? String(contentsOf: events, encoding: .utf8)) ?? ""
            }
            #expect(heard.contains("\"event\":\"backup.failed\"") && heard.contains("\"serviceName\":\"Redis\""), "\(heard)")
            #expect(!heard.contains(password), "the password leaked into an event")

            for output in [created.output, restored.output, pitr.output, into.output, pitrInto.output, listing.output, server.serveLog] {
                #expect(!output.contains(password), "the password leaked")
            }
        }
    }
}
