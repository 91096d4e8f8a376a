import Foundation
import Testing
import YardClient
import YardCore

/// Issue 7, point 3's optional part: `yard environment new --with-data` starts the copy's
/// databases from the source's latest backup (real postgres and redis), with the copy's own
/// passwords and no link back; deleting the copy removes its backups' files. Also: the WAL
/// archive is pruned after a backup that is not scheduled.
@Suite("environment data end to end", .serialized)
struct EnvironmentDataEndToEndTests {
    static let project = "ed"

    /// Where a database service's live replica in `environment` listens, and its password.
    static func database(_ server: YardServer, _ environment: String, _ service: String) async throws -> BackupEndToEndTests.Database {
        let client = try server.client()
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let status = try await client.status(project: project, environment: environment)
            if let live = status.services.first(where: { $0.service.name == service })?.live,
                let replica = live.replicas.first, replica.status == .running
            {
                let password =
                    try await client.databaseConnection(.init(project: project, environment: environment, service: service)).password
                return BackupEndToEndTests.Database(host: replica.address ?? "127.0.0.1", port: replica.port, password: password)
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        throw YardError(.unavailable, "\(service) did not become live in \(environment)")
    }

    static func sql(_ server: YardServer, _ environment: String, _ statement: String) async throws -> String {
        var last = ""
        for _ in 0..<60 {
            let db = try await database(server, environment, "Postgres")
            let result = try BackupEndToEndTests.tool(
                "/usr/bin/psql", ["-h", db.host, "-p", String(db.port), "-U", "postgres", "-d", "railway", "-XAtc", statement],
                password: db.password, variable: "PGPASSWORD")
            if result.status == 0 { return result.out }
            last = result.err
            try await Task.sleep(for: .milliseconds(500))
        }
        throw YardError(.unavailable, "psql in \(environment) failed: \(last)")
    }

    static func redis(_ server: YardServer, _ environment: String, _ arguments: [String]) async throws -> String {
        let db = try await database(server, environment, "Redis")
        let result = try BackupEndToEndTests.tool(
            "/usr/bin/redis-cli", ["-h", db.host, "-p", String(db.port), "--no-auth-warning"] + arguments,
            password: db.password, variable: "REDISCLI_AUTH")
        try #require(result.status == 0, "redis-cli in \(environment) failed: \(result.err)")
        return result.out
    }

    static func backups(_ server: YardServer, _ folder: URL, _ environment: String, _ service: String) async throws -> [BackupView] {
        let listed = try await server.yard(["backup", "list", service, "-e", environment, "--json"], in: folder)
        try #require(listed.status == 0, "\(listed.output)")
        return try YardJSON.decoder().decode(BackupListView.self, from: Data(listed.stdout.utf8)).backups
    }

    /// Archived WAL segment names (24 hex digits) in a postgres volume.
    static func segments(_ archive: URL) -> Set<String> {
        Set(
            ((try? FileManager.default.contentsOfDirectory(atPath: archive.path)) ?? []).filter {
                $0.count == 24 && $0.allSatisfy(\.isHexDigit)
            })
    }

    @Test(
        "--with-data: staging starts from production's latest backup (taken first if none), own password, no link back; delete removes its backup files",
        .timeLimit(.minutes(12)))
    func withData() async throws {
        try DatabaseEndToEndTests.requireDatabases()
        for tool in ["pg_dump", "pg_restore", "pg_basebackup"] {
            try #require(
                FileManager.default.isExecutableFile(atPath: "/usr/bin/\(tool)"),
                "\(tool) is missing: apt-get install -y postgresql-client")
        }
        try await YardServer.with { server in
            let folder = try await server.prepareApp("db-client", project: Self.project)
            for kind in ["postgres", "redis"] {
                let added = try await server.yard(["add", "--database", kind], in: folder)
                try #require(added.status == 0, "\(added.output)\n\(server.serveLog)")
            }
            let productionPassword = try await Self.database(server, "production", "Postgres").password
            let productionRedisPassword = try await Self.database(server, "production", "Redis").password
            let client = try server.client()
            let services = try await client.status(project: Self.project, environment: "production").services
            let postgresID = try #require(services.first { $0.service.name == "Postgres" }?.service.id)
            let redisID = try #require(services.first { $0.service.name == "Redis" }?.service.id)

            // Production's data, and WAL segments archived before any backup exists.
            _ = try await Self.sql(server, "production", "CREATE TABLE items (v text); INSERT INTO items VALUES ('a'), ('b')")
            _ = try await Self.sql(server, "production", "SELECT pg_switch_wal()")
            _ = try await Self.sql(server, "production", "INSERT INTO items VALUES ('wal'); DELETE FROM items WHERE v = 'wal'")
            _ = try await Self.sql(server, "production", "SELECT pg_switch_wal()")
            #expect(try await Self.redis(server, "production", ["set", "k", "from-production"]) == "OK")
            let volumes = server.dataDirectory.appendingPathComponent("volumes")
            let archive = try #require(
                try FileManager.default.contentsOfDirectory(atPath: volumes.path).map {
                    volumes.appendingPathComponent($0).appendingPathComponent("wal-archive")
                }.first { FileManager.default.fileExists(atPath: $0.path) }, "production's postgres volume has a WAL archive")
            var early = Self.segments(archive)
            for _ in 0..<100 where early.count < 2 {
                try await Task.sleep(for: .milliseconds(200))
                early = Self.segments(archive)
            }
            try #require(early.count >= 2, "two WAL segments archived before the first backup: \(early)")

            // The copy with data: production has no backup yet, so one is taken first.
            let copying = ContinuousClock.now
            let created = try await server.yard(["environment", "new", "staging", "--with-data"], in: folder)
            print("environment new --with-data (backups taken, two servers started and filled) took \(ContinuousClock.now - copying)")
            try #require(created.status == 0, "\(created.output)\n\(YardServer.lastLines(of: server.serveLog, 40))")
            let productionBackups = try await Self.backups(server, folder, "production", "Postgres")
            let taken = try #require(productionBackups.first)
            #expect(productionBackups.count == 1 && taken.trigger == "copy" && taken.check == .passed, "\(productionBackups)")
            #expect(created.stdout.contains("Its database services were started"), "\(created.stdout)")
            #expect(
                created.stdout.contains("Postgres: restored from backup \(taken.id) taken at ")
                    && created.stdout.contains("(taken now: production had none)"), "\(created.stdout)")
            let redisTaken = try #require(try await Self.backups(server, folder, "production", "Redis").first)
            #expect(created.stdout.contains("Redis: restored from backup \(redisTaken.id) taken at "), "\(created.stdout)")

