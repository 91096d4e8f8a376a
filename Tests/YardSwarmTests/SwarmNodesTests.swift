import Foundation
import Logging
import Testing
import YardCore
import YardImage
import YardRuntime
import YardTestSupport

@testable import YardSwarm

/// The swarm runtime on two nodes (`TestDockerDaemon`: a manager and a worker in its own
/// network namespace): images reach both through the registry, 4 replicas spread over both and
/// answer through their relay ports, `web.railway.internal` resolves on the environment's
/// overlay network to all of them across nodes, another environment reaches none of them, and
/// a drained worker's tasks come back on the manager.
@Suite(.serialized)
struct SwarmNodesTests {
    @Test(.timeLimit(.minutes(5)))
    func fourReplicasSpreadOverTwoNodesAndMoveWhenTheWorkerIsDrained() async throws {
        try await TestDockerDaemon.with { daemon in
            try await TestImages.withStore { store, scratch in
                let image = try await SwarmRuntimeTests.build(store, scratch, extra: [])
                let registry = try await SwarmRegistry(
                    address: TestDockerDaemon.managerAddress, directory: scratch.appendingPathComponent("swarm-registry"))
                defer { registry.stop() }
                let logger = Logger(label: "swarm-nodes-test")
                // The manager's rules are the runtime's; the worker's are what `yard node isolate`
                // writes there, in its network namespace.
                let runtime = SwarmRuntime(
                    configuration: .init(
                        socketPath: daemon.socketPath, namePrefix: SwarmRuntimeTests.prefix, imageStore: store,
                        scratchDirectory: scratch.appendingPathComponent("swarm"), registry: registry,
                        isolation: SwarmIsolation(prefix: SwarmRuntimeTests.prefix)),
                    builds: ProcessRuntime(host: "127.0.0.1", logger: logger), logger: logger)
                let workerIsolation = try Self.workerIsolation(daemon)
                try await workerIsolation.install()
                do {
                    try await run(runtime, daemon: daemon, image: image, workerIsolation: workerIsolation)
                } catch {
                    await workerIsolation.remove()
                    await runtime.shutdown()
                    throw error
                }
                await workerIsolation.remove()
                await runtime.shutdown()
                #expect(try await SwarmIsolation(prefix: SwarmRuntimeTests.prefix).listed().isEmpty, "the shutdown removes the rules")
                runtime.closeEvents()
                let engine = DockerEngine(socketPath: daemon.socketPath)
                let networks = String(decoding: try await engine.call(.GET, "/networks"), as: UTF8.self)
                #expect(!networks.contains(SwarmRuntime.ownerLabel), "the shutdown removes the overlay networks")
            }
        }
    }

