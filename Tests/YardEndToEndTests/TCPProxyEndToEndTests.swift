import Foundation
import Testing
import YardClient
import YardCore
import YardRuntime

/// Issue 6, points 4 and 5: `yard domain --tcp` exposes a database's port on a host port,
/// its public URL works with the real clients from the host, and `yard connect` opens them.
@Suite("TCP proxy and yard connect end to end", .serialized)
struct TCPProxyEndToEndTests {
    /// Runs a client on the host (no shell), the password only in `environment`.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.environment = ["PATH": "/usr/bin:/bin", "HOME": "/tmp"].merging(environment) { _, new in new }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Retries `attempt` until it succeeds (a database may still be starting), for up to 60 s.
    static func eventually(_ attempt: () throws -> (status: Int32, output: String)) async throws -> (status: Int32, output: String) {
        let deadline = ContinuousClock.now + .seconds(60)
        var last = try attempt()
        while last.status != 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(300))
            last = try attempt()
        }
        return last
    }

    /// The host port in `yard domain --tcp` output: `tcp://127.0.0.1:PORT  → port N`.
    static func hostPort(in output: String) -> Int? {
        guard let range = output.range(of: #"tcp://127\.0\.0\.1:(\d+)"#, options: .regularExpression) else { return nil }
        return Int(output[range].split(separator: ":").last ?? "")
    }

    static func accepts(port: Int) -> Bool {
        let socket = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    @Test(
        "postgres and redis: the public URLs work with psql and redis-cli from the host, across a redeploy and a restart of yard serve; yard connect runs psql; removing the proxy closes the port",
        .timeLimit(.minutes(8)))
    func postgresAndRedis() async throws {
        try DatabaseEndToEndTests.requireDatabases()
        try await YardServer.with(serveArguments: ["--tcp-proxy-ports", "24100-24199"]) { server in
            let folder = try await server.prepareApp("db-client", project: "pub")
            for database in ["postgres", "redis"] {
                let added = try await server.yard(["add", "--database", database], in: folder)
                try #require(added.status == 0, "\(added.output)\n\(server.serveLog)")
            }
            // Before a proxy: nothing on the host reaches the database, and connect says what to run.
            let early = try await server.yard(["connect", "Postgres", "--", "-c", "select 1"], in: folder)
            #expect(early.status != 0 && early.stderr.contains("yard domain --tcp 5432 Postgres"), "\(early.output)")

            let proxy = try await server.yard(["domain", "--tcp", "5432", "Postgres"], in: folder)
            try #require(proxy.status == 0, "\(proxy.output)\n\(server.serveLog)")
            let pgPort = try #require(Self.hostPort(in: proxy.stdout), "\(proxy.stdout)")
            #expect((24100...24199).contains(pgPort) && proxy.stdout.contains("→ port 5432"), "\(proxy.stdout)")
            let redisProxy = try await server.yard(["domain", "--tcp", "6379", "--service", "Redis"], in: folder)
            try #require(redisProxy.status == 0, "\(redisProxy.output)")
            let redisPort = try #require(Self.hostPort(in: redisProxy.stdout), "\(redisProxy.stdout)")
            #expect(redisPort != pgPort)
            // Adding the same one again changes nothing.
            let again = try await server.yard(["domain", "--tcp", "5432", "Postgres", "--json"], in: folder)
            let views = try YardJSON.decoder().decode([TCPProxyView].self, from: Data(again.stdout.utf8))
            #expect(views == [TCPProxyView(host: "127.0.0.1", hostPort: pgPort, targetPort: 5432)])

            // The public URL is a sealed variable: listed as such, its value only where a replica gets it.
            let listed = try await server.yard(["variables", "--service", "Postgres"], in: folder)
            #expect(listed.stdout.contains("DATABASE_PUBLIC_URL=<sealed>"), "\(listed.stdout)")
            let client = try server.client()
            let pgScope = YardAPIClient.Scope(project: "pub", environment: "production", service: "Postgres")
            let pg = try await client.resolvedVariables(pgScope)
            #expect(pg["RAILWAY_TCP_PROXY_DOMAIN"] == "127.0.0.1" && pg["RAILWAY_TCP_PROXY_PORT"] == String(pgPort))
            #expect(pg["DATABASE_PUBLIC_URL"] == nil && pg["PGPASSWORD"] == nil, "sealed values came back: \(pg.keys.sorted())")
            // The user reads the public URL the one way there is: asked for by name.
            let pgConnection = try await client.databaseConnection(pgScope)
            let pgPassword = pgConnection.password
            let publicURL = try #require(pgConnection.publicURL)
            #expect(publicURL == "postgresql://postgres:\(pgPassword)@127.0.0.1:\(pgPort)/railway")
            let printed = try await server.yard(["connect", "Postgres", "--url"], in: folder)
            #expect(printed.status == 0 && printed.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == publicURL, "\(printed.output)")
            let rdConnection = try await client.databaseConnection(.init(project: "pub", environment: "production", service: "Redis"))
            let redisURL = try #require(rdConnection.publicURL)
            #expect(redisURL == "redis://default:\(rdConnection.password)@127.0.0.1:\(redisPort)")
            #expect(!listed.output.contains(pgPassword) && !proxy.output.contains(pgPassword))

            let select = try await Self.eventually { try Self.run(["/usr/bin/psql", publicURL, "-tA", "-c", "select 1"]) }
            #expect(select.status == 0 && select.output == "1", "psql through the proxy: \(select.output)\n\(server.serveLog)")
            let ping = try await Self.eventually { try Self.run(["/usr/bin/redis-cli", "-u", redisURL, "ping"]) }
            #expect(ping.output.hasSuffix("PONG"), "redis-cli through the proxy: \(ping.output)")
            let write = try Self.run([
                "/usr/bin/psql", publicURL, "-v", "ON_ERROR_STOP=1", "-c",
                "CREATE TABLE notes (v text); INSERT INTO notes VALUES ('from the host')",
            ])
            #expect(write.status == 0, "\(write.output)")

            // yard connect: psql with the credentials, arguments after -- passed through, no password in argv.
            let connect = try await server.yard(["connect", "Postgres", "--", "-tA", "-c", "select v from notes"], in: folder)
            #expect(
                connect.status == 0 && connect.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "from the host",
                "\(connect.output)")
            #expect(!connect.output.contains(pgPassword))
            let redisConnect = try await server.yard(["connect", "--service", "Redis", "--", "ping"], in: folder)
            #expect(redisConnect.status == 0 && redisConnect.stdout.contains("PONG"), "\(redisConnect.output)")
            let unknown = try await server.yard(["connect", "Nope"], in: folder)
            #expect(unknown.status != 0 && unknown.stderr.contains("no service 'Nope'"), "\(unknown.output)")

            // The proxy follows the replica through a redeploy, and comes back after a restart.
            let redeploy = try await server.yard(["redeploy", "--service", "Postgres"], in: folder)
            #expect(redeploy.status == 0, "\(redeploy.outputTail)")
            let afterRedeploy = try await Self.eventually {
                try Self.run(["/usr/bin/psql", publicURL, "-tA", "-c", "select v from notes"])
            }
            #expect(afterRedeploy.output == "from the host", "after a redeploy: \(afterRedeploy.output)")
            await server.stop()
            #expect(!Self.accepts(port: pgPort), "the port closes with yard serve")
            try await server.start()
            let afterRestart = try await Self.eventually { try Self.run(["/usr/bin/psql", publicURL, "-tA", "-c", "select v from notes"]) }
            #expect(afterRestart.output == "from the host", "after a restart of yard serve: \(afterRestart.output)\n\(server.serveLog)")
            let listing = try await server.yard(["domain", "--service", "Postgres"], in: folder)
            #expect(listing.stdout.contains("tcp://127.0.0.1:\(pgPort)"), "\(listing.stdout)")

            // Removing the proxy closes the port and drops the public URL.
            let removed = try await server.yard(["domain", "remove", "--tcp", "Postgres"], in: folder)
            #expect(removed.status == 0 && removed.stdout.contains("closed"), "\(removed.output)")
            #expect(!Self.accepts(port: pgPort), "the port still accepts connections after the proxy was removed")
            let refused = try Self.run(["/usr/bin/psql", publicURL, "-c", "select 1"])
            #expect(refused.status != 0)
            let after = try await server.client().resolvedVariables(pgScope)
            #expect(after["RAILWAY_TCP_PROXY_PORT"] == nil)
            #expect(try await server.client().databaseConnection(pgScope).publicURL == nil)
            #expect(try await server.yard(["variables", "--service", "Postgres"], in: folder).stdout.contains("DATABASE_PUBLIC_URL") == false)
            let twice = try await server.yard(["domain", "remove", "--tcp", "Postgres"], in: folder)
            #expect(twice.status != 0 && twice.stderr.contains("Postgres has no TCP proxy"), "\(twice.output)")
            #expect(Self.accepts(port: redisPort), "the other proxy stays")
            #expect(!server.serveLog.contains(pgPassword), "the password reached the server's log")
        }
    }

    @Test(
        "mysql: the mysql client from the host writes and reads through the proxy and yard connect; the data survives a redeploy",
        .timeLimit(.minutes(6)))
    func mysql() async throws {
        try DatabaseEndToEndTests.requireMySQL()
        try await YardServer.with(serveArguments: ["--tcp-proxy-ports", "24200-24299"]) { server in
            let folder = try await server.prepareApp("db-client", project: "mypub")
            let added = try await server.yard(["add", "--database", "mysql"], in: folder)
            try #require(added.status == 0, "\(added.output)\n\(server.serveLog)")
            let proxy = try await server.yard(["domain", "--tcp", "3306", "MySQL"], in: folder)
            try #require(proxy.status == 0, "\(proxy.output)")
            let port = try #require(Self.hostPort(in: proxy.stdout), "\(proxy.stdout)")
            let connection = try await server.client().databaseConnection(.init(project: "mypub", environment: "production", service: "MySQL"))
            let password = connection.password
            #expect(connection.publicURL == "mysql://root:\(password)@127.0.0.1:\(port)/railway")
            let listed = try await server.yard(["variables", "--service", "MySQL"], in: folder)
            #expect(listed.stdout.contains("MYSQL_PUBLIC_URL=<sealed>"), "\(listed.stdout)")

            let mysql = { (sql: String) throws -> (status: Int32, output: String) in
                try Self.run(
                    [
                        "/usr/bin/mysql", "--protocol=TCP", "-h", "127.0.0.1", "-P", String(port), "-u", "root", "-N", "-B",
                        "-e", sql, "railway",
                    ], environment: ["MYSQL_PWD": password])
            }
            let created = try await Self.eventually { try mysql("CREATE TABLE notes (v TEXT); INSERT INTO notes VALUES ('kept')") }
            #expect(created.status == 0, "mysql through the proxy: \(created.output)\n\(server.serveLog)")
            let connect = try await server.yard(["connect", "MySQL", "--", "-N", "-B", "-e", "SELECT v FROM notes"], in: folder)
            #expect(connect.status == 0 && connect.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "kept", "\(connect.output)")
            #expect(!connect.output.contains(password))

            let redeploy = try await server.yard(["redeploy", "--service", "MySQL"], in: folder)
            #expect(redeploy.status == 0, "\(redeploy.outputTail)")
            let read = try await Self.eventually { try mysql("SELECT v FROM notes") }
            #expect(read.output == "kept", "after a redeploy: \(read.output)")

            let removed = try await server.yard(["domain", "remove", "--tcp", "--service", "MySQL", "--port", "3306"], in: folder)
            #expect(removed.status == 0, "\(removed.output)")
            #expect(!Self.accepts(port: port))
            let connectAfter = try await server.yard(["connect", "MySQL"], in: folder)
            #expect(connectAfter.status != 0 && connectAfter.stderr.contains("yard domain --tcp 3306 MySQL"), "\(connectAfter.output)")
        }
    }
}