            // Staging has production's rows, under its own password; writes stay on their side.
            #expect(try await Self.sql(server, "staging", "SELECT string_agg(v, ',' ORDER BY v) FROM items") == "a,b")
            let stagingPassword = try await Self.database(server, "staging", "Postgres").password
            #expect(stagingPassword != productionPassword)
            let stagingDatabase = try await Self.database(server, "staging", "Postgres")
            let refused = try BackupEndToEndTests.tool(
                "/usr/bin/psql",
                ["-h", stagingDatabase.host, "-p", String(stagingDatabase.port), "-U", "postgres", "-d", "railway", "-XAtc", "SELECT 1"],
                password: productionPassword, variable: "PGPASSWORD")
            #expect(refused.status != 0, "production's password must not open staging's database")
            _ = try await Self.sql(server, "staging", "INSERT INTO items VALUES ('staging-only')")
            _ = try await Self.sql(server, "production", "INSERT INTO items VALUES ('production-later')")
            #expect(try await Self.sql(server, "production", "SELECT string_agg(v, ',' ORDER BY v) FROM items") == "a,b,production-later")
            #expect(try await Self.sql(server, "staging", "SELECT string_agg(v, ',' ORDER BY v) FROM items") == "a,b,staging-only")
            #expect(try await Self.redis(server, "staging", ["get", "k"]) == "from-production")
            #expect(try await Self.database(server, "staging", "Redis").password != productionRedisPassword)
            _ = try await Self.redis(server, "staging", ["set", "k", "from-staging"])
            #expect(try await Self.redis(server, "production", ["get", "k"]) == "from-production")

