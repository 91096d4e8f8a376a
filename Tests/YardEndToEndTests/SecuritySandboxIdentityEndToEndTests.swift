import Foundation
import Testing
import YardClient
import YardCore
import YardRuntime

/// Issue 13, who a process is inside the box: each attack is performed by a hostile tenant
/// (`Fixtures/hostile-tenant`) against a real `yard serve` with the sandbox runtime, and
/// each must fail without changing anything outside the box.
@Suite("security: sandbox identity end to end", .serialized)
struct SecuritySandboxIdentityEndToEndTests {
    struct Facts: Decodable {
        var uid: Int
        var gid: Int
        var cap_eff: String
        var no_new_privs: String
        var volume_write: String?
        var shadow: String
        var root: String

        enum CodingKeys: String, CodingKey {
            case uid, gid, cap_eff, no_new_privs, volume_write
            case shadow = "/etc/shadow"
            case root = "/root"
        }
    }

    struct Attack: Decodable {
        var pid: Int
        var uid: [String]?
        var ptrace: String
        var environ: String
        var environ_text: String?
        var mem: String
        var terminal: String
        var tiocsti: String?
    }

    static let project = "hostile"

    static func host(_ service: String) -> String { "\(service)-\(project).localhost" }

    static func decode<T: Decodable>(_ type: T.Type, _ answer: (status: Int, body: String)) throws -> T {
        try #require(answer.status == 200, "HTTP \(answer.status): \(answer.body)")
        return try JSONDecoder().decode(T.self, from: Data(answer.body.utf8))
    }

