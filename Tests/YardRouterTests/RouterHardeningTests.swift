import NIOCore
import Testing
import YardRouter

/// Request smuggling and limits: malformed requests get 400 (or 413/431 for sizes) from the
/// router itself, and the upstream never sees them. Each case is written as raw bytes.
@Suite("Router hardening", .timeLimit(.minutes(2)))
struct RouterHardeningTests {
    struct Malformed: Sendable, CustomTestStringConvertible {
        var name: String
        var request: String
        var status: Int
        var testDescription: String { self.name }
    }

    static let host = "app.localhost"

    static let malformed: [Malformed] = [
        Malformed(
            name: "Content-Length and Transfer-Encoding together",
            request: "POST / HTTP/1.1\r\nHost: \(host)\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            status: 400
        ),
        Malformed(
            name: "two different Content-Lengths",
            request: "POST / HTTP/1.1\r\nHost: \(host)\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
            status: 400
        ),
        Malformed(
            name: "two different Content-Lengths in one header",
            request: "POST / HTTP/1.1\r\nHost: \(host)\r\nContent-Length: 4, 5\r\n\r\nabcde",
            status: 400
        ),
        Malformed(
            name: "whitespace between the header name and the colon",
            request: "GET / HTTP/1.1\r\nHost: \(host)\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
            status: 400
        ),
        Malformed(
            name: "a control character in a header name",
            request: "GET / HTTP/1.1\r\nHost: \(host)\r\nX-Bad\u{01}Name: 1\r\n\r\n",
            status: 400
        ),
        Malformed(
            name: "a bare CR inside a header value",
            request: "GET / HTTP/1.1\r\nHost: \(host)\r\nX-Split: a\rb\r\n\r\n",
            status: 400
        ),
        Malformed(
            name: "an obfuscated Transfer-Encoding",
            request: "POST / HTTP/1.1\r\nHost: \(host)\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
            status: 400
        ),
        Malformed(
            name: "a negative Content-Length",
            request: "POST / HTTP/1.1\r\nHost: \(host)\r\nContent-Length: -1\r\n\r\n",
            status: 400
        ),
        Malformed(
            name: "two Host headers",
            request: "GET / HTTP/1.1\r\nHost: \(host)\r\nHost: other.localhost\r\n\r\n",
            status: 400
        ),
        Malformed(
            name: "headers over the size limit",
            request: "GET / HTTP/1.1\r\nHost: \(host)\r\nX-Big: \(String(repeating: "a", count: 100_000))\r\n\r\n",
            status: 431
        ),
        Malformed(
            name: "a declared body over the size limit",
            request: "POST / HTTP/1.1\r\nHost: \(host)\r\nContent-Length: 2000000\r\n\r\n",
            status: 413
        ),
    ]