    /// The rules `yard node isolate` writes on the worker, in its dockerd's network namespace.
    static func workerIsolation(_ daemon: TestDockerDaemon) throws -> SwarmIsolation {
        let pidFile = URL(fileURLWithPath: daemon.directory).appendingPathComponent("worker/dockerd.pid")
        let pid = String(decoding: try Data(contentsOf: pidFile), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return SwarmIsolation(
            prefix: SwarmRuntimeTests.prefix, nodeAddresses: [TestDockerDaemon.managerAddress, TestDockerDaemon.workerAddress],
            networkNamespace: "/proc/\(pid)/ns/net")
    }

    private func run(_ runtime: SwarmRuntime, daemon: TestDockerDaemon, image: ImageArtifact, workerIsolation: SwarmIsolation)
        async throws
    {
        let engine = DockerEngine(socketPath: daemon.socketPath)
        let started = ContinuousClock.now
        // Four replicas of `web` in one environment, one of `other` in a second.
        var ports: [String: Int] = [:]
        for index in 0..<5 {
            let id = "rep_web-\(index)"
            let port = try PortAllocator.freePort()
            ports[id] = port
            let request = ReplicaRequest(
                id: id, deploymentID: "dep_web", serviceID: index < 4 ? "svc_web" : "svc_other",
                serviceName: index < 4 ? "web" : "other", environmentID: index < 4 ? "env_a" : "env_b", subnetIndex: 1,
                artifact: .image(image), command: "", environment: ["PORT": "\(port)", "REPLY": "replica-\(index)"], port: port)
            _ = try await runtime.placeReplica(request)
            try await runtime.startReplica(id: id)
        }
        for index in 0..<5 {
            let reply = try await SwarmRuntimeTests.get("http://127.0.0.1:\(ports["rep_web-\(index)"]!)/")
            #expect(reply.hasPrefix("replica-\(index) "), "\(reply)")
        }
        print("swarm nodes: 5 replicas answering through their relays \(ContinuousClock.now - started) after the first placement")

        // Spread: the web tasks run on both nodes.
        let tasks = try await webTasks(runtime)
        let nodes = try await runtime.nodes()
        #expect(nodes.count == 2)
        let worker = try #require(nodes.first { $0.ManagerStatus == nil })
        #expect(worker.address == TestDockerDaemon.workerAddress)
        #expect(Set(tasks.compactMap(\.NodeID)).count == 2, "tasks on \(tasks.map { $0.NodeID ?? "?" })")
        // What an edge on any node is given (yard edge): each replica at its node's address and
        // the port its task published there, on both nodes.
        let edge = await runtime.edgeAddresses()
        #expect(Set(edge.keys) == Set(ports.keys), "\(edge)")
        #expect(Set(edge.values.map(\.host)) == [TestDockerDaemon.managerAddress, TestDockerDaemon.workerAddress], "\(edge)")
        for (id, address) in edge where address.host == TestDockerDaemon.workerAddress {
            let reply = try await SwarmRuntimeTests.get("http://\(address.host):\(address.port)/")
            #expect(reply.hasPrefix("replica-\(id.suffix(1)) "), "\(reply)")
        }
        // These daemons remap user ids: the server has nothing to warn about.
        #expect(await SwarmRuntime.usernsWarning(socketPath: daemon.socketPath) == nil)
        // userns-remap: the image's user 1000 (its init runs as it) is host uid 0x7F000000 + 1000,
        // and the container's root would be 0x7F000000, not the host's root.
        let pid = try #require(tasks.first?.Status.ContainerStatus?.PID)
        let status = ProcFile.read("/proc/\(pid)/status") ?? ""
        #expect(status.contains("Uid:\t\(0x7F00_0000 + 1000)\t"), "\(status.split(separator: "\n").filter { $0.hasPrefix("Uid") })")

        // The private name resolves, inside a task on the manager, to the 4 web tasks on both
        // nodes, and each answers over the overlay.
        let manager = try #require(nodes.first { $0.ManagerStatus != nil })
        let local = try #require(tasks.first { $0.NodeID == manager.ID }?.Status.ContainerStatus?.ContainerID)
        let resolved = try await Self.exec(engine, local, ["getent", "ahostsv4", "web.railway.internal"])
        let addresses = Set(resolved.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
        #expect(addresses.count == 4, "\(resolved)")
        var replicaOfService: [String: String] = [:]
        for (id, replica) in await runtime.placed { replicaOfService[replica.serviceID ?? ""] = id }
        var replies: Set<String> = []
        for address in addresses {
            let task = try #require(tasks.first { task in
                (task.NetworksAttachments ?? []).contains { $0.Addresses?.contains { $0.hasPrefix(address + "/") } == true }
            })
            let port = try #require(replicaOfService[task.ServiceID].flatMap { ports[$0] })
            replies.insert(String(try await Self.exec(engine, local, Self.fetch(address, port)).prefix(9)))
        }
        #expect(replies == ["replica-0", "replica-1", "replica-2", "replica-3"], "\(replies)")

        // The other environment's task reaches none of them and does not know the name.
        let otherService = try #require(await runtime.placed["rep_web-4"]?.serviceID)
        let otherTask = try #require(try await runtime.runningTask(serviceID: otherService))
        let otherEngine = DockerEngine(socketPath: otherTask.NodeID == manager.ID ? daemon.socketPath : daemon.workerSocketPath)
        let otherContainer = try #require(otherTask.Status.ContainerStatus?.ContainerID)
        #expect(try await Self.exec(otherEngine, otherContainer, ["getent", "ahostsv4", "web.railway.internal"]).isEmpty)
        for address in addresses {
            let answer = try await Self.exec(otherEngine, otherContainer, Self.fetch(address, ports["rep_web-0"]!))
            #expect(!answer.hasPrefix("replica-"), "env_b reached \(address): \(answer)")
        }
        try await attackThroughTheNode(
            runtime, daemon: daemon, from: otherTask, engine: otherEngine, tasks: tasks, ports: ports, workerIsolation: workerIsolation)

        // Drain the worker under a request loop over the 4 relay ports: its tasks move to the
        // manager; failed requests are counted.
        let counts = RequestCounts()
        let relayPorts = (0..<4).map { ports["rep_web-\($0)"] ?? 0 }
        let loop = Task {
            var index = 0
            while await !counts.done {
                let port = relayPorts[index % 4]
                index += 1
                let result = try? await SystemCommand("/usr/bin/curl", ["-s", "-f", "--max-time", "2", "http://127.0.0.1:\(port)/"]).result()
                await counts.record(result?.succeeded == true)
            }
        }
        let drainStarted = ContinuousClock.now
        try await runtime.setAvailability("drain", node: worker.name)
        var moved = false
        while ContinuousClock.now - drainStarted < .seconds(60) {
            let now = try await webTasks(runtime)
            if now.count == 4, now.allSatisfy({ $0.NodeID == manager.ID }) {
                moved = true
                break
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        let drainTime = ContinuousClock.now - drainStarted
        #expect(moved, "the worker's tasks did not move to the manager within 60 s")
        for index in 0..<4 {
            #expect(try await SwarmRuntimeTests.get("http://127.0.0.1:\(ports["rep_web-\(index)"]!)/").hasPrefix("replica-\(index)"))
        }
        try await Task.sleep(for: .seconds(1))
        await counts.finish()
        await loop.value
        let (succeeded, failed) = await counts.totals
        print("swarm nodes: drained the worker in \(drainTime); \(succeeded) requests answered, \(failed) failed")
        #expect(succeeded > 0)
        let node = try await runtime.setAvailability("active", node: worker.ID)
        #expect(node.availability == "active")
        let listed = try await runtime.clusterNodes()
        #expect(listed.map(\.role) == ["manager", "worker"] && listed.allSatisfy { $0.state == "ready" }, "\(listed)")

        for node in [manager, worker] { try await jobWithAVolume(runtime, daemon: daemon, image: image, on: node) }
    }

    /// A job with a volume on `node` (recorded there beforehand, as at a first placement): its
    /// first line reaches the output while its task still runs, then every line once; deleting
    /// the volume removes the Docker volume (the manager) or empties it (another node).
    private func jobWithAVolume(_ runtime: SwarmRuntime, daemon: TestDockerDaemon, image: ImageArtifact, on node: SwarmNode)
        async throws
    {
        let role = node.ManagerStatus == nil ? "worker" : "manager"
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("yard-swarm-volume-\(UUID().uuidString.prefix(8))")
        let volumeID = "vol_\(role)"
        let directory = folder.appendingPathComponent(volumeID)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data(node.ID.utf8).write(to: directory.appendingPathComponent(SwarmRuntime.volumeNodeFile))
        let request = ReplicaRequest(
            id: "task_job-\(role)", deploymentID: "dep_job", serviceID: "svc_job", serviceName: "job", environmentID: "env_a",
            subnetIndex: 1, artifact: .image(image),
            command: "/bin/sh -c 'echo first; echo kept > /tmp/file; sleep 4; echo second'", environment: [:],
            volume: .init(name: "job-data", hostDirectory: directory.path, mountPath: "/tmp"))
        let lines = Lines()
        let process = try await runtime.startTask(request) { _, line in lines.append(line) }
        let job = try #require(process as? SwarmJob)
        let deadline = ContinuousClock.now + .seconds(60)
        while !lines.all.contains("first"), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(lines.all.contains("first"), "no first line within 60 s")
        // The line arrived while the task sleeps: it has not ended, and the last line is not there.
        let task = try await runtime.tasks(serviceID: job.serviceID).first
        #expect(task.map { !$0.isFinished } == true, "the job's task is \(task?.Status.State ?? "gone") when its first line arrives")
        #expect(!lines.all.contains("second"))
        #expect(await process.wait() == .exited(code: 0))
        #expect(lines.all == ["first", "second"], "\(lines.all)")
        await runtime.endTask(id: request.id)

        // The Docker volume is on that node, holding the file; deleting the volume removes it.
        let engine = DockerEngine(socketPath: role == "manager" ? daemon.socketPath : daemon.workerSocketPath)
        struct Volume: Decodable { var Mountpoint: String }
        let name = await runtime.objectName("vol-" + volumeID)
        let mountpoint = try await engine.get("/volumes/\(name)", as: Volume.self).Mountpoint
        #expect(FileManager.default.fileExists(atPath: mountpoint + "/file"))
        await runtime.removeVolume(id: volumeID, hostDirectory: directory.path)
        if role == "manager" {
            #expect(try await engine.send(.GET, "/volumes/\(name)").status == 404, "the manager's Docker volume is removed")
        } else {
            let left = try FileManager.default.contentsOfDirectory(atPath: mountpoint)
            #expect(left.isEmpty, "the worker's Docker volume is emptied: \(left)")
        }
    }

    /// The attack the overlay does not stop: env_b's task connects to env_a's tasks through their
    /// addresses on its node's `docker_gwbridge` and to the ports they publish on the nodes (where
    /// the relays and edges reach them). With the isolation rules on both nodes every attempt
    /// fails; without them (removed here for a moment) the ones on env_b's node succeed, so the
    /// attack is real; then the rules are written again.
    private func attackThroughTheNode(
        _ runtime: SwarmRuntime, daemon: TestDockerDaemon, from attacker: SwarmTask, engine: DockerEngine, tasks: [SwarmTask],
        ports: [String: Int], workerIsolation: SwarmIsolation
    ) async throws {
        struct Bridge: Decodable {
            struct Endpoint: Decodable { var IPv4Address: String }
            var Containers: [String: Endpoint]?
        }
        let container = try #require(attacker.Status.ContainerStatus?.ContainerID)
        let bridge = try await engine.get("/networks/\(SwarmIsolation.bridge)", as: Bridge.self)
        var replicaOfService: [String: String] = [:]
        for (id, replica) in await runtime.placed { replicaOfService[replica.serviceID ?? ""] = id }
        // Same node: env_a's tasks on the attacker's gwbridge, and the node's published ports.
        var sameNode: [(String, Int)] = []
        for task in tasks where task.NodeID == attacker.NodeID {
            let id = try #require(replicaOfService[task.ServiceID])
            let taskContainer = try #require(task.Status.ContainerStatus?.ContainerID)
            let address = try #require(bridge.Containers?[taskContainer]?.IPv4Address.split(separator: "/").first.map(String.init))
            sameNode.append((address, ports[id] ?? 0))
        }
        let edge = await runtime.edgeAddresses()
        let managerID = try await runtime.nodes().first { $0.ManagerStatus != nil }?.ID
        let attackerHost = attacker.NodeID == managerID ? TestDockerDaemon.managerAddress : TestDockerDaemon.workerAddress
        for index in 0..<4 {
            guard let published = edge["rep_web-\(index)"] else { continue }
            if published.host == attackerHost { sameNode.append((published.host, published.port)) }
        }
        let otherNode = (0..<4).compactMap { edge["rep_web-\($0)"] }.filter { $0.host != attackerHost }.map { ($0.host, $0.port) }
        #expect(!sameNode.isEmpty, "no env_a task shares a node with env_b's")
        for (address, port) in sameNode + otherNode {
            let answer = try await Self.exec(engine, container, Self.fetch(address, port))
            #expect(!answer.hasPrefix("replica-"), "env_b reached \(address):\(port) through its node: \(answer)")
        }
        // Without the rules the same connections on the attacker's node succeed.
        await runtime.removeIsolation()
        await workerIsolation.remove()
        for (address, port) in sameNode {
            let answer = try await Self.exec(engine, container, Self.fetch(address, port))
            #expect(answer.hasPrefix("replica-"), "without the rules env_b should reach \(address):\(port): \(answer)")
        }
        try await workerIsolation.install()
        try await runtime.isolateNode()
        print("swarm nodes: env_b's task reached none of \(sameNode.count + otherNode.count) gwbridge addresses and published ports")
    }

    /// The running tasks of the `web` replicas.
    private func webTasks(_ runtime: SwarmRuntime) async throws -> [SwarmTask] {
        var running: [SwarmTask] = []
        for index in 0..<4 {
            guard let service = await runtime.placed["rep_web-\(index)"]?.serviceID,
                let task = try await runtime.runningTask(serviceID: service)
            else { continue }
            running.append(task)
        }
        return running
    }

    /// A perl GET of `address:port` (the image has perl, no curl); the answer's body.
    private static func fetch(_ address: String, _ port: Int) -> [String] {
        let script = """
            use IO::Socket::INET; my $s = IO::Socket::INET->new(PeerAddr => "\(address)", PeerPort => \(port), Timeout => 2) or exit 0;
            print $s "GET / HTTP/1.0\\r\\n\\r\\n"; local $/; my $r = <$s>; $r =~ s/.*?\\r\\n\\r\\n//s; print $r;
            """
        return ["perl", "-e", script]
    }

    /// Runs `command` in a container through the engine's exec API; its output (both streams).
    static func exec(_ engine: DockerEngine, _ container: String, _ command: [String]) async throws -> String {
        struct Created: Decodable { var Id: String }
        struct Request: Encodable {
            var Cmd: [String]
            var AttachStdout = true
            var AttachStderr = true
        }
        let created = try await engine.call(.POST, "/containers/\(container)/exec", body: Request(Cmd: command), as: Created.self)
        let raw = [UInt8](try await engine.call(.POST, "/exec/\(created.Id)/start", json: Data(#"{"Detach":false}"#.utf8)))
        // The multiplexed stream: 8-byte frame headers (stream, 0, 0, 0, big-endian length).
        var output: [UInt8] = []
        var offset = 0
        while offset + 8 <= raw.count {
            let length = raw[(offset + 4)..<(offset + 8)].reduce(0) { $0 << 8 | Int($1) }
            output += raw[(offset + 8)..<min(raw.count, offset + 8 + length)]
            offset += 8 + length
        }
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Lines of a job's output, as they arrive.
final class Lines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}

/// Requests answered and failed, from a loop.
actor RequestCounts {
    private var succeeded = 0
    private var failed = 0
    private(set) var done = false

    func finish() { done = true }

    func record(_ ok: Bool) {
        if ok { succeeded += 1 } else { failed += 1 }
    }

    var totals: (Int, Int) { (succeeded, failed) }
}
