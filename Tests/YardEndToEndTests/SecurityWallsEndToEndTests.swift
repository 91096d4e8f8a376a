import Foundation
import Testing
import YardClient
import YardCore
import YardRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 13's walls (items 6-9), attacked from inside real boxes of one `yard serve` shared by
/// the suite: the `walls` fixture's replica runs whatever shell command a test sends it, and
/// its build step tries to connect to the API, a host listener and another project's replica.
@Suite("security walls end to end", .serialized, SharedWallsServer())
struct SecurityWallsEndToEndTests {
    struct Ran: Decodable {
        var status: Int
        var output: String
    }

    /// What the suite's one server holds, set up once by `SharedWallsServer`.
    struct Context: Sendable {
        var server: YardServer
        var listener: HostListener
        /// `walls-walls.localhost`: the attacker's replica.
        var attackerHost: String
        var attackerAddress: String
        var victimAddress: String
        var victimPort: Int
        var apiPort: Int
        var folder: URL
    }

    @TaskLocal static var context: Context?

    static func current() throws -> Context {
        try #require(context, "the suite's server did not start")
    }

    /// Runs `command` by `sh` inside the attacker's replica.
    static func inside(_ command: String) async throws -> Ran {
        let context = try current()
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+;#")
        let query = try #require(command.addingPercentEncoding(withAllowedCharacters: allowed))
        let answer = try await context.server.get(host: context.attackerHost, path: "/run?cmd=\(query)")
        try #require(answer.status == 200, "HTTP \(answer.status): \(answer.body)")
        return try JSONDecoder().decode(Ran.self, from: Data(answer.body.utf8))
    }

    // MARK: 13.6: seccomp, no nested user namespaces, nothing of the host or of others