    @Test(arguments: malformed)
    func malformedRequestsAreRefusedAndNeverForwarded(_ testCase: Malformed) async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
            configuration.maxRequestBodyBytes = 1_000_000
            try await withRouter(routes: [Self.host: [upstreams[0].upstream]], configuration: configuration) { _, port in
                let answer = try await RawConnection.exchange(port: port, testCase.request)
                #expect(answer.hasPrefix("HTTP/1.1 \(testCase.status) "), "\(answer)")
                #expect(upstreams[0].requests.isEmpty, "the upstream received \(upstreams[0].requests)")

                // A well-formed request on a new connection still goes through.
                let good = try await RawConnection.exchange(
                    port: port, "GET / HTTP/1.1\r\nHost: \(Self.host)\r\nConnection: close\r\n\r\n")
                #expect(good.hasPrefix("HTTP/1.1 200 "), "\(good)")
                #expect(upstreams[0].requests.count == 1)
            }
        }
    }

    @Test func aChunkedBodyOverTheLimitIsCutOff() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
            configuration.maxRequestBodyBytes = 1000
            try await withRouter(routes: [Self.host: [upstreams[0].upstream]], configuration: configuration) { _, port in
                let chunk = String(repeating: "x", count: 600)
                let request = "POST /echo HTTP/1.1\r\nHost: \(Self.host)\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "258\r\n\(chunk)\r\n258\r\n\(chunk)\r\n0\r\n\r\n"
                let answer = try await RawConnection.exchange(port: port, request)
                // The upstream may have started answering the first chunk; either the client
                // got 413 or its connection was cut before a complete response.
                let complete = answer.hasPrefix("HTTP/1.1 200 ") && answer.contains("\r\n0\r\n\r\n")
                #expect(!complete, "a body over the limit went through whole: \(answer.prefix(200))")
                #expect(answer.isEmpty || answer.hasPrefix("HTTP/1.1 413 ") || answer.hasPrefix("HTTP/1.1 200 "), "\(answer.prefix(200))")
            }
        }
    }

    @Test func slowHeadersAreTimedOut() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
            configuration.requestHeadTimeout = .milliseconds(500)
            try await withRouter(routes: [Self.host: [upstreams[0].upstream]], configuration: configuration) { _, port in
                let start = ContinuousClock.now
                // An unfinished head, never completed: the slowloris pattern.
                let answer = try await RawConnection.exchange(
                    port: port, "GET / HTTP/1.1\r\nHost: \(Self.host)\r\nX-Slow: 1\r\n", timeout: .seconds(10))
                #expect(ContinuousClock.now - start < .seconds(5))
                #expect(answer.hasPrefix("HTTP/1.1 408 "), "\(answer)")
                #expect(answer.contains("the request head did not arrive within 500ms"), "\(answer)")
                #expect(upstreams[0].requests.isEmpty)
            }
        }
    }

    /// The head timeout runs from each head's first byte: a keep-alive connection idle for
    /// longer than it between requests is still served, and a later request's head that
    /// stops halfway gets 408 after the responses before it, also when it came before the
    /// response before it had gone out.
    @Test func theHeadTimeoutCountsFromEachHeadsFirstByte() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
            configuration.requestHeadTimeout = .milliseconds(500)
            try await withRouter(routes: [Self.host: [upstreams[0].upstream]], configuration: configuration) { _, port in
                let request = "GET /first HTTP/1.1\r\nHost: \(Self.host)\r\n\r\n"
                let idle = try await RawConnection.exchange(
                    port: port,
                    writes: [request, "GET /second HTTP/1.1\r\nHost: \(Self.host)\r\nConnection: close\r\n\r\n"],
                    pause: .milliseconds(1200), timeout: .seconds(10))
                #expect(RawResponse.parseAll(idle).map(\.status) == [200, 200], "\(idle)")

                let start = ContinuousClock.now
                let slow = try await RawConnection.exchange(
                    port: port, writes: [request, "GET /third HTTP/1.1\r\nHost: \(Self.host)\r\n"],
                    pause: .milliseconds(100), timeout: .seconds(10))
                #expect(ContinuousClock.now - start < .seconds(5))
                #expect(RawResponse.parseAll(slow).map(\.status) == [200, 408], "\(slow)")

                // The unfinished head in the same write as the request before it: read while
                // that request was in flight, when no head was awaited.
                let early = try await RawConnection.exchange(
                    port: port, request + "GET /fourth HTTP/1.1\r\nHost: \(Self.host)\r\n", timeout: .seconds(10))
                #expect(RawResponse.parseAll(early).map(\.status) == [200, 408], "\(early)")
                #expect(upstreams[0].requests.map(\.uri) == ["/first", "/second", "/first", "/first"])
            }
        }
    }

    @Test func connectionsPerClientAreLimited() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
            configuration.maxConnectionsPerClient = 3
            try await withRouter(routes: [Self.host: [upstreams[0].upstream]], configuration: configuration) { router, port in
                // Three idle connections are held open; the fourth is refused with 429.
                var held: [any Channel] = []
                for _ in 0..<3 { held.append(try await RawConnection.open(port: port)) }
                #expect(try await eventually { router.clientConnectionCount == 3 })
                let refused = try await RawConnection.exchange(
                    port: port, "GET / HTTP/1.1\r\nHost: \(Self.host)\r\nConnection: close\r\n\r\n")
                #expect(refused.hasPrefix("HTTP/1.1 429 ") || refused.isEmpty, "\(refused)")
                #expect(upstreams[0].requests.isEmpty)
                for channel in held { try await channel.close() }
                // Once they are gone a new connection is served.
                let served = try await eventuallyAnswer(port: port)
                #expect(served.hasPrefix("HTTP/1.1 200 "), "\(served)")
            }
        }
    }

    private func eventuallyAnswer(port: Int) async throws -> String {
        var answer = ""
        for _ in 0..<50 {
            answer = try await RawConnection.exchange(
                port: port, "GET / HTTP/1.1\r\nHost: \(Self.host)\r\nConnection: close\r\n\r\n")
            if answer.hasPrefix("HTTP/1.1 200 ") { return answer }
            try await Task.sleep(for: .milliseconds(50))
        }
        return answer
    }
}
