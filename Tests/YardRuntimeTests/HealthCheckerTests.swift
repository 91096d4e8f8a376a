import Foundation
import Synchronization
import Testing
import YardCore

@testable import YardRuntime

/// A python3 HTTP server on 127.0.0.1 answering `GET /health` with `status` only when the
/// Host header is Railway's health-check host (anything else gets 421), after `delay` seconds.
struct TestHTTPServer {
    let port: Int
    let process: any LaunchedProcess

    static func start(status: Int, delay: Double = 0) async throws -> TestHTTPServer {
        let port = try PortAllocator.freePort()
        let script = """
            import http.server, time
            time.sleep(\(delay))
            class Handler(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    ok = self.path == "/health" and self.headers["Host"] == "healthcheck.railway.app"
                    self.send_response(\(status) if ok else 421)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                def log_message(self, *args):
                    pass
            http.server.HTTPServer(("127.0.0.1", \(port)), Handler).serve_forever()
            """
        let spec = LaunchSpec(
            arguments: ["python3", "-c", script], environment: TestEnvironment.inherited, workingDirectory: "/",
            label: "http")
        return TestHTTPServer(port: port, process: try await PlainProcessLauncher().launch(spec, output: { _, _ in }))
    }

    /// A socket that accepts connections (via the kernel backlog) but never answers.
    static func startSilent() async throws -> TestHTTPServer {
        let port = try PortAllocator.freePort()
        let script = """
            import socket, time
            s = socket.socket(); s.bind(("127.0.0.1", \(port))); s.listen(16)
            time.sleep(1000)
            """
        let spec = LaunchSpec(
            arguments: ["python3", "-c", script], environment: TestEnvironment.inherited, workingDirectory: "/",
            label: "silent")
        return TestHTTPServer(port: port, process: try await PlainProcessLauncher().launch(spec, output: { _, _ in }))
    }

    /// A port proxy with no app behind it for `closingFor` seconds: it accepts each connection
    /// and closes it at once (after writing `greeting`, if any); then it keeps the
    /// connections it accepts open.
    static func startClosingAtOnce(closingFor: Double, greeting: String = "") async throws -> TestHTTPServer {
        let port = try PortAllocator.freePort()
        let script = """
            import socket, time
            s = socket.socket(); s.bind(("127.0.0.1", \(port))); s.listen(16)
            started = time.monotonic(); held = []
            while True:
                c, _ = s.accept()
                if time.monotonic() - started < \(closingFor):
                    c.sendall(b"\(greeting)"); c.close()
                else: held.append(c)
            """
        let spec = LaunchSpec(
            arguments: ["python3", "-c", script], environment: TestEnvironment.inherited, workingDirectory: "/",
            label: "closing")
        return TestHTTPServer(port: port, process: try await PlainProcessLauncher().launch(spec, output: { _, _ in }))
    }

    /// A listener whose accept queue is full for `fullFor` seconds (it connects to itself
    /// and accepts nothing), so the kernel drops new SYNs and connects hang as they do to an
    /// address whose neighbour entry is stale; then it accepts. `events` yields the
    /// wall-clock time its queue was full, then the time it began to accept.
    static func startBlackholed(fullFor: Double) async throws -> (server: TestHTTPServer, events: AsyncStream<Double>) {
        let port = try PortAllocator.freePort()
        let script = """
            import socket, time
            s = socket.socket(); s.bind(("127.0.0.1", \(port))); s.listen(0)
            fill = []
            for _ in range(2):
                c = socket.socket(); c.setblocking(False)
                try: c.connect(("127.0.0.1", \(port)))
                except BlockingIOError: pass
                fill.append(c)
            time.sleep(0.1)
            print(time.time(), flush=True)
            time.sleep(\(fullFor))
            print(time.time(), flush=True)
            held = []
            while True: held.append(s.accept()[0])
            """
        let spec = LaunchSpec(
            arguments: ["python3", "-c", script], environment: TestEnvironment.inherited, workingDirectory: "/",
            label: "blackholed")
        let (events, continuation) = AsyncStream.makeStream(of: Double.self)
        let process = try await PlainProcessLauncher().launch(spec) { stream, line in
            if stream == .stdout, let time = Double(line.trimmingCharacters(in: .whitespaces)) { continuation.yield(time) }
        }
        return (TestHTTPServer(port: port, process: process), events)
    }

    func stop() async {
        process.signal(SIGKILL)
        _ = await process.wait()
    }
}

@Suite struct HealthCheckerTests {
    @Test func passesOnHTTP200WithTheRailwayHostHeader() async throws {
        let server = try await TestHTTPServer.start(status: 200)
        let result = await HealthChecker.waitForHTTP(
            host: "127.0.0.1", port: server.port, path: "/health", timeout: .seconds(15))
        await server.stop()
        #expect(result == .passed)
    }

