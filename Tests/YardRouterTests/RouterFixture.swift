import Logging
import NIOCore
import NIOPosix
import YardRouter

/// Runs a router on 127.0.0.1 port 0 with `routes` for the duration of `body`, then cancels it.
func withRouter(
    routes: [String: [Upstream]],
    configuration: Router.Configuration = Router.Configuration(host: "127.0.0.1", port: 0),
    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    _ body: (Router, Int) async throws -> Void
) async throws {
    var logger = Logger(label: "yard.router.test")
    logger.logLevel = .critical
    let router = Router(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
    router.updateRoutes(RouteTable(routes: routes))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await router.run() }
        do {
            let port = try await router.boundPort()
            try await body(router, port)
        } catch {
            group.cancelAll()
            throw error
        }
        group.cancelAll()
        try await group.waitForAll()
    }
}

/// Starts test upstreams with the given names, runs `body`, stops them.
func withUpstreams(
    _ names: [String],
    _ body: ([TestUpstream]) async throws -> Void
) async throws {
    var upstreams: [TestUpstream] = []
    do {
        for name in names { upstreams.append(try await TestUpstream.start(name: name)) }
        try await body(upstreams)
    } catch {
        for upstream in upstreams { await upstream.stop() }
        throw error
    }
    for upstream in upstreams { await upstream.stop() }
}

/// Waits until `condition` holds, checking every 20 ms, for at most `seconds`.
func eventually(seconds: Double = 5, _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
