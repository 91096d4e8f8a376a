import Foundation
import Testing
import YardClient
import YardCore
import YardRuntime

/// Issue 6, point 1: `yard add --database` runs the real postgres and redis servers in their
/// own sandboxes on the environment's private network, with their data on a volume.
@Suite("database services end to end", .serialized)
struct DatabaseEndToEndTests {
    struct Answer: Decodable {
        var code: Int
        var out: String
        var err: String
    }

    /// Fails, with the command that fixes it, when the machine lacks a server or a client.
    static func requireDatabases() throws {
        try IsolationEndToEndTests.requireIsolation()
        let postgres = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        try #require(postgres.contains { FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/\($0)/bin/postgres") },
                     "the postgres server is missing: apt-get install -y postgresql (or run scripts/setup.sh)")
        for (tool, package) in [("/usr/bin/psql", "postgresql-client"), ("/usr/bin/redis-server", "redis-server"),
                                ("/usr/bin/redis-cli", "redis-tools")] {
            try #require(FileManager.default.isExecutableFile(atPath: tool), "\(tool) is missing: apt-get install -y \(package)")
        }
    }

    func answer(_ server: YardServer, _ host: String, _ path: String) async throws -> Answer {
        let reply = try await server.get(host: host, path: path)
        return try JSONDecoder().decode(Answer.self, from: Data(reply.body.utf8))
    }

    /// Polls until the app reads `expected` through a database (the database may still be
    /// starting after a restart of `yard serve`).
    func eventuallyReads(_ server: YardServer, _ host: String, _ path: String, _ expected: String) async throws -> Answer {
        let deadline = ContinuousClock.now + .seconds(60)
        var last = Answer(code: -1, out: "", err: "no answer")
        while ContinuousClock.now < deadline {
            if let reply = try? await answer(server, host, path) {
                last = reply
                if reply.code == 0 && reply.out == expected { return reply }
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        return last
    }

    /// Processes whose command line holds `secret`.
    static func commandLines(containing secret: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).compactMap { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let line = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return line.contains(secret) ? line : nil
        }
    }

    @Test("postgres and redis: an app writes over the private network; the data survives a redeploy and a restart of yard serve; passwords stay sealed",
          .timeLimit(.minutes(8)))
    func databasesKeepTheirData() async throws {
        try Self.requireDatabases()
        try await YardServer.with { server in
            let folder = try await server.prepareApp("db-client", project: "dbs")
            let postgres = try await server.yard(["add", "--database", "postgres"], in: folder)
            try #require(postgres.status == 0, "\(postgres.output)\n\(server.serveLog)")
            #expect(postgres.stdout.contains("service Postgres"), "\(postgres.stdout)")
            #expect(postgres.stdout.contains("postgres.railway.internal:5432"), "\(postgres.stdout)")
            #expect(postgres.stdout.contains("DATABASE_URL=<sealed>") && postgres.stdout.contains("PGPASSWORD=<sealed>"))
            #expect(postgres.stdout.contains("PGUSER=postgres") && postgres.stdout.contains("PGDATABASE=railway"))
            let redis = try await server.yard(["add", "--database", "redis"], in: folder)
            try #require(redis.status == 0, "\(redis.output)\n\(server.serveLog)")
            #expect(redis.stdout.contains("redis.railway.internal:6379") && redis.stdout.contains("REDIS_URL=<sealed>"))

            // The values exist (a replica gets them) but never come back through the CLI.
            let client = try server.client()
            let pgScope = YardAPIClient.Scope(project: "dbs", environment: "production", service: "Postgres")
            let pg = try await client.resolvedVariables(pgScope)
            #expect(pg["PGPASSWORD"] == nil && pg["DATABASE_URL"] == nil, "yard run's route returned sealed values: \(pg.keys.sorted())")
            #expect(pg["PGUSER"] == "postgres" && pg["PGHOST"] == "postgres.railway.internal", "\(pg.keys.sorted())")
            // Only `yard connect`'s route hands the password out.
            let pgPassword = try await client.databaseConnection(pgScope).password
            #expect(pgPassword.count == 32)
            let redisPassword = try await client.databaseConnection(.init(project: "dbs", environment: "production", service: "Redis")).password
            #expect(pgPassword != redisPassword)
            let listed = try await server.yard(["variables", "--service", "Postgres"], in: folder)
            #expect(listed.status == 0 && listed.stdout.contains("POSTGRES_PASSWORD=<sealed>"), "\(listed.output)")
            let listedJSON = try await server.yard(["variables", "--service", "postgres", "--json"], in: folder)
            #expect(listedJSON.status == 0)
            for output in [postgres.output, redis.output, listed.output, listedJSON.output] {
                #expect(!output.contains(pgPassword) && !output.contains(redisPassword), "a password leaked: \(output)")
            }

            let app = try await server.yard(
                ["variables", "--set", "DATABASE_URL=${{Postgres.DATABASE_URL}}", "--set", "REDIS_URL=${{Redis.REDIS_URL}}"],
                in: folder)
            try #require(app.status == 0, "\(app.output)")
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.outputTail)\n\(server.serveLog)")
            let host = "dbs-dbs.localhost"

            let pgWrite = try await answer(server, host, "/pg/write?value=kept")
            try #require(pgWrite.code == 0, "psql failed: \(pgWrite.err)")
            #expect(try await answer(server, host, "/pg/read").out == "kept")
            let redisWrite = try await answer(server, host, "/redis/write?value=kept")
            try #require(redisWrite.code == 0 && redisWrite.out == "OK", "redis-cli failed: \(redisWrite.err) \(redisWrite.out)")
            #expect(try await answer(server, host, "/redis/read").out == "kept")
            #expect(Self.commandLines(containing: pgPassword).isEmpty && Self.commandLines(containing: redisPassword).isEmpty,
                    "a password is visible in ps")

            let status = try await server.yard(["status"], in: folder)
            #expect(status.stdout.contains("Service Postgres (postgres database)"), "\(status.stdout)")
            #expect(status.stdout.contains("Service Redis (redis database)"), "\(status.stdout)")
            try await Self.exportsKubernetes(server, folder, passwords: [pgPassword, redisPassword])

            // A redeploy stops the old server before the new one opens the same volume.
            for service in ["Postgres", "Redis"] {
                let redeploy = try await server.yard(["redeploy", "--service", service], in: folder)
                #expect(redeploy.status == 0, "\(redeploy.outputTail)")
            }
            #expect(try await eventuallyReads(server, host, "/pg/read", "kept").out == "kept")
            #expect(try await eventuallyReads(server, host, "/redis/read", "kept").out == "kept")
            #expect(try await answer(server, host, "/pg/write?value=more").code == 0)

            await server.stop()
            try await server.start()
            let afterRestart = try await eventuallyReads(server, host, "/pg/read", "kept,more")
            #expect(afterRestart.out == "kept,more", "postgres after a restart of yard serve: \(afterRestart.err)")
            let redisAfter = try await eventuallyReads(server, host, "/redis/read", "kept")
            #expect(redisAfter.out == "kept", "redis after a restart of yard serve: \(redisAfter.err)")

            // Fast shutdown, not a crash: the server did not need recovery.
            let logs = try await server.yard(["logs", "--service", "Postgres"], in: folder)
            #expect(!logs.stdout.contains("not properly shut down"), "\(logs.stdout)")
            #expect(!server.serveLog.contains(pgPassword) && !logs.output.contains(pgPassword))

            // A database takes no upload, and unknown kinds are refused with the choices.
            let upload = try await server.yard(["up", "--service", "Postgres"], in: folder)
            #expect(upload.status != 0 && upload.stderr.contains("database service"), "\(upload.output)")
            let mongo = try await server.yard(["add", "--database", "mongo"], in: folder)
            #expect(mongo.status != 0 && mongo.stderr.contains("postgres, redis or mysql"), "\(mongo.output)")
        }
    }

    /// Fails, with the command that fixes it, when MariaDB's server or client is missing.
    static func requireMySQL() throws {
        try IsolationEndToEndTests.requireIsolation()
        for (tool, package) in [("/usr/sbin/mariadbd", "mariadb-server"), ("/usr/bin/mysql", "mariadb-client")] {
            try #require(FileManager.default.isExecutableFile(atPath: tool), "\(tool) is missing: apt-get install -y \(package)")
        }
    }

    @Test("mysql: MariaDB on the private network; an app writes and reads; the data survives a redeploy and a restart of yard serve; the password stays sealed",
          .timeLimit(.minutes(6)))
    func mysqlKeepsItsData() async throws {
        try Self.requireMySQL()
        try await YardServer.with { server in
            let folder = try await server.prepareApp("db-client", project: "my")
            let mysql = try await server.yard(["add", "--database", "mysql"], in: folder)
            try #require(mysql.status == 0, "\(mysql.output)\n\(server.serveLog)")
            #expect(mysql.stdout.contains("service MySQL"), "\(mysql.stdout)")
            #expect(mysql.stdout.contains("mysql.railway.internal:3306"), "\(mysql.stdout)")
            for sealed in ["MYSQLPASSWORD", "MYSQL_ROOT_PASSWORD", "MYSQL_URL"] {
                #expect(mysql.stdout.contains("\(sealed)=<sealed>"), "\(sealed): \(mysql.stdout)")
            }
            #expect(mysql.stdout.contains("MYSQLUSER=root") && mysql.stdout.contains("MYSQLDATABASE=railway"))
            let myScope = YardAPIClient.Scope(project: "my", environment: "production", service: "MySQL")
            let values = try await server.client().resolvedVariables(myScope)
            #expect(values["MYSQLPASSWORD"] == nil && values["MYSQL_URL"] == nil && values["MYSQLUSER"] == "root", "\(values.keys.sorted())")
            let password = try await server.client().databaseConnection(myScope).password
            #expect(password.count >= 16)
            #expect(!mysql.output.contains(password))

            let app = try await server.yard(["variables", "--set", "MYSQL_URL=${{MySQL.MYSQL_URL}}"], in: folder)
            try #require(app.status == 0, "\(app.output)")
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.outputTail)\n\(server.serveLog)")
            let host = "my-my.localhost"
            let write = try await answer(server, host, "/mysql/write?value=kept")
            try #require(write.code == 0, "mysql failed: \(write.err)")
            #expect(try await answer(server, host, "/mysql/read").out == "kept")
            #expect(Self.commandLines(containing: password).isEmpty, "the password is visible in ps")

            let redeploy = try await server.yard(["redeploy", "--service", "MySQL"], in: folder)
            #expect(redeploy.status == 0, "\(redeploy.outputTail)")
            #expect(try await eventuallyReads(server, host, "/mysql/read", "kept").out == "kept")
            #expect(try await answer(server, host, "/mysql/write?value=more").code == 0)

            await server.stop()
            try await server.start()
            let afterRestart = try await eventuallyReads(server, host, "/mysql/read", "kept,more")
            #expect(afterRestart.out == "kept,more", "mysql after a restart of yard serve: \(afterRestart.err)")

            let logs = try await server.yard(["logs", "--service", "MySQL"], in: folder)
            #expect(!logs.stdout.contains("crash recovery"), "the redeploy and the restart shut mariadbd down cleanly: \(logs.stdout)")
            #expect(!server.serveLog.contains(password) && !logs.output.contains(password))
        }
    }
}

