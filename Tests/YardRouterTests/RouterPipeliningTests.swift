import NIOCore
import Testing
import YardRouter

/// HTTP/1.1 pipelining, half-close and error ordering on one client connection, written as
/// raw bytes: the proxy handler holds a pipelined request until the response before it has
/// ended, answers a parser error only after the responses before it, and finishes a response
/// to a client that closed its sending side while it was being written. (A client that closes
/// before any answer has left is taken to have gone: `RouterAccessLogTests` logs it as 499.)
@Suite("Router pipelining", .timeLimit(.minutes(2)))
struct RouterPipeliningTests {
    static let host = "app.localhost"

    static func get(_ target: String, _ extraHeaders: String = "") -> String {
        "GET \(target) HTTP/1.1\r\nHost: \(host)\r\n\(extraHeaders)\r\n"
    }

    @Test func pipelinedRequestsInOneWriteAreAnsweredInOrder() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            try await withRouter(routes: [Self.host: [upstreams[0].upstream]]) { _, port in
                // The first answer is slow: the two behind it have long arrived when it ends.
                let requests = Self.get("/slow?ms=300") + Self.get("/second")
                    + "POST /third HTTP/1.1\r\nHost: \(Self.host)\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
                let answer = try await RawConnection.exchange(port: port, writes: [requests])
                let responses = RawResponse.parseAll(answer)
                #expect(responses.map(\.status) == [200, 200, 200], "\(answer)")
                #expect(responses.map { Self.uri(in: $0.body) } == ["/slow?ms=300", "/second", "/third"], "\(answer)")
                #expect(responses.last?.body.contains("body: hello") == true, "\(answer)")
                #expect(upstreams[0].requests.map(\.uri) == ["/slow?ms=300", "/second", "/third"])
            }
        }
    }

    @Test func aRequestArrivingWhileTheUpstreamIsSlowWaitsForTheAnswerBeforeIt() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            try await withRouter(routes: [Self.host: [upstreams[0].upstream]]) { _, port in
                let answer = try await RawConnection.exchange(
                    port: port,
                    writes: [Self.get("/slow?ms=400"), Self.get("/slow?ms=50", "Connection: close\r\n")],
                    pause: .milliseconds(150)
                )
                let responses = RawResponse.parseAll(answer)
                #expect(responses.map { Self.uri(in: $0.body) } == ["/slow?ms=400", "/slow?ms=50"], "\(answer)")
                // The second went upstream only after the first was answered: never two at once.
                #expect(upstreams[0].peakSlowInFlight == 1)
                #expect(upstreams[0].requests.map(\.uri) == ["/slow?ms=400", "/slow?ms=50"])
            }
        }
    }

    @Test func aMalformedRequestAfterAGoodOneIsRefusedAfterTheGoodOnesAnswer() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            try await withRouter(routes: [Self.host: [upstreams[0].upstream]]) { _, port in
                let malformed = "GET / HTTP/1.1\r\nHost: \(Self.host)\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"
                let answer = try await RawConnection.exchange(port: port, writes: [Self.get("/slow?ms=300") + malformed])
                let responses = RawResponse.parseAll(answer)
                #expect(responses.map(\.status) == [200, 400], "\(answer)")
                #expect(responses.first.map { Self.uri(in: $0.body) } == "/slow?ms=300", "\(answer)")
                #expect(responses.last?.header("connection")?.lowercased() == "close", "\(answer)")
                #expect(upstreams[0].requests.map(\.uri) == ["/slow?ms=300"])
            }
        }
    }

    @Test func aClientThatClosesItsSideDuringTheResponseGetsAllOfIt() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            try await withRouter(routes: [Self.host: [upstreams[0].upstream]]) { _, port in
                // Far more than the socket buffers hold: the response is still being written
                // when the client's end of input reaches the router.
                let size = 8_000_000
                let (head, bodyBytes) = try await RawConnection.exchangeClosingOutputMidResponse(
                    port: port, Self.get("/stream?bytes=\(size)"), pause: .milliseconds(300))
                #expect(head.hasPrefix("HTTP/1.1 200 "), "\(head)")
                #expect(bodyBytes == size)
            }
        }
    }

    @Test func nothingPipelinedAfterAClosingRequestIsHandled() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            try await withRouter(routes: [Self.host: [upstreams[0].upstream]]) { _, port in
                let answer = try await RawConnection.exchange(
                    port: port, writes: [Self.get("/slow?ms=200", "Connection: close\r\n") + Self.get("/ignored")])
                let responses = RawResponse.parseAll(answer)
                #expect(responses.map { Self.uri(in: $0.body) } == ["/slow?ms=200"], "\(answer)")
                try await Task.sleep(for: .milliseconds(100))
                #expect(upstreams[0].requests.map(\.uri) == ["/slow?ms=200"])
            }
        }
    }

    @Test func nothingPipelinedAfterAnUpgradeRequestIsHandled() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            try await withRouter(routes: [Self.host: [upstreams[0].upstream]]) { _, port in
                // The replica refuses the upgrade (answers 200): the connection closes after it.
                let upgrade = Self.get("/slow?ms=200", "Connection: Upgrade\r\nUpgrade: websocket\r\n")
                let answer = try await RawConnection.exchange(port: port, writes: [upgrade + Self.get("/ignored")])
                let responses = RawResponse.parseAll(answer)
                #expect(responses.map { Self.uri(in: $0.body) } == ["/slow?ms=200"], "\(answer)")
                try await Task.sleep(for: .milliseconds(100))
                #expect(upstreams[0].requests.map(\.uri) == ["/slow?ms=200"])
            }
        }
    }

    /// The test upstream's body names the target it was asked for (`uri: ...`).
    static func uri(in body: String) -> String? {
        body.split(separator: "\n").first { $0.hasPrefix("uri: ") }.map { String($0.dropFirst(5)) }
    }
}
