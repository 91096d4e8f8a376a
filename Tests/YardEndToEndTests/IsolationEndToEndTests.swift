import Foundation
import Testing
import YardClient
import YardCore

/// Issue 3's acceptance: replicas in a real bubblewrap sandbox, in their own network
/// namespace on their environment's bridge, held to cgroup limits.
@Suite("isolation end to end", .serialized)
struct IsolationEndToEndTests {
    struct Facts: Decodable {
        var uid: Int
        var hostname: String
        var pids: [Int]
        var write_root: Bool
        var write_etc: Bool
        var write_app: Bool
        var write_tmp: Bool
        var private_domain: String?
        var volume: String?
        var data_dir_visible: Bool
    }

    struct Connected: Decodable { var connected: Bool }
    struct Resolved: Decodable { var addresses: [String] }
    struct VolumeText: Decodable { var text: String }
    struct Written: Decodable { var written: Bool }

    /// Fails, with the command that fixes it, when the machine lacks what isolation needs.
    static func requireIsolation() throws {
        try #require(getuid() == 0, "the isolation tests need root: run them as root (sudo scripts/test.sh)")
        for (tool, package) in [("/usr/bin/bwrap", "bubblewrap"), ("/usr/sbin/ip", "iproute2"), ("/usr/bin/nsenter", "util-linux")] {
            try #require(FileManager.default.isExecutableFile(atPath: tool), "\(tool) is missing: apt-get install -y \(package)")
        }
    }

    func decode<T: Decodable>(_ type: T.Type, _ answer: (status: Int, body: String)) throws -> T {
        try #require(answer.status == 200, "HTTP \(answer.status): \(answer.body)")
        return try JSONDecoder().decode(T.self, from: Data(answer.body.utf8))
    }

    @Test("inside a replica: read-only root, unprivileged, alone, private names, no way to other environments or host loopback",
          .timeLimit(.minutes(6)))
    func sandboxBoundaries() async throws {
        try Self.requireIsolation()
        try await YardServer.with { server in
            let folder = try await server.prepareApp("probe", project: "iso")
            try #require(try await server.yard(["variables", "--set", "PROBE_DATA_DIR=\(server.dataDirectory.path)"], in: folder).status == 0)
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.output)\n\(server.serveLog)")
            let peer = try await server.yard(["up", "--service", "peer"], in: folder)
            try #require(peer.status == 0, "\(peer.output)")
            let host = "iso-iso.localhost"

            let facts = try decode(Facts.self, try await server.get(host: host, path: "/facts"))
            #expect(facts.uid != 0, "replicas run unprivileged")
            #expect(!facts.write_root && !facts.write_etc && !facts.write_app, "only /tmp and the volume are writable")
            #expect(facts.write_tmp)
            #expect(facts.pids.count <= 4, "a replica sees only its own processes: \(facts.pids)")
            #expect(facts.hostname.hasPrefix("rep_"), "the hostname is the replica id: \(facts.hostname)")
            #expect(facts.private_domain == "iso.railway.internal")
            #expect(!facts.data_dir_visible, "the platform's data directory is hidden from replicas")

            // The other service of the same environment, by its private name.
            let client = try server.client()
            let peerScope = YardAPIClient.Scope(project: "iso", environment: "production", service: "peer")
            let peerReplica = try #require(try await client.deployments(peerScope).first?.replicas.first)
            let peerAddress = try #require(peerReplica.address, "sandboxed replicas have a private address")
            let resolved = try decode(Resolved.self, try await server.get(host: host, path: "/resolve?name=peer.railway.internal"))
            #expect(resolved.addresses == [peerAddress])
            let reach = try decode(Connected.self, try await server.get(host: host, path: "/connect?host=peer.railway.internal&port=\(peerReplica.port)"))
            #expect(reach.connected, "a replica reaches a service of its environment by name")

            // A replica of another project cannot be reached.
            let otherFolder = try await server.prepareApp("probe", project: "elsewhere")
            try #require(try await server.yard(["up"], in: otherFolder).status == 0)
            let otherScope = YardAPIClient.Scope(project: "elsewhere", environment: "production", service: "elsewhere")
            let other = try #require(try await client.deployments(otherScope).first?.replicas.first)
            let otherAddress = try #require(other.address)
            #expect(!otherAddress.hasPrefix(String(peerAddress.split(separator: ".").prefix(3).joined(separator: "."))),
                    "another project gets another subnet")
            let blocked = try decode(Connected.self, try await server.get(host: host, path: "/connect?host=\(otherAddress)&port=\(other.port)"))
            #expect(!blocked.connected, "replicas of different projects cannot reach each other")
            let fromHost = try await HTTPConnection.fetch(.init(url: URL(string: "http://\(otherAddress):\(other.port)/")!))
            #expect(fromHost.0.status == 200, "the host (the router) reaches replicas on their bridge addresses")

            // A service on host loopback is out of reach, on 127.0.0.1 and on the gateway.
            let loopback = try LoopbackListener()
            defer { loopback.close() }
            let viaLoopback = try decode(Connected.self, try await server.get(host: host, path: "/connect?host=127.0.0.1&port=\(loopback.port)"))
            #expect(!viaLoopback.connected)
            let gateway = peerAddress.split(separator: ".").prefix(3).joined(separator: ".") + ".1"
            let viaGateway = try decode(Connected.self, try await server.get(host: host, path: "/connect?host=\(gateway)&port=\(loopback.port)"))
            #expect(!viaGateway.connected)
            #expect(try await server.yard(["status"], in: folder).stdout.contains("bubblewrap"))