    @Test func keepsPollingUntilALateServerAnswers() async throws {
        let server = try await TestHTTPServer.start(status: 200, delay: 1)
        let started = ContinuousClock.now
        let result = await HealthChecker.waitForHTTP(
            host: "127.0.0.1", port: server.port, path: "/health", timeout: .seconds(15),
            schedule: HealthCheckSchedule(longestPause: .milliseconds(100)))
        await server.stop()
        #expect(result == .passed)
        #expect(ContinuousClock.now - started >= .seconds(1))
    }

    @Test func failsWithTheLastAnswerWhenNever200() async throws {
        let server = try await TestHTTPServer.start(status: 503)
        // Let it come up, so the last answer is the 503 and not a refused connection.
        #expect(await HealthChecker.waitForPort(host: "127.0.0.1", port: server.port, timeout: .seconds(15)) == .passed)
        let result = await HealthChecker.waitForHTTP(
            host: "127.0.0.1", port: server.port, path: "/health", timeout: .seconds(3),
            schedule: HealthCheckSchedule(longestPause: .milliseconds(100)))
        await server.stop()
        #expect(result == .failed(reason: "no HTTP 200 from /health within 3s; last answer: 503"))
    }

    @Test func wrongPathIsNotHealthy() async throws {
        let server = try await TestHTTPServer.start(status: 200)
        #expect(await HealthChecker.waitForPort(host: "127.0.0.1", port: server.port, timeout: .seconds(15)) == .passed)
        let result = await HealthChecker.waitForHTTP(
            host: "127.0.0.1", port: server.port, path: "/other", timeout: .seconds(3))
        await server.stop()
        #expect(result == .failed(reason: "no HTTP 200 from /other within 3s; last answer: 421"))
    }

    @Test func reportsConnectionRefused() async throws {
        let port = try PortAllocator.freePort()
        let result = await HealthChecker.waitForHTTP(
            host: "127.0.0.1", port: port, path: "/health", timeout: .milliseconds(600),
            schedule: HealthCheckSchedule(longestPause: .milliseconds(100)))
        #expect(result == .failed(reason: "no HTTP 200 from /health within 600ms; last answer: connection refused"))
    }

    @Test func stopsEarlyWhenTheProcessDies() async throws {
        let port = try PortAllocator.freePort()
        let process = try await PlainProcessLauncher().launch(.sh("exit 1"), output: { _, _ in })
        let exited = ExitFlag()
        let watcher = Task {
            _ = await process.wait()
            exited.set()
        }
        let started = ContinuousClock.now
        let result = await HealthChecker.waitForHTTP(
            host: "127.0.0.1", port: port, path: "/health", timeout: .seconds(30),
            schedule: HealthCheckSchedule(longestPause: .milliseconds(50)),
            isAlive: { !exited.isSet })
        await watcher.value
        #expect(result == .failed(reason: "process exited"))
        #expect(ContinuousClock.now - started < .seconds(20), "stopped early, well before the 30 s timeout")
    }

    @Test func anAttemptThatGetsNoAnswerTimesOut() async throws {
        let server = try await TestHTTPServer.startSilent()
        #expect(await HealthChecker.waitForPort(host: "127.0.0.1", port: server.port, timeout: .seconds(15)) == .passed)
        let started = ContinuousClock.now
        let result = await HealthChecker.waitForHTTP(
            host: "127.0.0.1", port: server.port, path: "/health", timeout: .milliseconds(800))
        let took = ContinuousClock.now - started
        await server.stop()
        #expect(result == .failed(reason: "no HTTP 200 from /health within 800ms; last answer: no answer within 800ms"))
        #expect(took < .seconds(6), "the attempt was cut at the deadline")
    }

    @Test func aConnectThatHangsIsGivenUpAndTriedAgainAtOnce() async throws {
        let (server, events) = try await TestHTTPServer.startBlackholed(fullFor: 1.5)
        var times = events.makeAsyncIterator()
        _ = await times.next()  // full
        // While the queue is full every connect hangs: each is cut at the schedule's connect
        // timeout and a new one sent, instead of waiting for the kernel's SYN retransmission
        // (1 s, then 3 s after the first SYN).
        let schedule = HealthCheckSchedule(connectTimeout: .milliseconds(300))
        let result = await HealthChecker.waitForPort(host: "127.0.0.1", port: server.port, timeout: .seconds(10), schedule: schedule)
        let passedAt = Date().timeIntervalSince1970
        let opened = await times.next()
        await server.stop()
        #expect(result == .passed)
        let openedAt = try #require(opened, "the listener never said when it began to accept")
        #expect(passedAt - openedAt < 0.6, "passed \(passedAt - openedAt) s after the listener began to accept")
    }

    @Test func aConnectThatNeverGetsAnAnswerIsReportedAsTimedOut() async throws {
        let (server, events) = try await TestHTTPServer.startBlackholed(fullFor: 60)
        var times = events.makeAsyncIterator()
        _ = await times.next()  // full
        let started = ContinuousClock.now
        let result = await HealthChecker.waitForHTTP(
            host: "127.0.0.1", port: server.port, path: "/health", timeout: .milliseconds(2500))
        let took = ContinuousClock.now - started
        await server.stop()
        #expect(result == .failed(reason: "no HTTP 200 from /health within 2.5s; last answer: connect timed out"))
        #expect(took < .seconds(4), "took \(took)")
    }

