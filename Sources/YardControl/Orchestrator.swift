import Foundation
import Logging
import ServiceLifecycle
import YardBuild
import YardConfig
import YardCore
import YardNetwork
import YardRouter
import YardRuntime
import YardStore

/// Runs deployments: the pipeline from uploaded source to live replicas, the cutover, the
/// reaction to crashes, the actions (redeploy, restart, down) and the recovery after a
/// restart of the platform. Every status change is persisted before it is acted on.
public actor Orchestrator: Service {
    public struct Configuration: Sendable {
        public var dataDirectory: URL
        public var baseDomain: String
        /// Absolute path of the `yard` executable (the static file server is `yard static-serve`).
        public var platformExecutable: String
        /// The address replicas listen on and the router connects to.
        public var replicaHost: String = "127.0.0.1"
        /// The first restart waits this long; later ones double it.
        public var restartBaseBackoff: Duration = .seconds(1)
        /// Environment every build step and replica starts from.
        public var hostEnvironment: [String: String]
        /// The /16 the environments' private /24s are carved from (second octet).
        public var privateNetworkBase: Int = 213
        /// Prefix of every namespace, veth and bridge this server creates (and removes at start).
        public var networkPrefix: String = "yard"

        public init(dataDirectory: URL, baseDomain: String, platformExecutable: String, hostEnvironment: [String: String]) {
            self.dataDirectory = dataDirectory
            self.baseDomain = baseDomain
            self.platformExecutable = platformExecutable
            self.hostEnvironment = hostEnvironment
        }
    }

    private enum Job: Sendable {
        /// Build and deploy a new deployment.
        case pipeline(deploymentID: String)
        /// Start fresh replicas of an already built deployment (restart, recovery).
        case restart(deploymentID: String, reason: String)
        /// Stop the live deployment of a service.
        case down(deploymentID: String)
    }

    private struct ReplicaState {
        var id: String
        var deploymentID: String
        var serviceName: String
        var environmentID: String
        var port: Int
        /// Where the router and the health checker reach it.
        var address: String
        /// Whether it has a network namespace to remove.
        var isAttached: Bool
        var status: ReplicaStatus
    }

    private struct ServiceKey: Hashable {
        var serviceID: String
        var environmentID: String
    }

    public nonisolated let configuration: Configuration
    public nonisolated let store: SQLiteStore
    public nonisolated let logs: LogStore
    public nonisolated let statuses = StatusBroadcast()
    public nonisolated let isolation: String
    private let launcher: any ProcessLauncher
    /// The private networks; nil when replicas run as plain processes on loopback.
    private let network: NetworkFabric?
    private let router: Router
    private let logger: Logger
    private let builder: Builder
    private let supervisor: Supervisor
    private let supervisorEvents: AsyncStream<SupervisorEvent>
    private let supervisorEventsContinuation: AsyncStream<SupervisorEvent>.Continuation
    private let jobs: AsyncStream<(ServiceKey, Job)>
    private let jobsContinuation: AsyncStream<(ServiceKey, Job)>.Continuation

    private var replicas: [String: ReplicaState] = [:]
    private var live: [ServiceKey: String] = [:]
    private var queues: [ServiceKey: [Job]] = [:]
    private var busy: Set<ServiceKey> = []
    private var routerPort = 0

    public init(
        configuration: Configuration,
        store: SQLiteStore,
        launcher: any ProcessLauncher,
        network: NetworkFabric? = nil,
        router: Router,
        logger: Logger
    ) {
        self.configuration = configuration
        self.network = network
        self.store = store
        self.logs = LogStore(directory: configuration.dataDirectory.appendingPathComponent("logs"))
        self.launcher = launcher
        self.isolation = launcher.isolation
        self.router = router
        self.logger = logger
        self.builder = Builder(
            configuration: .init(platformExecutable: configuration.platformExecutable),
            launcher: BuildProcessRecorder(launcher: launcher)
        )
        let (events, eventsContinuation) = AsyncStream.makeStream(of: SupervisorEvent.self)
        (supervisorEvents, supervisorEventsContinuation) = (events, eventsContinuation)
        self.supervisor = Supervisor(launcher: launcher, logger: logger) { event in
            eventsContinuation.yield(event)
        }
        (jobs, jobsContinuation) = AsyncStream.makeStream()
    }

    private var artifactsDirectory: URL { configuration.dataDirectory.appendingPathComponent("artifacts") }
    private var runDirectory: URL { configuration.dataDirectory.appendingPathComponent("run") }
    private var volumesDirectory: URL { configuration.dataDirectory.appendingPathComponent("volumes") }
    private var sourcesDirectory: URL { configuration.dataDirectory.appendingPathComponent("sources") }

    /// The router's port, for the URLs the API shows.
    public func setRouterPort(_ port: Int) {
        routerPort = port
    }

    public func url(forHostname hostname: String) -> String {
        routerPort == 80 ? "http://\(hostname)" : "http://\(hostname):\(routerPort)"
    }

    // MARK: Service

    public func run() async throws {
        try recover()
        if network != nil {
            // After a crash: namespaces, veths and bridges of the previous run, whose
            // processes recover() has just stopped.
            await NetworkFabric.removeLeftovers(prefix: configuration.networkPrefix)
        }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.consumeSupervisorEvents() }
                for await (key, job) in jobs {
                    group.addTask { await self.execute(job, key: key) }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.jobsContinuation.finish()
            self.supervisorEventsContinuation.finish()
        }
        // Shutdown: stop every replica; their deployments stay SUCCESS and come back at
        // the next start.
        await supervisor.stopAll(gracePeriod: .seconds(5))
        await network?.removeAll()
    }

    private func consumeSupervisorEvents() async {
        for await event in supervisorEvents {
            handle(event)
        }
    }

    // MARK: Requests

    /// Stores an uploaded source archive and queues its deployment.
    public func deploy(serviceID: String, environmentID: String, archive: URL, trigger: String) throws -> DeploymentRecord {
        let id = Identifier.make("dep")
        try FileManager.default.createDirectory(at: sourcesDirectory, withIntermediateDirectories: true)
        let stored = sourcesDirectory.appendingPathComponent("\(id).tar.gz")
        try FileManager.default.moveItem(at: archive, to: stored)
        let hash = try ContentHash.sha256(fileAt: stored)
        let now = Date()
        let deployment = DeploymentRecord(
            id: id, serviceID: serviceID, environmentID: environmentID, status: .queued, reason: nil,
            trigger: trigger, sourceHash: hash, sourcePath: stored.path, artifactPath: nil, buildResult: nil,
            deploySettings: nil, variables: nil, createdAt: now, updatedAt: now
        )
        try store.insertDeployment(deployment)
        enqueue(.pipeline(deploymentID: id), key: ServiceKey(serviceID: serviceID, environmentID: environmentID))
        return deployment
    }

    /// A new deployment built again from the source of the service's latest deployment.
    public func redeploy(serviceID: String, environmentID: String) throws -> DeploymentRecord {
        guard
            let latest = try store.deployments(serviceID: serviceID, environmentID: environmentID)
                .first(where: { $0.sourcePath.map { FileManager.default.fileExists(atPath: $0) } ?? false }),
            let sourcePath = latest.sourcePath
        else {
            throw YardError(.notFound, "this service has no deployment to redeploy; deploy it first with `yard up`")
        }
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID().uuidString).tar.gz")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: sourcePath), to: copy)
        return try deploy(serviceID: serviceID, environmentID: environmentID, archive: copy, trigger: "redeploy")
    }

    /// Starts the live deployment's artifact again on fresh replicas, with no rebuild.
    public func restart(serviceID: String, environmentID: String) throws -> DeploymentRecord {
        let key = ServiceKey(serviceID: serviceID, environmentID: environmentID)
        let fallback = try latestRunnable(key)?.id
        guard let id = live[key] ?? fallback else {
            throw YardError(.notFound, "this service has no deployment to restart")
        }
        // Persisted before answering, so a client watching the deployment sees it restart.
        let record = try transition(id, .deploying, reason: "restart requested")
        enqueue(.restart(deploymentID: id, reason: "restart requested"), key: key)
        return record
    }

    /// Removes the service's latest deployment: its replicas stop and its domains stop routing.
    public func down(serviceID: String, environmentID: String) throws -> DeploymentRecord {
        let key = ServiceKey(serviceID: serviceID, environmentID: environmentID)
        guard
            let latest = try store.deployments(serviceID: serviceID, environmentID: environmentID)
                .first(where: { !$0.status.isFinal && $0.status != .removing })
        else {
            throw YardError(.notFound, "this service has no running deployment to take down")
        }
        var record = latest
        if !latest.status.isInProgress || latest.status == .deploying {
            record = try transition(latest.id, .removing, reason: "removed by `yard down`")
        }
        enqueue(.down(deploymentID: latest.id), key: key)
        return record
    }

    private func latestRunnable(_ key: ServiceKey) throws -> DeploymentRecord? {
        try store.deployments(serviceID: key.serviceID, environmentID: key.environmentID)
            .first(where: { [.success, .crashed, .sleeping].contains($0.status) })
    }

    /// The deployment currently serving a service, if any.
    public func liveDeploymentID(serviceID: String, environmentID: String) -> String? {
        live[ServiceKey(serviceID: serviceID, environmentID: environmentID)]
    }

    /// The variables a replica of this service would get now (`yard run`): the user's
    /// variables and the `RAILWAY_*` ones, without the per-replica `PORT` and replica id.
    public func resolvedVariables(serviceID: String, environmentID: String) throws -> [String: String] {
        let key = ServiceKey(serviceID: serviceID, environmentID: environmentID)
        let service = try store.service(id: serviceID)
        let environment = try store.environment(id: environmentID)
        let project = try store.project(service.projectID)
        let domain = try store.domains(serviceID: serviceID, environmentID: environmentID).first?.hostname ?? ""
        var result = try variables(key)
        result.merge(railwayVariables(project: project, environment: environment, service: service,
                                      deploymentID: live[key] ?? "", domain: domain)) { user, _ in user }
        return result
    }

    /// Live CPU and memory use of a replica, read from its cgroup.
    public func usage(replicaID: String) async -> ResourceUsage? {
        await supervisor.usage(of: replicaID)
    }

    // MARK: Queue

    /// Jobs of one service run one at a time, in order; different services run in parallel.
    private func enqueue(_ job: Job, key: ServiceKey) {
        if busy.contains(key) {
            queues[key, default: []].append(job)
        } else {
            busy.insert(key)
            jobsContinuation.yield((key, job))
        }
    }

    private func jobFinished(key: ServiceKey) {
        if var queue = queues[key], !queue.isEmpty {
            let next = queue.removeFirst()
            queues[key] = queue
            jobsContinuation.yield((key, next))
        } else {
            busy.remove(key)
        }
    }

    private func execute(_ job: Job, key: ServiceKey) async {
        switch job {
        case .pipeline(let id): await runPipeline(deploymentID: id, key: key)
        case .restart(let id, let reason): await restartReplicas(deploymentID: id, key: key, reason: reason)
        case .down(let id): await takeDown(deploymentID: id, key: key)
        }
        jobFinished(key: key)
    }

    // MARK: Pipeline

    private func transition(_ id: String, _ status: DeploymentStatus, reason: String? = nil,
                            change: @Sendable (inout DeploymentRecord) -> Void = { _ in }) throws -> DeploymentRecord
    {
        let record = try store.transition(deploymentID: id, to: status, reason: reason, change: change)
        let line = reason.map { "\(status.rawValue): \($0)" } ?? status.rawValue
        logs.append(deploymentID: id, kind: status.isInProgress && status != .deploying ? .build : .deploy, stream: .system, message: "status → \(line)")
        statuses.publish(deploymentID: id, status: status)
        logger.info("deployment status", metadata: ["deployment.id": "\(id)", "deployment.status": "\(status.rawValue)"])
        return record
    }

    private func buildLog(_ id: String) -> @Sendable (LogLine.Stream, String) -> Void {
        let logs = self.logs
        return { stream, line in logs.append(deploymentID: id, kind: .build, stream: stream, message: line) }
    }

    /// Build steps run boxed too, but on the host's network (they need package registries;
    /// the private network does not exist during builds, as on Railway), as the same
    /// unprivileged uid as replicas, with only the app folder (which it owns) writable.
    private func buildSandbox(deploymentID: String, appDirectory: URL, service: ServiceRecord) -> SandboxSpec? {
        guard network != nil else { return nil }
        let limits = (try? YardJSON.decode(ResourceLimits.self, from: service.resourceLimits)) ?? ResourceLimits()
        return SandboxSpec(
            hostname: "build",
            networkNamespace: nil,
            readOnlyBinds: platformBinds,
            writableBinds: [BindMount(source: appDirectory.path, target: appDirectory.path)],
            hiddenPaths: [configuration.dataDirectory.path],
            runAsRoot: false,
            limits: ResourceLimits(memoryBytes: limits.memoryBytes, cpus: nil, maxProcesses: limits.maxProcesses),
            cgroupName: "build-\(deploymentID)"
        )
    }

    private func buildPidsFile(_ deploymentID: String) -> URL {
        artifactsDirectory.appendingPathComponent(deploymentID).appendingPathComponent("build.pids")
    }

    private func runPipeline(deploymentID id: String, key: ServiceKey) async {
        let log = buildLog(id)
        var started: [String] = []
        do {
            let appDirectory = artifactsDirectory.appendingPathComponent(id).appendingPathComponent("app")
            var deployment = try transition(id, .initializing) { $0.artifactPath = appDirectory.path }
            let service = try store.service(id: key.serviceID)
            let environment = try store.environment(id: key.environmentID)
            let project = try store.project(service.projectID)
            guard let sourcePath = deployment.sourcePath else {
                throw YardError(.internal, "deployment \(id) has no stored source")
            }
            try SourceArchive.extract(URL(fileURLWithPath: sourcePath), into: appDirectory)
            if network != nil {
                // The unprivileged build steps write dependencies into the app folder.
                try SourceArchive.changeOwner(of: appDirectory, to: Self.sandboxUID)
            }
            log(.system, "source unpacked (sha256 \(deployment.sourceHash?.prefix(12) ?? "?"))")

            let config = try ConfigLoader.load(
                directory: appDirectory,
                configPath: service.configPath,
                environment: environment.name,
                serviceBuild: YardJSON.decode(BuildOverrides.self, from: service.buildOverrides),
                serviceDeploy: YardJSON.decode(DeployOverrides.self, from: service.deployOverrides)
            )
            log(.system, "config: \(config.configFile ?? "no railway.toml or railway.json; using defaults")")
            for warning in config.warnings {
                log(.system, "warning: \(warning)")
            }

            let userVariables = try variables(key)
            var deploy = config.deploy
            applySettingVariables(userVariables, to: &deploy)
            deployment = try transition(id, .building)
            let result = try await builder.build(
                BuildRequest(
                    sourceDirectory: appDirectory,
                    appDirectory: appDirectory,
                    build: config.build,
                    startCommand: deploy.startCommand,
                    procfileWeb: config.procfileWeb,
                    variables: userVariables,
                    hostEnvironment: configuration.hostEnvironment.merging(
                        [BuildProcessRecorder.marker: id, BuildProcessRecorder.recordFile: buildPidsFile(id).path]
                            .merging(network == nil ? [:] : ["HOME": "/tmp"]) { a, _ in a }
                    ) { _, marker in marker },
                    sandbox: buildSandbox(deploymentID: id, appDirectory: appDirectory, service: service)
                ),
                log: log
            )
            try Task.checkCancellation()
            let domain = try ensureGeneratedDomain(service: service, project: project, environmentID: key.environmentID)
            var runtimeVariables = userVariables
            runtimeVariables.merge(railwayVariables(project: project, environment: environment, service: service, deploymentID: id, domain: domain)) { user, _ in user }
            let snapshot = runtimeVariables
            let settings = deploy
            deployment = try transition(id, .deploying) {
                $0.buildResult = try? YardJSON.encodeString(result)
                $0.deploySettings = try? YardJSON.encodeString(settings)
                $0.variables = try? YardJSON.encodeString(snapshot)
            }
            logs.close(deploymentID: id, kind: .build)

            if try store.volume(serviceID: key.serviceID, environmentID: key.environmentID) != nil, let previous = live[key] {
                // A volume is never mounted into two running deployments: the old one stops first.
                logs.append(deploymentID: id, kind: .deploy, stream: .system,
                            message: "this service has a volume: stopping \(previous) before starting the new replicas")
                live.removeValue(forKey: key)
                await retire(deploymentID: previous, overlap: 0, draining: deploy.drainingSeconds)
            }
            started = try await startReplicas(deployment: deployment, result: result, settings: deploy, variables: runtimeVariables)
            try await cutOver(to: id, key: key, settings: deploy)
        } catch {
            let message = Self.describe(error)
            log(.system, "error: \(message)")
            for replicaID in started {
                await removeReplica(replicaID, grace: .seconds(2))
            }
            _ = try? transition(id, .failed, reason: message)
            logs.close(deploymentID: id, kind: .build)
            logs.close(deploymentID: id, kind: .deploy)
        }
    }

    /// Makes `id` the live deployment of its service, then retires the previous one.
    private func cutOver(to id: String, key: ServiceKey, settings: DeploySettings) async throws {
        _ = try transition(id, .success)
        let previous = live[key]
        live[key] = id
        updateRoutes()
        if let previous, previous != id {
            await retire(deploymentID: previous, overlap: settings.overlapSeconds, draining: settings.drainingSeconds)
        }
    }

    /// Old deployment: `overlapSeconds` more of running, then SIGTERM, `drainingSeconds`, SIGKILL.
    private func retire(deploymentID: String, overlap: Int, draining: Int) async {
        do {
            _ = try transition(deploymentID, .removing, reason: "replaced by a newer deployment")
            if overlap > 0 { try? await Task.sleep(for: .seconds(overlap)) }
            await stopReplicas(of: deploymentID, grace: .seconds(max(draining, 0)))
            _ = try transition(deploymentID, .removed)
        } catch {
            logger.error("could not retire deployment", metadata: ["deployment.id": "\(deploymentID)", "error": "\(error)"])
        }
        logs.close(deploymentID: deploymentID, kind: .deploy)
    }

    private func stopReplicas(of deploymentID: String, grace: Duration) async {
        let ids = replicas.values.filter { $0.deploymentID == deploymentID }.map(\.id)
        for replicaID in ids {
            await removeReplica(replicaID, grace: grace)
        }
    }

    /// Starts `numReplicas` replicas of a built deployment and waits for every one to pass
    /// its health check. Returns their ids; throws (after stopping them) if one fails.
    private func startReplicas(
        deployment: DeploymentRecord,
        result: BuildResult,
        settings: DeploySettings,
        variables: [String: String]
    ) async throws -> [String] {
        var started: [String] = []
        do {
            let service = try store.service(id: deployment.serviceID)
            let limits = (try? YardJSON.decode(ResourceLimits.self, from: service.resourceLimits)) ?? ResourceLimits()
            let volume = try store.volume(serviceID: service.id, environmentID: deployment.environmentID)
            let count = volume == nil ? max(1, settings.numReplicas) : 1
            if volume != nil && settings.numReplicas > 1 {
                logs.append(deploymentID: deployment.id, kind: .deploy, stream: .system,
                            message: "warning: a service with a volume runs one replica (numReplicas \(settings.numReplicas) ignored)")
            }
            for ordinal in 0..<count {
                let replicaID = "\(deployment.id.replacingOccurrences(of: "dep_", with: "rep_"))-\(ordinal)-\(Identifier.make("r").suffix(4))"
                let port = try PortAllocator.freePort(host: configuration.replicaHost)
                var environment = configuration.hostEnvironment
                environment.merge(result.environment) { _, plan in plan }
                environment.merge(variables) { _, user in user }
                environment["PORT"] = String(port)
                environment["RAILWAY_REPLICA_ID"] = replicaID
                let placement = try await place(
                    replicaID: replicaID, deployment: deployment, service: service, limits: limits, volume: volume,
                    runAsRoot: variables["RAILWAY_RUN_UID"] == "0", environment: &environment
                )
                try store.saveReplica(
                    ReplicaRecord(id: replicaID, deploymentID: deployment.id, ordinal: ordinal, port: port, pid: nil,
                                  status: .initializing, restarts: 0, updatedAt: Date(),
                                  address: placement.sandbox == nil ? nil : placement.address))
                replicas[replicaID] = ReplicaState(
                    id: replicaID, deploymentID: deployment.id, serviceName: service.name,
                    environmentID: deployment.environmentID, port: port, address: placement.address,
                    isAttached: placement.sandbox != nil, status: .initializing)
                started.append(replicaID)
                refreshHosts(environmentID: deployment.environmentID)
                let spec = ReplicaSpec(
                    id: replicaID,
                    deploymentID: deployment.id,
                    launch: LaunchSpec(arguments: ["/bin/sh", "-c", result.startCommand], environment: environment,
                                       workingDirectory: deployment.artifactPath ?? "/", label: replicaID,
                                       sandbox: placement.sandbox),
                    restartPolicy: RestartPolicy(
                        type: settings.restartPolicyType,
                        maxRetries: settings.restartPolicyMaxRetries,
                        baseBackoff: configuration.restartBaseBackoff
                    )
                )
                logs.append(deploymentID: deployment.id, kind: .deploy, stream: .system, replica: replicaID,
                            message: "starting replica \(ordinal + 1) of \(count) at \(placement.address):\(port): \(result.startCommand)")
                try await supervisor.start(spec)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for replicaID in started {
                    let port = replicas[replicaID]?.port ?? 0
                    let address = replicas[replicaID]?.address ?? configuration.replicaHost
                    group.addTask {
                        try await self.waitHealthy(replicaID: replicaID, address: address, port: port,
                                                   deploymentID: deployment.id, settings: settings)
                    }
                }
                try await group.waitForAll()
            }
            return started
        } catch {
            for replicaID in started {
                await removeReplica(replicaID, grace: .seconds(2))
            }
            throw error
        }
    }

    /// Where a replica runs: its own network namespace and sandbox when the machine can
    /// isolate, else a plain process on loopback. Adds the variables that depend on it.
    private func place(
        replicaID: String, deployment: DeploymentRecord, service: ServiceRecord, limits: ResourceLimits,
        volume: VolumeRecord?, runAsRoot: Bool, environment: inout [String: String]
    ) async throws -> (address: String, sandbox: SandboxSpec?) {
        var volumeBind: BindMount?
        if let volume {
            let directory = volumesDirectory.appendingPathComponent(volume.id)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            // Replicas run unprivileged: the volume belongs to them.
            _ = chown(directory.path, Self.sandboxUID, Self.sandboxUID)
            environment["RAILWAY_VOLUME_NAME"] = volume.name
            // Without a sandbox there is no bind mount: the app gets the host folder itself.
            environment["RAILWAY_VOLUME_MOUNT_PATH"] = network == nil ? directory.path : volume.mountPath
            volumeBind = BindMount(source: directory.path, target: volume.mountPath)
        }
        guard let network else { return (configuration.replicaHost, nil) }
        let subnet = Subnet(index: try store.subnetIndex(environmentID: deployment.environmentID), base: configuration.privateNetworkBase)
        _ = try await network.ensureEnvironment(environmentID: deployment.environmentID, subnet: subnet)
        let attachment = try await network.attach(replicaID: replicaID, environmentID: deployment.environmentID, egress: service.egress)
        let hosts = runDirectory.appendingPathComponent(replicaID).appendingPathComponent("hosts")
        try FileManager.default.createDirectory(at: hosts.deletingLastPathComponent(), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: hosts.path, contents: nil)
        environment["HOME"] = "/tmp"
        let app = deployment.artifactPath ?? "/"
        let sandbox = SandboxSpec(
            hostname: replicaID,
            networkNamespace: attachment.namespace,
            readOnlyBinds: platformBinds + [BindMount(source: app, target: app)],
            writableBinds: volumeBind.map { [$0] } ?? [],
            hostsFile: hosts.path,
            hiddenPaths: [configuration.dataDirectory.path],
            runAsRoot: runAsRoot,
            limits: limits,
            cgroupName: replicaID
        )
        return (attachment.address, sandbox)
    }

    /// The `yard` binary, bound into every sandbox: the static file server is `yard
    /// static-serve`, and the binary may live where the sandbox has a private folder (/tmp).
    private var platformBinds: [BindMount] {
        [BindMount(source: configuration.platformExecutable, target: configuration.platformExecutable)]
    }

    /// The uid unprivileged replicas run as (nobody).
    static let sandboxUID: UInt32 = 65534

    /// Rewrites the hosts file of every replica of an environment: `<service>.railway.internal`
    /// → that service's replica addresses, ordered per viewer to spread connections.
    private func refreshHosts(environmentID: String) {
        guard network != nil else { return }
        let members = replicas.values.filter { $0.environmentID == environmentID && $0.isAttached && $0.status != .removed }
        var services: [String: [String]] = [:]
        for member in members.sorted(by: { $0.id < $1.id }) {
            services[member.serviceName, default: []].append(member.address)
        }
        for member in members {
            let text = HostsFile.render(hostname: member.id, services: services, viewer: member.id)
            let path = runDirectory.appendingPathComponent(member.id).appendingPathComponent("hosts").path
            try? HostsFile.write(text, to: path)
        }
    }

    /// Stops a replica, frees its network namespace and forgets it.
    private func removeReplica(_ replicaID: String, grace: Duration) async {
        await supervisor.stop(replicaID: replicaID, gracePeriod: grace)
        markReplica(replicaID, .removed)
        guard let state = replicas.removeValue(forKey: replicaID) else { return }
        if state.isAttached {
            await network?.detach(replicaID: replicaID)
            try? FileManager.default.removeItem(at: runDirectory.appendingPathComponent(replicaID))
            refreshHosts(environmentID: state.environmentID)
        }
    }

    private func waitHealthy(replicaID: String, address: String, port: Int, deploymentID: String, settings: DeploySettings) async throws {
        let timeout = Duration.seconds(max(1, settings.healthcheckTimeout))
        let isAlive: @Sendable () async -> Bool = { await self.isReplicaAlive(replicaID) }
        let result: HealthResult
        if let path = settings.healthcheckPath {
            logs.append(deploymentID: deploymentID, kind: .deploy, stream: .system, replica: replicaID,
                        message: "health check: waiting for HTTP 200 from \(path) (timeout \(settings.healthcheckTimeout)s)")
            result = await HealthChecker.waitForHTTP(host: address, port: port, path: path, timeout: timeout, isAlive: isAlive)
        } else {
            result = await HealthChecker.waitForPort(host: address, port: port, timeout: timeout, isAlive: isAlive)
        }
        guard result.passed else {
            throw YardError(.deployFailed, "replica \(replicaID) did not become healthy: \(result.reason)")
        }
        logs.append(deploymentID: deploymentID, kind: .deploy, stream: .system, replica: replicaID, message: "health check passed")
        markReplica(replicaID, .running)
    }

    private func isReplicaAlive(_ replicaID: String) -> Bool {
        guard let state = replicas[replicaID] else { return false }
        return ![.crashed, .exited, .stopped, .removed].contains(state.status)
    }

    private func restartReplicas(deploymentID id: String, key: ServiceKey, reason: String) async {
        do {
            let deployment = try store.deployment(id: id)
            guard let resultJSON = deployment.buildResult, let settingsJSON = deployment.deploySettings else {
                throw YardError(.internal, "deployment \(id) has no build result to start")
            }
            let result = try YardJSON.decode(BuildResult.self, from: resultJSON)
            let settings = try YardJSON.decode(DeploySettings.self, from: settingsJSON)
            let variables = try deployment.variables.map { try YardJSON.decode([String: String].self, from: $0) } ?? [:]
            let previous = replicas.values.filter { $0.deploymentID == id }.map(\.id)
            logs.append(deploymentID: id, kind: .deploy, stream: .system, message: "starting replicas again: \(reason)")
            if deployment.status != .deploying {
                _ = try transition(id, .deploying, reason: reason)
            }
            if try store.volume(serviceID: key.serviceID, environmentID: key.environmentID) != nil {
                // One deployment at a time holds the volume: stop the old replicas first.
                for replicaID in previous {
                    await removeReplica(replicaID, grace: .seconds(max(settings.drainingSeconds, 0)))
                }
            }
            _ = try await startReplicas(deployment: deployment, result: result, settings: settings, variables: variables)
            for replicaID in previous where replicas[replicaID] != nil {
                await removeReplica(replicaID, grace: .seconds(max(settings.drainingSeconds, 0)))
            }
            try await cutOver(to: id, key: key, settings: settings)
        } catch {
            let message = Self.describe(error)
            logs.append(deploymentID: id, kind: .deploy, stream: .system, message: "error: \(message)")
            _ = try? transition(id, .crashed, reason: message)
            if live[key] == id { updateRoutes() }
        }
    }

    private func takeDown(deploymentID id: String, key: ServiceKey) async {
        do {
            let deployment = try store.deployment(id: id)
            if deployment.status.isInProgress && deployment.status != .deploying {
                _ = try transition(id, .removed, reason: "removed by `yard down` before it went live")
                return
            }
            if deployment.status != .removing {
                _ = try transition(id, .removing, reason: "removed by `yard down`")
            }
            if live[key] == id {
                live.removeValue(forKey: key)
                updateRoutes()
            }
            await stopReplicas(of: id, grace: .seconds(3))
            _ = try transition(id, .removed)
            logs.close(deploymentID: id, kind: .deploy)
        } catch {
            logger.error("could not take down deployment", metadata: ["deployment.id": "\(id)", "error": "\(error)"])
        }
    }

    // MARK: Replica events

    private func handle(_ event: SupervisorEvent) {
        switch event {
        case .output(let replicaID, let stream, let line):
            guard let deploymentID = replicas[replicaID]?.deploymentID else { return }
            logs.append(deploymentID: deploymentID, kind: .deploy, stream: stream, replica: replicaID, message: line)
        case .started(let replicaID, let pid, let attempt):
            guard let state = replicas[replicaID] else { return }
            try? store.updateReplica(id: replicaID) { $0.pid = pid; $0.restarts = attempt }
            if attempt > 0 {
                logs.append(deploymentID: state.deploymentID, kind: .deploy, stream: .system, replica: replicaID,
                            message: "replica restarted (attempt \(attempt)), pid \(pid)")
                markReplica(replicaID, .running)
                liveDeploymentRecovered(state.deploymentID)
            }
        case .exited(let replicaID, let reason, let decision):
            guard let state = replicas[replicaID] else { return }
            try? store.updateReplica(id: replicaID) { $0.lastExit = reason.description }
            let text: String
            switch decision {
            case .restart(let after, let attempt):
                text = "replica \(reason); restarting in \(after) (attempt \(attempt))"
                markReplica(replicaID, .restarting)
            case .stop:
                text = "replica \(reason); the restart policy does not restart it"
                markReplica(replicaID, .exited)
            case .giveUp(let attempts):
                text = "replica \(reason); giving up after \(attempts) restarts"
                markReplica(replicaID, .crashed)
            }
            logs.append(deploymentID: state.deploymentID, kind: .deploy, stream: .system, replica: replicaID, message: text)
            deploymentMayHaveCrashed(state.deploymentID)
        case .stopped(let replicaID):
            if replicas[replicaID] != nil { markReplica(replicaID, .stopped) }
        case .launchFailed(let replicaID, let message):
            guard let state = replicas[replicaID] else { return }
            logs.append(deploymentID: state.deploymentID, kind: .deploy, stream: .system, replica: replicaID,
                        message: "replica could not start: \(message)")
            markReplica(replicaID, .crashed)
            deploymentMayHaveCrashed(state.deploymentID)
        }
    }

    private func markReplica(_ replicaID: String, _ status: ReplicaStatus) {
        replicas[replicaID]?.status = status
        try? store.updateReplica(id: replicaID) { $0.status = status }
        updateRoutes()
    }

    /// A live deployment with no replica left running is CRASHED.
    private func deploymentMayHaveCrashed(_ deploymentID: String) {
        guard live.values.contains(deploymentID) else { return }
        let mine = replicas.values.filter { $0.deploymentID == deploymentID }
        guard !mine.isEmpty, mine.allSatisfy({ [.crashed, .exited].contains($0.status) }),
              mine.contains(where: { $0.status == .crashed })
        else { return }
        _ = try? transition(deploymentID, .crashed, reason: "every replica crashed and the restart policy gave up")
    }

    private func liveDeploymentRecovered(_ deploymentID: String) {
        guard let record = try? store.deployment(id: deploymentID), record.status == .crashed, live.values.contains(deploymentID) else { return }
        _ = try? transition(deploymentID, .success, reason: "a replica is running again")
    }

    // MARK: Routing

    /// Rebuilds the whole route table from the domains and the running replicas, and swaps it in.
    private func updateRoutes() {
        guard let domains = try? store.allDomains() else { return }
        var routes: [String: [Upstream]] = [:]
        for domain in domains {
            let key = ServiceKey(serviceID: domain.serviceID, environmentID: domain.environmentID)
            let upstreams = live[key].map { deploymentID in
                replicas.values
                    .filter { $0.deploymentID == deploymentID && $0.status == .running }
                    .sorted { $0.id < $1.id }
                    .map { Upstream(host: $0.address, port: $0.port, replicaID: $0.id) }
            } ?? []
            routes[domain.hostname.lowercased()] = upstreams
        }
        router.updateRoutes(RouteTable(routes: routes))
    }

    // MARK: Variables and domains

    private func variables(_ key: ServiceKey) throws -> [String: String] {
        var result: [String: String] = [:]
        for variable in try store.variables(serviceID: key.serviceID, environmentID: key.environmentID) {
            result[variable.key] = variable.value
        }
        return result
    }

    /// Railway's variables that act as settings.
    private func applySettingVariables(_ variables: [String: String], to settings: inout DeploySettings) {
        if let value = variables["RAILWAY_HEALTHCHECK_TIMEOUT_SEC"].flatMap(Int.init) { settings.healthcheckTimeout = value }
        if let value = variables["RAILWAY_DEPLOYMENT_OVERLAP_SECONDS"].flatMap(Int.init) { settings.overlapSeconds = value }
        if let value = variables["RAILWAY_DEPLOYMENT_DRAINING_SECONDS"].flatMap(Int.init) { settings.drainingSeconds = value }
    }

    private func railwayVariables(
        project: ProjectRecord, environment: EnvironmentRecord, service: ServiceRecord, deploymentID: String, domain: String
    ) -> [String: String] {
        [
            "RAILWAY_PUBLIC_DOMAIN": domain,
            "RAILWAY_PROJECT_NAME": project.name,
            "RAILWAY_PROJECT_ID": project.id,
            "RAILWAY_ENVIRONMENT_NAME": environment.name,
            "RAILWAY_ENVIRONMENT_ID": environment.id,
            "RAILWAY_SERVICE_NAME": service.name,
            "RAILWAY_SERVICE_ID": service.id,
            "RAILWAY_DEPLOYMENT_ID": deploymentID,
            "RAILWAY_PRIVATE_DOMAIN": "\(service.name).railway.internal",
        ]
    }

    /// The generated domain `<service>-<project>.<base-domain>` (`<service>-<project>-<env>`
    /// outside production), created on first deploy.
    private func ensureGeneratedDomain(service: ServiceRecord, project: ProjectRecord, environmentID: String) throws -> String {
        let existing = try store.domains(serviceID: service.id, environmentID: environmentID)
        if let generated = existing.first(where: \.generated) ?? existing.first { return generated.hostname }
        let environment = try store.environment(id: environmentID)
        let suffix = environment.name == "production" ? "" : "-\(environment.name)"
        let hostname = "\(service.name)-\(project.name)\(suffix).\(configuration.baseDomain)".lowercased()
        try store.addDomain(DomainRecord(hostname: hostname, serviceID: service.id, environmentID: environmentID,
                                         targetPort: nil, generated: true, createdAt: Date()))
        return hostname
    }

    /// Adds a custom domain and routes it at once.
    public func addDomain(serviceID: String, environmentID: String, hostname: String, targetPort: Int?) throws -> DomainRecord {
        let name = hostname.lowercased()
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }) else {
            throw YardError(.invalidInput, "'\(hostname)' is not a valid hostname")
        }
        let domain = DomainRecord(hostname: name, serviceID: serviceID, environmentID: environmentID,
                                  targetPort: targetPort, generated: false, createdAt: Date())
        try store.addDomain(domain)
        updateRoutes()
        return domain
    }

    // MARK: Recovery

    /// After a stop or a crash of the platform: builds that were under way are FAILED with
    /// the reason; deployments that were live get fresh replicas from their artifact.
    private func recover() throws {
        for deployment in try store.deployments(withStatus: [.queued, .waiting, .initializing, .building, .deploying]) {
            killLeftovers(of: deployment.id)
            BuildProcessRecorder.killLeftovers(recordedIn: buildPidsFile(deployment.id), deploymentID: deployment.id)
            _ = try? transition(deployment.id, .failed,
                                reason: "interrupted: yard serve stopped while this deployment was \(deployment.status.rawValue)")
            logs.close(deploymentID: deployment.id, kind: .build)
        }
        for deployment in try store.deployments(withStatus: [.removing]) {
            killLeftovers(of: deployment.id)
            _ = try? transition(deployment.id, .removed)
        }
        for deployment in try store.deployments(withStatus: [.success, .sleeping]) {
            killLeftovers(of: deployment.id)
            let key = ServiceKey(serviceID: deployment.serviceID, environmentID: deployment.environmentID)
            live[key] = deployment.id
            enqueue(.restart(deploymentID: deployment.id, reason: "yard serve started again"), key: key)
        }
        updateRoutes()
    }

    /// Stops replica processes a previous run left behind, checking each pid still belongs
    /// to that replica before signalling it (pids get reused). Sandboxed replicas do not
    /// show their variables to /proc; `yard serve` stops those through their cgroups
    /// (`SandboxLauncher.removeLeftovers`) before recovery.
    private func killLeftovers(of deploymentID: String) {
        for replica in (try? store.replicas(deploymentID: deploymentID)) ?? [] where replica.status != .removed {
            if let pid = replica.pid, LeftoverProcess.belongs(pid: pid, toReplica: replica.id) {
                LeftoverProcess.kill(pid: pid)
            }
            try? store.updateReplica(id: replica.id) { $0.status = .removed }
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? YardError { return error.message }
        if error is CancellationError { return "interrupted: yard serve is shutting down" }
        return "\(error)"
    }
}