            // `yard shell` enters the replica's sandbox and network; `yard run` gets its variables.
            let shell = try await server.yard(["shell"], in: folder, input: "id -u; hostname; cat /etc/hosts | grep -c railway.internal\n")
            #expect(shell.status == 0, "\(shell.output)")
            let shellLines = shell.stdout.split(separator: "\n").map(String.init)
            // The shell's own uid (SandboxIdentity.shellUID), one no replica has.
            #expect(shellLines.first == String(0x7000_0000 + (1 << 24)), "\(shell.output)")
            #expect(shellLines.dropFirst().first?.hasPrefix("rep_") == true, "\(shell.output)")
            #expect(shellLines.dropFirst(2).first == "2", "both services are named in the replica's hosts file: \(shell.output)")
            let run = try await server.yard(["run", "--", "sh", "-c", "echo $RAILWAY_SERVICE_NAME $RAILWAY_PRIVATE_DOMAIN $PROBE_DATA_DIR"], in: folder)
            #expect(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                    == "iso iso.railway.internal \(server.dataDirectory.path)", "\(run.output)")
        }
    }

    @Test("memory and CPU limits: OOM is reported and restarted; 0.5 CPU uses about half a core", .timeLimit(.minutes(6)))
    func resourceLimits() async throws {
        try Self.requireIsolation()
        try await YardServer.with { server in
            let folder = try await server.prepareApp("probe", project: "limits")
            let scale = try await server.yard(["scale", "--memory", "96M", "--cpu", "0.5"], in: folder)
            #expect(scale.status == 0, "\(scale.output)")
            try #require(try await server.yard(["up"], in: folder).status == 0)
            let host = "limits-limits.localhost"
            let client = try server.client()
            let scope = YardAPIClient.Scope(project: "limits", environment: "production", service: "limits")
            let deployment = try #require(try await client.deployments(scope).first)

            // CPU: a busy loop under 0.5 CPU, measured from the replica's cgroup.
            _ = try await server.get(host: host, path: "/burn?seconds=4")
            try await Task.sleep(for: .milliseconds(500))
            let first = try #require(try await client.deployment(id: deployment.id).replicas.first?.usage)
            let start = ContinuousClock.now
            try await Task.sleep(for: .seconds(2))
            let second = try #require(try await client.deployment(id: deployment.id).replicas.first?.usage)
            let wall = (ContinuousClock.now - start) / .nanoseconds(1)
            let share = Double(second.cpuNanoseconds - first.cpuNanoseconds) / wall
            // Tolerant low bound: the other core is busy with the rest of the test run.
        #expect(share > 0.2 && share < 0.7, "a CPU-bound replica with 0.5 CPU used \(share) of a core")
            #expect(second.memoryBytes > 0)

            // Memory: allocating past the limit is an OOM kill, reported, then restarted.
            _ = try? await server.get(host: host, path: "/alloc?mb=300")
            var replica: ReplicaView?
            for _ in 0..<100 {
                replica = try await client.deployment(id: deployment.id).replicas.first
                if replica?.restarts ?? 0 >= 1, replica?.status == .running { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(replica?.lastExit?.contains("OOM") == true, "status shows the OOM kill: \(String(describing: replica))")
            #expect((replica?.restarts ?? 0) >= 1, "ON_FAILURE restarts an OOM-killed replica")
            let logs = try await server.yard(["logs"], in: folder)
            #expect(logs.stdout.contains("OOM-killed"), "\(logs.stdout)")
            let status = try await server.yard(["status"], in: folder)
            #expect(status.stdout.contains("cpu") && status.stdout.contains("mem"), "yard status shows live use:\n\(status.stdout)")
        }
    }

    @Test("a file on the volume survives a redeploy and a restart of yard serve; everything is cleaned up",
          .timeLimit(.minutes(6)))
    func volumeSurvivesAndCleanup() async throws {
        try Self.requireIsolation()
        var prefix = ""
        try await YardServer.with { server in
            let folder = try await server.prepareApp("probe", project: "vol")
            let add = try await server.yard(["volume", "add", "--mount", "/data"], in: folder)
            #expect(add.status == 0, "\(add.output)")
            try #require(try await server.yard(["up"], in: folder).status == 0)
            let host = "vol-vol.localhost"
            let facts = try decode(Facts.self, try await server.get(host: host, path: "/facts"))
            #expect(facts.volume == "/data")
            #expect(try decode(Written.self, try await server.get(host: host, path: "/volume/write?text=kept")).written)
            try #require(try await server.yard(["redeploy"], in: folder).status == 0)
            #expect(try decode(VolumeText.self, try await server.get(host: host, path: "/volume/read")).text == "kept")
            await server.stop()
            try await server.start()
            let answer = try await server.eventually(host: host, path: "/volume/read") { status, _ in status == 200 }
            #expect(try decode(VolumeText.self, answer).text == "kept")
            prefix = server.networkPrefix
        }
        // The server has shut down (SIGTERM): it must have removed all it made.
        #expect(!prefix.isEmpty)
        #expect(YardServer.networkObjects(prefix: prefix).isEmpty,
                "no namespace, veth or bridge may remain: \(YardServer.networkObjects(prefix: prefix))")
        #expect(YardServer.cgroups(parent: prefix).isEmpty, "no cgroup may remain: \(YardServer.cgroups(parent: prefix))")
    }
}

/// A TCP listener on host loopback only, to check replicas cannot reach it.
final class LoopbackListener: @unchecked Sendable {
    let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(descriptor, 8) == 0 else { throw YardError(.unavailable, "cannot listen on 127.0.0.1") }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: actual.sin_port))
    }

    func close() {
        _ = Glibc.close(descriptor)
    }
}
