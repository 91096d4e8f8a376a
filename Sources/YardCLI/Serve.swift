import ArgumentParser
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import YardAPI
import YardClient
import YardControl
import YardCore
import YardRouter
import YardRuntime
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

    @Option(help: "Port of the API (0 picks a free one).")
    var apiPort = 8787

    @Option(help: "Address the API listens on.")
    var apiHost = "127.0.0.1"

    @Option(help: "Generated domains are <service>-<project>.<base-domain>.")
    var baseDomain = "localhost"

    @Flag(help: "Do not write the CLI credentials to the CLI config file.")
    var noCliLogin = false

    func validate() throws {
        guard (0...65535).contains(httpPort), (0...65535).contains(apiPort) else {
            throw ValidationError("ports must be between 0 and 65535")
        }
    }

    func run() async throws {
        var logger = Logger(label: "switchyard")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        let dataDirectory = URL(fileURLWithPath: dataDir ?? Self.defaultDataDirectory())
        try await reportingErrors {
            let store = try SQLiteStore(directory: dataDirectory)
            let token = try AdminToken.ensure(store: store, dataDirectory: dataDirectory)
            Supervisor.becomeSubreaper()
            let launcher = PlainProcessLauncher()
            let router = Router(configuration: .init(host: httpHost, port: httpPort), logger: logger)
            let orchestrator = Orchestrator(
                configuration: .init(
                    dataDirectory: dataDirectory,
                    baseDomain: baseDomain,
                    platformExecutable: Self.executablePath(),
                    hostEnvironment: Self.replicaBaseEnvironment()
                ),
                store: store,
                launcher: launcher,
                router: router,
                logger: logger
            )
            let baseDomain = self.baseDomain
            let apiHost = self.apiHost
            let writeCredentials = !noCliLogin
            let routerURLBox = RouterURL()
            let api = APIServer.makeApplication(
                orchestrator: orchestrator,
                host: apiHost,
                port: apiPort,
                info: {
                    ServerInfoView(version: SwitchyardVersion.current, routerURL: await routerURLBox.value,
                                   baseDomain: baseDomain, isolation: launcher.isolation)
                },
                onBound: { apiPort in
                    let routerPort = (try? await router.boundPort()) ?? 0
                    await orchestrator.setRouterPort(routerPort)
                    let apiURL = "http://\(apiHost == "0.0.0.0" ? "127.0.0.1" : apiHost):\(apiPort)"
                    let routerURL = "http://127.0.0.1:\(routerPort)"
                    await routerURLBox.set(routerURL)
                    Self.announce(apiURL: apiURL, routerURL: routerURL, token: token, dataDirectory: dataDirectory,
                                  baseDomain: baseDomain, routerPort: routerPort, isolation: launcher.isolation,
                                  writeCredentials: writeCredentials)
                },
                logger: logger
            )
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: orchestrator), .init(service: router), .init(service: api)],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await group.run()
        }
    }

    private static func announce(
        apiURL: String, routerURL: String, token: String, dataDirectory: URL, baseDomain: String,
        routerPort: Int, isolation: String, writeCredentials: Bool
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
        let endpoints: [String: String] = [
            "apiURL": apiURL, "routerURL": routerURL, "routerPort": String(routerPort),
            "pid": String(ProcessInfo.processInfo.processIdentifier),
        ]
        if let data = try? YardJSON.encoder(pretty: true).encode(endpoints) {
            try? data.write(to: dataDirectory.appendingPathComponent("serve.json"), options: .atomic)
        }
        print("""
            Switchyard \(SwitchyardVersion.current) is running.
              API:              \(apiURL)
              Router:           \(routerURL)   (apps at http://<service>-<project>.\(baseDomain):\(routerPort))
              Data directory:   \(dataDirectory.path)
              Admin token:      \(AdminToken.fileURL(dataDirectory: dataDirectory).path)
              CLI credentials:  \(credentialsNote)
              Isolation:        \(isolation)
            """)
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

    /// What every build step and replica starts from: a usable PATH and locale, nothing else of
    /// the operator's environment (it may hold secrets).
    static func replicaBaseEnvironment() -> [String: String] {
        let env = ProcessInfo.processInfo.environment
        let path = env["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        return ["PATH": path, "LANG": "C.UTF-8", "HOME": env["HOME"] ?? "/root"]
    }
}

private actor RouterURL {
    var value = ""
    func set(_ value: String) { self.value = value }
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
