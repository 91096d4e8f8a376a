import Foundation
import Logging
import ServiceLifecycle
import YardBuild
import YardConfig
import YardCore
import YardRouter
import YardRuntime
import YardStore

#if canImport(Glibc)
    import Glibc
#endif

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
        /// A replica without a health check path that has not opened its port after this
        /// long, and still runs, counts as started (Railway: live once started); it is routed
        /// when its port opens. One that opens it sooner is routed, and goes live, at once.
        public var portGracePeriod: Duration = .seconds(5)
        /// Environment every build step and replica starts from.
        public var hostEnvironment: [String: String]
        /// The /16 the environments' private /24s are carved from (second octet).
        public var privateNetworkBase: Int = 213
        /// Prefix of every namespace, veth and bridge this server creates (and removes at start).
        public var networkPrefix: String = "yard"
        /// Upper bound of the install cache; the least recently used entries go first.
        public var cacheMaximumBytes: Int64 = 10 << 30
        /// Built artifacts kept per service (the newest ones), for reuse and rollback.
        public var artifactRetention: Int = 10
        /// How big one deployment log grows before it is rotated, and how long logs are kept.
        public var logLimits: LogStore.Limits = .default
        /// A build running longer than this is stopped and its deployment FAILED.
        public var buildTimeout: Duration = .seconds(30 * 60)
        /// CPU and memory bounds of every build, so a build cannot starve running replicas.
        /// A service's own memory limit, when lower, applies to its builds too.
        public var buildLimits = ResourceLimits(
            memoryBytes: 8 << 30,
            cpus: max(0.5, Double(ProcessInfo.processInfo.activeProcessorCount) - 0.5),
            maxProcesses: 4096
        )
        /// Limits of every replica, pre-deploy command and cron run whose service sets none
        /// (`yard serve --replica-memory`, `--replica-cpus`, `--replica-processes`).
        public var replicaLimits = ResourceLimits(memoryBytes: 2 << 30, cpus: 1, maxProcesses: 1024)
        /// A service with `sleepApplication` sleeps after this long without a request.
        public var sleepAfter: Duration = .seconds(10 * 60)
        /// How often idle services are looked for.
        public var sleepCheckInterval: Duration = .seconds(5)
        /// The one clock every loop reads and waits on (cron, backup schedules, the idle
        /// watch). End-to-end tests run it faster (`yard serve --cron-time-scale`, hidden:
        /// `ScaledClock`); unit tests advance one by hand.
        public var clock: any YardClock = SystemClock()
        /// The notification hook (`yard serve --notify-command`): run for failed and crashed
        /// deployments and failed backups, with the event as JSON on stdin.
        public var notifyCommand: String?
        /// Alert rules' SMTP relay and metrics (`yard serve --smtp-url`; the collector).
        public var alerts = AlertEngine.Configuration()
        /// Certificates `tls://` log drains trust besides the system's (`--drain-ca-file`).
        public var drainTrustedCertificateFile: String?
        /// Host ports `yard domain --tcp` allocates from (on the TCP proxy's address).
        public var tcpProxyPorts: ClosedRange<Int> = 20000...20999
        /// The largest request body an upload or a git push may send
        /// (`yard serve --max-upload-size`); larger ones get 413.
        public var maximumUploadBytes: Int64 = 2 << 30
        /// The most an upload may unpack to, and the most entries it may hold
        /// (`yard serve --max-source-size`, `--max-source-entries`).
        public var maximumSourceBytes: Int64 = TarEntryCheck.Limits.default.maximumBytes
        public var maximumSourceEntries: Int = TarEntryCheck.Limits.default.maximumEntries
        /// A mirror for Docker Hub names (`yard serve --registry-mirror URL`), for air-gapped sites.
        public var registryMirror: URL?
        /// Registries pulled from over plain HTTP besides loopback (`yard serve --insecure-registry`).
        public var insecureRegistries: [String] = []
        /// Every provider build makes an image of the provider's Debian environment
        /// (`yard serve --build-in-images`); off: provider builds use the host's toolchains.
        public var buildsInImages = false
        /// How often the metrics collector samples replicas and stores a point (`yard serve
        /// --metrics-interval`).
        public var metricsInterval: Duration = .seconds(10)
        var sourceLimits: TarEntryCheck.Limits {
            TarEntryCheck.Limits(maximumBytes: maximumSourceBytes, maximumEntries: maximumSourceEntries)
        }
        /// Upload and git request bodies, scratch folders: private, under the data directory
        /// (not the shared /tmp), emptied when the server starts.
        public var temporaryDirectory: URL { dataDirectory.appendingPathComponent("tmp") }

        public init(dataDirectory: URL, baseDomain: String, platformExecutable: String, hostEnvironment: [String: String]) {
            self.dataDirectory = dataDirectory
            self.baseDomain = baseDomain
            self.platformExecutable = platformExecutable
            self.hostEnvironment = hostEnvironment
        }
    }

    enum Job: Sendable {
        /// Build and deploy a new deployment.
        case pipeline(deploymentID: String)
        /// Start fresh replicas of an already built deployment (restart, recovery).
        case restart(deploymentID: String, reason: String)
        /// Deploy a new deployment from an existing artifact, with no build (rollback).
        case rollout(deploymentID: String)
        /// Stop the live deployment of a service.
        case down(deploymentID: String)
        /// Stop the replicas of an idle service that sleeps (`sleepApplication`).
        case sleep(deploymentID: String, reason: String)
        /// Start a database service's server: a fixed plan, no build.
        case database(deploymentID: String)
    }

    private struct ReplicaState {
        var id: String
        var deploymentID: String
        var serviceName: String
        var environmentID: String
        var port: Int
        /// Where the router and the health checker reach it.
        var address: String
        var status: ReplicaStatus
        /// Out of the route table, waiting for its requests before it is stopped.
        var isDraining = false
        /// Running, but not yet seen to answer (its port, or its health check path after a
        /// restart): not routed.
        var awaitsAnswer = false
        /// Its task runs on a swarm node being drained: not routed until its next `started`
        /// (the task running elsewhere).
        var leavesNode = false
        /// Its process has ended other than with exit 0 at least once (restarted since).
        var exitedWithFailure = false

        /// In the route table (and the TCP proxies).
        var isRoutable: Bool { status == .running && !isDraining && !awaitsAnswer && !leavesNode }
    }

    struct ServiceKey: Hashable {
        var serviceID: String
        var environmentID: String

        init(serviceID: String, environmentID: String) {
            self.serviceID = serviceID
            self.environmentID = environmentID
        }

        /// As a route's owner in the route table.
        var owner: String { "\(serviceID) \(environmentID)" }

        init?(owner: String) {
            let parts = owner.split(separator: " ")
            guard parts.count == 2 else { return nil }
            (serviceID, environmentID) = (String(parts[0]), String(parts[1]))
        }
    }

    public nonisolated let configuration: Configuration
    public nonisolated let store: SQLiteStore
    public nonisolated let logs: LogStore
    public nonisolated let statuses = StatusBroadcast()
    public nonisolated let isolation: String
    /// What runs replicas and tasks (plain processes, sandboxes); never asked which it is.
    let runtime: any ReplicaRuntime
    let router: Router
    /// Host ports forwarded to service ports (`yard domain --tcp`).
    public nonisolated let tcpProxy: TCPProxy
    let logger: Logger
    /// Tells the operator's hook about failures (`Configuration.notifyCommand`).
    let notifier: Notifier
    /// Alert rules and channels (`yard alerts`), fed by the notifier.
    public nonisolated let alerts: AlertEngine
    /// Log drains (`yard drain`): replicas' lines forwarded without ever waiting on a receiver.
    public nonisolated let drains: LogDrainHub
    let builder: Builder
    private let jobs: AsyncStream<(ServiceKey, Job)>
    private let jobsContinuation: AsyncStream<(ServiceKey, Job)>.Continuation

    private var replicas: [String: ReplicaState] = [:]
    /// Replicas that went live without an open port: each watch routes its replica when
    /// the port accepts, and ends with the replica.
    private var portWatches: [String: Task<Void, Never>] = [:]
    /// Running pipelines, so `cancel` and the build timeout can stop them.
    private var pipelineTasks: [String: Task<Void, Never>] = [:]
    /// Why a pipeline was stopped: the cancel request or the timeout.
    private var stopReasons: [String: (status: DeploymentStatus, reason: String)] = [:]
    private(set) var live: [ServiceKey: String] = [:]
    private var queues: [ServiceKey: [Job]] = [:]
    /// Environments being deleted: no job of theirs starts any more.
    private var deletingEnvironments: Set<String> = []
    private var busy: Set<ServiceKey> = []
    /// When a sleeping service last woke (its idle time counts from then at the latest).
    private var awakeSince: [ServiceKey: Date] = [:]
    /// Services whose wake-up is queued or running.
    private var waking: Set<ServiceKey> = []
    /// Set once graceful shutdown began: running jobs are cancelled and leave their
    /// deployments to the next start (see `recover()`).
    private var isShuttingDown = false
    private var routerPort = 0
    /// Whether `recoverPreviousRun()` has settled the previous run's leftovers.
    private var hasRecovered = false
    /// Cron services' next runs and running processes.
    let cronScheduler: CronScheduler
    /// Backup schedules' next due times.
    let backupScheduler: BackupScheduler
    /// Services with a backup or restore under way: one at a time per service.
    var backupClaims = BackupClaims()
    /// The router's HTTPS port; nil when HTTPS is off.
    var httpsPort: Int?
    /// Domains' HTTPS certificates; nil when HTTPS is off.
    public nonisolated let certificates: DomainCertificates?
    /// The last route table, each route's owner its service key (access logs use it).
    private var routeTable = RouteTable()
    /// Access log entries on their way from the router to the `http` logs.
    private let accessLogBuffer = AccessLogBuffer()
    /// CPU, memory, network, request and disk metrics (`MetricsCollector`); alert rules read it.
    public nonisolated let metrics: MetricsCollector
    /// Access log lines dropped because the writer fell behind, since the start.
    public private(set) var droppedAccessLogLines = 0

    public init(
        configuration: Configuration,
        store: SQLiteStore,
        runtime: any ReplicaRuntime,
        router: Router,
        tcpProxy: TCPProxy? = nil,
        certificates: DomainCertificates? = nil,
        logger: Logger
    ) {
        self.tcpProxy = tcpProxy ?? TCPProxy(logger: logger)
        self.configuration = configuration
        self.certificates = certificates
        self.store = store
        self.logs = LogStore(directory: configuration.dataDirectory.appendingPathComponent("logs"), limits: configuration.logLimits)
        self.runtime = runtime
        self.isolation = runtime.summary
        self.router = router
        self.logger = logger
        let metrics = MetricsCollector(store: store, interval: configuration.metricsInterval, clock: configuration.clock, logger: logger)
        self.metrics = metrics
        // Metric rules read the collector unless a test scripts its own source.
        var alertConfiguration = configuration.alerts
        if alertConfiguration.metrics == nil { alertConfiguration.metrics = metrics }
        // Node-down rules read the cluster's nodes when the runtime spans machines.
        if alertConfiguration.nodes == nil, let cluster = runtime as? any ClusterNodes {
            alertConfiguration.nodes = RuntimeNodeSource(nodes: cluster)
        }
        let alerts = AlertEngine(configuration: alertConfiguration, store: store, logger: logger)
        self.alerts = alerts
        self.drains = LogDrainHub(logger: logger, trustedCertificateFile: configuration.drainTrustedCertificateFile)
        self.notifier = Notifier(command: configuration.notifyCommand, logger: logger, alerts: alerts)
        self.cronScheduler = CronScheduler(clock: configuration.clock)
        self.backupScheduler = BackupScheduler(clock: configuration.clock)
        self.builder = Builder(
            configuration: .init(
                // Boxes see `yard` at a path of their own; plain processes run it where it is.
                platformExecutable: runtime.platformExecutable ?? configuration.platformExecutable,
                cache: BuildCache(
                    directory: configuration.dataDirectory.appendingPathComponent("cache"),
                    maximumBytes: configuration.cacheMaximumBytes
                )
            ),
            launcher: BuildProcessRecorder(launcher: runtime.buildLauncher)
        )
        (jobs, jobsContinuation) = AsyncStream.makeStream()
    }

    private var artifactsDirectory: URL { configuration.dataDirectory.appendingPathComponent("artifacts") }
    var artifacts: ArtifactStore { ArtifactStore(directory: artifactsDirectory) }
    var buildsDirectory: URL { configuration.dataDirectory.appendingPathComponent("builds") }
    private var volumesDirectory: URL { configuration.dataDirectory.appendingPathComponent("volumes") }
    /// Refuses an upload whose entries `TarEntryCheck` refuses (device nodes, FIFOs, hard
    /// links, more than the size or entry limit) before it is stored, so the client hears why
    /// at once; the pipeline checks again when it unpacks.
    public nonisolated func checkUpload(_ archive: URL) throws {
        try SourceArchive.check(archive, limits: configuration.sourceLimits)
    }

    /// A fresh path in the private temporary folder (created when missing, 0700).
    public nonisolated func temporaryFile(_ label: String, suffix: String = "") throws -> URL {
        let folder = configuration.temporaryDirectory
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return folder.appendingPathComponent("yard-\(label)-\(UUID().uuidString)\(suffix)")
    }

    private var sourcesDirectory: URL { configuration.dataDirectory.appendingPathComponent("sources") }

    /// The router's port, for the URLs the API shows.
    public func setRouterPort(_ port: Int) {
        routerPort = port
    }

    public func url(forHostname hostname: String) -> String {
        routerPort == 80 ? "http://\(hostname)" : "http://\(hostname):\(routerPort)"
    }

    // MARK: Service

    /// Settles what a previous run left (in-progress deployments fail as interrupted, live ones
    /// are restarted). `yard serve` calls it before its API accepts a request, so a deploy that
    /// arrives first is never taken for a leftover; `run()` calls it too, and it runs once.
    public func recoverPreviousRun() throws {
        guard !hasRecovered else { return }
        try recover()
        hasRecovered = true
    }

    public func run() async throws {
        try recoverPreviousRun()
        // After a crash: what the previous run's processes, which recover() has just
        // stopped, left behind (namespaces, veths, bridges).
        await runtime.cleanUpLeftovers()
        await reconcileTCPProxies()
        drains.reload((try? store.logDrains()) ?? [])
        defer { drains.stopAll() }
        await withGracefulShutdownHandler {
            router.onHeldRequest { host in
                Task { await self.wake(host: host) }
            }
            router.onAccessLog { [accessLogBuffer] entry in accessLogBuffer.add(entry) }
            await withDiscardingTaskGroup { group in
                group.addTask { await self.consumeSupervisorEvents() }
                group.addTask { await self.writeAccessLogs() }
                group.addTask { await self.watchIdleServices() }
                group.addTask { await self.pruneLogs() }
                group.addTask { await self.cronScheduler.run(host: self) }
                group.addTask { await self.backupScheduler.run(host: self) }
                group.addTask { await self.metrics.run(host: self) }
                group.addTask { await self.alerts.run() }
                for await (key, job) in jobs {
                    group.addTask { await self.execute(job, key: key) }
                }
                // Shutdown: running jobs are cut short (a health check may wait minutes);
                // the deployments they leave in progress are settled by the next start.
                isShuttingDown = true
                group.cancelAll()
                for watch in portWatches.values { watch.cancel() }
            }
        } onGracefulShutdown: {
            self.jobsContinuation.finish()
            self.runtime.closeEvents()
            self.accessLogBuffer.finish()
        }
        // Shutdown: stop every replica; their deployments stay SUCCESS and come back at
        // the next start.
        // Both at once, so shutdown waits one grace period, not two.
        await withDiscardingTaskGroup { group in
            group.addTask { await self.cronScheduler.stopAll(gracePeriod: .seconds(5)) }
            group.addTask { await self.runtime.stopAll(grace: .seconds(5)) }
        }
        await runtime.shutdown()
    }

    private func consumeSupervisorEvents() async {
        for await event in runtime.events {
            handle(event)
        }
    }

    // MARK: Requests

    /// Stores an uploaded source archive and queues its deployment.
    public func deploy(
        serviceID: String, environmentID: String, archive: URL, trigger: String, noCache: Bool = false, commit: GitCommit? = nil
    ) throws -> DeploymentRecord {
        let service = try store.service(id: serviceID)
        if let kind = service.database {
            try? FileManager.default.removeItem(at: archive)
            throw YardError(
                .conflict,
                "\(service.name) is a \(kind.rawValue) database service: it runs its server, not an upload; "
                    + "deploy this folder to another service (`yard up --service NAME`)"
            )
        }
        if let image = service.image {
            try? FileManager.default.removeItem(at: archive)
            throw YardError(.conflict, "\(service.name) runs the image \(image), not an upload; deploy this folder to another "
                + "service (`yard up --service NAME`), or redeploy it to pull the image again (`yard redeploy`)")
        }
        let id = Identifier.make("dep")
        try FileManager.default.createDirectory(
            at: sourcesDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let stored = sourcesDirectory.appendingPathComponent("\(id).tar.gz")
        try FileManager.default.moveItem(at: archive, to: stored)
        let hash = try ContentHash.sha256(fileAt: stored)
        let now = Date()
        let deployment = DeploymentRecord(
            id: id, serviceID: serviceID, environmentID: environmentID, status: .queued, reason: nil,
            trigger: trigger, sourceHash: hash, sourcePath: stored.path, artifactPath: nil, buildResult: nil,
            deploySettings: nil, variables: nil, createdAt: now, updatedAt: now
        )
        var record = deployment
        record.noCache = noCache
        record.gitCommit = commit
        try store.insertDeployment(record)
        enqueue(.pipeline(deploymentID: id), key: ServiceKey(serviceID: serviceID, environmentID: environmentID))
        return record
    }

    /// A new deployment built again from the source of the service's latest deployment.
    public func redeploy(serviceID: String, environmentID: String, noCache: Bool = false) throws -> DeploymentRecord {
        let service = try store.service(id: serviceID)
        if service.database != nil {
            return try deployDatabase(service: service, environmentID: environmentID, trigger: "redeploy")
        }
        if service.image != nil {
            return try deployImage(service: service, environmentID: environmentID, trigger: "redeploy")
        }
        guard
            let latest = try store.deployments(serviceID: serviceID, environmentID: environmentID)
                .first(where: { $0.sourcePath.map { FileManager.default.fileExists(atPath: $0) } ?? false }),
            let sourcePath = latest.sourcePath
        else {
            throw YardError(.notFound, "this service has no deployment to redeploy; deploy it first with `yard up`")
        }
        let copy = try temporaryFile("redeploy", suffix: ".tar.gz")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: sourcePath), to: copy)
        return try deploy(serviceID: serviceID, environmentID: environmentID, archive: copy, trigger: "redeploy", noCache: noCache)
    }

    /// Deploys every service of a root `railpack.json` `services` map (seed 002) from one
    /// upload: each service is created if missing, its root directory set from the map.
    public func deployServices(
        projectID: String, environmentID: String, archive: URL, trigger: String, noCache: Bool = false
    ) throws -> [DeploymentRecord] {
        let scratch = try temporaryFile("services")
        defer { try? FileManager.default.removeItem(at: scratch) }
        try SourceArchive.extract(archive, into: scratch, limits: configuration.sourceLimits)
        guard let railpack = try ConfigLoader.loadRailpack(directory: scratch), !railpack.services.isEmpty else {
            throw YardError(
                .invalidInput,
                "deploying a whole project needs a railpack.json with a `services` map at the root of the upload; "
                    + "deploy one service with `yard up --service NAME` instead"
            )
        }
        for entry in railpack.services {
            let folder: URL
            do throws(UploadPath.Escape) {
                folder = try UploadPath.resolve(entry.root, in: scratch)
            } catch {
                throw YardError(.invalidConfig, "\(railpack.fileName): services.\(entry.name).root: \(error); a root must be a folder inside the upload")
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw YardError(.invalidConfig, "\(railpack.fileName): services.\(entry.name).root is '\(entry.root)', which is not a folder of the upload")
            }
        }
        var deployments: [DeploymentRecord] = []
        for (index, entry) in railpack.services.enumerated() {
            let root = entry.root == "." ? "" : entry.root
            var service = try store.findService(projectID: projectID, entry.name)
            if service == nil {
                service = try store.createService(projectID: projectID, name: entry.name, rootDirectory: root)
            } else if let existing = service, (existing.rootDirectory ?? "") != root {
                service = try store.changeSettings(serviceID: existing.id, change: ServiceSettingsChange(rootDirectory: root))
            }
            guard let service else { continue }
            // Each deployment keeps its own copy of the source: redeploys and rollbacks use it.
            let copy = try temporaryFile("service", suffix: ".tar.gz")
            if index == railpack.services.count - 1 {
                try FileManager.default.moveItem(at: archive, to: copy)
            } else {
                try FileManager.default.copyItem(at: archive, to: copy)
            }
            deployments.append(try deploy(serviceID: service.id, environmentID: environmentID, archive: copy,
                                          trigger: trigger, noCache: noCache))
        }
        return deployments
    }

    /// Creates a database service in an environment (`yard add --database`): its variables
    /// with a random password (sealed), a volume for its data, and its first deployment.
    public func addDatabase(
        projectID: String, environmentID: String, kind: DatabaseKind, name: String?
    ) throws -> (service: ServiceRecord, deployment: DeploymentRecord) {
        if runtime.isolation.runsAsServerUser, kind != .redis, getuid() == 0 {
            throw YardError(.unavailable, "\(kind.rawValue) refuses to run as root, and this server runs replicas as plain root "
                + "processes (--runtime plain): start `yard serve` with the sandbox runtime")
        }
        let name = name ?? kind.defaultServiceName
        // In the sandbox each replica has its own address, so the usual port is free; plain
        // processes share loopback, so the database gets a free port there.
        let host: String
        let port: Int
        switch runtime.addressing {
        // A runtime that runs databases from images puts them on the environment's private
        // network under their name, on a port of their own (the host relays that port).
        case .sharedHost(let shared):
            let privateName = "\(name.lowercased()).\(ReplicaAddressing.privateDomain)"
            (host, port) = (runtime.runsDatabasesFromImages ? privateName : shared, try PortAllocator.freePort(host: shared))
        case .ownAddress: (host, port) = ("\(name.lowercased()).\(ReplicaAddressing.privateDomain)", kind.port)
        }
        let variables = kind.variables(host: host, port: port, password: DatabaseKind.makePassword())
        let (service, _) = try store.createDatabaseService(
            projectID: projectID, environmentID: environmentID, name: name, kind: kind, variables: variables)
        logger.info("database service created", metadata: ["service.name": "\(name)", "database": "\(kind.rawValue)"])
        return (service, try deployDatabase(service: service, environmentID: environmentID, trigger: "add"))
    }

    /// Queues a deployment of a database service: its server from the machine's packages,
    /// with the fixed plan and settings, no source and no build.
    func deployDatabase(service: ServiceRecord, environmentID: String, trigger: String) throws -> DeploymentRecord {
        guard let kind = service.database else {
            throw YardError(.internal, "\(service.name) is not a database service")
        }
        let now = Date()
        let deployment = DeploymentRecord(
            id: Identifier.make("dep"), serviceID: service.id, environmentID: environmentID, status: .queued,
            reason: nil, trigger: trigger, sourceHash: nil, sourcePath: nil, artifactPath: nil,
            buildResult: Self.databaseResult(kind),
            deploySettings: Self.databaseSettings(kind),
            variables: nil, createdAt: now, updatedAt: now
        )
        try store.insertDeployment(deployment)
        enqueue(.database(deploymentID: deployment.id), key: ServiceKey(serviceID: service.id, environmentID: environmentID))
        return deployment
    }

    static func databaseResult(_ kind: DatabaseKind) -> BuildResult {
        let plan = BuildPlan(provider: kind.rawValue, startCommand: DatabaseScripts.startScript(for: kind),
                             detectedFrom: "yard add --database \(kind.rawValue)")
        return BuildResult(plan: plan, startCommand: DatabaseScripts.startScript(for: kind), environment: [:])
    }

    /// A database restarts whatever the exit, and gets time to flush its data when stopped.
    static func databaseSettings(_ kind: DatabaseKind) -> DeploySettings {
        var settings = DeploySettings()
        settings.restartPolicyType = .always
        settings.restartPolicyMaxRetries = 10
        settings.numReplicas = 1
        settings.healthcheckTimeout = 120
        settings.drainingSeconds = 30
        return settings
    }

    /// Runs a database deployment: the service's variables (its password among them) and
    /// the `RAILWAY_*` ones, then the old server stops and the new one starts on the volume.
    private func runDatabase(deploymentID id: String, key: ServiceKey) async {
        var started: [String] = []
        do {
            guard try store.deployment(id: id).status == .queued else { return }
            var deployment = try transition(id, .initializing)
            let service = try store.service(id: key.serviceID)
            let environment = try store.environment(id: key.environmentID)
            let project = try store.project(service.projectID)
            guard var result = deployment.buildResult, let settings = deployment.deploySettings,
                let kind = service.database
            else {
                throw YardError(.internal, "deployment \(id) of \(service.name) has no database plan")
            }
            if self.runtime.runsDatabasesFromImages {
                result.image = try await databaseImage(kind, service: service, deploymentID: id, key: key)
            } else {
                logs.append(deploymentID: id, kind: .build, stream: .system,
                            message: "\(kind.rawValue) database: no build, the server comes from the machine's \(kind.debianPackage) package")
            }
            logs.close(deploymentID: id, kind: .build)
            let own = try variables(key)
            guard own[kind.portVariable] != nil else {
                throw YardError(.invalidConfig, "\(service.name) has no \(kind.portVariable) variable in environment "
                    + "\(environment.name); it was added in another environment")
            }
            let railway = railwayVariables(project: project, environment: environment, service: service,
                                           deploymentID: id, domain: "")
            var runtime = try resolveReferences(in: own, service: service, environmentID: key.environmentID, railway: railway)
            runtime.merge(railway) { user, _ in user }
            let snapshot = try store.sealedSnapshot(runtime, deploymentID: id)
            let planned = result
            deployment = try transition(id, .deploying) {
                $0.variables = snapshot
                $0.buildResult = planned
            }
            started = try await goLive(deployment: deployment, result: result, settings: settings, variables: runtime, key: key)
        } catch {
            let message = Self.describe(error)
            logs.append(deploymentID: id, kind: .deploy, stream: .system, message: "error: \(message)")
            for replicaID in started { await removeReplica(replicaID, grace: .seconds(5)) }
            _ = try? transition(id, .failed, reason: message)
            logs.close(deploymentID: id, kind: .build)
            logs.close(deploymentID: id, kind: .deploy)
        }
    }

    /// A new deployment that runs an earlier deployment's artifact again, with its deploy
    /// settings and variables, without building.
    public func rollback(deploymentID: String) async throws -> DeploymentRecord {
        let old = try store.deployment(id: deploymentID)
        if try store.service(id: old.serviceID).database != nil {
            throw YardError(.conflict, "a database service has no builds to roll back to (its data lives in its volume); "
                + "`yard redeploy` starts its server again")
        }
        // An image artifact (an image service's pull, a Dockerfile build) needs no folder.
        guard let result = old.buildResult, result.image != nil || old.artifactPath != nil else {
            throw YardError(.conflict, "deployment \(deploymentID) never finished a build, so there is nothing to roll back to")
        }
        guard await artifactIsKept(old) else {
            throw YardError(
                .conflict,
                "the artifact of \(deploymentID) has been removed (artifacts are kept for the last \(configuration.artifactRetention) "
                    + "deployments of each service): redeploy its source instead"
            )
        }
        let now = Date()
        let rollbackID = Identifier.make("dep")
        var record = DeploymentRecord(
            id: rollbackID, serviceID: old.serviceID, environmentID: old.environmentID, status: .queued,
            reason: "rollback to \(deploymentID)", trigger: "rollback", sourceHash: old.sourceHash, sourcePath: old.sourcePath,
            artifactPath: old.artifactPath, buildResult: result, deploySettings: old.deploySettings,
            // Sealed for its own row: the old deployment's snapshot does not open in another.
            variables: try store.resealedSnapshot(old.variables, from: old.id, to: rollbackID), createdAt: now, updatedAt: now
        )
        record.artifactKey = old.artifactKey
        record.rollbackOf = deploymentID
        record.variablesDigest = old.variablesDigest
        try store.insertDeployment(record)
        enqueue(.rollout(deploymentID: record.id), key: ServiceKey(serviceID: old.serviceID, environmentID: old.environmentID))
        return record
    }

    /// Stops a deployment that has not gone live yet: a queued one never starts, a running
    /// build is killed. Either ends REMOVED.
    public func cancel(deploymentID: String) throws -> DeploymentRecord {
        let deployment = try store.deployment(id: deploymentID)
        let key = ServiceKey(serviceID: deployment.serviceID, environmentID: deployment.environmentID)
        switch deployment.status {
        case .queued, .waiting:
            if var queue = queues[key] {
                queue.removeAll { job in
                    if case .pipeline(let id) = job { return id == deploymentID }
                    if case .rollout(let id) = job { return id == deploymentID }
                    if case .database(let id) = job { return id == deploymentID }
                    return false
                }
                queues[key] = queue
            }
            return try transition(deploymentID, .removed, reason: "cancelled before it started")
        case .initializing, .building:
            guard let task = pipelineTasks[deploymentID] else {
                return try transition(deploymentID, .removed, reason: "cancelled")
            }
            stopReasons[deploymentID] = (.removed, "cancelled during the build")
            task.cancel()
            return deployment
        default:
            throw YardError(
                .conflict,
                "deployment \(deploymentID) is \(deployment.status.rawValue): only a queued or building deployment can be cancelled; "
                    + "use `yard down` to stop a running one"
            )
        }
    }

    /// The install cache's entries, most recently used first.
    public nonisolated func cacheEntries() -> [BuildCache.Entry] {
        builder.configuration.cache?.entries() ?? []
    }

    /// Empties the install cache (`all`), or evicts it down to its bound.
    public nonisolated func pruneCache(all: Bool) -> BuildCache.PruneResult {
        builder.configuration.cache?.prune(all: all)
            ?? BuildCache.PruneResult(removedEntries: 0, freedBytes: 0, remainingEntries: 0, remainingBytes: 0)
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

    /// Removes one deployment (`yard remove ID`): a queued or building one is cancelled, a
    /// running one (live, crashed or asleep) stops and stops routing. Ends REMOVED.
    public func remove(deploymentID: String) throws -> DeploymentRecord {
        let deployment = try store.deployment(id: deploymentID)
        switch deployment.status {
        case .queued, .waiting, .initializing, .building:
            return try cancel(deploymentID: deploymentID)
        case .removing:
            return deployment
        case .failed, .skipped, .removed:
            throw YardError(.conflict, "deployment \(deploymentID) already ended \(deployment.status.rawValue): there is nothing to remove")
        case .deploying, .success, .completed, .crashed, .sleeping:
            let key = ServiceKey(serviceID: deployment.serviceID, environmentID: deployment.environmentID)
            let record = try transition(deploymentID, .removing, reason: "removed by `yard remove`")
            enqueue(.down(deploymentID: deploymentID), key: key)
            return record
        }
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
            .first(where: { [.success, .completed, .crashed, .sleeping].contains($0.status) })
    }

    /// The deployment currently serving a service, if any.
    public func liveDeploymentID(serviceID: String, environmentID: String) -> String? {
        live[ServiceKey(serviceID: serviceID, environmentID: environmentID)]
    }

    /// The variables a replica of this service would get now (`yard run`): the user's
    /// variables and the `RAILWAY_*` ones, without the per-replica `PORT` and replica id.
    /// What a replica of the service gets (user variables and `RAILWAY_*`), for `yard run`:
    /// sealed values are withheld unless `revealingSealed` (the platform's own use, such as
    /// backups), since the API never returns them.
    public func resolvedVariables(serviceID: String, environmentID: String, revealingSealed: Bool = false) throws -> [String: String] {
        let key = ServiceKey(serviceID: serviceID, environmentID: environmentID)
        let service = try store.service(id: serviceID)
        let environment = try store.environment(id: environmentID)
        let project = try store.project(service.projectID)
        let domain = try store.domains(serviceID: serviceID, environmentID: environmentID).first?.hostname ?? ""
        // Build secrets reach build steps only: `yard run` gets what a replica gets.
        var result: [String: String] = [:]
        for variable in try store.variables(serviceID: serviceID, environmentID: environmentID)
        where !variable.buildSecret && (revealingSealed || !variable.sealed) {
            result[variable.key] = variable.value
        }
        result.merge(railwayVariables(project: project, environment: environment, service: service,
                                      deploymentID: live[key] ?? "", domain: domain)) { user, _ in user }
        return result
    }

    /// Live CPU and memory use of a replica, read from its cgroup.
    public func usage(replicaID: String) async -> ResourceUsage? {
        await runtime.usage(of: replicaID)
    }

    // MARK: Queue

    /// Jobs of one service run one at a time, in order; different services run in parallel.
    func enqueue(_ job: Job, key: ServiceKey) {
        if deletingEnvironments.contains(key.environmentID) {
            switch job {
            case .pipeline(let id), .rollout(let id):
                _ = try? transition(id, .removed, reason: "its environment is being deleted")
            default: break
            }
            return
        }
        if busy.contains(key) {
            supersedeQueuedDeployments(key: key, by: job)
            queues[key, default: []].append(job)
        } else {
            busy.insert(key)
            jobsContinuation.yield((key, job))
            // Something is coming for it: requests without a replica are held from now.
            updateRoutes()
        }
    }

    /// A new deployment queued behind a running one replaces the deployments still waiting
    /// in the queue: only the newest source matters. They end SKIPPED, naming the newer one.
    private func supersedeQueuedDeployments(key: ServiceKey, by job: Job) {
        let newer: String
        switch job {
        case .pipeline(let id), .rollout(let id): newer = id
        default: return
        }
        guard var queue = queues[key] else { return }
        queue.removeAll { queued in
            let older: String
            switch queued {
            case .pipeline(let id), .rollout(let id): older = id
            default: return false
            }
            guard (try? transition(older, .skipped, reason: "superseded by the newer deployment \(newer) before it started")) != nil
            else { return false }
            logs.close(deploymentID: older, kind: .build)
            logs.close(deploymentID: older, kind: .deploy)
            return true
        }
        queues[key] = queue
    }

    private func jobFinished(key: ServiceKey) {
        if var queue = queues[key], !queue.isEmpty {
            let next = queue.removeFirst()
            queues[key] = queue
            jobsContinuation.yield((key, next))
        } else {
            busy.remove(key)
            // Nothing more is coming for it: held requests may be answered now.
            updateRoutes()
        }
    }

    private func execute(_ job: Job, key: ServiceKey) async {
        switch job {
        case .pipeline(let id):
            let task = Task { await self.runPipeline(deploymentID: id, key: key) }
            pipelineTasks[id] = task
            await withTaskCancellationHandler { await task.value } onCancel: { task.cancel() }
            pipelineTasks[id] = nil
            stopReasons[id] = nil
        case .restart(let id, let reason): await restartReplicas(deploymentID: id, key: key, reason: reason)
        case .rollout(let id): await rollOut(deploymentID: id, key: key)
        case .down(let id): await takeDown(deploymentID: id, key: key)
        case .sleep(let id, let reason): await putToSleep(deploymentID: id, key: key, reason: reason)
        case .database(let id): await runDatabase(deploymentID: id, key: key)
        }
        jobFinished(key: key)
    }

    // MARK: Pipeline

    func transition(_ id: String, _ status: DeploymentStatus, reason: String? = nil,
                            change: @Sendable (inout DeploymentRecord) -> Void = { _ in }) throws -> DeploymentRecord
    {
        let record = try store.transition(deploymentID: id, to: status, reason: reason, change: change)
        let line = reason.map { "\(status.rawValue): \($0)" } ?? status.rawValue
        logs.append(deploymentID: id, kind: status.isInProgress && status != .deploying ? .build : .deploy, stream: .system, message: "status → \(line)")
        statuses.publish(deploymentID: id, status: status)
        var metadata: Logger.Metadata = ["deployment.id": "\(id)", "deployment.status": "\(status.rawValue)"]
        // Why a deployment failed or crashed belongs in the server's log too, not only in the deployment's.
        if let reason, status == .failed || status == .crashed { metadata["deployment.reason"] = "\(reason)" }
        logger.info("deployment status", metadata: metadata)
        if status == .failed || status == .crashed || status == .success {
            notify("deployment.\(status.rawValue.lowercased())", deployment: record, message: reason ?? status.rawValue)
        }
        return record
    }

    func buildLog(_ id: String) -> @Sendable (LogLine.Stream, String) -> Void {
        let logs = self.logs
        return { stream, line in logs.append(deploymentID: id, kind: .build, stream: stream, message: line) }
    }

    /// The limits of a build's steps: the build limits, or the service's memory limit when lower.
    func buildLimits(of service: ServiceRecord) -> ResourceLimits {
        let serviceLimits = service.resourceLimits
        var limits = configuration.buildLimits
        if let memory = serviceLimits.memoryBytes, memory < limits.memoryBytes ?? .max { limits.memoryBytes = memory }
        limits.maxProcesses = serviceLimits.maxProcesses ?? limits.maxProcesses
        return limits
    }

    private func buildPidsFile(_ deploymentID: String) -> URL {
        buildsDirectory.appendingPathComponent(deploymentID).appendingPathComponent("build.pids")
    }

    /// The railpack.json of a service: its entry in a root file's `services` map, else the
    /// file in its root directory (or the one `RAILPACK_CONFIG_FILE` names). Returns the
    /// root directory too, which a `services` entry decides.
    func railpackConfig(
        source: URL, service: ServiceRecord, variables: [String: String]
    ) throws -> (config: RailpackConfig?, root: String?) {
        if let top = try ConfigLoader.loadRailpack(directory: source), !top.services.isEmpty {
            if let entry = top.services.first(where: { $0.name == service.name }) {
                var config = entry.config
                config.warnings = top.warnings + config.warnings
                return (config, entry.root == "." ? nil : entry.root)
            }
        }
        let root = service.rootDirectory
        let folder: URL
        do throws(UploadPath.Escape) {
            folder = try UploadPath.resolve(root ?? ".", in: source)
        } catch {
            throw YardError(.invalidConfig, "the service's root directory: \(error); set a root that is a folder inside the upload")
        }
        let fileName = variables["RAILPACK_CONFIG_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        return (try ConfigLoader.loadRailpack(directory: folder, fileName: fileName), root)
    }

    private func runPipeline(deploymentID id: String, key: ServiceKey) async {
        let log = buildLog(id)
        var started: [String] = []
        let staging = buildsDirectory.appendingPathComponent(id)
        var buildFolder: (app: URL, addressed: Bool)?
        var committed = false
        var timeout: Task<Void, Never>?
        defer { timeout?.cancel() }
        do {
            guard try store.deployment(id: id).status == .queued else { return }
            var deployment = try transition(id, .initializing)
            let service = try store.service(id: key.serviceID)
            let environment = try store.environment(id: key.environmentID)
            let project = try store.project(service.projectID)
            if service.image != nil {
                timeout = startBuildTimer(deploymentID: id)
                started = try await runImagePipeline(
                    deployment: deployment, service: service, environment: environment, project: project, key: key, log: log)
                return
            }
            guard let sourcePath = deployment.sourcePath else {
                throw YardError(.internal, "deployment \(id) has no stored source")
            }
            let source = staging.appendingPathComponent("source")
            try? FileManager.default.removeItem(at: staging)
            try SourceArchive.extract(URL(fileURLWithPath: sourcePath), into: source, limits: configuration.sourceLimits)
            log(.system, "source unpacked (sha256 \(deployment.sourceHash?.prefix(12) ?? "?"))")

            let records = try store.variables(serviceID: key.serviceID, environmentID: key.environmentID)
            let plainVariables = Dictionary(records.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
            let (railpack, root) = try railpackConfig(source: source, service: service, variables: plainVariables)
            // Followed inside the upload only: a root that is (or passes through) a link out
            // of it would make the data directory the build's writable /app.
            let context: URL
            do throws(UploadPath.Escape) {
                context = try UploadPath.resolve(root ?? ".", in: source)
            } catch {
                throw YardError(.invalidConfig, "the service's root directory: \(error); set a root that is a folder inside the upload")
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: context.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw YardError(.invalidConfig, "the service's root directory '\(root ?? ".")' is not a folder of the upload")
            }
            if let root { log(.system, "root directory: \(root)") }
            if let railpack {
                log(.system, "railpack config: \(railpack.fileName)" + (railpack.provider.map { " (provider \($0))" } ?? ""))
                for warning in railpack.warnings { log(.system, "warning: \(warning)") }
            }

            let config = try ConfigLoader.load(
                directory: context,
                configPath: service.configPath,
                environment: environment.name,
                // pr-<n> environments take `environments.pr`, as on Railway.
                isPullRequestEnvironment: PullRequestEnvironmentRequest.isPullRequestEnvironment(environment.name),
                serviceBuild: service.buildOverrides,
                serviceDeploy: service.deployOverrides,
                railpackDeploy: railpack?.deploy
            )
            log(.system, "config: \(config.configFile ?? "no railway.toml or railway.json; using defaults")")
            for warning in config.warnings {
                log(.system, "warning: \(warning)")
            }

            // Cron services take no public domain.
            let isCron = config.deploy.cronSchedule != nil
            let domain = isCron ? nil : try ensureGeneratedDomain(service: service, project: project, environmentID: key.environmentID)
            var railway = railwayVariables(project: project, environment: environment, service: service, deploymentID: id, domain: domain)
            if let commit = deployment.gitCommit {
                railway.merge(commit.variables) { _, git in git }
                log(.system, "commit \(commit.sha.prefix(12)) on \(commit.branch): \(commit.message)")
            }
            let resolved = try resolveReferences(
                in: plainVariables, service: service, environmentID: key.environmentID, railway: railway)
            maskSealedValues(deploymentID: id, environmentID: key.environmentID, variables: resolved)
            let secretNames = Set(records.filter(\.buildSecret).map(\.key))
            var deploy = config.deploy
            deploy.applySettingVariables(resolved)
            let noCache = deployment.noCache || resolved["NO_CACHE"] == "1"

            var buildEnvironment = [BuildProcessRecorder.marker: id, BuildProcessRecorder.recordFile: buildPidsFile(id).path]
            // Sandboxed steps run as nobody with a private /tmp for a home.
            buildEnvironment.merge(runtime.buildEnvironment()) { _, box in box }

            deployment = try transition(id, .building)
            timeout = startBuildTimer(deploymentID: id)
            var request = BuildRequest(
                sourceDirectory: context,
                appDirectory: context,
                build: config.build,
                startCommand: deploy.startCommand,
                procfileWeb: config.procfileWeb,
                variables: resolved,
                hostEnvironment: configuration.hostEnvironment.merging(buildEnvironment) { _, own in own },
                sandbox: nil,
                mountPath: runtime.appMountPath,
                railpack: railpack,
                noCache: noCache,
                secretNames: secretNames
            )
            let bundle = URL(fileURLWithPath: "/etc/ssl/certs/ca-certificates.crt")
            if FileManager.default.isReadableFile(atPath: bundle.path) { request.trustedCertificates = bundle }
            let result: BuildResult
            let artifactPath: URL
            let artifactKey: String
            let buildOnly: Set<String>
            if config.build.builder == .dockerfile || configuration.buildsInImages {
                var dockerRequest = DockerfileBuildRequest(
                    sourceDirectory: context, dockerfilePath: config.build.dockerfilePath, variables: resolved,
                    secretNames: secretNames, serviceID: service.id, deploymentID: id, startCommand: deploy.startCommand,
                    networkNamespace: "", limits: buildLimits(of: service), noCache: noCache,
                    scratchDirectory: staging.appendingPathComponent("dockerfile"))
                // `--build-in-images`: a provider build is planned for its image (Orchestrator+ProviderImage).
                let providerImage = config.build.builder == .dockerfile ? nil : try builder.prepareProviderImage(request)
                if let providerImage { dockerRequest.secretNames = Builder.secretNames(of: request, plan: providerImage.plan) }
                let dockerKey = if let providerImage { providerImage.artifactKey } else { try await dockerfileArtifactKey(dockerRequest) }
                buildOnly = dockerRequest.secretNames
                if !noCache, let existing = await reusableImageArtifact(key: dockerKey) {
                    // Same context, Dockerfile, arguments, secrets and base images: the image is reused.
                    for note in existing.plan.notes { log(.system, note) }
                    log(.system, "image \(existing.image?.id.prefix(19) ?? "") was already built from the same context, Dockerfile, "
                        + "build arguments and base images: reusing it, skipping the build")
                    result = existing
                } else {
                    // The image is the artifact; the context folder stays beside it for rollbacks.
                    // Unfinished (no artifact.json) until then, so never collected.
                    let folder = (app: artifacts.appDirectory(forKey: "building-\(id)"), addressed: false)
                    buildFolder = folder
                    try FileManager.default.createDirectory(at: folder.app.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try FileManager.default.moveItem(at: context, to: folder.app)
                    let box = try await runtime.prepareBuild(BuildBoxRequest(
                        deploymentID: id, serviceID: service.id, environmentID: key.environmentID, appDirectory: folder.app.path,
                        limits: buildLimits(of: service)))
                    dockerRequest.sourceDirectory = folder.app
                    dockerRequest.networkNamespace = box.sandbox?.networkNamespace ?? ""
                    if let providerImage {
                        result = try await buildProviderImage(providerImage, dockerRequest, log: log)
                    } else {
                        result = try await buildImage(dockerRequest, log: log)
                    }
                    await runtime.finishBuild(deploymentID: id)
                    try Task.checkCancellation()
                    try? FileManager.default.removeItem(at: artifacts.folder(forKey: dockerKey))
                    try FileManager.default.moveItem(at: folder.app.deletingLastPathComponent(), to: artifacts.folder(forKey: dockerKey))
                    try artifacts.commit(key: dockerKey, result: result)
                }
                committed = true
                artifactKey = dockerKey
                artifactPath = artifacts.appDirectory(forKey: dockerKey)
            } else {
                // The app is planned and hashed where it was unpacked, then moved to its final
                // folder: paths inside a plain-process build must be the ones it runs from.
                let prepared = try builder.prepare(request)
                let reusable = artifacts.existing(key: prepared.artifactKey)
                if reusable != nil, noCache {
                    log(.system, "artifact \(prepared.artifactKey.prefix(12)) exists, but this deployment asked for no cache: building again")
                }
                if let existing = reusable, !noCache {
                    for note in prepared.plan.notes { log(.system, note) }
                    log(.system, "artifact \(prepared.artifactKey.prefix(12)) was already built from the same source, plan, "
                        + "variables and toolchains: reusing it, skipping the build")
                    result = existing
                    artifactPath = artifacts.appDirectory(forKey: prepared.artifactKey)
                } else {
                    let folder = artifacts.buildDirectory(forKey: prepared.artifactKey, deploymentID: id)
                    buildFolder = folder
                    try FileManager.default.createDirectory(at: folder.app.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try FileManager.default.moveItem(at: context, to: folder.app)
                    request.sourceDirectory = folder.app
                    request.appDirectory = folder.app
                    request.sandbox = try await runtime.prepareBuild(BuildBoxRequest(
                        deploymentID: id, serviceID: service.id, environmentID: key.environmentID, appDirectory: folder.app.path,
                        limits: buildLimits(of: service))).sandbox
                    var ready = prepared
                    if runtime.appMountPath == nil {
                        // Plain builds run where they landed, so the plan's paths (the venv's
                        // bin on PATH) must name this folder, not the unpack folder.
                        request.mountPath = nil
                        ready = try builder.prepare(request)
                        ready.artifactKey = prepared.artifactKey
                    }
                    result = try await builder.build(ready, request, log: log)
                    await runtime.finishBuild(deploymentID: id)
                    try Task.checkCancellation()
                    if folder.addressed { try artifacts.commit(key: prepared.artifactKey, result: result) }
                    committed = true
                    artifactPath = folder.app
                }
                artifactKey = prepared.artifactKey
                // Build secrets, from the service settings or named by railpack.json, stay out
                // of the replicas.
                buildOnly = Builder.secretNames(of: request, plan: prepared.plan)
            }
            timeout?.cancel()
            try? FileManager.default.removeItem(at: staging)

            let withheld = buildOnly.intersection(resolved.keys).sorted()
            if !withheld.isEmpty {
                logs.append(deploymentID: id, kind: .deploy, stream: .system,
                            message: "build secrets not given to replicas: \(withheld.joined(separator: ", "))")
            }
            var runtimeVariables = railpack?.deploy?.variables ?? [:]
            runtimeVariables.merge(resolved.filter { !buildOnly.contains($0.key) }) { _, user in user }
            runtimeVariables.merge(railway) { user, _ in user }
            runtimeVariables = try resolveReferences(
                in: runtimeVariables, service: service, environmentID: key.environmentID, railway: railway)
            let snapshot = try store.sealedSnapshot(runtimeVariables, deploymentID: id)
            let settings = deploy
            deployment = try transition(id, .deploying) {
                $0.artifactPath = artifactPath.path
                $0.artifactKey = artifactKey
                $0.buildResult = result
                $0.deploySettings = settings
                $0.variables = snapshot
                $0.variablesDigest = Self.digest(of: resolved)
            }
            logs.close(deploymentID: id, kind: .build)
            try await waitForReferencedServices(
                deploymentID: id, service: service, environmentID: key.environmentID,
                ownValues: Array(plainVariables.values) + Array((railpack?.deploy?.variables ?? [:]).values))
            try await runPreDeploy(deploy.preDeployCommand ?? [], deployment: deployment, result: result, variables: runtimeVariables)
            started = try await goLive(deployment: deployment, result: result, settings: deploy, variables: runtimeVariables, key: key)
            collectArtifacts()
            await collectImages()
        } catch {
            var message = Self.describe(error)
            var status = DeploymentStatus.failed
            if let stop = stopReasons[id] {
                (status, message) = stop
            }
            let interrupted = isShuttingDown && stopReasons[id] == nil
            if interrupted {
                let current = try? store.deployment(id: id).status
                logs.append(deploymentID: id, kind: current == .deploying ? .deploy : .build, stream: .system,
                            message: "interrupted: yard serve is stopping while this deployment is \(current?.rawValue ?? "in progress"); the next start records it")
            } else {
                log(.system, "error: \(message)")
            }
            // At shutdown run() stops them (removeReplica returns at once).
            await runtime.finishBuild(deploymentID: id)
            for replicaID in started {
                await removeReplica(replicaID, grace: .seconds(2))
            }
            if let buildFolder, !committed {
                // A failed build leaves nothing behind that could be taken for an artifact.
                try? FileManager.default.removeItem(at: buildFolder.app.deletingLastPathComponent())
            }
            try? FileManager.default.removeItem(at: staging)
            if interrupted {
                // Left in progress: the next start records it as interrupted (recover()).
                logs.close(deploymentID: id, kind: .build)
                logs.close(deploymentID: id, kind: .deploy)
                return
            }
            _ = try? transition(id, status, reason: message)
            logs.close(deploymentID: id, kind: .build)
            logs.close(deploymentID: id, kind: .deploy)
        }
    }

    /// Stops the build when it runs past the build timeout.
    private func startBuildTimer(deploymentID id: String) -> Task<Void, Never> {
        let timeout = configuration.buildTimeout
        return Task {
            try? await Task.sleep(for: timeout)
            guard !Task.isCancelled else { return }
            self.buildTimedOut(id, after: timeout)
        }
    }

    private func buildTimedOut(_ id: String, after timeout: Duration) {
        guard let task = pipelineTasks[id], stopReasons[id] == nil,
            let status = try? store.deployment(id: id).status, status == .building
        else { return }
        stopReasons[id] = (.failed, "the build ran longer than its timeout of \(timeout) (yard serve --build-timeout) and was stopped")
        task.cancel()
    }

    /// Starts the replicas of a built deployment and makes it live: the shared end of a
    /// build and of a rollback.
    func goLive(
        deployment: DeploymentRecord, result: BuildResult, settings: DeploySettings, variables: [String: String], key: ServiceKey
    ) async throws -> [String] {
        if try store.volume(serviceID: key.serviceID, environmentID: key.environmentID) != nil, let previous = live[key] {
            // A volume is never mounted into two running deployments: the old one stops first.
            logs.append(deploymentID: deployment.id, kind: .deploy, stream: .system,
                        message: "this service has a volume: stopping \(previous) before starting the new replicas")
            live.removeValue(forKey: key)
            await retire(deploymentID: previous, overlap: 0, draining: settings.drainingSeconds)
        }
        let started = try await startReplicas(deployment: deployment, result: result, settings: settings, variables: variables)
        try await cutOver(to: deployment.id, key: key, settings: settings)
        return started
    }

    /// A rollback: the old artifact, settings and variables on fresh replicas.
    private func rollOut(deploymentID id: String, key: ServiceKey) async {
        var started: [String] = []
        do {
            guard try store.deployment(id: id).status == .queued else { return }
            var deployment = try transition(id, .initializing)
            guard let result = deployment.buildResult, let settings = deployment.deploySettings,
                await artifactIsKept(deployment)
            else {
                throw YardError(.conflict, "the artifact to roll back to is gone (removed by artifact retention)")
            }
            var variables = try store.openSnapshot(deployment.variables, deploymentID: id)
            variables["RAILWAY_DEPLOYMENT_ID"] = id
            let snapshot = try store.sealedSnapshot(variables, deploymentID: id)
            logs.append(deploymentID: id, kind: .deploy, stream: .system,
                        message: "rolling back to \(deployment.rollbackOf ?? "?"): its artifact runs again, no build")
            deployment = try transition(id, .deploying) { $0.variables = snapshot }
            started = try await goLive(deployment: deployment, result: result, settings: settings, variables: variables, key: key)
        } catch {
            let message = Self.describe(error)
            if isShuttingDown {
                // Left DEPLOYING: the next start records it as interrupted (recover()).
                logs.append(deploymentID: id, kind: .deploy, stream: .system,
                            message: "interrupted: yard serve is stopping while this rollback deploys; the next start records it")
                logs.close(deploymentID: id, kind: .deploy)
                return
            }
            logs.append(deploymentID: id, kind: .deploy, stream: .system, message: "error: \(message)")
            for replicaID in started { await removeReplica(replicaID, grace: .seconds(2)) }
            _ = try? transition(id, .failed, reason: message)
            logs.close(deploymentID: id, kind: .deploy)
        }
    }

    /// Keeps the artifacts of each service's newest `artifactRetention` built deployments
    /// and of every deployment that is running or about to; removes the others.
    private func collectArtifacts() {
        do {
            let retained = try store.retainedArtifacts(perService: configuration.artifactRetention)
            let removed = artifacts.collect(retainedKeys: retained.keys, retainedDeployments: retained.deployments)
            if !removed.isEmpty {
                logger.info("artifacts removed by retention", metadata: ["count": "\(removed.count)"])
            }
        } catch {
            logger.error("could not collect old artifacts", metadata: ["error": "\(error)"])
        }
    }

    /// Makes `id` the live deployment of its service, then retires the previous one.
    /// A deployment whose every replica already exited 0 (and stays down under its restart
    /// policy) is COMPLETED instead of SUCCESS; it still replaces the previous one.
    private func cutOver(to id: String, key: ServiceKey, settings: DeploySettings) async throws {
        if everyReplicaCompleted(id) {
            _ = try transition(id, .completed, reason: Self.completedReason(settings.restartPolicyType))
        } else {
            _ = try transition(id, .success)
        }
        let previous = live[key]
        live[key] = id
        updateRoutes()
        if let previous, previous != id {
            await retire(deploymentID: previous, overlap: settings.overlapSeconds, draining: settings.drainingSeconds)
        }
    }

    /// Old deployment: `overlapSeconds` more of running, then drained (out of the route table,
    /// up to `drainingSeconds` for its requests in flight), SIGTERM, `drainingSeconds`, SIGKILL.
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
        logs.close(deploymentID: deploymentID, kind: .http)
    }

    private func stopReplicas(of deploymentID: String, grace: Duration) async {
        let ids = replicas.values.filter { $0.deploymentID == deploymentID }.map(\.id)
        // All of them at once, so their requests finish in parallel.
        await drainReplicas(ids, timeout: grace)
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
        maskSealedValues(deploymentID: deployment.id, environmentID: deployment.environmentID, variables: variables)
        if let schedule = settings.cronSchedule {
            // A cron service is not kept running: its start command runs on schedule.
            logs.append(deploymentID: deployment.id, kind: .deploy, stream: .system,
                        message: "cron service: `\(result.startCommand)` runs on the schedule \(schedule) (UTC); no replica is kept running"
                            + " and there is no health check")
            return []
        }
        do {
            let service = try store.service(id: deployment.serviceID)
            let limits = replicaLimits(of: service)
            let volume = try store.volume(serviceID: service.id, environmentID: deployment.environmentID)
            let count = volume == nil ? max(1, settings.numReplicas) : 1
            if volume != nil && settings.numReplicas > 1 {
                logs.append(deploymentID: deployment.id, kind: .deploy, stream: .system,
                            message: "warning: a service with a volume runs one replica (numReplicas \(settings.numReplicas) ignored)")
            }
            for ordinal in 0..<count {
                let replicaID = "\(deployment.id.replacingOccurrences(of: "dep_", with: "rep_"))-\(ordinal)-\(Identifier.make("r").suffix(4))"
                let choice = try ReplicaPort.choose(
                    userPort: variables["PORT"], databasePort: service.database.flatMap { variables[$0.portVariable] }.flatMap { Int($0) },
                    ownAddress: runtime.addressing.isOwnAddress, imagePort: deployment.buildResult?.image?.config.defaultPort)
                if let warning = choice.warning, ordinal == 0 {
                    logs.append(deploymentID: deployment.id, kind: .deploy, stream: .system, message: warning)
                }
                let port = try choice.fixed ?? PortAllocator.freePort(host: configuration.replicaHost)
                var environment = launchEnvironment(of: result, variables: variables)
                environment["PORT"] = String(port)
                environment["RAILWAY_REPLICA_ID"] = replicaID
                var request = try runtimeRequest(
                    id: replicaID, deployment: deployment, service: service, command: result.startCommand,
                    environment: environment, limits: limits, volume: volume)
                request.port = port
                request.restartPolicy = RestartPolicy(
                    type: settings.restartPolicyType,
                    maxRetries: settings.restartPolicyMaxRetries,
                    baseBackoff: configuration.restartBaseBackoff
                )
                // Marked started first: a failed placement is released like a started replica.
                started.append(replicaID)
                let placement = try await runtime.placeReplica(request)
                try store.saveReplica(
                    ReplicaRecord(id: replicaID, deploymentID: deployment.id, ordinal: ordinal, port: port, pid: nil,
                                  status: .initializing, restarts: 0, updatedAt: Date(),
                                  address: runtime.addressing.isOwnAddress ? placement.address : nil))
                replicas[replicaID] = ReplicaState(
                    id: replicaID, deploymentID: deployment.id, serviceName: service.name,
                    environmentID: deployment.environmentID, port: port, address: placement.address,
                    status: .initializing)
                await publishDirectory(environmentID: deployment.environmentID)
                let command = service.database.map { "the \($0.rawValue) server" } ?? result.startCommand
                logs.append(deploymentID: deployment.id, kind: .deploy, stream: .system, replica: replicaID,
                            message: "starting replica \(ordinal + 1) of \(count) at \(placement.address):\(port): \(command)")
                try await runtime.startReplica(id: replicaID)
            }
            // Without a health check path a replica is started once its port accepts, or once
            // it has run `portGracePeriod` without opening it (a worker, a bot), or when it
            // exited 0 (a job: COMPLETED). Nothing routes to a service without a domain, so
            // its replicas need only stay up a moment. Databases always wait for their port,
            // and so does a service whose live deployment answers on its port (a web service:
            // one that starts slowly keeps the old one serving; one that never listens, say
            // on the wrong port, fails instead of replacing it).
            let domains = try store.domains(serviceID: service.id, environmentID: deployment.environmentID)
            let webService = !domains.isEmpty && settings.healthcheckPath == nil && liveAnswersOnItsPort(deployment)
            if webService {
                logs.append(deploymentID: deployment.id, kind: .deploy, stream: .system,
                            message: "the live deployment answers on its port: this one replaces it once its port accepts (within \(settings.healthcheckTimeout)s;"
                                + " a service that no longer listens, a worker now, needs its domains removed)")
            }
            let portGrace: Duration? =
                service.database != nil || settings.healthcheckPath != nil
                ? nil : domains.isEmpty ? Self.unroutedSettleTime
                : webService ? .seconds(max(1, settings.healthcheckTimeout)) : configuration.portGracePeriod
            try await withThrowingTaskGroup(of: Void.self) { group in
                for replicaID in started {
                    let port = replicas[replicaID]?.port ?? 0
                    let address = replicas[replicaID]?.address ?? configuration.replicaHost
                    group.addTask {
                        if let portGrace {
                            try await self.waitStarted(replicaID: replicaID, address: address, port: port,
                                                       deploymentID: deployment.id, grace: portGrace, settings: settings,
                                                       routed: !domains.isEmpty, mustListen: webService)
                        } else {
                            try await self.waitHealthy(replicaID: replicaID, address: address, port: port,
                                                       deploymentID: deployment.id, settings: settings)
                        }
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

    /// What the runtime runs for a replica or task of `deployment`: the artifact, command,
    /// variables, limits, volume and egress; the runtime decides where and how.
    func runtimeRequest(
        id: String, deployment: DeploymentRecord, service: ServiceRecord, command: String, environment: [String: String],
        limits: ResourceLimits, volume: VolumeRecord?
    ) throws -> ReplicaRequest {
        ReplicaRequest(
            id: id, deploymentID: deployment.id, serviceID: service.id, serviceName: service.name,
            environmentID: deployment.environmentID, subnetIndex: try store.subnetIndex(environmentID: deployment.environmentID),
            artifact: deployment.buildResult?.image.map { ReplicaRequest.Artifact.image($0) }
                ?? deployment.artifactPath.map { ReplicaRequest.Artifact.folder(path: $0, builtInPlace: deployment.artifactKey == nil) },
            command: command, environment: environment,
            volume: volume.map {
                ReplicaRequest.Volume(
                    name: $0.name, hostDirectory: volumesDirectory.appendingPathComponent($0.id).path, mountPath: $0.mountPath)
            },
            limits: limits, egress: service.egress, runAsRoot: environment["RAILWAY_RUN_UID"] == "0",
            database: service.database)
    }

    /// Publishes an environment's private-domain directory to the runtime:
    /// `<service>.railway.internal` → that service's replica addresses.
    private func publishDirectory(environmentID: String) async {
        let members = replicas.values.filter { $0.environmentID == environmentID && $0.status != .removed }
        await runtime.publishDirectory(environmentID: environmentID, services: privateAddresses(of: members))
    }

    /// Service name → its replicas' private addresses.
    private func privateAddresses(of members: [ReplicaState]) -> [String: [String]] {
        var services: [String: [String]] = [:]
        for member in members.sorted(by: { $0.id < $1.id }) {
            // Hostnames are lower case: service `Postgres` is `postgres.railway.internal`.
            services[member.serviceName.lowercased(), default: []].append(member.address)
        }
        return services
    }

    /// Stops a replica, frees its network namespace and forgets it: drained first (up to
    /// `grace`), then SIGTERM and SIGKILL after `grace`.
    private func removeReplica(_ replicaID: String, grace: Duration) async {
        // At shutdown run() stops every replica at once, with a kill after its grace period.
        guard !isShuttingDown else { return }
        portWatches.removeValue(forKey: replicaID)?.cancel()
        await drainReplicas([replicaID], timeout: grace)
        // Not cancelled with its job (shutdown): a cancelled stop would skip its SIGKILL and
        // wait for a process that ignores SIGTERM; this one ends within `grace`.
        let runtime = self.runtime
        await Task { await runtime.stopReplica(id: replicaID, grace: grace) }.value
        markReplica(replicaID, .removed)
        guard let state = replicas.removeValue(forKey: replicaID) else { return }
        await publishDirectory(environmentID: state.environmentID)
    }

    /// Takes replicas out of the route table, then waits up to `timeout` until the router
    /// has no request in flight on them (their idle pooled connections close at once), so
    /// their SIGTERM cuts no request. WebSocket clients get a close frame (going away).
    private func drainReplicas(_ replicaIDs: [String], timeout: Duration) async {
        let draining = replicaIDs.filter { replicas[$0] != nil }
        guard !draining.isEmpty else { return }
        var wasRouted: [String] = []
        for replicaID in draining where replicas[replicaID]?.isDraining == false {
            if replicas[replicaID]?.status == .running { wasRouted.append(replicaID) }
            replicas[replicaID]?.isDraining = true
        }
        if !wasRouted.isEmpty { updateRoutes() }
        await awaitRequests(of: draining, timeout: timeout)
    }

    /// Waits up to `timeout` until the router has no request in flight on replicas already
    /// out of the route table; their WebSocket clients get a close frame (going away).
    private func awaitRequests(of draining: [String], timeout: Duration) async {
        await router.closeTunnels(toReplicas: Set(draining))
        let outcome = await router.drain(replicaIDs: Set(draining), timeout: timeout)
        guard outcome.inFlightAtStart > 0 || !outcome.isComplete else { return }
        let deploymentIDs = Set(draining.compactMap { replicas[$0]?.deploymentID })
        let message = outcome.isComplete
            ? "drained: \(outcome.inFlightAtStart) requests in flight finished before the stop"
            : "draining ran out after \(timeout): \(outcome.stillInFlight) of \(outcome.inFlightAtStart) requests still in flight are cut by the stop"
        for deploymentID in deploymentIDs {
            logs.append(deploymentID: deploymentID, kind: .deploy, stream: .system, message: message)
        }
    }

    /// Sets a swarm node's availability. Before a drain the replicas whose tasks run there
    /// leave routing and their requests in flight finish (up to their deployments'
    /// `drainingSeconds`), so swarm's stop of those tasks cuts no request: without this a
    /// request could still reach a task swarm had already stopped. They stay out of routing
    /// until their tasks run elsewhere (`leavesNode`, cleared by their next `started`); if
    /// the node update fails they are back in routing at once.
    public func setNodeAvailability(_ availability: String, node: String) async throws -> NodeView {
        let nodes = try clusterNodes()
        guard availability == "drain" else { return try await nodes.setAvailability(availability, node: node) }
        let moving = try await nodes.replicaIDs(onNode: node).filter { replicas[$0]?.isRoutable == true }
        guard !moving.isEmpty else { return try await nodes.setAvailability(availability, node: node) }
        for replicaID in moving { replicas[replicaID]?.leavesNode = true }
        updateRoutes()
        let draining = moving.compactMap { replicas[$0]?.deploymentID }.compactMap { try? store.deployment(id: $0).deploySettings?.drainingSeconds }
        await awaitRequests(of: moving, timeout: .seconds(max(draining.max() ?? DeploySettings().drainingSeconds, 0)))
        do {
            return try await nodes.setAvailability(availability, node: node)
        } catch {
            for replicaID in moving { replicas[replicaID]?.leavesNode = false }
            updateRoutes()
            throw error
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
            result = await HealthChecker.waitForPort(host: address, port: port, timeout: timeout, schedule: portCheck, isAlive: isAlive)
        }
        guard result.passed else {
            throw YardError(.deployFailed, "replica \(replicaID) did not become healthy: \(result.reason)")
        }
        logs.append(deploymentID: deploymentID, kind: .deploy, stream: .system, replica: replicaID, message: "health check passed")
        markReplica(replicaID, .running)
    }

    /// A replica without a health check path: started when its port accepts (routed at
    /// once), or when it still runs after `grace` without one (live but routed only once the
    /// port opens, which a watch waits for), or when it exited 0 and its restart policy
    /// leaves it down (a job). A routed one that failed and is being restarted gets the port
    /// check of a replica without a health check path, as before: live only once it accepts.
    /// With `mustListen` (a web service's) one still running without its port open after
    /// `grace` fails the deployment. Any other end fails it too.
    private func waitStarted(
        replicaID: String, address: String, port: Int, deploymentID: String, grace: Duration, settings: DeploySettings,
        routed: Bool, mustListen: Bool
    ) async throws {
        if !routed {
            logs.append(deploymentID: deploymentID, kind: .deploy, stream: .system, replica: replicaID,
                        message: "no domain and no health check path: live once its process runs \(grace) or its port accepts")
        }
        let isAlive: @Sendable () async -> Bool = { await self.isReplicaAlive(replicaID) }
        let result = await HealthChecker.waitForPort(host: address, port: port, timeout: grace, schedule: portCheck, isAlive: isAlive)
        if result.passed {
            logs.append(deploymentID: deploymentID, kind: .deploy, stream: .system, replica: replicaID,
                        message: "port \(port) accepts connections: started")
            markReplica(replicaID, .running)
            return
        }
        try Task.checkCancellation()
        switch replicas[replicaID]?.status {
        case .exited?:
            logs.append(deploymentID: deploymentID, kind: .deploy, stream: .system, replica: replicaID,
                        message: "process exited 0 and its restart policy does not restart it: completed")
        case .initializing?, .running?, .restarting?:
            if routed, replicas[replicaID]?.exitedWithFailure == true {
                logs.append(deploymentID: deploymentID, kind: .deploy, stream: .system, replica: replicaID,
                            message: "process failed and is restarting: started only once port \(port) accepts")
                try await waitHealthy(
                    replicaID: replicaID, address: address, port: port, deploymentID: deploymentID, settings: settings)
                return
            }
            if mustListen { throw YardError(.deployFailed, "replica \(replicaID) did not become healthy: \(result.reason)") }
            logs.append(deploymentID: deploymentID, kind: .deploy, stream: .system, replica: replicaID,
                        message: "process running; port \(port) not open after \(grace): started, routed once the port accepts")
            replicas[replicaID]?.awaitsAnswer = true
            markReplica(replicaID, .running)
            watchAnswer(replicaID: replicaID, healthcheckPath: nil)
        default:
            let exit = try? store.replicas(deploymentID: deploymentID).first { $0.id == replicaID }?.lastExit
            throw YardError(.deployFailed, "replica \(replicaID) \(exit ?? "exited") right after it started; `yard logs` shows its output")
        }
    }

    /// Routes a live replica as soon as it answers: its health check path's 200 when it has
    /// one, else its port accepting a connection. Replaces an earlier watch of the replica.
    private func watchAnswer(replicaID: String, healthcheckPath: String?) {
        guard let state = replicas[replicaID] else { return }
        let (address, port, deploymentID) = (state.address, state.port, state.deploymentID)
        let isAlive: @Sendable () async -> Bool = { await self.isReplicaAlive(replicaID) }
        portWatches.removeValue(forKey: replicaID)?.cancel()
        let portCheck = portCheck
        portWatches[replicaID] = Task {
            let forever = Duration.seconds(Int64(Int32.max))
            let result = if let healthcheckPath {
                await HealthChecker.waitForHTTP(host: address, port: port, path: healthcheckPath, timeout: forever, isAlive: isAlive)
            } else {
                await HealthChecker.waitForPort(host: address, port: port, timeout: forever, schedule: portCheck, isAlive: isAlive)
            }
            guard !Task.isCancelled else { return }
            let what = healthcheckPath.map { "\($0) answers 200" } ?? "port \(port) accepts connections"
            await self.answered(replicaID: replicaID, deploymentID: deploymentID, what: what, passed: result.passed)
        }
    }

    private func answered(replicaID: String, deploymentID: String, what: String, passed: Bool) {
        portWatches[replicaID] = nil
        guard passed, replicas[replicaID]?.awaitsAnswer == true else { return }
        replicas[replicaID]?.awaitsAnswer = false
        logs.append(deploymentID: deploymentID, kind: .deploy, stream: .system, replica: replicaID,
                    message: "\(what): routed now")
        updateRoutes()
    }

    /// The port check's schedule: its connection must stay open as long as the runtime says
    /// (a port proxy in front of the app accepts before the app listens).
    private var portCheck: HealthCheckSchedule { HealthCheckSchedule(settleTime: runtime.portSettleTime) }

    /// Whether the service's live deployment has a replica running that answered on its port
    /// or health check path.
    private func liveAnswersOnItsPort(_ deployment: DeploymentRecord) -> Bool {
        let key = ServiceKey(serviceID: deployment.serviceID, environmentID: deployment.environmentID)
        guard let liveID = live[key] else { return false }
        return replicas.values.contains { $0.deploymentID == liveID && $0.status == .running && !$0.awaitsAnswer }
    }

    /// Whether every replica of a deployment exited 0 and stays down (a job that finished).
    private func everyReplicaCompleted(_ deploymentID: String) -> Bool {
        let mine = replicas.values.filter { $0.deploymentID == deploymentID }
        return !mine.isEmpty && mine.allSatisfy { $0.status == .exited }
    }

    static func completedReason(_ policy: RestartPolicyType) -> String {
        "every replica exited 0; restart policy \(policy.rawValue) does not restart a clean exit"
    }

    /// How long a replica nothing routes to must stay up to count as started.
    static let unroutedSettleTime = Duration.seconds(1)

    private func isReplicaAlive(_ replicaID: String) -> Bool {
        guard let state = replicas[replicaID] else { return false }
        return ![.crashed, .exited, .stopped, .removed].contains(state.status)
    }

    private func restartReplicas(deploymentID id: String, key: ServiceKey, reason: String) async {
        do {
            let deployment = try store.deployment(id: id)
            guard let result = deployment.buildResult, let settings = deployment.deploySettings else {
                throw YardError(.internal, "deployment \(id) has no build result to start")
            }
            let variables = try store.openSnapshot(deployment.variables, deploymentID: id)
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
            awakeSince[key] = Date()
            waking.remove(key)
        } catch {
            waking.remove(key)
            if isShuttingDown {
                // A live deployment whose replicas were starting again: still live, so the
                // next start starts them once more (recover() restarts SUCCESS deployments).
                logs.append(deploymentID: id, kind: .deploy, stream: .system,
                            message: "interrupted: yard serve is stopping while the replicas start; they start again at the next start")
                if (try? store.deployment(id: id).status) == .deploying {
                    _ = try? transition(id, .success, reason: "interrupted by the shutdown of yard serve; restarted at the next start")
                }
                return
            }
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
            logs.close(deploymentID: id, kind: .http)
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
            drain(deploymentID: deploymentID, replicaID: replicaID, stream: stream, line: line)
            exportLine(deploymentID: deploymentID, replicaID: replicaID, stream: stream, line: line)
        case .started(let replicaID, let pid, let attempt):
            guard let state = replicas[replicaID] else { return }
            try? store.updateReplica(id: replicaID) { $0.pid = pid; $0.restarts = attempt }
            if attempt > 0 {
                // Restarted, or a task swarm moved off a drained node runs elsewhere: routed
                // again once it answers as at its deploy. A process that runs is not yet one
                // that listens, and behind swarm's port proxy a connect succeeds before the
                // app listens, so a request sent at once would find the connection closed.
                replicas[replicaID]?.leavesNode = false
                replicas[replicaID]?.awaitsAnswer = true
                logs.append(deploymentID: state.deploymentID, kind: .deploy, stream: .system, replica: replicaID,
                            message: "replica restarted (attempt \(attempt)), pid \(pid); routed once it answers")
                replicaRestarted(deploymentID: state.deploymentID, replicaID: replicaID)
                markReplica(replicaID, .running)
                let settings = try? store.deployment(id: state.deploymentID).deploySettings
                watchAnswer(replicaID: replicaID, healthcheckPath: settings?.healthcheckPath)
                liveDeploymentRecovered(state.deploymentID)
            }
        case .exited(let replicaID, let reason, let decision):
            guard let state = replicas[replicaID] else { return }
            try? store.updateReplica(id: replicaID) { $0.lastExit = reason.description }
            if reason == .oomKilled { replicaOOMKilled(deploymentID: state.deploymentID, replicaID: replicaID) }
            if !reason.isSuccess { replicas[replicaID]?.exitedWithFailure = true }
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

    /// A live deployment with no replica left running is CRASHED, or COMPLETED when every
    /// replica exited 0 and stays down.
    private func deploymentMayHaveCrashed(_ deploymentID: String) {
        guard live.values.contains(deploymentID) else { return }
        if everyReplicaCompleted(deploymentID), let record = try? store.deployment(id: deploymentID), record.status == .success {
            let policy = record.deploySettings?.restartPolicyType ?? .onFailure
            _ = try? transition(deploymentID, .completed, reason: Self.completedReason(policy))
            // Requests held for it get their 503 now: no replica is coming.
            updateRoutes()
            return
        }
        let mine = replicas.values.filter { $0.deploymentID == deploymentID }
        guard !mine.isEmpty, mine.allSatisfy({ [.crashed, .exited].contains($0.status) }),
              mine.contains(where: { $0.status == .crashed })
        else { return }
        _ = try? transition(deploymentID, .crashed, reason: "every replica crashed and the restart policy gave up")
        // Requests held for it get their 503 now: no replica is coming.
        updateRoutes()
    }

    private func liveDeploymentRecovered(_ deploymentID: String) {
        guard let record = try? store.deployment(id: deploymentID), record.status == .crashed, live.values.contains(deploymentID) else { return }
        _ = try? transition(deploymentID, .success, reason: "a replica is running again")
    }

    // MARK: Routing

    /// Whether a service without a ready replica will get one without anyone acting: a job
    /// of it is queued or running (a deploy, restart or wake), or its live deployment is
    /// up, starting or asleep. Not when it crashed for good, failed or was taken down.
    private func replicaExpected(_ key: ServiceKey) -> Bool {
        if busy.contains(key) { return true }
        guard let id = live[key], let deployment = try? store.deployment(id: id) else { return false }
        return [.success, .deploying, .sleeping].contains(deployment.status)
    }

    /// Rebuilds the whole route table from the domains and the running replicas, and swaps it in.
    /// A domain with a target port goes to that port of each replica's own address (sandbox
    /// runtime); without one, to each replica's `PORT`.
    private func updateRoutes() {
        guard let domains = try? store.allDomains() else { return }
        var routes: [RouteTable.Route] = []
        for domain in domains {
            let key = ServiceKey(serviceID: domain.serviceID, environmentID: domain.environmentID)
            // Plain replicas share the host's ports; such a domain stays unrouted (see recover()).
            if domain.targetPort != nil && !runtime.addressing.isOwnAddress { continue }
            let upstreams = live[key].map { deploymentID in
                replicas.values
                    .filter { $0.deploymentID == deploymentID && $0.isRoutable }
                    .sorted { $0.id < $1.id }
                    .map { Upstream(host: $0.address, port: domain.targetPort ?? $0.port, replicaID: $0.id) }
            } ?? []
            routes.append(RouteTable.Route(
                host: domain.hostname, pathPrefix: domain.pathPrefix.isEmpty ? nil : domain.pathPrefix, upstreams: upstreams,
                owner: key.owner, waitsForReplicas: upstreams.isEmpty ? replicaExpected(key) : true))
        }
        routeTable = RouteTable(routes: routes)
        router.updateRoutes(routeTable)
        updateTCPProxyUpstreams()
    }

    /// Whether a job of the service is queued or running.
    func hasJob(serviceID: String, environmentID: String) -> Bool {
        busy.contains(ServiceKey(serviceID: serviceID, environmentID: environmentID))
    }

    /// The replicas the route table sends `host` to now, in order.
    func routedReplicaIDs(forHost host: String) -> [String] {
        routeTable.upstreams(forHost: host)?.map(\.replicaID) ?? []
    }

    /// Points every TCP proxy at the running replicas of its service's live deployment: the
    /// service port on each replica's own address (sandbox), or its `PORT` (plain processes,
    /// which share the host's ports).
    func updateTCPProxyUpstreams() {
        guard let proxies = try? store.allTCPProxies() else { return }
        for proxy in proxies {
            let key = ServiceKey(serviceID: proxy.serviceID, environmentID: proxy.environmentID)
            let upstreams = live[key].map { deploymentID in
                replicas.values
                    .filter { $0.deploymentID == deploymentID && $0.isRoutable }
                    .sorted { $0.id < $1.id }
                    .map { Upstream(host: $0.address, port: runtime.addressing.isOwnAddress ? proxy.targetPort : $0.port, replicaID: $0.id) }
            } ?? []
            tcpProxy.setUpstreams(upstreams, port: proxy.hostPort)
        }
    }

    /// The running replicas of each service's live deployment (the metrics collector samples them).
    func runningReplicaIDs() -> [ServiceKey: [String]] {
        live.mapValues { deploymentID in
            replicas.values.filter { $0.deploymentID == deploymentID && $0.status == .running }.map(\.id).sorted()
        }
    }

    // MARK: Access logs

    /// Writes the router's access log entries into the `http` log of the deployment that
    /// served each, one batch per wake-up, off the router's event loops.
    private nonisolated func writeAccessLogs() async {
        for await _ in accessLogBuffer.arrivals {
            await writeBufferedAccessLogs()
        }
        await writeBufferedAccessLogs()
    }

    private nonisolated func writeBufferedAccessLogs() async {
        let (entries, dropped) = accessLogBuffer.take()
        guard !entries.isEmpty || dropped > 0 else { return }
        let batches = await accessLogBatches(entries, dropped: dropped)
        for (deploymentID, lines) in batches {
            logs.append(deploymentID: deploymentID, kind: .http, lines: lines)
        }
    }

    /// Groups entries by the deployment that served them: the replica's, else the live
    /// deployment of the service routed at the host and path. Entries for unrouted hosts
    /// are not kept.
    private func accessLogBatches(_ entries: [AccessLogEntry], dropped: Int) -> [String: [LogLine]] {
        if dropped > 0 {
            droppedAccessLogLines += dropped
            logger.warning("the access log fell behind; lines were dropped", metadata: ["http.dropped_lines": "\(dropped)"])
        }
        var batches: [String: [LogLine]] = [:]
        var served: [(serviceID: String, environmentID: String, entry: AccessLogEntry)] = []
        defer { metrics.recordRequests(served, host: self) }
        for entry in entries {
            let key = routeTable.route(forHost: entry.host, target: entry.path)?.owner.flatMap(ServiceKey.init(owner:))
            if let key { served.append((serviceID: key.serviceID, environmentID: key.environmentID, entry: entry)) }
            let deploymentID = entry.replicaID.flatMap { replicas[$0]?.deploymentID } ?? key.flatMap { live[$0] }
            guard let deploymentID else { continue }
            let record = HTTPRequestLog(
                host: entry.host, method: entry.method, path: entry.path, status: entry.status,
                durationMs: Double(entry.duration.components.seconds) * 1000 + Double(entry.duration.components.attoseconds) / 1e15,
                upstream: entry.replicaID, bytesIn: entry.bytesIn, bytesOut: entry.bytesOut
            )
            batches[deploymentID, default: []].append(
                LogLine(seq: 0, timestamp: entry.timestamp, stream: .http, replica: entry.replicaID, message: record.summary, http: record))
        }
        return batches
    }

    // MARK: Variables and domains

    private func variables(_ key: ServiceKey) throws -> [String: String] {
        var result: [String: String] = [:]
        for variable in try store.variables(serviceID: key.serviceID, environmentID: key.environmentID) {
            result[variable.key] = variable.value
        }
        return result
    }

    /// Resolves `${{service.KEY}}`, `${{KEY}}` and `${{shared.KEY}}` anywhere in every value,
    /// following chains; a cycle or a reference to nothing fails with the variable, its
    /// service and the reference. Another service's `RAILWAY_PUBLIC_DOMAIN` is its
    /// generated domain (created if needed), its `RAILWAY_PRIVATE_DOMAIN` its internal
    /// name; other keys are its variables (never its build secrets).
    func resolveReferences(
        in variables: [String: String], service: ServiceRecord, environmentID: String, railway: [String: String]
    ) throws -> [String: String] {
        let own = railway.merging(variables) { _, user in user }
        let shared = Dictionary(
            try store.sharedVariables(environmentID: environmentID).map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
        var resolver = VariableResolver { name throws -> VariableResolver.Lookup in
            if name.owner.lowercased() == service.name.lowercased() {
                return own[name.key].map { .value($0) } ?? .missingVariable
            }
            if name.owner == VariableResolver.sharedOwner {
                return shared[name.key].map { .value($0) } ?? .missingVariable
            }
            guard let target = try self.store.findService(projectID: service.projectID, name.owner) else { return .missingService }
            switch name.key {
            case "RAILWAY_PUBLIC_DOMAIN":
                let project = try self.store.project(target.projectID)
                return try self.ensureGeneratedDomain(service: target, project: project, environmentID: environmentID)
                    .map { .value($0) } ?? .missingVariable
            case "RAILWAY_PRIVATE_DOMAIN":
                return .value("\(target.name.lowercased()).\(ReplicaAddressing.privateDomain)")
            case "RAILWAY_SERVICE_NAME":
                return .value(target.name)
            case "RAILWAY_SERVICE_ID":
                return .value(target.id)
            default:
                let theirs = try self.store.variables(serviceID: target.id, environmentID: environmentID)
                return theirs.first { $0.key == name.key && !$0.buildSecret }.map { .value($0.value) } ?? .missingVariable
            }
        }
        var result: [String: String] = [:]
        for (name, value) in variables {
            result[name] = try resolver.resolve(value, as: VariableResolver.Name(owner: service.name, key: name))
        }
        return result
    }

    /// Railway's variables that act as settings.
    func railwayVariables(
        project: ProjectRecord, environment: EnvironmentRecord, service: ServiceRecord, deploymentID: String, domain: String?
    ) -> [String: String] {
        var variables = [
            "RAILWAY_PROJECT_NAME": project.name,
            "RAILWAY_PROJECT_ID": project.id,
            "RAILWAY_ENVIRONMENT_NAME": environment.name,
            "RAILWAY_ENVIRONMENT_ID": environment.id,
            "RAILWAY_SERVICE_NAME": service.name,
            "RAILWAY_SERVICE_ID": service.id,
            "RAILWAY_DEPLOYMENT_ID": deploymentID,
            "RAILWAY_PRIVATE_DOMAIN": "\(service.name.lowercased()).\(ReplicaAddressing.privateDomain)",
        ]
        if let domain { variables["RAILWAY_PUBLIC_DOMAIN"] = domain }
        if let proxy = try? store.tcpProxies(serviceID: service.id, environmentID: environment.id).first {
            variables["RAILWAY_TCP_PROXY_DOMAIN"] = tcpProxy.host
            variables["RAILWAY_TCP_PROXY_PORT"] = String(proxy.hostPort)
        }
        return variables
    }

    /// The generated domain `<service>-<project>.<base-domain>` (`<service>-<project>-<env>`
    /// outside production), created on first deploy; nil when the service has no domain
    /// because its generated one was removed (a worker).
    func ensureGeneratedDomain(service: ServiceRecord, project: ProjectRecord, environmentID: String) throws -> String? {
        let existing = try store.domains(serviceID: service.id, environmentID: environmentID)
        if let generated = existing.first(where: \.generated) ?? existing.first { return generated.hostname }
        if try store.generatedDomainRemoved(serviceID: service.id, environmentID: environmentID) { return nil }
        let hostname = generatedHostname(service: service, project: project, environment: try store.environment(id: environmentID))
        try store.addDomain(DomainRecord(hostname: hostname, serviceID: service.id, environmentID: environmentID,
                                         targetPort: nil, generated: true, createdAt: Date()))
        return hostname
    }

    func generatedHostname(service: ServiceRecord, project: ProjectRecord, environment: EnvironmentRecord) -> String {
        let suffix = environment.name == "production" ? "" : "-\(environment.name)"
        return "\(service.name)-\(project.name)\(suffix).\(configuration.baseDomain)".lowercased()
    }

    /// Adds a custom domain (or changes its target port) and routes it at once.
    /// With `certificate`, HTTPS for it uses that certificate from the next handshake on
    /// (replacing any before); without, the local authority's.
    public func addDomain(
        serviceID: String, environmentID: String, hostname: String, targetPort: Int?, path: String? = nil,
        certificate: DomainCertificateUpload? = nil
    ) async throws -> DomainRecord {
        let name = hostname.lowercased()
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }) else {
            throw YardError(.invalidInput, "'\(hostname)' is not a valid hostname")
        }
        if let id = live[ServiceKey(serviceID: serviceID, environmentID: environmentID)], await cronSchedule(ofDeployment: id) != nil {
            throw YardError(.conflict, "this is a cron service: it runs on its schedule and takes no domain")
        }
        let pathPrefix = try Self.pathPrefix(path)
        if let targetPort {
            guard (1...65535).contains(targetPort) else {
                throw YardError(.invalidInput, "target port \(targetPort) of \(name) is not a TCP port (1-65535)")
            }
            guard runtime.addressing.isOwnAddress else {
                throw YardError(
                    .invalidInput,
                    "target port \(targetPort) for \(name) needs the sandbox runtime, where each replica has its own address; with plain processes replicas share the host's ports, so domains go to each replica's PORT: add \(name) without a port, or run `yard serve --runtime sandbox`"
                )
            }
        }
        let domain = DomainRecord(hostname: name, pathPrefix: pathPrefix, serviceID: serviceID, environmentID: environmentID,
                                  targetPort: targetPort, generated: false, createdAt: Date())
        let checked = try certificate.map { try checkedCertificate($0, forHost: name) }
        try store.addDomain(domain)
        if let certificate, let checked {
            try await installCertificate(checked, upload: certificate, forHost: name)
        }
        updateRoutes()
        return domain
    }

    /// Removes a domain of the service; requests for it get 404 from now on.
    public func removeDomain(serviceID: String, environmentID: String, hostname: String, path: String? = nil) throws {
        let name = RouteTable.normalizedHost(hostname)
        let pathPrefix = try Self.pathPrefix(path)
        let domains = try store.domains(serviceID: serviceID, environmentID: environmentID)
        guard domains.contains(where: { $0.hostname == name && $0.pathPrefix == pathPrefix }) else {
            // Before the first deploy: the generated domain it would get is refused in advance
            // (a worker that never listens then needs no port check either).
            let service = try store.service(id: serviceID)
            if domains.isEmpty, pathPrefix.isEmpty, service.database == nil,
                name == generatedHostname(service: service, project: try store.project(service.projectID),
                                          environment: try store.environment(id: environmentID))
            {
                try store.rememberGeneratedDomainRemoved(serviceID: serviceID, environmentID: environmentID)
                return
            }
            throw YardError(.notFound, "the service has no domain \(name)\(pathPrefix); `yard domain list` shows its domains")
        }
        try store.removeDomain(hostname: name, pathPrefix: pathPrefix, serviceID: serviceID)
        updateRoutes()
    }

    /// A domain's path prefix as stored: normalized (`/api/` → `/api`), empty for the whole host.
    static func pathPrefix(_ path: String?) throws -> String {
        guard let path else { return "" }
        let allowed = Set("-._~!$&'()*+,;=:@/%")
        guard path.hasPrefix("/"), path.count <= 256, path.allSatisfy({ ($0.isASCII && ($0.isLetter || $0.isNumber)) || allowed.contains($0) }) else {
            throw YardError(.invalidInput, "path '\(path)' is not a path prefix: it starts with / and has no spaces, ? or # (e.g. /api)")
        }
        return RouteTable.normalizedPathPrefix(path) ?? ""
    }

    // MARK: Environments

    /// Deletes an environment (not the project's last): queued deployments never start,
    /// running builds stop, every replica and cron run of the environment stops, its domains
    /// stop routing, its private network goes, its volumes' data, its deployments' logs and
    /// sources and its backups' files are removed, then its rows. Other environments are not touched.
    public func deleteEnvironment(environmentID: String) async throws -> (EnvironmentRemoval, stopped: Int) {
        let environment = try store.environment(id: environmentID)
        guard try store.environments(projectID: environment.projectID).count > 1 else {
            throw YardError(
                .conflict, "'\(environment.name)' is the project's only environment and cannot be deleted; create another first")
        }
        guard deletingEnvironments.insert(environmentID).inserted else {
            throw YardError(.conflict, "environment '\(environment.name)' is already being deleted")
        }
        defer { deletingEnvironments.remove(environmentID) }
        let reason = "its environment \(environment.name) was deleted"
        // Queued jobs never start; running builds are stopped.
        for key in queues.keys where key.environmentID == environmentID {
            for job in queues[key] ?? [] {
                if case .pipeline(let id) = job { _ = try? transition(id, .removed, reason: reason) }
                if case .rollout(let id) = job { _ = try? transition(id, .removed, reason: reason) }
            }
            queues[key] = nil
        }
        for (id, task) in pipelineTasks where (try? store.deployment(id: id))?.environmentID == environmentID {
            stopReasons[id] = (.removed, "cancelled: \(reason)")
            task.cancel()
        }
        // Jobs already running (a build winding down, a restart, a rollout, a backup) finish first.
        let deadline = ContinuousClock.now + .seconds(120)
        while busy.contains(where: { $0.environmentID == environmentID })
            || backupClaims.contains(environmentID: environmentID), ContinuousClock.now < deadline
        {
            try? await Task.sleep(for: .milliseconds(100))
        }
        let running = try store.deployments(
            environmentID: environmentID, withStatus: [.deploying, .success, .completed, .crashed, .sleeping, .removing])
        for key in live.keys where key.environmentID == environmentID {
            live.removeValue(forKey: key)
        }
        updateRoutes()
        await cronScheduler.stopRuns(environmentID: environmentID, timeout: .seconds(3))
        for deployment in running {
            if deployment.status != .removing { _ = try? transition(deployment.id, .removing, reason: reason) }
            await stopReplicas(of: deployment.id, grace: .seconds(3))
            _ = try? transition(deployment.id, .removed, reason: reason)
            logs.close(deploymentID: deployment.id, kind: .deploy)
            logs.close(deploymentID: deployment.id, kind: .http)
        }
        let inEnvironment: (ServiceKey) -> Bool = { $0.environmentID == environmentID }
        for key in awakeSince.keys where inEnvironment(key) { awakeSince[key] = nil }
        waking = waking.filter { !inEnvironment($0) }
        await runtime.removeNetwork(environmentID: environmentID)
        let removal = try store.deleteEnvironment(id: environmentID)
        updateRoutes()
        await reconcileTCPProxies()
        for id in removal.volumeIDs {
            await runtime.removeVolume(id: id, hostDirectory: volumesDirectory.appendingPathComponent(id).path)
            try? FileManager.default.removeItem(at: volumesDirectory.appendingPathComponent(id))
        }
        removeBackupFiles(of: removal.backups)
        for id in removal.deploymentIDs {
            try? FileManager.default.removeItem(at: configuration.dataDirectory.appendingPathComponent("logs").appendingPathComponent(id))
            try? FileManager.default.removeItem(at: sourcesDirectory.appendingPathComponent("\(id).tar.gz"))
        }
        logger.info("environment deleted", metadata: ["environment.id": "\(environmentID)", "environment.name": "\(environment.name)"])
        return (removal, running.count)
    }

    // MARK: Recovery

    /// After a stop or a crash of the platform: builds that were under way are FAILED with
    /// the reason; deployments that were live get fresh replicas from their artifact.
    private func recover() throws {
        try store.interruptRunningCronRuns(reason: "interrupted: yard serve stopped while it ran")
        try store.interruptRunningBackups(reason: "interrupted: yard serve stopped while it ran")
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
        if !runtime.addressing.isOwnAddress {
            for domain in try store.allDomains() where domain.targetPort != nil {
                logger.warning(
                    "domain has a target port, which needs the sandbox runtime; it is not routed",
                    metadata: ["domain.hostname": "\(domain.hostname)", "domain.target_port": "\(domain.targetPort ?? 0)"])
            }
        }
        // A COMPLETED job stays live (its domain answers 503) and is not run again.
        for deployment in try store.deployments(withStatus: [.success, .sleeping, .completed]) {
            killLeftovers(of: deployment.id)
            let key = ServiceKey(serviceID: deployment.serviceID, environmentID: deployment.environmentID)
            live[key] = deployment.id
            // A sleeping service stays asleep until a request comes.
            if deployment.status == .success {
                enqueue(.restart(deploymentID: deployment.id, reason: "yard serve started again"), key: key)
            }
        }
        updateRoutes()
    }

    // MARK: Sleeping services

    /// Puts a service with `sleepApplication` to sleep now (`yard sleep`, tests); it wakes
    /// at its next request.
    public func sleep(serviceID: String, environmentID: String) throws -> DeploymentRecord {
        let key = ServiceKey(serviceID: serviceID, environmentID: environmentID)
        guard let id = live[key] else {
            throw YardError(.notFound, "this service has no live deployment to put to sleep")
        }
        let deployment = try store.deployment(id: id)
        guard deployment.status == .success else {
            throw YardError(.conflict, "the live deployment is \(deployment.status.rawValue); only a SUCCESS deployment can sleep")
        }
        return try beginSleep(deploymentID: id, key: key, reason: "put to sleep by `yard sleep`")
    }

    /// At start and every hour (or half the retention, if shorter): log files older than the retention go.
    private func pruneLogs() async {
        let logs = self.logs
        let removed = logs.prune()
        if removed > 0 { logger.info("removed old log files", metadata: ["files": "\(removed)"]) }
        await configuration.clock.repeating(every: logs.limits.pruneInterval) { logs.prune() }
    }

    /// Every `sleepCheckInterval`: services with `sleepApplication` whose domains had no
    /// request for `sleepAfter` (and no open WebSocket) go to sleep.
    private func watchIdleServices() async {
        // Idle time is measured against the router's real timestamps, so `now` stays real.
        await configuration.clock.repeating(every: configuration.sleepCheckInterval) { sleepIdleServices(now: Date()) }
    }

    /// Puts to sleep each service with `sleepApplication` idle for `sleepAfter` at `now`
    /// (one pass of the idle loop; tests call it with the time they want).
    func sleepIdleServices(now: Date) {
        for (key, id) in live {
            guard !busy.contains(key), let deployment = try? store.deployment(id: id), deployment.status == .success,
                sleeps(deployment)
            else { continue }
            let hosts = (try? store.domains(serviceID: key.serviceID, environmentID: key.environmentID).map(\.hostname)) ?? []
            let replicaIDs = Set(replicas.values.filter { $0.deploymentID == id }.map(\.id))
            if router.hasTunnels(toReplicas: replicaIDs) { continue }
            // Idle since the last request, or since it went live if none came.
            let wentLive = awakeSince[key] ?? deployment.updatedAt
            let sinceRequest = hosts.compactMap { router.timeSinceLastRequest(forHost: $0) }.min()
            let idleFor: Duration
            if let sinceRequest {
                idleFor = min(sinceRequest, .seconds(now.timeIntervalSince(wentLive)))
            } else {
                idleFor = .seconds(now.timeIntervalSince(wentLive))
            }
            if idleFor >= configuration.sleepAfter {
                _ = try? beginSleep(deploymentID: id, key: key,
                                    reason: "no request for \(Self.describe(duration: configuration.sleepAfter))")
            }
        }
    }

    /// Asleep at once: requests from now on are held (and wake it) instead of going to
    /// replicas that are stopping; the job that stops them is queued.
    private func beginSleep(deploymentID id: String, key: ServiceKey, reason: String) throws -> DeploymentRecord {
        let record = try transition(id, .sleeping, reason: reason)
        for replicaID in replicas.values.filter({ $0.deploymentID == id }).map(\.id) {
            markReplica(replicaID, .stopped)
        }
        updateRoutes()
        awakeSince[key] = nil
        enqueue(.sleep(deploymentID: id, reason: reason), key: key)
        return record
    }

    private func putToSleep(deploymentID id: String, key: ServiceKey, reason: String) async {
        guard live[key] == id, let deployment = try? store.deployment(id: id), deployment.status == .sleeping else { return }
        let settings = deployment.deploySettings
        for replicaID in replicas.values.filter({ $0.deploymentID == id }).map(\.id) {
            await removeReplica(replicaID, grace: .seconds(max(settings?.drainingSeconds ?? 0, 0)))
        }
        logs.append(deploymentID: id, kind: .deploy, stream: .system, message: "asleep: \(reason); the next request wakes it")
    }

    /// A request is held for `host`: if its service sleeps, start it again.
    func wake(host: String) {
        let name = host.lowercased()
        // Services sharing the hostname by path prefix all wake: the router holds by host.
        let keys = Set(((try? store.allDomains()) ?? []).filter { $0.hostname.lowercased() == name }
            .map { ServiceKey(serviceID: $0.serviceID, environmentID: $0.environmentID) })
        for key in keys {
            wake(key, log: "waking: a request arrived for \(host)", reason: "woken by a request to \(host)")
        }
    }

    private func wake(_ key: ServiceKey, log: String, reason: String) {
        guard let id = live[key], !waking.contains(key), let deployment = try? store.deployment(id: id),
            deployment.status == .sleeping
        else { return }
        waking.insert(key)
        logs.append(deploymentID: id, kind: .deploy, stream: .system, message: log)
        enqueue(.restart(deploymentID: id, reason: reason), key: key)
    }

    /// Whether a deployment sleeps when idle: as `yard service --sleep` set it for the
    /// service, else as its config's `sleepApplication` says.
    private func sleeps(_ deployment: DeploymentRecord) -> Bool {
        if let setting = (try? store.service(id: deployment.serviceID))?.sleepApplication { return setting }
        return deployment.deploySettings?.sleepApplication ?? false
    }

    /// After a service's sleep setting changed (`yard service --sleep off`): a service
    /// asleep that no longer sleeps wakes now rather than at its next request.
    public func sleepSettingChanged(serviceID: String, environmentID: String) {
        let key = ServiceKey(serviceID: serviceID, environmentID: environmentID)
        guard let id = live[key], let deployment = try? store.deployment(id: id), !sleeps(deployment) else { return }
        wake(key, log: "waking: sleeping was turned off for this service", reason: "sleeping turned off")
    }

    static func describe(duration: Duration) -> String {
        let seconds = duration.components.seconds
        if seconds % 60 == 0, seconds >= 60 { return "\(seconds / 60) min" }
        return "\(seconds) s"
    }

    /// Stops replica processes a previous run left behind, checking each pid still belongs
    /// to that replica before signalling it (pids get reused). Sandboxed replicas do not
    /// show their variables to /proc; `yard serve` stops those through their cgroups
    /// (the sandbox runtime's cleanup) before recovery.
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
