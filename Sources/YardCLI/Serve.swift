import ArgumentParser
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import YardAPI
import YardClient
import YardControl
import YardCore
import YardSandbox
import YardRouter
import YardRuntime
import YardServer
import YardStore

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run Switchyard: the API, the router and the supervisor of every deployment."
    )

    @Option(help: "Where state, artifacts and logs live (default /var/lib/switchyard for root, else ~/.local/share/switchyard).")
    var dataDir: String?

    @Option(help: "Port of the router that serves deployed apps (0 picks a free one).")
    var httpPort = 8080

    @Option(help: "Address the router listens on.")
    var httpHost = "0.0.0.0"

    @Option(help: "Port of the router's HTTPS listener, same address (0 picks a free one); certificates chosen by SNI.")
    var httpsPort = 8443

    @Flag(help: "Serve apps over plain HTTP only: no HTTPS listener, no local certificate authority.")
    var noHttps = false

    @Option(help: "Port of the API (0 picks a free one).")
    var apiPort = 8787

    @Option(help: "Address the API listens on.")
    var apiHost = "127.0.0.1"

    @Option(help: "Generated domains are <service>-<project>.<base-domain>.")
    var baseDomain = "localhost"

    @Flag(help: "Do not write the CLI credentials to the CLI config file.")
    var noCliLogin = false

    @Option(help: "How replicas run: auto (the sandbox when the machine can isolate; as root, refuses to start without it), sandbox, plain, or swarm (image services as Docker Swarm services; builds stay in the sandbox).")
    var runtime: RuntimeChoice = .auto

    @Option(help: "The Docker Engine's unix socket, for --runtime swarm (its engine must be a swarm manager).")
    var dockerSocket = "/var/run/docker.sock"

    @Option(help: "The registry swarm nodes pull images from, HOST:PORT over plain HTTP (default: a docker-registry this server starts on the manager's swarm address; nodes need it in insecure-registries).")
    var swarmRegistry: String?

    @Option(help: "Prefix of the namespaces, veths, bridges and cgroups this server creates (and cleans up at start).")
    var networkPrefix = "yard"

    @Option(help: "Private networks are 10.<octet>.<n>.0/24, one per environment.")
    var privateNetworkOctet = 213

    @Option(help: "Upper bound of the install cache, e.g. 10G; least recently used entries are evicted.")
    var cacheSize = "10G"

    @Option(help: "Built artifacts kept per service (the newest ones), for reuse and `yard rollback`.")
    var artifactRetention = 10

    @Option(help: "A build running longer than this is stopped and fails, e.g. 30m, 1h, 900s.")
    var buildTimeout = "30m"

    @Option(help: "A deployment's build, deploy or HTTP log past this size is rotated (one older file is kept), e.g. 64M.")
    var logMaxSize = "64M"

    @Option(help: "Log files not written for this long are removed, e.g. 30d, 72h.")
    var logRetention = "30d"

    @Option(help: "How long the router holds a request for a service with no ready replica (deploying, restarting) before answering 503, e.g. 30s.")
    var holdTimeout = "30s"

    @Option(help: "A service with sleepApplication sleeps after this long without a request, e.g. 10m.")
    var sleepAfter = "10m"

    @Option(help: .hidden)
    var cronTimeScale: Double = 1

    @Option(help: "A shell command run when a deployment fails or crashes or a backup fails, with the event as JSON on stdin and its kind in YARD_EVENT.")
    var notifyCommand: String?

    @OptionGroup(title: "Alert email")
    var alertMail: AlertMailOptions

    @Option(help: "A PEM file of certificates tls:// log drains trust besides the system's (a private syslog receiver's CA).")
    var drainCaFile: String?

    @Option(help: "A registry mirror for Docker Hub images (redis:7), for sites without access, e.g. http://10.0.0.5:5000.")
    var registryMirror: String?

    @Option(help: "A registry (host:port) pulled from over plain HTTP; loopback ones always are. Repeat for several.")
    var insecureRegistry: [String] = []

    @Flag(help: "Where provider apps build (default: in images when the sandbox and buildah, podman, skopeo, runc and debootstrap are there).")
    var buildPlace: BuildPlaceFlag?

    @Option(help: "The largest request body the router forwards, e.g. 100M; larger ones get 413.")
    var maxBodySize = "100M"

    @Option(help: "The largest source upload or git push body the API accepts, e.g. 2G; larger ones get 413.")
    var maxUploadSize = "2G"

    @Option(help: "The most an uploaded source may unpack to, e.g. 2G; a larger one is refused before it is unpacked.")
    var maxSourceSize = "2G"

    @Option(help: "The most files, folders and links an uploaded source may hold.")
    var maxSourceEntries = 200_000

    @Option(help: "How long the router waits to connect to a replica before answering 502, e.g. 5s.")
    var upstreamConnectTimeout = "5s"

    @Option(help: "How long a replica may take to send a response head before the router answers 502, e.g. 60s.")
    var upstreamHeaderTimeout = "60s"

    @Option(help: "How long an idle keep-alive connection to a replica is kept for reuse, e.g. 60s.")
    var upstreamIdleTimeout = "60s"

    @Option(help: "Connections the router may open to one replica per event loop (one loop per core); more requests queue, then get 503.")
    var upstreamMaxConnections = Router.Configuration.defaultMaxConnectionsPerUpstream

    @Option(help: "The longest a whole request may take, e.g. 15m: then 504, or a close once the response started.")
    var maxRequestDuration = "15m"

    @Option(help: "CPU cores every build may use (default: all cores but half a core).")
    var buildCpus: Double?

    @Option(help: "Memory every build may use, e.g. 8G (a service's lower memory limit wins).")
    var buildMemory = "8G"

    @OptionGroup(title: "Default limits")
    var limits: ServeLimitOptions

    @OptionGroup(title: "Metrics")
    var metrics: MetricsServeOptions

    @OptionGroup(title: "OpenTelemetry")
    var otel: OTelServeOptions

    @Option(help: "Host ports `yard domain --tcp` allocates from, on 127.0.0.1, e.g. 20000-20999.")
    var tcpProxyPorts = "20000-20999"

    @Option(
        name: .customLong("trusted-proxy"),
        help: "An address or CIDR range (repeatable) of a proxy in front of the router whose X-Forwarded-*, Forwarded and X-Real-IP headers are kept; from anyone else they are replaced.")
    var trustedProxies: [String] = []

    enum RuntimeChoice: String, ExpressibleByArgument, CaseIterable {
        case auto, sandbox, plain, swarm

        var server: SwitchyardServer.Runtime {
            switch self {
            case .auto: .auto
            case .sandbox: .sandbox
            case .plain: .plain
            case .swarm: .swarm
            }
        }
    }

    func validate() throws {
        guard (0...65535).contains(httpPort), (0...65535).contains(apiPort), (0...65535).contains(httpsPort) else {
            throw ValidationError("ports must be between 0 and 65535")
        }
        _ = try ByteSize.parse(cacheSize)
        _ = try ByteSize.parse(buildMemory)
        _ = try DurationText.parse(buildTimeout)
        _ = try DurationText.parse(holdTimeout)
        _ = try DurationText.parse(sleepAfter)
        _ = try ByteSize.parse(maxBodySize)
        _ = try self.routerTimeouts()
        _ = try Self.portRange(tcpProxyPorts)
        _ = try registryMirror.map(Self.registryMirrorURL)
        for range in trustedProxies where AddressRange(range) == nil {
            throw ValidationError("--trusted-proxy '\(range)' is not an address or CIDR range, e.g. 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32")
        }
        guard upstreamMaxConnections >= 1 else {
            throw ValidationError("--upstream-max-connections must be at least 1")
        }
        guard artifactRetention >= 1 else {
            throw ValidationError("--artifact-retention must be at least 1: the live deployment's artifact is always needed")
        }
        guard maxSourceEntries >= 1 else { throw ValidationError("--max-source-entries must be at least 1") }
        for (flag, value) in [("--max-upload-size", maxUploadSize), ("--max-source-size", maxSourceSize)] {
            guard let bytes = try? ByteSize.parse(value), bytes > 0 else {
                throw ValidationError("\(flag) '\(value)' is not a size such as 512M or 2G")
            }
        }
        guard cronTimeScale >= 1 else { throw ValidationError("--cron-time-scale must be at least 1") }
        if let buildCpus, buildCpus <= 0 {
            throw ValidationError("--build-cpus must be more than 0, e.g. 1.5")
        }
        guard (1...254).contains(privateNetworkOctet) else {
            throw ValidationError("--private-network-octet must be between 1 and 254")
        }
        guard (1...6).contains(networkPrefix.count), networkPrefix.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber) }) else {
            throw ValidationError("--network-prefix must be 1-6 lower-case letters or digits (interface names are short)")
        }
    }

    func run() async throws {
        var logger = Logger(label: "switchyard")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        try await reportingErrors {
            Supervisor.becomeSubreaper()
            let server = SwitchyardServer(configuration: try serverConfiguration(), logger: logger)
            let dataDirectory = server.configuration.orchestrator.dataDirectory
            let baseDomain = self.baseDomain
            let writeCredentials = !noCliLogin
            try await server.run { endpoints in
                Self.announce(apiURL: endpoints.apiURL, routerURL: endpoints.routerURL, token: endpoints.adminToken,
                              dataDirectory: dataDirectory, baseDomain: baseDomain, routerPort: endpoints.routerPort,
                              isolation: endpoints.isolation, builds: endpoints.builds, writeCredentials: writeCredentials,
                              https: endpoints.httpsPort.map { ($0, endpoints.authorityCertificate ?? "") })
            }
        }
    }

    /// The server's configuration from the flags.
    func serverConfiguration() throws -> SwitchyardServer.Configuration {
        let dataDirectory = URL(fileURLWithPath: dataDir ?? Self.defaultDataDirectory())
        var routerConfiguration = Router.Configuration(host: httpHost, port: httpPort)
        let hold = try DurationText.parse(holdTimeout)
        routerConfiguration.holdTimeout = .nanoseconds(hold.components.seconds * 1_000_000_000 + hold.components.attoseconds / 1_000_000_000)
        routerConfiguration.maxRequestBodyBytes = Int(try ByteSize.parse(maxBodySize))
        let timeouts = try self.routerTimeouts()
        routerConfiguration.connectTimeout = .init(timeouts.connect)
        routerConfiguration.responseHeadTimeout = .init(timeouts.header)
        routerConfiguration.upstreamIdleTimeout = .init(timeouts.idle)
        routerConfiguration.maxRequestDuration = .init(timeouts.request)
        routerConfiguration.maxConnectionsPerUpstream = upstreamMaxConnections
        routerConfiguration.maxIdleConnectionsPerUpstream = upstreamMaxConnections
        // At shutdown requests in flight get this long, then the replicas 5 s: stopping
        // takes at most about 10 s whatever is in flight.
        routerConfiguration.shutdownGracePeriod = .seconds(5)
        routerConfiguration.trustedProxies = trustedProxies.compactMap(AddressRange.init)
        // The server fills the host environment for the runtime it chooses.
        var configuration = Orchestrator.Configuration(
            dataDirectory: dataDirectory,
            baseDomain: baseDomain,
            platformExecutable: Self.executablePath(),
            hostEnvironment: [:]
        )
        configuration.privateNetworkBase = privateNetworkOctet
        configuration.networkPrefix = networkPrefix
        configuration.cacheMaximumBytes = try ByteSize.parse(cacheSize)
        configuration.artifactRetention = artifactRetention
        configuration.buildTimeout = try DurationText.parse(buildTimeout)
        let logBytes = try ByteSize.parse(logMaxSize)
        guard logBytes >= 4096 else { throw ValidationError("--log-max-size: '\(logMaxSize)' is below the smallest size, 4K") }
        configuration.logLimits = .init(
            maximumFileBytes: Int(logBytes), retention: try DurationText.parse(logRetention, flag: "--log-retention"))
        configuration.sleepAfter = try DurationText.parse(sleepAfter)
        if cronTimeScale > 1 {
            // For tests only: cron and backup schedules read a clock that runs this many
            // times faster than real time, so `* * * * *` fires every 60/scale seconds.
            configuration.clock = ScaledClock(scale: cronTimeScale)
        }
        configuration.notifyCommand = notifyCommand
        configuration.alerts.mail = try alertMail.configuration()
        if let drainCaFile { try SyslogTLS.validate(certificateFile: drainCaFile) }
        configuration.drainTrustedCertificateFile = drainCaFile
        configuration.sleepCheckInterval = min(.seconds(5), configuration.sleepAfter / 4)
        configuration.buildLimits.memoryBytes = try ByteSize.parse(buildMemory)
        if let buildCpus { configuration.buildLimits.cpus = buildCpus }
        try limits.apply(to: &configuration)
        configuration.tcpProxyPorts = try Self.portRange(tcpProxyPorts)
        configuration.maximumUploadBytes = try ByteSize.parse(maxUploadSize)
        configuration.maximumSourceBytes = try ByteSize.parse(maxSourceSize)
        configuration.maximumSourceEntries = maxSourceEntries
        configuration.registryMirror = try registryMirror.map(Self.registryMirrorURL)
        configuration.insecureRegistries = insecureRegistry
        var server = SwitchyardServer.Configuration(orchestrator: configuration, router: routerConfiguration)
        server.httpsPort = noHttps ? nil : httpsPort
        server.apiHost = apiHost
        server.apiPort = apiPort
        server.runtime = runtime.server
        server.dockerSocket = dockerSocket
        server.swarmRegistry = swarmRegistry
        server.buildPlace = buildPlace?.place ?? .automatic
        server.version = SwitchyardVersion.current
        try metrics.apply(to: &server)
        try otel.apply(to: &server)
        return server
    }

    /// `--tcp-proxy-ports`: `FIRST-LAST`, both ports, FIRST not above LAST.
    static func portRange(_ text: String) throws -> ClosedRange<Int> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let first = Int(parts[0]), let last = Int(parts[1]), (1...65535).contains(first),
            (1...65535).contains(last), first <= last
        else {
            throw ValidationError("--tcp-proxy-ports '\(text)' is not a port range FIRST-LAST, e.g. 20000-20999")
        }
        return first...last
    }

    /// The router's upstream timeouts from their flags.
    private func routerTimeouts() throws -> (connect: Duration, header: Duration, idle: Duration, request: Duration) {
        (
            connect: try DurationText.parse(upstreamConnectTimeout, flag: "--upstream-connect-timeout"),
            header: try DurationText.parse(upstreamHeaderTimeout, flag: "--upstream-header-timeout"),
            idle: try DurationText.parse(upstreamIdleTimeout, flag: "--upstream-idle-timeout"),
            request: try DurationText.parse(maxRequestDuration, flag: "--max-request-duration")
        )
    }

    private static func announce(
        apiURL: String, routerURL: String, token: String, dataDirectory: URL, baseDomain: String,
        routerPort: Int, isolation: String, builds: String, writeCredentials: Bool, https: (port: Int, authority: String)? = nil
    ) {
        var credentialsNote = "not written (--no-cli-login); use YARD_API_URL and YARD_TOKEN"
        if writeCredentials {
            do {
                var config = try CLIConfig.load()
                config.apiURL = apiURL
                config.token = token
                try config.save()
                credentialsNote = CLIConfig.fileURL().path
            } catch {
                credentialsNote = "could not be written: \(error)"
            }
        }
        var endpoints: [String: String] = [
            "apiURL": apiURL, "routerURL": routerURL, "routerPort": String(routerPort),
            "pid": String(ProcessInfo.processInfo.processIdentifier),
        ]
        if let https { endpoints["httpsPort"] = String(https.port) }
        if let data = try? YardJSON.encoder(pretty: true).encode(endpoints) {
            try? data.write(to: dataDirectory.appendingPathComponent("serve.json"), options: .atomic)
        }
        print("""
            Switchyard \(SwitchyardVersion.current) is running.
              API:              \(apiURL)
              Dashboard:        \(apiURL)/   (sign in with the admin token)
              Router:           \(routerURL)   (apps at http://<service>-<project>.\(baseDomain):\(routerPort))
              Data directory:   \(dataDirectory.path)
              Admin token:      \(AdminToken.fileURL(dataDirectory: dataDirectory).path)
              CLI credentials:  \(credentialsNote)
              Isolation:        \(isolation)
              Builds:           \(builds)
            """)
        if let https {
            print("""
                  HTTPS:            port \(https.port), certificates by SNI (apps at https://<service>-<project>.\(baseDomain):\(https.port))
                  Local authority:  \(https.authority) (trust it to avoid certificate warnings)
                """)
        } else {
            print("  HTTPS:            off (--no-https)")
        }
        if isolation.hasPrefix("none") {
            print("  WARNING: replicas run as plain processes with no sandbox; do not deploy untrusted code.")
        }
        Output.flush()
    }

    static func defaultDataDirectory() -> String {
        if getuid() == 0 { return "/var/lib/switchyard" }
        return NSHomeDirectory() + "/.local/share/switchyard"
    }

    static func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// What every build step and replica starts from (`yard build` uses it too).
    static func replicaBaseEnvironment(isolated: Bool) -> [String: String] {
        SwitchyardServer.replicaBaseEnvironment(isolated: isolated)
    }
}

