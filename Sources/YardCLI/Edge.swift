import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import YardClient
import YardCore
import YardRouter

/// `yard edge`: Switchyard's router (the same code `yard serve` runs) on another node of the
/// swarm. It follows the manager's route table (`GET /v1/edge/routes`, polled) and reaches
/// each replica at its task's node address and published port, so traffic that enters on this
/// node needs no hop through the manager. Health gating, draining and cutover stay the
/// manager's: a replica is in the table only while the orchestrator routes to it; a replica
/// that refuses a connection is retried on another (idempotent requests), as in `yard serve`.
struct Edge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edge",
        abstract: "Run the router on another node of the swarm, following the manager's routes (yard serve --runtime swarm).")

    @Option(help: "The manager's API URL, reachable from this node (http://10.0.0.1:7070).")
    var control: String

    @Option(help: "A file holding the API token (the manager's <data-dir>/admin.token); kept out of argv.")
    var tokenFile: String

    @Option(help: "The address to listen on.")
    var host = "0.0.0.0"

    @Option(help: "The HTTP port to listen on (0 picks a free one).")
    var port = 8080

    @Option(help: "How often the route table is fetched, in milliseconds.")
    var pollInterval = 250

    @Option(help: "How long a request for a host with no ready replica waits for one, in seconds.")
    var holdTimeout = 30

    func run() async throws {
        try await reportingErrors {
            guard let url = URL(string: control), url.scheme == "http" || url.scheme == "https" else {
                throw YardError(.invalidInput, "--control '\(control)' is not an http(s) URL of the manager's API")
            }
            guard pollInterval >= 10 else { throw YardError(.invalidInput, "--poll-interval must be at least 10 ms") }
            let token: String
            do {
                token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw YardError(.invalidInput, "cannot read the token file \(tokenFile): \(error.localizedDescription)")
            }
            guard !token.isEmpty else { throw YardError(.invalidInput, "the token file \(tokenFile) is empty") }
            var logger = Logger(label: "edge")
            logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
            var configuration = YardRouter.Router.Configuration(host: host, port: port)
            configuration.holdTimeout = .seconds(Int64(holdTimeout))
            configuration.shutdownGracePeriod = .seconds(5)
            let router = YardRouter.Router(configuration: configuration, logger: logger)
            let feed = EdgeRouteFeed(
                client: YardAPIClient(baseURL: url, token: token), router: router, interval: .milliseconds(pollInterval), logger: logger)
            let group = ServiceGroup(
                configuration: .init(services: [.init(service: router), .init(service: feed)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            let (host, control) = (self.host, self.control)
            let ready = Task {
                let bound = try await router.boundPort()
                // One line for scripts: where the edge listens.
                print("edge listening on \(host):\(bound), following \(control)")
                fflush(nil)
            }
            defer { ready.cancel() }
            try await group.run()
        }
    }
}

/// Polls the manager's route table and swaps it into the router; while the manager does not
/// answer, the last table stays (the replicas keep serving).
final class EdgeRouteFeed: ServiceLifecycle.Service, Sendable {
    let client: YardAPIClient
    let router: YardRouter.Router
    let interval: Duration
    let logger: Logger

    init(client: YardAPIClient, router: YardRouter.Router, interval: Duration, logger: Logger) {
        self.client = client
        self.router = router
        self.interval = interval
        self.logger = logger
    }

    func run() async throws {
        var failing = false
        var last: EdgeRouteTableView?
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                let table = try await client.edgeRoutes()
                if table != last {
                    router.updateRoutes(Self.routeTable(table))
                    last = table
                }
                if failing { logger.info("edge: the manager answers again") }
                failing = false
            } catch {
                if !failing { logger.warning("edge: cannot fetch the route table; keeping the last one", metadata: ["error": "\(error)"]) }
                failing = true
            }
            try? await Task.sleep(for: interval)
        }
    }

    static func routeTable(_ table: EdgeRouteTableView) -> RouteTable {
        RouteTable(
            routes: table.routes.map { route in
                RouteTable.Route(
                    host: route.host, pathPrefix: route.pathPrefix,
                    upstreams: route.upstreams.map { Upstream(host: $0.host, port: $0.port, replicaID: $0.replica) },
                    waitsForReplicas: route.waitsForReplicas)
            })
    }
}
