import Foundation
import Logging
import YardCore
import YardImage
import YardRouter
import YardRuntime

/// Replicas as Docker Swarm services, through the Docker Engine API on its unix socket.
///
/// Each replica the orchestrator places is a swarm service of one task (`<prefix>-<replica id>`),
/// so swarm restarts it by its policy and reschedules it when its node is lost, while the
/// orchestrator keeps what it does on every runtime: it places, health-checks, switches the
/// router, then stops the old replicas (the cutover is start-first). Tasks publish their
/// port on the node in `host` mode (the kernel here has no IPVS, so no routing mesh) and use
/// `dnsrr` endpoints; the router reaches them on `host:port`. Variables reach the task as a
/// swarm secret (an env file read by a `/bin/sh` wrapper before the image's command), never
/// in the service spec. Builds still run on this machine, in the runtime `builds` (the
/// sandbox); only image artifacts run on the swarm.
public actor SwarmRuntime: ReplicaRuntime, ClusterNodes {
    public struct Configuration: Sendable {
        /// The Docker Engine's socket (`/var/run/docker.sock`).
        public var socketPath: String
        /// Prefix of every service, secret and network this server makes (and removes at start).
        public var namePrefix: String
        /// Where tasks' published ports are reached (the node's address; loopback on one machine).
        public var host: String
        /// The machine's image store, images are exported from.
        public var imageStore: ImageStore
        /// Scratch folder for image archives on their way to the engine.
        public var scratchDirectory: URL
        /// The registry every node pulls from; nil loads images into the manager's engine only
        /// (one node).
        public var registry: SwarmRegistry?
        /// The wall between tasks on this machine's node (`SwarmIsolation`), written before the
        /// first placement with the swarm's node addresses and removed at shutdown; nil writes none.
        public var isolation: SwarmIsolation?

        public init(
            socketPath: String, namePrefix: String, host: String = "127.0.0.1", imageStore: ImageStore, scratchDirectory: URL,
            registry: SwarmRegistry? = nil, isolation: SwarmIsolation? = nil
        ) {
            self.socketPath = socketPath
            self.namePrefix = namePrefix
            self.host = host
            self.imageStore = imageStore
            self.scratchDirectory = scratchDirectory
            self.registry = registry
            self.isolation = isolation
        }
    }

    struct Placed: Sendable {
        var request: ReplicaRequest
        var spec: SwarmServiceSpec
        var secretID: String?
        var serviceID: String?
        var watcher: Task<Void, Never>?
        var logs: Task<Void, Never>?
        var policy: RestartPolicy
    }

    public nonisolated let configuration: Configuration
    public nonisolated let events: AsyncStream<ReplicaEvent>
    nonisolated let continuation: AsyncStream<ReplicaEvent>.Continuation
    let engine: DockerEngine
    let builds: any ReplicaRuntime
    let logger: Logger
    var placed: [String: Placed] = [:]
    /// Images already in the engine, by image id.
    var loadedImages: [String: String] = [:]
    /// Overlay network ids, by environment id.
    var networks: [String: String] = [:]
    /// Node addresses, by node id.
    var nodeAddresses: [String: String] = [:]
    /// Each replica's port on `host`, relayed to its task's published port on its node.
    let relay: TCPProxy
    /// Where each replica's relay points, and the replicas whose task refused it (see +Failover).
    var relayTargets: [String: Upstream] = [:]
    var unreachable: Set<String> = []
    /// The isolation rules as written on this node (see +Isolation).
    var installedIsolation: SwarmIsolation?
    /// The install of the isolation rules under way, and the overlay networks being created, by
    /// environment id. Placements arrive together (at start every live deployment restarts at
    /// once) and the actor lets the next one in at each engine call or command: two installs,
    /// or two creations of one network, at once would fail each other.
    var isolating: Task<Void, any Error>?
    var creatingNetworks: [String: Task<String, any Error>] = [:]

    public nonisolated var isolation: RuntimeIsolation { .sandbox }
    public nonisolated var addressing: ReplicaAddressing { .sharedHost(configuration.host) }
    /// The relay, and swarm's port proxy behind it, accept before the app listens.
    public nonisolated var portSettleTime: Duration { HealthCheckSchedule().settleTime }
    public nonisolated var summary: String {
        "swarm: replicas as Docker Swarm services through \(configuration.socketPath); builds: \(builds.summary)"
    }
    public nonisolated var appMountPath: String? { builds.appMountPath }
    public nonisolated var buildLauncher: any ProcessLauncher { builds.buildLauncher }
    public nonisolated var platformExecutable: String? { builds.platformExecutable }

    public init(configuration: Configuration, builds: any ReplicaRuntime, logger: Logger) {
        let (events, continuation) = AsyncStream.makeStream(of: ReplicaEvent.self)
        self.events = events
        self.continuation = continuation
        self.configuration = configuration
        self.engine = DockerEngine(socketPath: configuration.socketPath)
        self.builds = builds
        self.logger = logger
        self.relay = TCPProxy(host: configuration.host, logger: logger)
        watchRelayFailures()
    }

    /// Whether the engine answers and is a swarm manager (the error says what to do); returns
    /// the manager's swarm address.
    @discardableResult
    public static func check(socketPath: String) async throws -> String {
        let engine = DockerEngine(socketPath: socketPath)
        guard await engine.ping() else {
            throw YardError(
                .unavailable,
                "no Docker engine answers on \(socketPath): start dockerd (apt-get install -y docker.io) or pass --docker-socket PATH")
        }
        struct Info: Decodable {
            struct Swarm: Decodable {
                var LocalNodeState: String
                var ControlAvailable: Bool
                var NodeAddr: String?
            }
            var Swarm: Swarm
        }
        let info = try await engine.get("/info", as: Info.self)
        guard info.Swarm.LocalNodeState == "active", info.Swarm.ControlAvailable else {
            throw YardError(
                .unavailable,
                "the Docker engine on \(socketPath) is not a swarm manager (state \(info.Swarm.LocalNodeState)): run `docker swarm init`")
        }
        return info.Swarm.NodeAddr ?? "127.0.0.1"
    }

    // MARK: lifecycle

    public func cleanUpLeftovers() async {
        await builds.cleanUpLeftovers()
        await removeOwnedObjects()
    }

    public nonisolated func closeEvents() {
        builds.closeEvents()
        continuation.finish()
    }

    public func shutdown() async {
        await removeOwnedObjects()
        for port in relay.openPorts { await relay.close(port: port) }
        await removeIsolation()
        configuration.registry?.stop()
        await builds.shutdown()
    }

    public func prepareNetwork(environmentID: String, subnetIndex: Int) async throws {
        try await builds.prepareNetwork(environmentID: environmentID, subnetIndex: subnetIndex)
    }

    public func removeNetwork(environmentID: String) async {
        await removeOverlayNetwork(environmentID: environmentID)
        await builds.removeNetwork(environmentID: environmentID)
    }

    public func publishDirectory(environmentID: String, services: [String: [String]]) async {
        await builds.publishDirectory(environmentID: environmentID, services: services)
    }

    // MARK: builds run on this machine

    public nonisolated func buildEnvironment() -> [String: String] { builds.buildEnvironment() }

    public func prepareBuild(_ request: BuildBoxRequest) async throws -> BuildBox {
        try await builds.prepareBuild(request)
    }

    public func finishBuild(deploymentID: String) async {
        await builds.finishBuild(deploymentID: deploymentID)
    }

    public nonisolated func confineTool(serviceID: String, environmentID: String, scratch: String) throws -> ConfinedTool {
        try builds.confineTool(serviceID: serviceID, environmentID: environmentID, scratch: scratch)
    }

    // MARK: replicas

    public func placeReplica(_ request: ReplicaRequest) async throws -> ReplicaPlacement {
        var request = request
        let image = try Self.requireImage(request)
        try await isolateNode()
        let reference = try await configuration.registry != nil ? pushImage(image) : loadImage(image)
        let network = try await overlayNetwork(environmentID: request.environmentID)
        let arguments = try request.database != nil ? Self.databaseArguments(request) : image.config.arguments(startCommand: request.command)
        var spec = makeSpec(
            request, image: reference, network: network, arguments: arguments, workingDirectory: image.config.workingDirectory)
        configureDatabase(request, spec: &spec)
        try await mountVolume(&request, into: &spec)
        placed[request.id] = Placed(request: request, spec: spec, policy: request.restartPolicy)
        return ReplicaPlacement(address: configuration.host, port: request.port, environment: request.environment)
    }

    public func startReplica(id: String) async throws {
        guard var replica = placed[id] else {
            throw YardError(.internal, "replica \(id) was not placed before it was started")
        }
        let secretID = try await createEnvironmentSecret(for: replica.request, name: replica.spec.Name)
        replica.secretID = secretID
        replica.spec.TaskTemplate.ContainerSpec.Secrets = [
            .init(
                File: .init(Name: Self.environmentFileName, UID: "0", GID: "0", Mode: 0o444), SecretID: secretID,
                SecretName: replica.spec.Name)
        ]
        let created: CreatedObject
        do {
            // Until its task runs, the relay closes connections at once (as a stopped server);
            // a database's opens when its task is ready (`routeDatabase`), so the health check waits.
            if replica.request.database == nil { try await relay.open(port: replica.request.port) }
            created = try await engine.call(.POST, "/services/create", body: replica.spec, as: CreatedObject.self)
        } catch {
            await relay.close(port: replica.request.port)
            _ = try? await engine.call(.DELETE, "/secrets/\(secretID)")
            placed[id] = nil
            throw error
        }
        replica.serviceID = created.id
        replica.watcher = Task { [weak self] in await self?.watch(replicaID: id, serviceID: created.id) }
        replica.logs = Task { [engine, continuation] in
            try? await engine.followLogs("/services/\(created.id)/logs?follow=1&stdout=1&stderr=1&tail=0") { line, isError in
                continuation.yield(.output(replicaID: id, stream: isError ? .stderr : .stdout, line: line))
            }
        }
        placed[id] = replica
        logger.info("swarm service created", metadata: ["replica": "\(id)", "service": "\(created.id)"])
    }

    public func stopReplica(id: String, grace: Duration) async {
        guard let replica = placed.removeValue(forKey: id) else { return }
        replica.watcher?.cancel()
        if let serviceID = replica.serviceID {
            await scaleToZero(serviceID: serviceID, grace: grace)
            await removeService(serviceID)
        }
        replica.logs?.cancel()
        await relay.close(port: replica.request.port)
        relayTargets[id] = nil
        unreachable.remove(id)
        if let secretID = replica.secretID { await removeSecret(secretID) }
        if replica.serviceID != nil { continuation.yield(.stopped(replicaID: id)) }
    }

    public func stopAll(grace: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            for id in placed.keys { group.addTask { await self.stopReplica(id: id, grace: grace) } }
        }
    }

    public func usage(of replicaID: String) async -> ResourceUsage? {
        guard let serviceID = placed[replicaID]?.serviceID,
            let task = try? await runningTask(serviceID: serviceID), let container = task.Status.ContainerStatus?.ContainerID
        else { return nil }
        struct Stats: Decodable {
            struct CPU: Decodable {
                struct Usage: Decodable { var total_usage: UInt64 }
                var cpu_usage: Usage
            }
            struct Memory: Decodable { var usage: UInt64? }
            var cpu_stats: CPU
            var memory_stats: Memory
        }
        guard let stats = try? await engine.get("/containers/\(container)/stats?stream=0&one-shot=1", as: Stats.self) else { return nil }
        return ResourceUsage(cpuNanoseconds: stats.cpu_stats.cpu_usage.total_usage, memoryBytes: stats.memory_stats.usage ?? 0)
    }

    public func startTask(_ request: ReplicaRequest, output: @escaping OutputHandler) async throws -> any LaunchedProcess {
        try await startJob(request, output: output)
    }

    public func endTask(id: String) async {
        await endJob(id: id)
    }
}
