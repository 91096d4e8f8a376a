import Foundation
import Testing
import YardControl
import YardCore
import YardRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// The start scripts of database services, run for real outside any sandbox: as the
/// unprivileged uid replicas use, on a folder standing in for the volume.
@Suite("database start scripts", .serialized)
struct DatabaseScriptTests {
    static let nobody: UInt32 = 65534

    /// A folder owned by nobody, like a volume.
    static func volume() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("yard-dbvol-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        if getuid() == 0 { _ = chown(folder.path, nobody, nobody) }
        // The temporary folder's parents must let nobody through.
        return folder
    }

    /// A running start script and its output, launched as the platform launches replicas
    /// (own session, default signal dispositions, whole-tree signals), as nobody when root.
    struct Server {
        var process: any LaunchedProcess
        var output: OutputRecorder
        var log: String { (output.lines(.stdout) + output.lines(.stderr)).joined(separator: "\n") }
    }

    static func start(_ kind: DatabaseKind, environment: [String: String]) async throws -> Server {
        let arguments = getuid() == 0
            ? ["/usr/bin/setpriv", "--reuid=\(nobody)", "--regid=\(nobody)", "--clear-groups", "/bin/sh", "-c", DatabaseScripts.startScript(for: kind)]
            : ["/bin/sh", "-c", DatabaseScripts.startScript(for: kind)]
        var env = ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp"]
        env.merge(environment) { _, new in new }
        // A replica's /tmp is its sandbox's own tmpfs; here, outside any sandbox, the script's
        // `mktemp` folders (MariaDB's sockets and first-start logs) go into the volume's
        // folder, which the test removes, not into the machine's /tmp.
        if let volume = environment["RAILWAY_VOLUME_MOUNT_PATH"] {
            let scratch = URL(fileURLWithPath: volume).appendingPathComponent(".tmp")
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            if getuid() == 0 { _ = chown(scratch.path, nobody, nobody) }
            env["TMPDIR"] = scratch.path
        }
        let output = OutputRecorder()
        let process = try await PlainProcessLauncher().launch(
            LaunchSpec(arguments: arguments, environment: env, workingDirectory: "/", label: kind.rawValue),
            output: output.handler)
        return Server(process: process, output: output)
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.environment = ["PATH": "/usr/bin:/bin"].merging(environment) { _, new in new }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func waitUntil(_ timeout: Duration = .seconds(60), _ condition: () throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    /// SIGTERM to the whole tree, as the platform stops a replica; how it ended, or nil if
    /// it was still running after 30 s (then SIGKILL).
    static func stop(_ server: Server) async -> ExitReason? {
        server.process.signal(SIGTERM)
        let ended = await withTaskGroup(of: ExitReason?.self) { group in
            group.addTask { await server.process.wait() }
            group.addTask {
                try? await Task.sleep(for: .seconds(30))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if ended == nil {
            server.process.signal(SIGKILL)
            _ = await server.process.wait()
        }
        return ended
    }

    /// Every process whose command line or environment holds `secret`.
    static func processesShowing(_ secret: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).compactMap { pid -> String? in
            for file in ["cmdline", "environ"] {
                if let data = FileManager.default.contents(atPath: "/proc/\(pid)/\(file)"),
                   String(decoding: data, as: UTF8.self).contains(secret)
                {
                    return "\(pid) \(file)"
                }
            }
            return nil
        }
    }

    @Test("postgres: initdb on first start, password auth from the network, fast shutdown on SIGTERM, data kept",
          .timeLimit(.minutes(3)))
    func postgres() async throws {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        try #require(!versions.isEmpty, "postgres is missing: apt-get install -y postgresql")
        let volume = try Self.volume()
        defer { try? FileManager.default.removeItem(at: volume) }
        let port = try PortAllocator.freePort()
        let password = DatabaseKind.makePassword()
        var environment = ["RAILWAY_VOLUME_MOUNT_PATH": volume.path]
        for variable in DatabaseKind.postgres.variables(host: "127.0.0.1", port: port, password: password) {
            environment[variable.key] = variable.value
        }
        let psql = { (sql: String, password: String) throws -> (status: Int32, output: String) in
            try Self.run(["/usr/bin/psql", "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "railway",
                          "-v", "ON_ERROR_STOP=1", "-tA", "-c", sql], environment: ["PGPASSWORD": password])
        }
        var server = try await Self.start(.postgres, environment: environment)
        let ready = try await Self.waitUntil { try psql("SELECT 1", password).status == 0 }
        let firstLog = server.log
        try #require(ready, "postgres did not start: \(firstLog)")
        #expect(firstLog.contains("database railway created"))
        #expect(try psql("CREATE TABLE notes (v text); INSERT INTO notes VALUES ('kept')", password).status == 0)
        let wrong = try psql("SELECT 1", "not-the-password")
        #expect(wrong.status != 0 && wrong.output.contains("password authentication failed"), "\(wrong.output)")
        #expect(Self.processesShowing(password).isEmpty, "the password shows in /proc: \(Self.processesShowing(password))")
        #expect(!FileManager.default.fileExists(atPath: volume.appendingPathComponent("pgdata/pwfile").path))

        let ended = await Self.stop(server)
        #expect(ended == .exited(code: 0), "postgres on SIGTERM: \(String(describing: ended))\n\(server.log)")
        #expect(server.log.contains("received fast shutdown request") && server.log.contains("database system is shut down"))
        server = try await Self.start(.postgres, environment: environment)
        let again = try await Self.waitUntil { try psql("SELECT 1", password).status == 0 }
        let secondLog = server.log
        try #require(again, "postgres did not start again: \(secondLog)")
        #expect(try psql("SELECT v FROM notes", password).output == "kept")
        #expect(!secondLog.contains("initializing a new database cluster"), "the second start must reuse the cluster")
        #expect(!secondLog.contains("not properly shut down"), "SIGTERM must be a clean shutdown: \(secondLog)")
        _ = await Self.stop(server)
    }

    @Test("redis: password required, append-only file in the volume, data kept across a restart",
          .timeLimit(.minutes(2)))
    func redis() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server"),
                     "redis-server is missing: apt-get install -y redis-server")
        let volume = try Self.volume()
        defer { try? FileManager.default.removeItem(at: volume) }
        let port = try PortAllocator.freePort()
        let password = DatabaseKind.makePassword()
        var environment = ["RAILWAY_VOLUME_MOUNT_PATH": volume.path]
        for variable in DatabaseKind.redis.variables(host: "127.0.0.1", port: port, password: password) {
            environment[variable.key] = variable.value
        }
        let cli = { (arguments: [String], password: String?) throws -> (status: Int32, output: String) in
            try Self.run(["/usr/bin/redis-cli", "-h", "127.0.0.1", "-p", String(port)] + arguments,
                         environment: password.map { ["REDISCLI_AUTH": $0] } ?? [:])
        }
        var server = try await Self.start(.redis, environment: environment)
        let ready = try await Self.waitUntil { try cli(["PING"], password).output == "PONG" }
        try #require(ready, "redis did not start: \(server.log)")
        #expect(try cli(["GET", "note"], nil).output.contains("NOAUTH"))
        #expect(try cli(["SET", "note", "kept"], password).output == "OK")
        #expect(Self.processesShowing(password).isEmpty, "the password shows in /proc: \(Self.processesShowing(password))")
        let ended = await Self.stop(server)
        #expect(ended == .exited(code: 0), "redis on SIGTERM: \(String(describing: ended))\n\(server.log)")
        let files = (try? FileManager.default.subpathsOfDirectory(atPath: volume.path)) ?? []
        #expect(files.contains { $0.contains("appendonly") }, "the append-only file is in the volume: \(files)")

        server = try await Self.start(.redis, environment: environment)
        let again = try await Self.waitUntil { try cli(["PING"], password).output == "PONG" }
        try #require(again, "redis did not start again: \(server.log)")
        #expect(try cli(["GET", "note"], password).output == "kept")
        _ = await Self.stop(server)
    }

    @Test("mysql (MariaDB): install-db and the bootstrap on first start, root only with the password, clean shutdown on SIGTERM, data kept",
          .timeLimit(.minutes(3)))
    func mysql() async throws {
        for (tool, package) in [("/usr/sbin/mariadbd", "mariadb-server"), ("/usr/bin/mysql", "mariadb-client")] {
            try #require(FileManager.default.isExecutableFile(atPath: tool), "\(tool) is missing: apt-get install -y \(package)")
        }
        let volume = try Self.volume()
        defer { try? FileManager.default.removeItem(at: volume) }
        let port = try PortAllocator.freePort()
        let password = DatabaseKind.makePassword()
        var environment = ["RAILWAY_VOLUME_MOUNT_PATH": volume.path]
        for variable in DatabaseKind.mysql.variables(host: "127.0.0.1", port: port, password: password) {
            environment[variable.key] = variable.value
        }
        let mysql = { (sql: String, password: String) throws -> (status: Int32, output: String) in
            try Self.run(["/usr/bin/mysql", "--protocol=TCP", "-h", "127.0.0.1", "-P", String(port), "-u", "root", "-N", "-B",
                          "railway", "-e", sql], environment: ["MYSQL_PWD": password])
        }
        var server = try await Self.start(.mysql, environment: environment)
        let ready = try await Self.waitUntil { try mysql("SELECT 1", password).status == 0 }
        let firstLog = server.log
        try #require(ready, "mariadb did not start: \(firstLog)")
        #expect(firstLog.contains("database railway created"))
        #expect(try mysql("CREATE TABLE notes (v TEXT); INSERT INTO notes VALUES ('kept')", password).status == 0)
        // mariadb-install-db's password-less root accounts (root@127.0.0.1, root@<hostname>) are gone.
        let empty = try mysql("SELECT 1", "")
        #expect(empty.status != 0 && empty.output.contains("Access denied"), "\(empty.output)")
        let wrong = try mysql("SELECT 1", "not-the-password")
        #expect(wrong.status != 0 && wrong.output.contains("Access denied"), "\(wrong.output)")
        #expect(try mysql("SELECT CONCAT(user, '@', host) FROM mysql.user WHERE user = 'root' ORDER BY host", password).output
            == "root@%\nroot@localhost")
        #expect(Self.processesShowing(password).isEmpty, "the password shows in /proc: \(Self.processesShowing(password))")

        let ended = await Self.stop(server)
        #expect(ended == .exited(code: 0), "mariadbd on SIGTERM: \(String(describing: ended))\n\(server.log)")
        #expect(server.log.contains("Shutdown complete"), "\(server.log)")
        server = try await Self.start(.mysql, environment: environment)
        let again = try await Self.waitUntil { try mysql("SELECT 1", password).status == 0 }
        let secondLog = server.log
        try #require(again, "mariadb did not start again: \(secondLog)")
        #expect(try mysql("SELECT v FROM notes", password).output == "kept")
        #expect(!secondLog.contains("initializing a new database"), "the second start must reuse the data directory")
        #expect(!secondLog.contains("crash recovery"), "SIGTERM must be a clean shutdown: \(secondLog)")
        _ = await Self.stop(server)
    }
}