    @Test func portCheckPassesOnceSomethingListensAndFailsOtherwise() async throws {
        let server = try await TestHTTPServer.start(status: 200)
        let passed = await HealthChecker.waitForPort(host: "127.0.0.1", port: server.port, timeout: .seconds(15))
        await server.stop()
        #expect(passed == .passed)

        let port = try PortAllocator.freePort()
        let failed = await HealthChecker.waitForPort(host: "127.0.0.1", port: port, timeout: .milliseconds(300))
        #expect(failed == .failed(reason: "port \(port) did not open within 300ms; last answer: connection refused"))
    }

    @Test func aPortThatAcceptsAndClosesAtOnceIsNotOpen() async throws {
        let server = try await TestHTTPServer.startClosingAtOnce(closingFor: 4)
        let failed = await HealthChecker.waitForPort(host: "127.0.0.1", port: server.port, timeout: .seconds(2))
        let passed = await HealthChecker.waitForPort(host: "127.0.0.1", port: server.port, timeout: .seconds(15))
        await server.stop()
        #expect(failed == .failed(reason: "port \(server.port) did not open within 2s; last answer: accepted, then closed at once"))
        #expect(passed == .passed)

        // One that speaks first, then closes, is open (a server that greets and hangs up).
        let greeter = try await TestHTTPServer.startClosingAtOnce(closingFor: 60, greeting: "hello")
        let greeted = await HealthChecker.waitForPort(host: "127.0.0.1", port: greeter.port, timeout: .seconds(15))
        await greeter.stop()
        #expect(greeted == .passed)
    }

    @Test func freePortsAreBindableAndDistinctFromListeningOnes() async throws {
        let server = try await TestHTTPServer.start(status: 200)
        #expect(await HealthChecker.waitForPort(host: "127.0.0.1", port: server.port, timeout: .seconds(15)) == .passed)
        let port = try PortAllocator.freePort()
        await server.stop()
        #expect(port != server.port)
        #expect((1024...65535).contains(port))
        #expect(throws: YardError.self) { try PortAllocator.freePort(host: "not-an-ip") }
    }
}

final class ExitFlag: Sendable {
    private let flag = Mutex(false)
    func set() { flag.withLock { $0 = true } }
    var isSet: Bool { flag.withLock { $0 } }
}

@Suite struct HealthCheckScheduleTests {
    let schedule = HealthCheckSchedule()

    @Test func aConnectGetsASecondAndAnAnswerTwoBothCutAtTheDeadline() {
        #expect(schedule.connectBudget(remaining: .seconds(30)) == .seconds(1))
        #expect(schedule.connectBudget(remaining: .milliseconds(400)) == .milliseconds(400))
        #expect(schedule.answerBudget(remaining: .seconds(30)) == .seconds(2))
        #expect(schedule.answerBudget(remaining: .milliseconds(1500)) == .milliseconds(1500))
        // A budget is never zero or negative: NIO would fail at once without trying.
        #expect(schedule.connectBudget(remaining: .zero) == .milliseconds(1))
        #expect(schedule.answerBudget(remaining: .seconds(-1)) == .milliseconds(1))
    }

    @Test func aConnectThatTimedOutIsTriedAgainWithoutAPause() {
        #expect(schedule.pause(after: .connectTimedOut, elapsed: .seconds(1), remaining: .seconds(29)) == .zero)
        #expect(schedule.pause(after: .connectTimedOut, elapsed: .seconds(20), remaining: .seconds(10)) == .zero)
    }

    @Test func otherFailuresPause10MillisecondsForTwoSecondsThenATenthOfTheRestUpTo250() {
        #expect(schedule.pause(after: .failed, elapsed: .zero, remaining: .seconds(30)) == .milliseconds(10))
        #expect(schedule.pause(after: .failed, elapsed: .milliseconds(1900), remaining: .seconds(30)) == .milliseconds(10))
        #expect(schedule.pause(after: .failed, elapsed: .milliseconds(2600), remaining: .seconds(27)) == .milliseconds(60))
        #expect(schedule.pause(after: .failed, elapsed: .seconds(4), remaining: .seconds(26)) == .milliseconds(200))
        #expect(schedule.pause(after: .failed, elapsed: .seconds(10), remaining: .seconds(20)) == .milliseconds(250))
        #expect(schedule.pause(after: .failed, elapsed: .seconds(10), remaining: .milliseconds(40)) == .milliseconds(40))
        #expect(schedule.pause(after: .failed, elapsed: .seconds(10), remaining: .seconds(-1)) == .zero)
    }

    @Test func theLongestPauseCanBeSetForQuickerTests() {
        let quick = HealthCheckSchedule(longestPause: .milliseconds(50))
        #expect(quick.pause(after: .failed, elapsed: .seconds(5), remaining: .seconds(5)) == .milliseconds(50))
    }
}
