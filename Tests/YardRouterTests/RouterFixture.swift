import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import YardRouter

/// Runs a router on 127.0.0.1 port 0 with `routes` for the duration of `body`, then cancels it.
/// `logger` defaults to one that drops everything below critical.
func withRouter(
    routes: [String: [Upstream]],
    configuration: Router.Configuration = Router.Configuration(host: "127.0.0.1", port: 0),
    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    logger: Logger? = nil,
    _ body: (Router, Int) async throws -> Void
) async throws {
    let logger =
        logger
        ?? {
            var logger = Logger(label: "yard.router.test")
            logger.logLevel = .critical
            return logger
        }()
    var configuration = configuration
    // YARD_ROUTER_OWN_LOOPS=0 runs the router tests with plain HTTP/1.1 on NIO's loops (the
    // path HTTPS's HTTP/1.1 takes) instead of the router's own.
    if ProcessInfo.processInfo.environment["YARD_ROUTER_OWN_LOOPS"] == "0" { configuration.ownEventLoops = false }
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

/// Keeps what the router logs, every level, for a test to read.
final class LogRecorder: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]

        /// The message and every metadata value, for looking for what must not be there.
        var text: String { ([message] + metadata.map { "\($0.key)=\($0.value)" }).joined(separator: " ") }
    }

    private let entries = NIOLockedValueBox<[Entry]>([])

    var logged: [Entry] { self.entries.withLockedValue { $0 } }

    var logger: Logger {
        var logger = Logger(label: "yard.router.test") { _ in Handler(recorder: self) }
        logger.logLevel = .trace
        return logger
    }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var all = self.metadata.mapValues { "\($0)" }
            for (key, value) in event.metadata ?? [:] { all[key] = "\(value)" }
            let entry = Entry(level: event.level, message: "\(event.message)", metadata: all)
            self.recorder.entries.withLockedValue { $0.append(entry) }
        }
    }
}
