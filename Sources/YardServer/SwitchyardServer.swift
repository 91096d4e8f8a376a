import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import YardAPI
import YardControl
import YardCore
import YardDashboard
import YardImage
import YardRouter
import YardRuntime
import YardSandbox
import YardStore
import YardTelemetry

#if canImport(Glibc)
    import Glibc
#endif

/// The whole server, wired in one place: store → runtime → router → orchestrator → TCP
/// proxy → API, run as one `ServiceGroup` (graceful shutdown in reverse). `yard serve`
/// parses its flags into a `Configuration` and runs it; tests run it in-process.
public actor SwitchyardServer {
    public struct Configuration: Sendable {
        /// The platform's own settings (data directory, base domain, limits, clock, …).
        /// An empty `hostEnvironment` is filled for the runtime chosen (`replicaBaseEnvironment`).
        public var orchestrator: Orchestrator.Configuration
        /// The router of deployed apps; its `https` is set when `httpsPort` is not nil.
        public var router: YardRouter.Router.Configuration
        /// The router's HTTPS port (0 picks a free one); nil: HTTP only, no local authority.
        public var httpsPort: Int? = 8443
        public var apiHost = "127.0.0.1"
        /// The API's port (0 picks a free one).
        public var apiPort = 8787
        public var runtime: Runtime = .auto
        /// The Docker Engine's socket, for `.swarm`.
        public var dockerSocket = "/var/run/docker.sock"
        /// The registry swarm nodes pull images from (`HOST:PORT`); nil starts one.
        public var swarmRegistry: String?
        /// The address `yard domain --tcp` ports listen on.
        public var tcpProxyHost = "127.0.0.1"
        /// Whether SIGTERM and SIGINT stop the server gracefully (off for an in-process
        /// server, which `shutdown()` stops).
        public var stopsOnSignals = true
        /// The version `GET /v1/info` reports.
        public var version = "unknown"
        /// `/metrics` (Prometheus) on a listener of its own; nil: off.
        public var metricsEndpoint: MetricsEndpoint.Configuration?
        /// Metrics and request spans over OTLP/HTTP, and `traceparent` on requests; nil: off.
        public var otlp: OTLPExportConfiguration?
        /// Where provider builds run (`SwitchyardServer+BuildPlace`); nil: as `orchestrator.buildsInImages` says.
        public var buildPlace: BuildPlace?

        public init(orchestrator: Orchestrator.Configuration, router: YardRouter.Router.Configuration) {
            self.orchestrator = orchestrator
            self.router = router
        }
    }

    /// How replicas run.
    public enum Runtime: String, Sendable, CaseIterable {
        /// The sandbox when the machine can isolate; as root, refuses to start without it.
        case auto
        /// The sandbox, or an error saying why the machine cannot isolate.
        case sandbox
        /// Plain processes on loopback.
        case plain
        /// Image replicas as Docker Swarm services (`dockerSocket`); builds in the sandbox.
        case swarm
    }

    /// Where the running server is reached, once every listener is bound.
    public struct Endpoints: Sendable {
        public var apiURL: String
        public var apiPort: Int
        public var routerURL: String
        public var routerPort: Int
        public var httpsPort: Int?
        /// The admin token (also in `<data-dir>/admin.token`). Never log it.
        public var adminToken: String
        public var isolation: String
        /// Where provider builds run, as `yard serve` prints it.
        public var builds = ""
        /// The local authority's certificate file, when HTTPS is on.
        public var authorityCertificate: String?
    }

    public nonisolated let configuration: Configuration
    private let logger: Logger
    private var group: ServiceGroup?
    private var isShutdownRequested = false

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs until a graceful shutdown signal, `shutdown()`, or a service fails. `onReady` is
    /// called once the API and router listen.
    public func run(onReady: @escaping @Sendable (Endpoints) async -> Void = { _ in }) async throws {
        let logger = self.logger
        var configuration = self.configuration
        let dataDirectory = configuration.orchestrator.dataDirectory
        let store = try SQLiteStore(directory: dataDirectory)
        let token = try AdminToken.ensure(store: store, dataDirectory: dataDirectory)
        try DataDirectoryPrivacy.secure(dataDirectory)
        let runtime =
            configuration.runtime == .swarm
            ? try await Self.swarmRuntime(configuration, logger: logger)
            : try await Self.chooseRuntime(configuration.runtime, orchestrator: configuration.orchestrator, logger: logger)
        if configuration.orchestrator.hostEnvironment.isEmpty {
            configuration.orchestrator.hostEnvironment = Self.replicaBaseEnvironment(isolated: runtime.isolation == .sandbox)
        }
        let place = configuration.buildPlace.map { Self.chooseBuildPlace($0, sandboxed: runtime.isolation == .sandbox && configuration.runtime != .swarm) }
        if let place { configuration.orchestrator.buildsInImages = place.inImages }
        let builds = place?.summary ?? (configuration.orchestrator.buildsInImages ? "in images" : "in folders")
        let certificates = configuration.httpsPort.map { _ in
            DomainCertificates(
                directory: dataDirectory.appendingPathComponent("tls"), localAuthorityDomain: configuration.orchestrator.baseDomain)
        }
        if let certificates, let httpsPort = configuration.httpsPort {
            try await certificates.prepareAuthority()
            configuration.router.https = .init(port: httpsPort, certificates: certificates)
        }
        let router = YardRouter.Router(configuration: configuration.router, logger: logger)
        let tcpProxy = TCPProxy(host: configuration.tcpProxyHost, logger: logger)
        let orchestrator = Orchestrator(
            configuration: configuration.orchestrator,
            store: store,
            runtime: runtime,
            router: router,
            tcpProxy: tcpProxy,
            certificates: certificates,
            logger: logger
        )
        // Before the API listens: a deploy that came in first would be failed as a leftover.
        try await orchestrator.recoverPreviousRun()
        let baseDomain = configuration.orchestrator.baseDomain
        let version = configuration.version
        let apiHost = configuration.apiHost
        let routerURLs = RouterURLs()
        let api = APIServer.makeApplication(
            orchestrator: orchestrator,
            host: apiHost,
            port: configuration.apiPort,
            info: {
                ServerInfoView(version: version, routerURL: await routerURLs.http,
                               baseDomain: baseDomain, isolation: runtime.summary,
                               httpsURL: await routerURLs.https,
                               authorityCertificate: certificates?.authorityCertificateFile.path)
            },
            onBound: { apiPort in
                let routerPort = (try? await router.boundPort()) ?? 0
                await orchestrator.setRouterPort(routerPort)
                let apiURL = "http://\(apiHost == "0.0.0.0" ? "127.0.0.1" : apiHost):\(apiPort)"
                let routerURL = "http://127.0.0.1:\(routerPort)"
                let httpsPort = try? await router.boundHTTPSPort()
                await orchestrator.setHTTPSPort(httpsPort)
                await routerURLs.set(http: routerURL, https: httpsPort.map { "https://127.0.0.1:\($0)" })
                await onReady(
                    Endpoints(
                        apiURL: apiURL, apiPort: apiPort, routerURL: routerURL, routerPort: routerPort, httpsPort: httpsPort,
                        adminToken: token, isolation: runtime.summary, builds: builds,
                        authorityCertificate: certificates?.authorityCertificateFile.path))
            },
            logger: logger,
            mount: { router, backend in Dashboard(backend: backend, logger: logger).register(on: router) }
        )
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: orchestrator), .init(service: router), .init(service: tcpProxy), .init(service: api),
        ]
        if let metricsEndpoint = configuration.metricsEndpoint {
            services.append(
                .init(service: MetricsEndpoint.makeApplication(registry: orchestrator.metrics.registry, configuration: metricsEndpoint, logger: logger)))
        }
        if let otlp = configuration.otlp {
            // First in the group, so it stops last and exports the final requests' spans.
            let exporter = OTelExporter(configuration: otlp, tap: orchestrator.metrics.telemetry, router: router, logger: logger)
            services.insert(.init(service: exporter), at: 0)
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: configuration.stopsOnSignals ? [.sigterm, .sigint] : [],
                logger: logger
            )
        )
        self.group = group
        if isShutdownRequested { await group.triggerGracefulShutdown() }
        try await group.run()
        self.group = nil
        // containers/storage leaves its overlay folder bind-mounted: no mount outlives the server.
        await configuration.orchestrator.imageStore.unmountAll()
        if runtime.isolation == .sandbox {
            // Every replica is stopped by now: remove our cgroup tree itself.
            _ = try? await SandboxLauncher.removeLeftovers(cgroupParent: configuration.orchestrator.networkPrefix)
        }
    }

    /// Stops the server gracefully, as SIGTERM does; `run()` returns once everything stopped.
    public func shutdown() async {
        isShutdownRequested = true
        await group?.triggerGracefulShutdown()
    }

    /// The sandbox when the machine can isolate (root, bwrap, namespaces, cgroups, ip);
    /// plain processes on loopback otherwise, said loudly, but never for root unless asked.
    static func chooseRuntime(
        _ runtime: Runtime, orchestrator: Orchestrator.Configuration, logger: Logger
    ) async throws -> any ReplicaRuntime {
        let networkPrefix = orchestrator.networkPrefix
        let replicaHost = orchestrator.replicaHost
        if runtime == .plain { return ProcessRuntime(host: replicaHost, logger: logger) }
        let (sandboxOK, sandboxReason) = SandboxLauncher.isAvailable(cgroupParent: networkPrefix)
        let (networkOK, networkReason) = NetworkFabric.isAvailable()
        guard sandboxOK && networkOK else {
            let reason = [sandboxOK ? nil : sandboxReason, networkOK ? nil : networkReason].compactMap { $0 }.joined(separator: "; ")
            if runtime == .sandbox {
                throw YardError(.unavailable, "--runtime sandbox was asked for, but this machine cannot isolate: \(reason)")
            }
            // As root, plain processes would be root processes: fail closed, never fall back silently.
            if geteuid() == 0 {
                throw YardError(
                    .unavailable,
                    "this machine cannot isolate replicas (\(reason)), and as root plain processes would run apps as root: fix that, or pass --runtime plain to run them unsandboxed on purpose"
                )
            }
            return ProcessRuntime(
                launcher: PlainFallbackLauncher(reason: reason), host: replicaHost, fallbackReason: reason, logger: logger)
        }
        // After a crash: cgroups the previous run left (their processes are stopped by recovery).
        _ = try? await SandboxLauncher.removeLeftovers(cgroupParent: networkPrefix)
        let launcher = SandboxLauncher(configuration: .init(cgroupParent: networkPrefix))
        return SandboxRuntime(
            configuration: .init(
                dataDirectory: orchestrator.dataDirectory, platformExecutable: orchestrator.platformExecutable,
                privateNetworkBase: orchestrator.privateNetworkBase, networkPrefix: networkPrefix),
            launcher: launcher, network: NetworkFabric(configuration: .init(namePrefix: networkPrefix), logger: logger),
            logger: logger)
    }

    /// What every build step and replica starts from: a usable PATH and locale, nothing else of
    /// the operator's environment (it may hold secrets).
    public static func replicaBaseEnvironment(isolated: Bool) -> [String: String] {
        let env = ProcessInfo.processInfo.environment
        let system = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        guard isolated else {
            return ["PATH": env["PATH"] ?? system, "LANG": "C.UTF-8", "HOME": env["HOME"] ?? "/root"]
        }
        // Sandboxed replicas run as nobody: only system-wide toolchains are usable (a
        // toolchain under /root is not). The Swift toolchain's folder is kept for builds.
        var path = system
        if let swift = Self.toolchainDirectory(), !system.split(separator: ":").contains(Substring(swift)) {
            path += ":" + swift
        }
        return ["PATH": path, "LANG": "C.UTF-8", "HOME": "/tmp"]
    }

    /// The folder of the `swift` the server's PATH finds.
    static func toolchainDirectory() -> String? {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            if FileManager.default.isExecutableFile(atPath: "\(directory)/swift") { return String(directory) }
        }
        return nil
    }
}

/// The router's URLs, known once it is bound, for `GET /v1/info`.
private actor RouterURLs {
    var http = ""
    var https: String?

    func set(http: String, https: String?) {
        self.http = http
        self.https = https
    }
}

/// The plain launcher, saying why the machine could not isolate.
private struct PlainFallbackLauncher: ProcessLauncher {
    let plain = PlainProcessLauncher()
    let reason: String

    var isolation: String { "none: plain processes on loopback (cannot isolate: \(reason))" }

    func launch(_ spec: LaunchSpec, output: @escaping OutputHandler) async throws -> any LaunchedProcess {
        try await plain.launch(spec, output: output)
    }
}
