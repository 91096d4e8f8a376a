import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Testing
import YardRouter

@Suite("Router shutdown", .timeLimit(.minutes(1)))
struct RouterShutdownTests {
    @Test func gracefulShutdownFinishesInFlightRequestsThenStops() async throws {
        try await withUpstreams(["slow-1"]) { upstreams in
            var logger = Logger(label: "yard.router.test")
            logger.logLevel = .critical
            let router = Router(configuration: .init(host: "127.0.0.1", port: 0), logger: logger)
            router.updateRoutes(RouteTable(routes: ["slow.localhost": [upstreams[0].upstream]]))
            let group = ServiceGroup(
                services: [router],
                gracefulShutdownSignals: [],
                cancellationSignals: [],
                logger: logger
            )

            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let port = try await router.boundPort()

                try await withTimeout(seconds: 10) {
                    try await TestConnection.with(port: port) { connection in
                        try await connection.send(
                            .head(
                                HTTPRequestHead(
                                    version: .http1_1,
                                    method: .GET,
                                    // Long enough that shutdown begins before the response does.
                                    uri: "/slow?ms=2000",
                                    headers: ["Host": "slow.localhost"]
                                )
                            )
                        )
                        try await connection.send(.end(nil))
                        let arrived = try await eventually { upstreams[0].requests.count == 1 }
                        #expect(arrived)

                        await group.triggerGracefulShutdown()

                        // The request in flight still completes, and the connection then closes.
                        let response = try await connection.readResponse()
                        #expect(response.status == .ok)
                        #expect(response.upstreamName == "slow-1")
                        #expect(response.head.headers["connection"] == ["close"])
                        #expect(await connection.serverClosed())
                    }
                }
                try await tasks.next()
            }

            // Stopped: nothing listens any more.
            await #expect(throws: (any Error).self) {
                try await TestConnection.with(port: try await router.boundPort()) { _ in }
            }
        }
    }

    @Test func cancellationStopsPromptlyAndClosesIdleConnections() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            var logger = Logger(label: "yard.router.test")
            logger.logLevel = .critical
            // A long grace period: cancellation must not wait for it.
            let configuration = Router.Configuration(host: "127.0.0.1", port: 0, shutdownGracePeriod: .seconds(30))
            let router = Router(configuration: configuration, logger: logger)
            router.updateRoutes(RouteTable(routes: ["app.localhost": [upstreams[0].upstream]]))
            let run = Task { try await router.run() }
            let port = try await router.boundPort()

            try await withTimeout(seconds: 10) {
                try await TestConnection.with(port: port) { connection in
                    let response = try await connection.request(host: "app.localhost")
                    #expect(response.status == .ok)
                    run.cancel()
                    #expect(await connection.serverClosed())
                }
                try await run.value
            }
            // The pooled upstream connection was closed too.
            let upstreamClosed = try await eventually { upstreams[0].closedConnections == 1 }
            #expect(upstreamClosed)
        }
    }

    @Test func boundPortWaitsUntilCancelledWhenTheRouterNeverRuns() async throws {
        let router = Router(configuration: .init(host: "127.0.0.1", port: 0), logger: Logger(label: "test"))
        let waiter = Task { try await router.boundPort() }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
    }
}
