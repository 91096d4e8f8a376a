import Foundation
import YardCore
import YardRuntime
import YardStore

#if canImport(Glibc)
    import Glibc
#endif

/// Test-restores a backup into a throwaway server: a fresh postgres cluster (or redis) in
/// a temporary folder, run as the unprivileged sandbox user, reachable only through a
/// Unix socket in that folder, and removed afterwards. Returns what it found.
///
/// A backup holds what the tenant wrote (functions an index calls, `COPY … TO PROGRAM`),
/// so under the sandbox runtime the server runs boxed like a replica (`sandbox`): as the
/// service's uid, in its own pid/ipc/uts/network namespaces, read-only root, private
/// `/tmp`, the data directory hidden, only the scratch folder writable.
struct RestoreCheck {
    var kind: DatabaseKind
    /// The database the base backup's check counts tables in.
    var database = "railway"
    /// How the throwaway server is confined, given its scratch folder (the runtime's
    /// `confineTool`); the default is a plain process's (as root: nobody, unprivileged).
    var confine: @Sendable (String) throws -> ConfinedTool = { _ in .unprivileged() }

    func run(record: BackupRecord) async throws -> String {
        guard let path = record.path else { throw YardError(.internal, "backup \(record.id) has no file to check") }
        let scratch = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("yard-check-\(record.id)")
        try? FileManager.default.removeItem(at: scratch)
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let confinement = try confine(scratch.path)
        if let uid = confinement.uid { _ = chown(scratch.path, uid, uid) }
        _ = chmod(scratch.path, 0o700)
        defer { try? FileManager.default.removeItem(at: scratch) }
        switch kind {
        case .redis: return try await checkRedis(snapshot: path, scratch: scratch, prefix: confinement.prefix)
        default:
            var found = try await checkPostgres(dump: path, expectedTables: record.objects, scratch: scratch, prefix: confinement.prefix)
            if let base = record.basePath {
                found += "; " + (try await checkBaseBackup(base, scratch: scratch, prefix: confinement.prefix))
            }
            return found
        }
    }

