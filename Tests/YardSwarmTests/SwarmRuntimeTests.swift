import Foundation
import Logging
import Testing
import YardCore
import YardImage
import YardRuntime
import YardTestSupport

@testable import YardSwarm

/// The swarm runtime against a real dockerd made a one-node swarm (`TestDockerDaemon`): an
/// image built with buildah from the machine's Debian runs as a swarm service, answers on its
/// host-published port, is restarted by swarm, and leaves nothing behind.
@Suite(.serialized)
struct SwarmRuntimeTests {
    static let prefix = "yts"

    @Test func anImageReplicaRunsAsASwarmServiceAndIsRemoved() async throws {
        try await TestDockerDaemon.with { daemon in
            try await TestImages.withStore { store, scratch in
                try await SwarmRuntime.check(socketPath: daemon.socketPath)
                let image = try await Self.build(store, scratch, extra: ["ENV REPLY=from-image"])
                let runtime = Self.runtime(daemon, store: store, scratch: scratch)
                let events = EventLog(runtime.events)
                let port = try PortAllocator.freePort()
                let request = ReplicaRequest(
                    id: "rep_swarm-0", deploymentID: "dep_swarm", serviceID: "svc_swarm", serviceName: "web",
                    environmentID: "env_swarm", subnetIndex: 1, artifact: .image(image), command: "",
                    environment: ["PORT": "\(port)", "REPLY": "it's the service's", "API_TOKEN": "s3cr3t-token-value"], port: port,
                    limits: ResourceLimits(memoryBytes: 256 << 20, cpus: 0.5),
                    restartPolicy: RestartPolicy(type: .onFailure, maxRetries: 3, baseBackoff: .milliseconds(100)))
                let placement = try await runtime.placeReplica(request)
                #expect(placement.address == "127.0.0.1" && placement.port == port)
                try await runtime.startReplica(id: request.id)

                // The image's CMD, USER and WORKDIR; the service's variables win over the image's.
                let reply = try await Self.get("http://127.0.0.1:\(port)/a")
                #expect(reply == "it's the service's uid=1000 cwd=/srv path=/a")
                try await events.waitFor("started attempt 0") { if case .started(_, _, 0) = $0 { true } else { false } }

                // The variables travel in a secret: the service's spec never holds them.
                let engine = DockerEngine(socketPath: daemon.socketPath)
                let services = String(decoding: try await engine.call(.GET, "/services"), as: UTF8.self)
                #expect(services.contains("\"PublishMode\":\"host\"") && services.contains("\"Mode\":\"dnsrr\""))
                #expect(services.contains("\"Order\":\"start-first\""))
                #expect(services.contains("\"MemoryBytes\":268435456") && services.contains("\"NanoCPUs\":500000000"))
                #expect(!services.contains("s3cr3t-token-value") && !services.contains("API_TOKEN"))

                // Its container killed: swarm starts another task, seen as a restart.
                let service = try #require(await runtime.placed["rep_swarm-0"]?.serviceID)
                let running = try #require(try await runtime.runningTask(serviceID: service)?.Status.ContainerStatus?.ContainerID)
                try await engine.call(.DELETE, "/containers/\(running)?force=1")
                try await events.waitFor("a restart decision") {
                    if case .exited(_, _, .restart) = $0 { true } else { false }
                }
                try await events.waitFor("started attempt 1") { if case .started(_, _, 1) = $0 { true } else { false } }
                #expect(try await Self.get("http://127.0.0.1:\(port)/b").hasSuffix("path=/b"))

                // Stopped: its service, task and secret are gone.
                await runtime.stopReplica(id: request.id, grace: .seconds(2))
                try await events.waitFor("stopped") { if case .stopped = $0 { true } else { false } }
                let left = try await engine.get("/services", as: [LabeledObject].self)
                let secrets = try await engine.get("/secrets", as: [LabeledObject].self)
                #expect(left.isEmpty && secrets.isEmpty)
                await runtime.shutdown()
                runtime.closeEvents()
            }
        }
    }

    /// At start every live deployment restarts at once. Placements that arrive together in one
    /// environment share one overlay network and one install of the isolation rules; each used
    /// to make its own, and all but the first failed ("Chain already exists", a network name
    /// taken), leaving those deployments CRASHED after a restart of `yard serve`.
    @Test func placementsThatArriveTogetherShareOneNetworkAndOneInstallOfTheRules() async throws {
        try await TestDockerDaemon.with { daemon in
            try await TestImages.withStore { store, scratch in
                let image = try await Self.build(store, scratch, extra: [])
                let logger = Logger(label: "swarm-test")
                let isolation = SwarmIsolation(prefix: Self.prefix)
                let runtime = SwarmRuntime(
                    configuration: .init(
                        socketPath: daemon.socketPath, namePrefix: Self.prefix, imageStore: store,
                        scratchDirectory: scratch.appendingPathComponent("swarm"), isolation: isolation),
                    builds: ProcessRuntime(host: "127.0.0.1", logger: logger), logger: logger)
                let requests = try (0..<4).map { ordinal in
                    let port = try PortAllocator.freePort()
                    return ReplicaRequest(
                        id: "rep_together-\(ordinal)", deploymentID: "dep_together\(ordinal)", serviceID: "svc_together\(ordinal)",
                        serviceName: "web\(ordinal)", environmentID: "env_together", subnetIndex: 1, artifact: .image(image), command: "",
                        environment: ["PORT": "\(port)"], port: port)
                }
                let failures = await withTaskGroup(of: String?.self) { group in
                    for request in requests {
                        group.addTask {
                            do {
                                _ = try await runtime.placeReplica(request)
                                return nil
                            } catch {
                                return "\(request.id): \(error)"
                            }
                        }
                    }
                    return await group.reduce(into: [String]()) { failures, failure in failure.map { failures.append($0) } }
                }
                #expect(failures.isEmpty, "\(failures)")
                let engine = DockerEngine(socketPath: daemon.socketPath)
                let filter = #"{"label":["dev.switchyard.environment=env_together"]}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
                let networks = try await engine.get("/networks?filters=\(filter)", as: [LabeledObject].self)
                #expect(networks.count == 1, "\(networks)")
                // Each rule written once: no install appended to another's chain.
                let rules = try await isolation.listed().split(separator: "\n")
                #expect(!rules.isEmpty && Set(rules).count == rules.count, "\(rules)")
                for request in requests { await runtime.stopReplica(id: request.id, grace: .seconds(1)) }
                await runtime.shutdown()
                runtime.closeEvents()
                #expect(try await isolation.listed().isEmpty)
            }
        }
    }

