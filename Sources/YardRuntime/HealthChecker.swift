#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The outcome of a health check.
public struct HealthResult: Sendable, Equatable, CustomStringConvertible {
    public var passed: Bool
    /// For people: "no HTTP 200 from /health within 30s; last answer: 503",
    /// "process exited"; "passed" when it passed.
    public var reason: String

    public static let passed = HealthResult(passed: true, reason: "passed")

    public static func failed(reason: String) -> HealthResult {
        HealthResult(passed: false, reason: reason)
    }

    public var description: String { passed ? "passed" : "failed: \(reason)" }
}

/// Polls a replica until it answers, as Railway does before switching traffic to a deployment.
///
/// Each attempt is a new connection; `HealthCheckSchedule` says how long it may take and
/// when the next one starts (a connect that hangs is given up after a second and tried again
/// at once; a refusal is tried again 10 ms later at first, the pause growing after 2 s).
public struct HealthChecker: Sendable {
    /// Railway sends health checks with this Host header; apps may allow-list it.
    public static let hostHeader = "healthcheck.railway.app"

    /// Polls `GET path` until an HTTP 200 arrives, `timeout` passes, or `isAlive()` says the
    /// process died.
    public static func waitForHTTP(
        host: String,
        port: Int,
        path: String,
        timeout: Duration,
        schedule: HealthCheckSchedule = HealthCheckSchedule(),
        isAlive: @Sendable () async -> Bool = { true }
    ) async -> HealthResult {
        await poll(
            what: "no HTTP 200 from \(path) within \(format(timeout))",
            timeout: timeout,
            schedule: schedule,
            isAlive: isAlive
        ) { deadline in
            let status = try await requestStatus(host: host, port: port, path: path, schedule: schedule, deadline: deadline)
            return status == 200 ? nil : "\(status)"
        }
    }

    /// Polls until a TCP connection to `host:port` succeeds and stays open for the schedule's
    /// `settleTime`: a port proxy in front of the app (swarm's port publishing, the server's
    /// relay) accepts before the app listens, then closes the connection at once.
    public static func waitForPort(
        host: String,
        port: Int,
        timeout: Duration,
        schedule: HealthCheckSchedule = HealthCheckSchedule(),
        isAlive: @Sendable () async -> Bool = { true }
    ) async -> HealthResult {
        await poll(
            what: "port \(port) did not open within \(format(timeout))",
            timeout: timeout,
            schedule: schedule,
            isAlive: isAlive
        ) { deadline in
            let greeting = FirstBytes()
            let channel = try await connect(
                host: host, port: port, timeout: schedule.connectBudget(remaining: deadline - .now), handler: greeting)
            try? await Task.sleep(for: schedule.settleTime)
            // Without half-closure allowed, the peer's close closes the channel. A server that
            // greets and then closes (it spoke first) is open.
            let open = channel.isActive || greeting.seen.load(ordering: .relaxed)
            try? await channel.close()
            return open ? nil : "accepted, then closed at once"
        }
    }

    // MARK: - Polling

    /// Runs `attempt` (given the check's deadline) until it returns nil (passed). A non-nil
    /// return or a thrown error is the "last answer" quoted in the failure reason.
    private static func poll(
        what: String,
        timeout: Duration,
        schedule: HealthCheckSchedule,
        isAlive: @Sendable () async -> Bool,
        attempt: (ContinuousClock.Instant) async throws -> String?
    ) async -> HealthResult {
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started + timeout
        var lastAnswer: String?
        while true {
            if !(await isAlive()) { return .failed(reason: "process exited") }
            var outcome = HealthCheckSchedule.Outcome.failed
            do {
                guard let answer = try await attempt(deadline) else { return .passed }
                lastAnswer = answer
            } catch {
                if isConnectTimeout(error) { outcome = .connectTimedOut }
                // An attempt the deadline cut short says less than an earlier real answer.
                if lastAnswer == nil || clock.now < deadline { lastAnswer = describe(error) }
            }
            if Task.isCancelled { return .failed(reason: "\(what): the check was cancelled") }
            let remaining = deadline - clock.now
            let pause = schedule.pause(after: outcome, elapsed: clock.now - started, remaining: remaining)
            if remaining <= .zero || pause >= remaining {
                // One last look: a process that died makes a clearer reason than a timeout.
                if !(await isAlive()) { return .failed(reason: "process exited") }
                return .failed(reason: lastAnswer.map { "\(what); last answer: \($0)" } ?? what)
            }
            if pause > .zero { try? await Task.sleep(for: pause) }
        }
    }