    /// Runs a program and returns its status and output (stdout and stderr together).
    static func run(_ arguments: [String], environment: [String: String]? = nil, timeout: Duration = .seconds(120)) async throws
        -> (status: Int32, output: String)
    {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        if let environment { process.environment = environment }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("yard-e2e-out-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try handle.close()
        return (process.terminationStatus, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    /// The host pid of the process whose environment holds `HOSTILE_MARK=mark` (the app).
    static func appPID(mark: String) -> Int32? {
        let wanted = Data("HOSTILE_MARK=\(mark)".utf8)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for pid in entries.compactMap(Int32.init).sorted().reversed() {
            guard let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ"),
                environ.split(separator: 0).contains(where: { Data($0) == wanted }),
                let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                String(decoding: cmdline, as: UTF8.self).contains("server.py")
            else { continue }
            return pid
        }
        return nil
    }

    static func owner(of path: String) -> UInt32? {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_uid : nil
    }

    /// Drives `yard shell` from a pseudo-terminal, as an operator at a terminal would.
    static let ptyDriver = """
        import os, pty, select, sys, time
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(sys.argv[1], sys.argv[1:])
        time.sleep(1.0)
        os.write(fd, os.environ["SHELL_INPUT"].encode())
        out, deadline, status = b"", time.time() + 90, None
        while time.time() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.3)
            if ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                if data:
                    out += data
                    continue
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                status = code
                break
        sys.stdout.write(out.decode(errors="replace"))
        sys.stdout.write("\\nDRIVER-EXIT=%s\\n" % status)
        """

    @Test(
        "a hostile tenant cannot trace or feed yard shell, be host root with RAILWAY_RUN_UID=0, share a uid with another tenant or host nobody, or make folders in /etc",
        .timeLimit(.minutes(10)))
    func hostileTenant() async throws {
        try IsolationEndToEndTests.requireIsolation()
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"), "python3 is missing: apt-get install -y python3")
        let hostPath = "/etc/yard-e2e-\(UUID().uuidString.prefix(8).lowercased())"
        defer { _ = rmdir(hostPath + "/data"); _ = rmdir(hostPath) }  // only if an old binary made them
        let shadowBefore = try Data(contentsOf: URL(fileURLWithPath: "/etc/shadow"))
        try await YardServer.with { server in
            let folder = try await server.prepareApp("hostile-tenant", project: Self.project)
            let marks = ["tenant": "m\(UUID().uuidString.prefix(8))", "other": "o\(UUID().uuidString.prefix(8))",
                         "rooted": "r\(UUID().uuidString.prefix(8))"]
            for service in marks.keys.sorted() {
                let up = try await server.yard(["up", "--service", service], in: folder)
                try #require(up.status == 0, "\(up.output)\n\(YardServer.lastLines(of: server.serveLog, 40))")
            }
            for (service, mark) in marks.sorted(by: { $0.key < $1.key }) {
                var set = ["variables", "--service", service, "--set", "HOSTILE_MARK=\(mark)"]
                if service == "rooted" { set += ["--set", "RAILWAY_RUN_UID=0"] }
                let variables = try await server.yard(set, in: folder)
                try #require(variables.status == 0, "\(variables.output)")
            }

            // 13 (suspected): a volume in a system folder would be made on the host's root.
            let systemVolume = try await server.yard(["volume", "add", "--service", "tenant", "--mount", hostPath + "/data"], in: folder)
            #expect(systemVolume.status != 0, "a volume inside /etc is refused: \(systemVolume.output)")
            #expect(systemVolume.output.contains("system folder"), "\(systemVolume.output)")
            if systemVolume.status != 0 {
                let add = try await server.yard(["volume", "add", "--service", "tenant", "--mount", "/data"], in: folder)
                try #require(add.status == 0, "\(add.output)")
            }
            let rootVolume = try await server.yard(["volume", "add", "--service", "rooted", "--mount", "/data"], in: folder)
            try #require(rootVolume.status == 0, "\(rootVolume.output)")

            for service in marks.keys.sorted() {
                let redeploy = try await server.yard(["redeploy", "--service", service], in: folder)
                try #require(redeploy.status == 0, "\(redeploy.output)\n\(YardServer.lastLines(of: server.serveLog, 40))")
            }
            #expect(access(hostPath, F_OK) != 0, "nothing was created at \(hostPath) on the host")

            // 13.12: every service has its own host uid, and no host `nobody` reads a replica.
            let tenant = try Self.decode(Facts.self, try await server.get(host: Self.host("tenant"), path: "/facts"))
            let other = try Self.decode(Facts.self, try await server.get(host: Self.host("other"), path: "/facts"))
            #expect(tenant.uid != 0 && tenant.uid != 65534 && other.uid != 65534, "services do not run as nobody: \(tenant.uid), \(other.uid)")
            #expect(tenant.uid != other.uid, "two services never share a uid: both \(tenant.uid)")
            #expect(tenant.volume_write == "ok", "a service writes its own volume")
            let tenantPID = try #require(Self.appPID(mark: marks["tenant"]!), "the tenant's app process is on the host")
            let asNobody = try await Self.run([
                "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", "/bin/cat", "/proc/\(tenantPID)/environ",
            ])
            #expect(asNobody.status != 0 && !asNobody.output.contains("HOSTILE_MARK"),
                    "a host process as nobody cannot read a replica's environment: \(asNobody.output.prefix(200))")
            let asOther = try await Self.run([
                "/usr/bin/setpriv", "--reuid=\(other.uid)", "--regid=\(other.gid)", "--clear-groups", "--", "/bin/cat",
                "/proc/\(tenantPID)/environ",
            ])
            #expect(asOther.status != 0, "another tenant's uid cannot read it either")

            // 13.5: root in the box is root only in its user namespace.
            let rooted = try Self.decode(Facts.self, try await server.get(host: Self.host("rooted"), path: "/facts"))
            #expect(rooted.uid == 0, "RAILWAY_RUN_UID=0 is root inside")
            #expect(rooted.shadow != "read", "root inside cannot read the host's /etc/shadow: \(rooted.shadow)")
            #expect(rooted.root != "read", "nor list /root: \(rooted.root)")
            #expect(Int(rooted.cap_eff, radix: 16) == 0, "and has no capabilities: \(rooted.cap_eff)")
            #expect(rooted.volume_write == "ok", "it writes its volume")
            let volumes = server.dataDirectory.appendingPathComponent("volumes").path
            let rootedFile = ((try? FileManager.default.contentsOfDirectory(atPath: volumes)) ?? [])
                .map { "\(volumes)/\($0)/tenant.txt" }
                .first { (try? String(contentsOfFile: $0, encoding: .utf8)) == marks["rooted"] } ?? "(none)"
            let rootedOwner = Self.owner(of: rootedFile)
            #expect(rootedOwner != nil && rootedOwner != 0,
                    "what root inside writes belongs to an unprivileged host uid, not to root: \(String(describing: rootedOwner))")

            // 13.1: yard shell, under a terminal, while the app attacks every process it did not start.
            let input = "echo UID=$(id -u) NNP=$(grep NoNewPrivs /proc/self/status | cut -f2) ENC=$(env | grep -c __YARD_SANDBOX_ENV_) MARK=$HOSTILE_MARK; sleep 3; exit\n"
            var environment = server.environment
            environment["SHELL_INPUT"] = input
            environment["TERM"] = "dumb"
            let folderShell = try await Self.run(
                ["/usr/bin/env", "-C", folder.path, "/usr/bin/python3", "-c", Self.ptyDriver, YardServer.binary.path, "shell", "--service", "tenant"],
                environment: environment)
            let transcript = folderShell.output
            func value(_ name: String) -> String? {
                guard let range = transcript.range(of: "\(name)=[0-9A-Za-z]+", options: .regularExpression) else { return nil }
                return String(transcript[range].dropFirst(name.count + 1))
            }
            #expect(value("MARK") == marks["tenant"], "the shell sees the app's variables:\n\(transcript)")
            #expect(value("ENC") == "0", "and not the sandbox's encoded ones:\n\(transcript)")
            #expect(value("NNP") == "1", "the shell runs with no_new_privs:\n\(transcript)")
            let shellUID = try #require(value("UID").flatMap(Int.init), "the shell ran:\n\(transcript)")
            #expect(shellUID != tenant.uid && shellUID != 0, "the shell's uid is not the app's: \(shellUID)")

            let attacks = try Self.decode([Attack].self, try await server.get(host: Self.host("tenant"), path: "/attacks"))
            #expect(!attacks.isEmpty, "the app saw the shell's processes to attack them")
            for attack in attacks {
                #expect(attack.ptrace != "ok", "the app cannot ptrace the shell (pid \(attack.pid) uid \(attack.uid ?? []))")
                #expect(attack.environ != "ok", "nor read its environment: \(attack.environ_text?.prefix(120) ?? "")")
                #expect(attack.mem != "ok", "nor open its memory")
                #expect(attack.terminal != "ok", "nor open its terminal")
                #expect(attack.tiocsti == nil || attack.tiocsti != "ok", "nor push keystrokes into it")
            }
        }
        // Nothing outside the boxes changed.
        #expect(access(hostPath, F_OK) != 0, "\(hostPath) does not exist on the host")
        #expect(access("/tmp/yard-e2e-tiocsti", F_OK) != 0, "no injected command ran on the host")
        #expect(try Data(contentsOf: URL(fileURLWithPath: "/etc/shadow")) == shadowBefore)
    }

    /// 13.12: the backup's restore check restores what the tenant wrote. A function a CHECK
    /// constraint calls runs `COPY … TO PROGRAM` while the rows are loaded; it must run in a
    /// box, not as a host process.
    @Test("a tenant's dump cannot run a program on the host during the restore check", .timeLimit(.minutes(8)))
    func restoreCheckRunsBoxed() async throws {
        try IsolationEndToEndTests.requireIsolation()
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/psql"), "psql is missing: apt-get install -y postgresql")
        let marker = "/tmp/yard-e2e-restore-\(UUID().uuidString.prefix(8).lowercased())"
        defer { try? FileManager.default.removeItem(atPath: marker) }
        try await YardServer.with { server in
            // BackupEndToEndTests' helpers use project "bk".
            let folder = try await server.prepareApp("db-client", project: "bk")
            let added = try await server.yard(["add", "--database", "postgres"], in: folder)
            try #require(added.status == 0, "\(added.output)\n\(server.serveLog)")
            let statements = [
                "CREATE FUNCTION pwn(x int) RETURNS int LANGUAGE plpgsql AS $f$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''id > \(marker)'''; RETURN x; END $f$",
                "CREATE TABLE pwn (x int CHECK (pwn(x) = x))",
                "INSERT INTO pwn VALUES (1)",
            ]
            _ = try await BackupEndToEndTests.sql(server, "Postgres", statements.joined(separator: "; "))
            // The insert ran the program once, inside the database's own box: not on the host.
            #expect(!FileManager.default.fileExists(atPath: marker), "the database's own box keeps its /tmp")
            let created = try await server.yard(["backup", "create", "Postgres"], in: folder)
            try #require(created.status == 0, "\(created.output)\n\(YardServer.lastLines(of: server.serveLog, 30))")
            #expect(created.stdout.contains("restore check PASSED"), "the restore check still works: \(created.stdout)")
            #expect(!FileManager.default.fileExists(atPath: marker),
                    "the tenant's program ran on the host during the restore check: \((try? String(contentsOfFile: marker, encoding: .utf8)) ?? "")")
        }
    }