    @Test("a replica cannot make a user namespace, mount, or use the keyring; it sees no cgroup, netns or host interface names",
          .timeLimit(.minutes(3)))
    func seccompAndHostTraces() async throws {
        let context = try Self.current()
        let userns = try await Self.inside("unshare -Ur true")
        #expect(userns.status != 0, "unshare -Ur must fail inside a box: \(userns.output)")
        let mount = try await Self.inside("unshare -Urm mount -t tmpfs walls /tmp && echo MOUNTED")
        #expect(mount.status != 0 && !mount.output.contains("MOUNTED"), "a mount must fail inside a box: \(mount.output)")
        // keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0): the kernel keyring is not namespaced.
        let keyctl = try await Self.inside(
            #"python3 -c 'import ctypes, platform; libc = ctypes.CDLL(None, use_errno=True); n = 250 if platform.machine() == "x86_64" else 219; r = libc.syscall(n, 0, -4, 0); print(r, ctypes.get_errno())'"#)
        #expect(keyctl.output.trimmingCharacters(in: .whitespacesAndNewlines) == "-1 1", "keyctl must fail with EPERM: \(keyctl.output)")
        let bpf = try await Self.inside(
            #"python3 -c 'import ctypes, platform; libc = ctypes.CDLL(None, use_errno=True); n = 321 if platform.machine() == "x86_64" else 280; r = libc.syscall(n, 0, 0, 0); print(r, ctypes.get_errno())'"#)
        #expect(bpf.output.trimmingCharacters(in: .whitespacesAndNewlines) == "-1 1", "bpf must fail with EPERM: \(bpf.output)")

        // Other tenants' traces: cgroup names, namespace names, the host's veths and bridges.
        let traces = try await Self.inside(
            "ls -A /sys/fs/cgroup | wc -l; ls -A /run | grep -vx switchyard | wc -l; ls -A /sys/class/net | wc -l; ls -A /var/tmp | wc -l; "
                + "test -e /run/netns && echo NETNS; echo RUN $(ls -A /run/switchyard)")
        let counts = traces.output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(counts.prefix(4) == ["0", "0", "0", "0"], "cgroup, /run, interface and /var/tmp entries must be hidden: \(traces.output)")
        #expect(!traces.output.contains("NETNS"))
        // /run holds only the platform's own yard binary (for `yard static-serve`).
        #expect(traces.output.contains("RUN yard\n"), "/run/switchyard must hold yard alone: \(traces.output)")
        // The names really exist outside, so the empty listings above are the box's doing.
        let hostNamespaces = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
        #expect(hostNamespaces.contains { $0.hasPrefix(context.server.networkPrefix) }, "the host has this server's namespaces")
        // The box still works: its own processes, /tmp, and the network.
        let works = try await Self.inside("echo ok > /tmp/f && cat /tmp/f && sh -c 'echo child'")
        #expect(works.status == 0 && works.output == "ok\nchild\n", "\(works.output)")
    }

    // MARK: 13.7: build steps have their own network, with egress only

    @Test("a build step cannot reach the API on 127.0.0.1, a host listener, or another project's replica", .timeLimit(.minutes(2)))
    func buildNetwork() async throws {
        let context = try Self.current()
        let answer = try await context.server.get(host: context.attackerHost, path: "/report")
        try #require(answer.status == 200, "HTTP \(answer.status): \(answer.body)")
        let report = try JSONDecoder().decode([String: Bool].self, from: Data(answer.body.utf8))
        #expect(report.count == 5, "every target was tried: \(report)")
        for (target, connected) in report.sorted(by: { $0.key < $1.key }) {
            #expect(!connected, "the build step connected to \(target)")
        }
        #expect(context.listener.accepted() == 0, "the host listener was never reached")
    }

    // MARK: 13.8: nothing from the bridges to the host

    @Test("a replica cannot connect to a host service bound to 0.0.0.0 through its bridge's gateway", .timeLimit(.minutes(2)))
    func gatewayToHost() async throws {
        let context = try Self.current()
        let gateway = context.attackerAddress.split(separator: ".").prefix(3).joined(separator: ".") + ".1"
        let probe = try await Self.inside(
            "python3 -c 'import socket; socket.create_connection((\"\(gateway)\", \(context.listener.port)), timeout=3); print(\"CONNECTED\")'")
        #expect(!probe.output.contains("CONNECTED"), "the replica reached the host through \(gateway): \(probe.output)")
        #expect(context.listener.accepted() == 0, "the host listener was never reached")
        // The host still reaches the replica (the router does): replies pass the wall.
        let health = try await context.server.get(host: context.attackerHost, path: "/health")
        #expect(health.status == 200)
    }

    // MARK: 13.9: default limits, bounded /tmp and /dev/shm

    @Test("a fork bomb and a /dev/shm filler are bounded by the server's defaults, which yard scale shows", .timeLimit(.minutes(3)))
    func defaultLimits() async throws {
        let context = try Self.current()
        let scale = try await context.server.yard(["scale"], in: context.folder)
        #expect(scale.status == 0, "\(scale.output)")
        #expect(scale.stdout.contains("processes: 1024 (the server's default)"), "\(scale.stdout)")
        #expect(scale.stdout.contains("memory: 2 GB (the server's default)") || scale.stdout.contains("memory: 2 GiB (the server's default)"),
                "\(scale.stdout)")

        let shm = try await Self.inside(
            "head -c 100000000 /dev/zero > /dev/shm/fill 2>/dev/null; echo status=$?; echo kilobytes=$(du -k /dev/shm/fill | cut -f1); rm -f /dev/shm/fill")
        #expect(!shm.output.contains("status=0"), "writing 100 MB to /dev/shm must fail: \(shm.output)")
        let kilobytes = shm.output.split(separator: "\n").first { $0.hasPrefix("kilobytes=") }.flatMap { Int($0.dropFirst(10)) }
        #expect((kilobytes ?? .max) <= 65536, "/dev/shm holds at most 64 MiB: \(shm.output)")
        let tmp = try await Self.inside("df -k /tmp | tail -1 | awk '{print $2}'")
        let tmpKilobytes = Int(tmp.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? .max
        #expect(tmpKilobytes <= 2 * 1024 * 1024, "/tmp is bounded by the memory limit: \(tmp.output)")

        // 1500 sleeping children: the default of 1024 processes stops the loop. They are counted
        // with builtins only (a glob and echo): no process is left to fork.
        let bomb = try await Self.inside(
            "(i=0; while [ $i -lt 1500 ]; do sleep 4 & i=$((i+1)); done) 2>/dev/null; set -- /proc/[0-9]*; echo count=$#")
        let count = bomb.output.split(separator: "\n").first { $0.hasPrefix("count=") }.flatMap { Int($0.dropFirst(6)) } ?? .max
        #expect(count <= 1030, "the fork bomb got \(count) processes: \(bomb.output.suffix(200))")
        try await Task.sleep(for: .seconds(5))
        // Outside, nothing suffered: another project's replica still answers.
        let victim = try await HTTPConnection.fetch(.init(url: URL(string: "http://\(context.victimAddress):\(context.victimPort)/facts")!))
        #expect(victim.0.status == 200)
    }
}

/// Starts the suite's one server, the victim (the `probe` fixture in another project) and the
/// attacker (the `walls` fixture, whose build step gets its targets in `WALLS_TARGETS`), and
/// shuts everything down after the suite.
struct SharedWallsServer: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try IsolationEndToEndTests.requireIsolation()
        let listener = try HostListener()
        defer { listener.close() }
        try await YardServer.with { server in
            let victimFolder = try await server.prepareApp("probe", project: "victim")
            let victimUp = try await server.yard(["up"], in: victimFolder)
            try #require(victimUp.status == 0, "\(victimUp.output)\n\(server.serveLog)")
            let client = try server.client()
            let victimScope = YardAPIClient.Scope(project: "victim", environment: "production", service: "victim")
            let victim = try #require(try await client.deployments(victimScope).first?.replicas.first)
            let victimAddress = try #require(victim.address, "the victim runs in the sandbox")
            let apiPort = try #require(URL(string: server.apiURL)?.port)

            let folder = try await server.prepareApp("walls", project: "walls")
            let buildGateway = "10.\(server.privateNetworkOctet).254.1"
            let hostAddress = try #require(HostListener.primaryAddress(), "the host has no address on a default route")
            let targets = [
                "api=127.0.0.1:\(apiPort)", "listener-loopback=127.0.0.1:\(listener.port)",
                "listener-build-gateway=\(buildGateway):\(listener.port)",
                "listener-host=\(hostAddress):\(listener.port)",
                "victim=\(victimAddress):\(victim.port)",
            ]
            let set = try await server.yard(["variables", "--set", "WALLS_TARGETS=\(targets.joined(separator: ","))", "--skip-deploys"], in: folder)
            try #require(set.status == 0, "\(set.output)")
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.output)\n\(server.serveLog)")
            let scope = YardAPIClient.Scope(project: "walls", environment: "production", service: "walls")
            let attacker = try #require(try await client.deployments(scope).first?.replicas.first)
            let context = SecurityWallsEndToEndTests.Context(
                server: server, listener: listener, attackerHost: "walls-walls.localhost",
                attackerAddress: try #require(attacker.address), victimAddress: victimAddress, victimPort: victim.port,
                apiPort: apiPort, folder: folder)
            try await SecurityWallsEndToEndTests.$context.withValue(context) { try await function() }
        }
    }
}

/// A TCP listener on 0.0.0.0 (every host address, the bridges' gateways too) that counts the
/// connections it was offered.
final class HostListener: @unchecked Sendable {
    let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = INADDR_ANY
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(descriptor, 64) == 0 else { throw YardError(.unavailable, "cannot listen on 0.0.0.0") }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: actual.sin_port))
    }

    /// Connections accepted (and closed) since the last call.
    func accepted() -> Int {
        var count = 0
        while case let connection = accept(descriptor, nil, nil), connection >= 0 {
            _ = Glibc.close(connection)
            count += 1
        }
        return count
    }

    func close() {
        _ = Glibc.close(descriptor)
    }

    /// The host's address on its default route (`ip -4 route get`, which sends nothing), not a loopback or bridge one.
    static func primaryAddress() -> String? {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["-4", "-o", "route", "get", "1.1.1.1"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let words = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: " ")
        process.waitUntilExit()
        guard let index = words.firstIndex(of: "src"), index + 1 < words.count else { return nil }
        return String(words[index + 1])
    }
}