extension DatabaseEndToEndTests {
    /// `yard export kubernetes` of the deployed environment: kubernetes-validate --strict
    /// passes it, the databases come with their claims, and no password is in the file.
    static func exportsKubernetes(_ server: YardServer, _ folder: URL, passwords: [String]) async throws {
        let validator = YardServer.packageRoot.appendingPathComponent(".build-tools/kubernetes/bin/kubernetes-validate").path
        try #require(
            FileManager.default.isExecutableFile(atPath: validator),
            "kubernetes-validate is missing: run scripts/setup.sh (it installs it into .build-tools/kubernetes)")
        let file = folder.appendingPathComponent("k8s.yaml")
        let export = try await server.yard(["export", "kubernetes", "-o", file.path, "--registry", "registry.test/dbs"], in: folder)
        try #require(export.status == 0, "\(export.output)")
        for object in ["Namespace/dbs-production", "Deployment/dbs", "Service/dbs", "Deployment/postgres", "Service/postgres",
                       "PersistentVolumeClaim/postgres-postgres-volume", "Deployment/redis", "NetworkPolicy/isolate-environment"] {
            #expect(export.stdout.contains("  \(object)\n"), "\(object) missing: \(export.stdout)")
        }
        #expect(export.stdout.contains("note: Secret dbs-variables: keys DATABASE_URL, REDIS_URL"), "\(export.stdout)")
        let yaml = try String(contentsOf: file, encoding: .utf8)
        #expect(yaml.contains("\"docker.io/library/postgres:15\"") && yaml.contains("image: \"registry.test/dbs/dbs:"), "\(yaml)")
        for password in passwords { #expect(!yaml.contains(password) && !export.output.contains(password), "a password is in the export") }
        let validated = try await SystemCommand(validator, ["--strict", "--quiet", file.path]).result()
        #expect(validated.status == 0, "kubernetes-validate: \(validated.standardOutput)\(validated.standardError)")
    }
}