/// `90s`, `30m`, `2h`, `7d`, `900` (seconds) → a duration.
enum DurationText {
    static func parse(_ text: String) throws -> Duration {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)]
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            if let number = Double(trimmed.dropLast(suffix.count)), number > 0 { return .seconds(number * factor) }
        }
        if let number = Double(trimmed), number > 0 { return .seconds(number) }
        throw ValidationError("'\(text)' is not a duration: use a number with s, m, h or d, e.g. 30m")
    }

    /// The same, with an error that names the flag the text came from.
    static func parse(_ text: String, flag: String) throws -> Duration {
        do {
            return try Self.parse(text)
        } catch let error as ValidationError {
            throw ValidationError("\(flag): \(error.message)")
        }
    }

    /// `--since 2h` (that long ago) or an ISO 8601 time (`2026-12-05T10:00:00Z`).
    static func moment(_ text: String, flag: String) throws -> Date {
        if let date = ISO8601DateFormatter().date(from: text) { return date }
        guard let ago = try? Self.parse(text) else {
            throw ValidationError("\(flag): '\(text)' is neither a duration (30m, 2h, 7d) nor an ISO 8601 time (2026-12-05T10:00:00Z)")
        }
        return Date().addingTimeInterval(-Double(ago.components.seconds))
    }
}

struct StaticServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "static-serve",
        abstract: "Serve a folder of static files (used by the staticfile provider).",
        shouldDisplay: false
    )

    @Option(help: "The folder to serve.")
    var root: String

    @Option(help: "Port to listen on.")
    var port: Int

    @Option(help: "Address to listen on.")
    var host = "0.0.0.0"

    func run() async throws {
        var logger = Logger(label: "static")
        logger.logLevel = .warning
        let app = StaticFileServer.makeApplication(root: root, host: host, port: port, logger: logger)
        try await app.runService()
    }
}