    // MARK: - One attempt

    /// Notes whether the peer sent anything.
    private final class FirstBytes: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let seen = Atomic(false)

        func channelRead(context: ChannelHandlerContext, data: NIOAny) { seen.store(true, ordering: .relaxed) }
    }

    private static func connect(host: String, port: Int, timeout: Duration, handler: FirstBytes) async throws -> any Channel {
        // Hosts are IP literals or names in /etc/hosts here, so this blocking lookup is instant.
        let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(TimeAmount(timeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
            .connect(to: address)
            .get()
    }

    /// Sends one GET and returns the response's status code: the connect within the
    /// schedule's connect budget, the response head within its answer budget.
    private static func requestStatus(
        host: String, port: Int, path: String, schedule: HealthCheckSchedule, deadline: ContinuousClock.Instant
    ) async throws -> Int {
        let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let started = ContinuousClock.now
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(TimeAmount(schedule.connectBudget(remaining: deadline - started)))
            .connect(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        // Closing the channel at the answer budget's end ends the response stream.
        let budget = schedule.answerBudget(remaining: deadline - .now)
        let connected = ContinuousClock.now
        let timer = channel.channel.eventLoop.scheduleTask(in: TimeAmount(budget)) {
            channel.channel.close(promise: nil)
        }
        defer { timer.cancel() }
        return try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
            head.headers.add(name: "Host", value: hostHeader)
            head.headers.add(name: "User-Agent", value: "switchyard-healthcheck")
            head.headers.add(name: "Connection", value: "close")
            try await outbound.write(.head(head))
            try await outbound.write(.end(nil))
            for try await part in inbound {
                if case .head(let response) = part { return Int(response.status.code) }
            }
            // The attempt's whole allowance: what the connect took and the answer budget.
            throw HealthCheckFailure(
                ContinuousClock.now - connected >= budget
                    ? "no answer within \(format(connected - started + budget))" : "connection closed without an answer")
        }
    }

    /// Whether a connect got no answer in time (as opposed to being refused or reset).
    static func isConnectTimeout(_ error: any Error) -> Bool {
        if let error = error as? ChannelError, case .connectTimeout = error { return true }
        if let error = error as? IOError, error.errnoCode == ETIMEDOUT { return true }
        return false
    }

    private struct HealthCheckFailure: Error {
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }

    private static func describe(_ error: any Error) -> String {
        if let failure = error as? HealthCheckFailure { return failure.reason }
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNREFUSED: return "connection refused"
            case ECONNRESET: return "connection reset"
            case ETIMEDOUT: return "connect timed out"
            case EHOSTUNREACH, ENETUNREACH: return "host unreachable"
            default: return String(cString: strerror(error.errnoCode))
            }
        }
        if let error = error as? ChannelError {
            switch error {
            case .connectTimeout: return "connect timed out"
            case .ioOnClosedChannel, .alreadyClosed, .eof: return "connection closed without an answer"
            default: return "\(error)"
            }
        }
        if error is SocketAddressError { return "cannot resolve the host" }
        if error is HTTPParserError { return "the answer was not valid HTTP" }
        return "\(error)"
    }

    static func format(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        if seconds >= 1, seconds == seconds.rounded() { return "\(Int(seconds))s" }
        if seconds >= 1 { return "\((seconds * 10).rounded() / 10)s" }
        return "\(Int((seconds * 1000).rounded()))ms"
    }
}