    private func checkPostgres(dump: String, expectedTables: Int?, scratch: URL, prefix: [String]) async throws -> String {
        let environment = ["PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"]
        let data = scratch.appendingPathComponent("pgdata").path
        let initdb = try await ToolCommand(
            prefix + [
                PostgresTools.binary("initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
            ],
            environment: environment
        ).result()
        guard initdb.status == 0 else { throw YardError(.unavailable, "initdb of the throwaway server failed: \(initdb.standardError)") }
        let server = try ToolCommand.start(
            prefix + [
                PostgresTools.binary("postgres"), "-D", data, "-k", scratch.path, "-c", "listen_addresses=", "-p", "5432",
                "-c", "fsync=off",
            ],
            environment: environment, log: scratch.appendingPathComponent("server.log"))
        defer { ToolCommand.stop(server) }
        let socket = ["-h", scratch.path, "-p", "5432", "-U", "postgres"]
        try await Self.waitUntil(server, what: "the throwaway postgres") {
            try await ToolCommand([PostgresTools.binary("pg_isready")] + socket, environment: environment).result().status == 0
        }
        for step in [
            [PostgresTools.binary("psql")] + socket + ["-d", "postgres", "-XAtc", "CREATE DATABASE railway"],
            [PostgresTools.binary("pg_restore")] + socket + ["-d", "railway", "--no-owner", "--exit-on-error", dump],
        ] {
            let result = try await ToolCommand(step, environment: environment).result()
            guard result.status == 0 else {
                throw YardError(
                    .unavailable,
                    "\(URL(fileURLWithPath: step[0]).lastPathComponent) into a throwaway server failed: "
                        + result.standardError.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
        let count = try await ToolCommand(
            [PostgresTools.binary("psql")] + socket
                + [
                    "-d", "railway", "-XAtc", "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
                ],
            environment: environment
        ).result()
        guard count.status == 0, let tables = Int(count.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw YardError(.unavailable, "could not count the restored tables: \(count.standardError)")
        }
        if let expectedTables, tables != expectedTables {
            throw YardError(.unavailable, "the dump lists \(expectedTables) tables but \(tables) were restored")
        }
        return "\(tables) tables restored into a throwaway server"
    }

    /// The base backup a `--to` restore starts from: unpacked, the server must recover it
    /// to a consistent state from the WAL it holds and answer queries. Its own settings are
    /// overridden: no archiving (its command names the service's archive), no TCP, and a
    /// trust-only `hba_file` on the private socket.
    private func checkBaseBackup(_ base: String, scratch: URL, prefix: [String]) async throws -> String {
        let environment = ["PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"]
        let data = scratch.appendingPathComponent("base")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: false)
        let untar = try await ToolCommand("/usr/bin/tar", ["-xzf", base, "-C", data.path], environment: environment).result()
        guard untar.status == 0 else { throw YardError(.unavailable, "the base backup does not unpack: \(untar.standardError)") }
        let hba = scratch.appendingPathComponent("hba.conf")
        try Data("local all all trust\n".utf8).write(to: hba)
        try Orchestrator.giveToOwner(of: scratch, data)
        try Orchestrator.giveToOwner(of: scratch, hba)
        let server = try ToolCommand.start(
            prefix + [
                PostgresTools.binary("postgres"), "-D", data.path, "-k", scratch.path, "-c", "listen_addresses=", "-p", "5433",
                "-c", "archive_mode=off", "-c", "hba_file=\(hba.path)", "-c", "fsync=off",
            ],
            environment: environment, log: scratch.appendingPathComponent("base.log"))
        defer { ToolCommand.stop(server) }
        let socket = ["-h", scratch.path, "-p", "5433", "-U", "postgres"]
        try await Self.waitUntil(server, what: "the throwaway server recovering the base backup") {
            let ready = try await ToolCommand(
                [PostgresTools.binary("psql")] + socket + ["-d", PostgresTools.dbname(database), "-XAtc", "SELECT 1"],
                environment: environment
            ).result()
            return ready.status == 0
        }
        let count = try await ToolCommand(
            [PostgresTools.binary("psql")] + socket
                + ["-d", PostgresTools.dbname(database), "-XAtc", "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"],
            environment: environment
        ).result()
        guard count.status == 0, let tables = Int(count.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw YardError(.unavailable, "could not query the recovered base backup: \(count.standardError)")
        }
        return "the base backup recovers (\(tables) tables)"
    }

    private func checkRedis(snapshot: String, scratch: URL, prefix: [String]) async throws -> String {
        let copy = scratch.appendingPathComponent("dump.rdb")
        try FileManager.default.copyItem(atPath: snapshot, toPath: copy.path)
        try Orchestrator.giveToOwner(of: scratch, copy)
        let socket = scratch.appendingPathComponent("redis.sock").path
        let environment = ["PATH": "/usr/bin:/bin"]
        let server = try ToolCommand.start(
            prefix + [
                "/usr/bin/redis-server", "--port", "0", "--unixsocket", socket, "--dir", scratch.path,
                "--dbfilename", "dump.rdb", "--appendonly", "no", "--save", "",
            ],
            environment: environment, log: scratch.appendingPathComponent("server.log"))
        defer { ToolCommand.stop(server) }
        try await Self.waitUntil(server, what: "the throwaway redis (it loads the snapshot first)") {
            let ping = try await ToolCommand(["/usr/bin/redis-cli", "-s", socket, "ping"], environment: environment).result()
            return ping.standardOutput.contains("PONG")
        }
        let size = try await ToolCommand(["/usr/bin/redis-cli", "-s", socket, "dbsize"], environment: environment).result()
        guard let keys = Int(size.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw YardError(.unavailable, "the throwaway redis did not answer DBSIZE: \(size.standardError)")
        }
        return "\(keys) keys loaded into a throwaway server"
    }

    private static func waitUntil(_ server: ChildProcess, what: String, _ ready: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            guard server.isRunning else { throw YardError(.unavailable, "\(what) exited (status \(server.terminationStatus))") }
            if try await ready() { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw YardError(.unavailable, "\(what) did not answer within 60 s")
    }
}

/// The postgres client and server programs of the newest installed major version.
enum PostgresTools {
    /// The `-d` argument for database `name`: a conninfo string holding only `dbname`, quoted,
    /// so a name from a user variable (`PGDATABASE="host=… service=…"`) is never read as
    /// connection options by the tools run as root.
    static func dbname(_ name: String) -> String {
        "dbname='" + name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }

    static func binary(_ name: String) -> String {
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .compactMap(Int.init).sorted()
        for version in versions.reversed() {
            let path = "/usr/lib/postgresql/\(version)/bin/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return "/usr/bin/\(name)"
    }

    /// Tables in a custom-format dump, from its table of contents.
    static func tableCount(ofDump path: String) async throws -> Int {
        let listing = try await ToolCommand([binary("pg_restore"), "-l", path], environment: ["PATH": "/usr/bin:/bin"]).result()
        guard listing.status == 0 else { throw YardError(.unavailable, "pg_restore -l could not read the dump: \(listing.standardError)") }
        return tableCount(inListing: listing.standardOutput)
    }

    /// `215; 1259 16385 TABLE public items postgres` is a table; `TABLE DATA` lines are not.
    static func tableCount(inListing listing: String) -> Int {
        listing.split(separator: "\n").filter { line in
            guard !line.hasPrefix(";") else { return false }
            let words = line.split(separator: " ")
            return words.count > 4 && words[3] == "TABLE" && words[4] != "DATA"
        }.count
    }

    /// The first WAL segment a base backup needs, from its `backup_label`:
    /// `START WAL LOCATION: 0/2000028 (file 000000010000000000000002)`.
    static func startSegment(inBackupLabel label: String) -> String? {
        guard let line = label.split(separator: "\n").first(where: { $0.hasPrefix("START WAL LOCATION:") }),
            let open = line.range(of: "(file "), let close = line.range(of: ")", range: open.upperBound..<line.endIndex)
        else { return nil }
        let name = String(line[open.upperBound..<close.lowerBound])
        return name.count == 24 && name.allSatisfy(\.isHexDigit) ? name : nil
    }

    /// A moment as postgres reads it in `recovery_target_time`, in UTC with microseconds.
    static func timestamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss.SSSSSS"
        return formatter.string(from: date) + "+00"
    }
}

/// Runs a tool with its own environment (passwords go there, never in argv).
struct ToolCommand {
    var arguments: [String]
    var environment: [String: String]
    /// Written to the tool's stdin (through a private temporary file), for secrets.
    var input: String?

    init(_ executable: String, _ arguments: [String], environment: [String: String]) {
        self.arguments = [executable] + arguments
        self.environment = environment
    }

    init(_ arguments: [String], environment: [String: String]) {
        self.arguments = arguments
        self.environment = environment
    }

    struct Result {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    /// Runs it to completion; output goes to temporary files, so nothing has to drain pipes.
    func result() async throws -> Result {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("yard-tool-\(UUID().uuidString)")
        let out = scratch.appendingPathExtension("out")
        let err = scratch.appendingPathExtension("err")
        let inputFile = scratch.appendingPathExtension("in")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
            try? FileManager.default.removeItem(at: inputFile)
        }
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.environment = environment
        var handles: [FileHandle] = []
        // Ours are closed as soon as the tool has its copies.
        defer { for handle in handles { try? handle.close() } }
        if let input {
            FileManager.default.createFile(atPath: inputFile.path, contents: Data(input.utf8), attributes: [.posixPermissions: 0o600])
            handles.append(try FileHandle(forReadingFrom: inputFile))
            process.standardInput = handles.last
        } else {
            process.standardInput = nil
        }
        handles.append(try FileHandle(forWritingTo: out))
        process.standardOutput = handles.last
        handles.append(try FileHandle(forWritingTo: err))
        process.standardError = handles.last
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                continuation.resume(
                    throwing: YardError(
                        .unavailable, "\(arguments[0]) could not be started: \(error); is its package installed? (scripts/setup.sh)",
                        cause: error))
            }
        }
        return Result(
            status: status, standardOutput: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
            standardError: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    /// Starts a server in the background, its output into `log`.
    static func start(_ arguments: [String], environment: [String: String], log: URL) throws -> ChildProcess {
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    /// SIGINT (postgres's fast shutdown; redis exits on it too), then SIGKILL after 10 s.
    static func stop(_ process: ChildProcess) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGINT)
        for _ in 0..<100 where process.isRunning { usleep(100_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