    @Test("--runtime auto as root refuses to start without bubblewrap instead of running apps as root", .timeLimit(.minutes(2)))
    func autoRuntimeFailsClosed() async throws {
        try IsolationEndToEndTests.requireIsolation()
        let server = try YardServer()
        defer { try? FileManager.default.removeItem(at: server.root) }
        // bubblewrap made unusable for this server only: /dev/null bound over it in a private mount namespace.
        let serve = [
            "/usr/bin/unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
            "mount --bind /dev/null /usr/bin/bwrap && exec \"$@\"", "sh",
            YardServer.binary.path, "serve", "--data-dir", server.dataDirectory.path, "--http-port", "0", "--api-port", "0",
            "--http-host", "127.0.0.1", "--https-port", "0", "--network-prefix", server.networkPrefix,
            "--private-network-octet", String(server.privateNetworkOctet),
        ]
        let result = try await Self.run(serve, environment: server.environment, timeout: .seconds(30))
        #expect(result.status != 0 && result.status != 15, "yard serve must not start: \(result.output)")
        #expect(result.output.contains("--runtime plain"), "it says how to run unsandboxed on purpose: \(result.output)")
        #expect(!result.output.contains("WARNING: replicas run as plain processes"), "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: server.dataDirectory.appendingPathComponent("serve.json").path),
                "no API came up")
    }
}