            // That backup was manual (not scheduled) and still pruned the archive back to its base backup.
            let late = Self.segments(archive)
            #expect(early.isDisjoint(with: late), "segments before the oldest backup are pruned: early \(early), now \(late)")

            // A second copy starts from the newest backup there is, and takes none.
            let manual = try await server.yard(["backup", "create", "Postgres"], in: folder)
            try #require(manual.status == 0, "\(manual.output)")
            let newest = try #require(try await Self.backups(server, folder, "production", "Postgres").first)
            #expect(newest.id != taken.id && newest.trigger == "manual")
            let qa = try await server.yard(["environment", "new", "qa", "--with-data"], in: folder)
            try #require(qa.status == 0, "\(qa.output)\n\(YardServer.lastLines(of: server.serveLog, 40))")
            #expect(qa.stdout.contains("Postgres: restored from backup \(newest.id) taken at "), "\(qa.stdout)")
            #expect(!qa.stdout.contains("taken now"), "\(qa.stdout)")
            #expect(try await Self.backups(server, folder, "production", "Postgres").count == 2)
            #expect(try await Self.sql(server, "qa", "SELECT string_agg(v, ',' ORDER BY v) FROM items") == "a,b,production-later")
            // Without --with-data nothing changed: an empty copy, nothing deployed.
            let plain = try await server.yard(["environment", "new", "dev"], in: folder)
            #expect(plain.status == 0 && plain.stdout.contains("Nothing is deployed in it yet"), "\(plain.output)")
            #expect(try await client.status(project: Self.project, environment: "dev").services.allSatisfy { $0.live == nil })
            let badFlags = try await server.yard(["environment", "new", "--pr", "3", "--branch", "x", "--with-data"], in: folder)
            #expect(badFlags.status != 0 && badFlags.stderr.contains("--with-data does not apply with --pr"), "\(badFlags.output)")

            // Staging's own backups are files beside production's; deleting staging removes its files only.
            for service in ["Postgres", "Redis"] {
                let made = try await server.yard(["backup", "create", service, "-e", "staging"], in: folder)
                try #require(made.status == 0, "\(made.output)")
            }
            let stagingBackups =
                try await Self.backups(server, folder, "staging", "Postgres") + Self.backups(server, folder, "staging", "Redis")
            let keptBackups =
                try await Self.backups(server, folder, "production", "Postgres") + Self.backups(server, folder, "production", "Redis")
            try #require(stagingBackups.count == 2 && keptBackups.count == 3)
            let backupsDirectory = server.dataDirectory.appendingPathComponent("backups")
            func files() -> [String] {
                [postgresID, redisID].flatMap { id in
                    ((try? FileManager.default.contentsOfDirectory(atPath: backupsDirectory.appendingPathComponent(id).path)) ?? [])
                }
            }
            let before = files()
            for backup in stagingBackups + keptBackups {
                #expect(before.contains { $0.hasPrefix("\(backup.id).") }, "\(backup.id) has files: \(before)")
            }
            let deleted = try await server.yard(["environment", "delete", "staging", "--yes"], in: folder)
            try #require(deleted.status == 0, "\(deleted.output)")
            #expect(deleted.stdout.contains("its 2 backups went with it, files included"), "\(deleted.stdout)")
            let after = files()
            for backup in stagingBackups {
                #expect(!after.contains { $0.hasPrefix("\(backup.id).") }, "staging's \(backup.id) left files: \(after)")
            }
            for backup in keptBackups {
                #expect(after.contains { $0.hasPrefix("\(backup.id).") }, "production's \(backup.id) lost its files: \(after)")
            }
            #expect(try await Self.sql(server, "production", "SELECT string_agg(v, ',' ORDER BY v) FROM items") == "a,b,production-later")

            for output in [created.output, qa.output, deleted.output, server.serveLog] {
                for secret in [productionPassword, stagingPassword, productionRedisPassword] {
                    #expect(!output.contains(secret), "a password leaked")
                }
            }
        }
    }
}