    @Test func foldersAndDatabasesAreRefusedWithTheWayOut() async throws {
        let folder = ReplicaRequest(
            id: "rep_f-0", deploymentID: "dep_f", serviceID: "svc_f", serviceName: "api", environmentID: "env_f", subnetIndex: 1,
            artifact: .folder(path: "/tmp/nowhere", builtInPlace: false), command: "node server.js", environment: [:], port: 3000)
        let error = try #require(throws: YardError.self) { try SwarmRuntime.requireImage(folder) }
        #expect(error.message.contains("api: its build is a folder, and the swarm runtime runs only images"))
        #expect(error.message.contains("sandbox runtime"))
        var database = folder
        database.artifact = nil
        let refused = try #require(throws: YardError.self) { try SwarmRuntime.requireImage(database) }
        #expect(refused.message.contains("this database deployment has no image of its server"))
        #expect(refused.message.contains("yard redeploy builds the image"))
    }

    @Test func aDatabaseRunsItsStartScriptWithAReadinessCheckOnItsOwnPort() {
        var request = ReplicaRequest(
            id: "rep_d-0", deploymentID: "dep_d", serviceID: "svc_d", serviceName: "Postgres", environmentID: "env_d", subnetIndex: 1,
            artifact: nil, command: "set -eu\necho one; echo two", environment: [:], port: 41234)
        request.database = .postgres
        // A script, not words to exec.
        #expect(SwarmRuntime.databaseArguments(request) == ["/bin/sh", "-c", "set -eu\necho one; echo two"])
        #expect(SwarmRuntime.readinessCheck(.postgres, port: 41234).hasSuffix("/pg_isready\" -q -h 127.0.0.1 -p 41234"))
        #expect(SwarmRuntime.readinessCheck(.redis, port: 6390).contains("redis-cli -h 127.0.0.1 -p 6390 ping"))
        #expect(SwarmRuntime.readinessCheck(.mysql, port: 3310).contains("-P 3310"))
    }

    @Test func theEnvironmentFileQuotesValuesAndSkipsNamesAShellCannotSet() {
        let text = SwarmRuntime.environmentFile(["A": "it's $HOME `x`", "B_2": "", "not-a-name": "x", "9X": "y"])
        #expect(text == "A='it'\\''s $HOME `x`'\nB_2=''\n")
    }

    // MARK: - Support

    static func runtime(_ daemon: TestDockerDaemon, store: ImageStore, scratch: URL) -> SwarmRuntime {
        let logger = Logger(label: "swarm-test")
        return SwarmRuntime(
            configuration: .init(
                socketPath: daemon.socketPath, namePrefix: prefix, imageStore: store,
                scratchDirectory: scratch.appendingPathComponent("swarm")),
            builds: ProcessRuntime(host: "127.0.0.1", logger: logger), logger: logger)
    }

    static func build(_ store: ImageStore, _ scratch: URL, extra: [String]) async throws -> ImageArtifact {
        let context = scratch.appendingPathComponent("context")
        try TestImages.writeHTTPServerContext(at: context, user: "1000", extra: extra)
        let name = "localhost/yard-test/swarm:1"
        try await store.run(.buildah, ["bud", "--pull=never", "--quiet", "-t", name, context.path])
        return try #require(try await store.inspect(name))
    }

    /// GETs `url` with curl until it answers, for up to 30 s.
    static func get(_ url: String) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let result = try await SystemCommand("/usr/bin/curl", ["--silent", "--fail", "--max-time", "2", url]).result()
            if result.succeeded { return result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) }
            guard ContinuousClock.now < deadline else {
                throw YardError(.unavailable, "\(url) did not answer within 30 s (curl exit \(result.status))")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}

/// The runtime's events as they arrive, for waiting on one.
actor EventLog {
    private var events: [ReplicaEvent] = []

    init(_ stream: AsyncStream<ReplicaEvent>) {
        Task { await self.read(stream) }
    }

    private func read(_ stream: AsyncStream<ReplicaEvent>) async {
        for await event in stream { events.append(event) }
    }

    func waitFor(_ what: String, timeout: Duration = .seconds(30), _ match: @Sendable (ReplicaEvent) -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !events.contains(where: match) {
            guard ContinuousClock.now < deadline else {
                throw YardError(.unavailable, "no event '\(what)' within \(timeout); events: \(events)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
