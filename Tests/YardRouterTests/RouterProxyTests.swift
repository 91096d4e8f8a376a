import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
import YardRouter

/// End-to-end: a real router on 127.0.0.1 in front of real test upstreams, driven over real sockets.
@Suite("Router proxying", .timeLimit(.minutes(2)))
struct RouterProxyTests {
    @Test func routesByHostCaseInsensitivelyIgnoringPort() async throws {
        try await withUpstreams(["app-1", "api-1"]) { upstreams in
            let routes = ["App.Localhost": [upstreams[0].upstream], "api.localhost": [upstreams[1].upstream]]
            try await withRouter(routes: routes) { _, port in
                try await TestConnection.with(port: port) { connection in
                    let app = try await connection.request(host: "APP.localhost:1234")
                    #expect(app.status == .ok)
                    #expect(app.upstreamName == "app-1")
                    let api = try await connection.request(host: "api.LOCALHOST")
                    #expect(api.upstreamName == "api-1")
                }
            }
        }
    }

    /// A connection remembers the host its last request went to (and how its `Host` value
    /// normalizes); a new route table must still be seen by its next request.
    @Test func aKeepAliveConnectionFollowsTheRouteTableForTheSameHost() async throws {
        try await withUpstreams(["app-1", "app-2"]) { upstreams in
            try await withRouter(routes: ["app.localhost": [upstreams[0].upstream]]) { router, port in
                try await TestConnection.with(port: port) { connection in
                    var response = try await connection.request(host: "App.localhost:80")
                    #expect(response.upstreamName == "app-1")
                    response = try await connection.request(host: "App.localhost:80")
                    #expect(response.upstreamName == "app-1")
                    router.updateRoutes(RouteTable(routes: ["app.localhost": [upstreams[1].upstream]]))
                    response = try await connection.request(host: "App.localhost:80")
                    #expect(response.upstreamName == "app-2")
                    router.updateRoutes(RouteTable(routes: ["other.localhost": [upstreams[1].upstream]]))
                    response = try await connection.request(host: "App.localhost:80")
                    #expect(response.status == .notFound)
                    response = try await connection.request(host: "other.localhost")
                    #expect(response.upstreamName == "app-2")
                    router.updateRoutes(RouteTable(routes: ["app.localhost": [upstreams[0].upstream]]))
                    response = try await connection.request(host: "app.localhost")
                    #expect(response.upstreamName == "app-1")
                }
            }
        }
    }

    @Test func unknownHostGets404NamingTheHost() async throws {
        try await withRouter(routes: [:]) { _, port in
            try await TestConnection.with(port: port) { connection in
                let response = try await connection.request(host: "Foo.localhost:8080")
                #expect(response.status == .notFound)
                #expect(response.text.contains(#"no service is routed at host "foo.localhost""#))
                // The connection stays usable after a local error response.
                let again = try await connection.request(host: "foo.localhost")
                #expect(again.status == .notFound)
            }
        }
    }

    @Test func knownHostWithoutReplicasGets503AtOnceWhenHoldingIsOff() async throws {
        var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
        configuration.holdTimeout = .zero
        try await withRouter(routes: ["idle.localhost": []], configuration: configuration) { _, port in
            try await TestConnection.with(port: port) { connection in
                let response = try await connection.request(host: "idle.localhost")
                #expect(response.status == .serviceUnavailable)
                #expect(response.text.contains(#"service at host "idle.localhost" has no running replica"#))
            }
        }
    }

    @Test func aRequestWithoutAReplicaIsHeldThenAnswered503() async throws {
        var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
        configuration.holdTimeout = .milliseconds(400)
        try await withRouter(routes: ["idle.localhost": []], configuration: configuration) { router, port in
            try await TestConnection.with(port: port) { connection in
                let start = ContinuousClock.now
                let response = try await connection.request(host: "idle.localhost")
                #expect(ContinuousClock.now - start >= .milliseconds(350))
                #expect(response.status == .serviceUnavailable)
                #expect(response.text.contains(#"no replica of host "idle.localhost" became ready within 400ms"#), "\(response.text)")
                #expect(router.heldRequestCount == 0)
                // The connection stays usable.
                let again = try await connection.request(host: "idle.localhost")
                #expect(again.status == .serviceUnavailable)
            }
        }
    }

    @Test func heldRequestsAreServedWhenAReplicaBecomesReady() async throws {
        try await withUpstreams(["late-1"]) { upstreams in
            try await withRouter(routes: ["late.localhost": []]) { router, port in
                try await withThrowingTaskGroup(of: (Int, TestResponse).self) { group in
                    for index in 0..<5 {
                        group.addTask {
                            let response = try await TestConnection.with(port: port) { connection in
                                index.isMultiple(of: 2)
                                    ? try await connection.request(host: "late.localhost")
                                    : try await connection.request(.POST, "/echo", host: "late.localhost", body: "held body \(index)")
                            }
                            return (index, response)
                        }
                    }
                    #expect(try await eventually { router.heldRequestCount == 5 })
                    router.updateRoutes(RouteTable(routes: ["late.localhost": [upstreams[0].upstream]]))
                    var answered = 0
                    for try await (index, response) in group {
                        #expect(response.status == .ok)
                        #expect(response.upstreamName == "late-1")
                        if !index.isMultiple(of: 2) {
                            #expect(response.text == "held body \(index)", "the held body arrives whole")
                        }
                        answered += 1
                    }
                    #expect(answered == 5)
                    #expect(router.heldRequestCount == 0)
                }
            }
        }
    }

    @Test func aReplicaThatRefusesConnectionsLeavesTheRotationAtOnce() async throws {
        let dead = Upstream(host: "127.0.0.1", port: try await deadPort(), replicaID: "dead-1")
        try await withUpstreams(["live-1"]) { upstreams in
            try await withRouter(routes: ["mixed.localhost": [dead, upstreams[0].upstream]]) { _, port in
                try await TestConnection.with(port: port) { connection in
                    // Every GET answers 200: a refused connect is retried on the live replica,
                    // and after the first refusal the dead one is not tried first any more.
                    for _ in 0..<6 {
                        let response = try await connection.request(host: "mixed.localhost")
                        #expect(response.status == .ok)
                        #expect(response.upstreamName == "live-1")
                    }
                    // A POST is never retried, so it reaches the dead replica only if it is
                    // still in rotation: it is not.
                    for _ in 0..<4 {
                        let post = try await connection.request(.POST, "/", host: "mixed.localhost", body: "x")
                        #expect(post.status == .ok, "\(post.text)")
                    }
                }
            }
        }
    }

    @Test func deadUpstreamGets502Quickly() async throws {
        let port = try await deadPort()
        let dead = Upstream(host: "127.0.0.1", port: port, replicaID: "dead-1")
        try await withRouter(routes: ["dead.localhost": [dead]]) { _, routerPort in
            try await withTimeout(seconds: 5) {
                try await TestConnection.with(port: routerPort) { connection in
                    let response = try await connection.request(host: "dead.localhost")
                    #expect(response.status == .badGateway)
                    #expect(response.text.contains("connection refused"))
                    #expect(response.text.contains("dead-1"))
                    let post = try await connection.request(.POST, "/", host: "dead.localhost", body: "payload")
                    #expect(post.status == .badGateway)
                }
            }
        }
    }

    @Test func aRefusedReplicaIsPassedOverForEveryMethod() async throws {
        let dead = Upstream(host: "127.0.0.1", port: try await deadPort(), replicaID: "dead-1")
        try await withUpstreams(["live-1"]) { upstreams in
            var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
            // Without ejection every other request tries the dead replica first.
            configuration.ejectionPeriod = .zero
            try await withRouter(routes: ["app.localhost": [dead, upstreams[0].upstream]], configuration: configuration) { _, port in
                try await TestConnection.with(port: port) { connection in
                    for method in [HTTPMethod.GET, .GET, .PUT, .DELETE] {
                        let response = try await connection.request(method, "/", host: "app.localhost")
                        #expect(response.status == .ok, "\(method) should have been retried on live-1")
                        #expect(response.upstreamName == "live-1")
                    }
                    // Nothing reached the dead replica, so a POST goes on too, with its body.
                    for _ in 0..<2 {
                        let response = try await connection.request(.POST, "/echo", host: "app.localhost", body: "posted")
                        #expect(response.status == .ok && response.upstreamName == "live-1", "\(response.status)")
                        #expect(response.text == "posted")
                    }
                }
            }
        }
    }

    @Test func aSafeRequestWhoseReplicaClosesWithoutAnsweringIsSentOnToAnother() async throws {
        // `gone-1` reads each request and closes without answering (a replica killed with a
        // request in flight); `live-1` answers.
        let gone = try await TestUpstream.start(name: "gone-1", hangsUp: true)
        let gone2 = try await TestUpstream.start(name: "gone-2", hangsUp: true)
        do {
            try await self.sendOnToAnotherReplica(gone: gone, gone2: gone2)
        } catch {
            await gone.stop()
            await gone2.stop()
            throw error
        }
        await gone.stop()
        await gone2.stop()
    }

    private func sendOnToAnotherReplica(gone: TestUpstream, gone2: TestUpstream) async throws {
        try await withUpstreams(["live-1"]) { upstreams in
            var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
            // Without ejection the rotation keeps handing every other request to gone-1 first.
            configuration.ejectionPeriod = .zero
            let routes = [
                "app.localhost": [gone.upstream, upstreams[0].upstream], "gone.localhost": [gone.upstream, gone2.upstream],
                "drained.localhost": [gone.upstream, gone2.upstream, upstreams[0].upstream],
            ]
            try await withRouter(routes: routes, configuration: configuration) { _, port in
                try await TestConnection.with(port: port) { connection in
                    for method in [HTTPMethod.GET, .GET, .HEAD, .HEAD, .OPTIONS, .OPTIONS] {
                        let response = try await connection.request(method, "/", host: "app.localhost")
                        #expect(response.status == .ok, "\(method) should have gone on to live-1")
                        #expect(response.upstreamName == "live-1")
                    }
                    // gone-1 did get its turns: those requests reached it and were answered by live-1.
                    let reachedGone = gone.requests.count
                    #expect(reachedGone == 3, "every other request went to gone-1 first")
                    #expect(upstreams[0].requests.count == 6)

                    // POST, PUT and a GET with a body are never sent twice: the turn that
                    // picks gone-1 answers 502.
                    for (method, body) in [(HTTPMethod.POST, "x"), (.PUT, "x"), (.GET, "x")] {
                        var statuses: [UInt] = []
                        for _ in 0..<2 {
                            statuses.append(try await connection.request(method, "/", host: "app.localhost", body: body).status.code)
                        }
                        #expect(statuses.sorted() == [200, 502], "\(method) with a body")
                    }
                    #expect(gone.requests.count == reachedGone + 3)
                    #expect(upstreams[0].requests.count == 6 + 3)

                    // Every replica closing gives 502 once each has had the request.
                    let response = try await connection.request(.GET, "/", host: "gone.localhost")
                    #expect(response.status == .badGateway)
                    #expect(response.text.contains("closed the connection before sending a response"))
                    #expect(gone.requests.count + gone2.requests.count == reachedGone + 3 + 2)

                    // A drained node's replicas go together: whichever of the three the
                    // rotation starts at, the request moves on until live-1 answers.
                    for _ in 0..<3 {
                        let response = try await connection.request(.GET, "/", host: "drained.localhost")
                        #expect(response.status == .ok, "\(response.text)")
                        #expect(response.upstreamName == "live-1")
                    }
                    #expect(gone.requests.count + gone2.requests.count == reachedGone + 3 + 2 + 3)
                }
            }
        }
    }

    @Test func roundRobinAlternatesOnOneKeepAliveConnection() async throws {
        try await withUpstreams(["web-a", "web-b"]) { upstreams in
            try await withRouter(routes: ["web.localhost": upstreams.map(\.upstream)]) { _, port in
                try await TestConnection.with(port: port) { connection in
                    var names: [String] = []
                    for _ in 0..<6 {
                        names.append(try await connection.request(host: "web.localhost").upstreamName ?? "")
                    }
                    #expect(Set(names) == ["web-a", "web-b"])
                    for index in 1..<names.count {
                        #expect(
                            names[index] != names[index - 1],
                            "consecutive requests went to the same replica: \(names)"
                        )
                    }
                }
                // One client connection reaching two replicas means one upstream connection each, reused.
                #expect(upstreams[0].acceptedConnections == 1)
                #expect(upstreams[1].acceptedConnections == 1)
            }
        }
    }

    @Test func roundRobinAlternatesAcrossConnections() async throws {
        try await withUpstreams(["web-a", "web-b"]) { upstreams in
            try await withRouter(routes: ["web.localhost": upstreams.map(\.upstream)]) { _, port in
                var names: [String] = []
                for _ in 0..<6 {
                    let response = try await TestConnection.with(port: port) { connection in
                        try await connection.request(host: "web.localhost")
                    }
                    names.append(response.upstreamName ?? "")
                }
                #expect(Set(names) == ["web-a", "web-b"])
                for index in 1..<names.count {
                    #expect(names[index] != names[index - 1], "consecutive requests went to the same replica: \(names)")
                }
            }
        }
    }

    @Test func setsForwardedHeadersAndDropsHopByHopHeaders() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            try await withRouter(routes: ["app.localhost": [upstreams[0].upstream]]) { _, port in
                try await TestConnection.with(port: port) { connection in
                    let response = try await connection.request(
                        host: "App.Localhost:8080",
                        headers: [
                            ("X-Forwarded-For", "203.0.113.9"),
                            ("Connection", "keep-alive, X-Hop-Only"),
                            ("X-Hop-Only", "secret"),
                            ("Keep-Alive", "timeout=5"),
                            ("TE", "trailers"),
                            ("Proxy-Authorization", "Basic dXNlcg=="),
                            ("X-Custom", "kept"),
                        ]
                    )
                    #expect(response.status == .ok)
                    let received = try #require(upstreams[0].requests.last)
                    #expect(received.version == .http1_1)
                    #expect(received.headers["host"] == ["App.Localhost:8080"])
                    // 127.0.0.1 is not a trusted proxy here: the client's own X-Forwarded-For is replaced.
                    #expect(received.headers["x-forwarded-for"] == ["127.0.0.1"])
                    #expect(received.headers["x-forwarded-proto"] == ["http"])
                    #expect(received.headers["x-forwarded-host"] == ["App.Localhost:8080"])
                    #expect(received.headers["x-custom"] == ["kept"])
                    #expect(received.headers["proxy-authorization"] == ["Basic dXNlcg=="])
                    for hop in ["connection", "x-hop-only", "keep-alive", "te"] {
                        #expect(!received.headers.contains(name: hop), "\(hop) was forwarded")
                    }
                    // Without an incoming X-Forwarded-For the client address starts the chain.
                    _ = try await connection.request(host: "app.localhost")
                    #expect(upstreams[0].requests.last?.headers["x-forwarded-for"] == ["127.0.0.1"])
                }
            }
        }
    }

    @Test func reusesUpstreamConnections() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            // One event loop so that separate client connections share one pool.
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            try await withRouter(routes: ["app.localhost": [upstreams[0].upstream]], eventLoopGroup: group) { _, port in
                try await TestConnection.with(port: port) { connection in
                    for _ in 0..<5 {
                        let response1 = try await connection.request(host: "app.localhost")
                        #expect(response1.status == .ok)
                    }
                }
                for _ in 0..<5 {
                    let response = try await TestConnection.with(port: port) { connection in
                        try await connection.request(host: "app.localhost")
                    }
                    #expect(response.status == .ok)
                }
                #expect(upstreams[0].acceptedConnections == 1)
                #expect(upstreams[0].requests.count == 10)
            }
            try await group.shutdownGracefully()
        }
    }

    @Test func doesNotReuseAConnectionTheUpstreamClosed() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            try await withRouter(routes: ["app.localhost": [upstreams[0].upstream]]) { _, port in
                try await TestConnection.with(port: port) { connection in
                    let closing = try await connection.request(.GET, "/close", host: "app.localhost")
                    #expect(closing.status == .ok)
                    // The upstream's Connection: close is hop-by-hop: the client connection stays open.
                    #expect(closing.head.headers["connection"].isEmpty)
                    let next = try await connection.request(host: "app.localhost")
                    #expect(next.status == .ok)
                }
                #expect(upstreams[0].acceptedConnections == 2)
            }
        }
    }

    @Test func closesIdleUpstreamConnectionsAfterTheIdleTimeout() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            let configuration = Router.Configuration(
                host: "127.0.0.1",
                port: 0,
                upstreamIdleTimeout: .milliseconds(200)
            )
            try await withRouter(routes: ["app.localhost": [upstreams[0].upstream]], configuration: configuration) {
                _,
                port in
                try await TestConnection.with(port: port) { connection in
                    let response2 = try await connection.request(host: "app.localhost")
                    #expect(response2.status == .ok)
                    let condition3 = try await eventually { upstreams[0].closedConnections == 1 }
                    #expect(condition3)
                    // The next request opens a new connection instead of using the closed one.
                    let response4 = try await connection.request(host: "app.localhost")
                    #expect(response4.status == .ok)
                    #expect(upstreams[0].acceptedConnections == 2)
                }
            }
        }
    }

    @Test func keepsAtMostMaxIdleConnectionsPerUpstream() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let configuration = Router.Configuration(host: "127.0.0.1", port: 0, maxIdleConnectionsPerUpstream: 1)
            try await withRouter(
                routes: ["app.localhost": [upstreams[0].upstream]],
                configuration: configuration,
                eventLoopGroup: group
            ) { _, port in
                // Three concurrent slow requests need three upstream connections (slow enough
                // that the first is still in flight when a loaded machine starts the third).
                try await withThrowingTaskGroup(of: HTTPResponseStatus.self) { tasks in
                    for _ in 0..<3 {
                        tasks.addTask {
                            try await TestConnection.with(port: port) { connection in
                                try await connection.request(.GET, "/slow?ms=1000", host: "app.localhost").status
                            }
                        }
                    }
                    for try await status in tasks { #expect(status == .ok) }
                }
                #expect(upstreams[0].acceptedConnections == 3)
                // Only one may stay idle; the pool closes the other two.
                let condition5 = try await eventually { upstreams[0].closedConnections == 2 }
                #expect(condition5)
                let response = try await TestConnection.with(port: port) { connection in
                    try await connection.request(host: "app.localhost")
                }
                #expect(response.status == .ok)
                #expect(upstreams[0].acceptedConnections == 3)
            }
            try await group.shutdownGracefully()
        }
    }

    @Test func routeTableUpdatesTakeEffect() async throws {
        try await withUpstreams(["v1", "v2"]) { upstreams in
            try await withRouter(routes: [:]) { router, port in
                try await TestConnection.with(port: port) { connection in
                    let response6 = try await connection.request(host: "app.localhost")
                    #expect(response6.status == .notFound)
                    router.updateRoutes(RouteTable(routes: ["app.localhost": [upstreams[0].upstream]]))
                    let response7 = try await connection.request(host: "app.localhost")
                    #expect(response7.upstreamName == "v1")
                    router.updateRoutes(RouteTable(routes: ["app.localhost": [upstreams[1].upstream]]))
                    let response8 = try await connection.request(host: "app.localhost")
                    #expect(response8.upstreamName == "v2")
                    router.updateRoutes(RouteTable(routes: [:]))
                    let response9 = try await connection.request(host: "app.localhost")
                    #expect(response9.status == .notFound)
                }
            }
        }
    }

    @Test func streamsRequestAndResponseBodiesBothWays() async throws {
        try await withUpstreams(["echo-1"]) { upstreams in
            try await withRouter(routes: ["echo.localhost": [upstreams[0].upstream]]) { _, port in
                try await withTimeout(seconds: 10) {
                    try await TestConnection.with(port: port) { connection in
                        // Each chunk must come back before the next is sent: a proxy that buffered
                        // either body would deadlock here.
                        var headers = HTTPHeaders([("Host", "echo.localhost"), ("Transfer-Encoding", "chunked")])
                        headers.add(name: "Content-Type", value: "text/plain")
                        try await connection.send(
                            .head(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/echo", headers: headers))
                        )
                        try await connection.send(.body(.byteBuffer(ByteBuffer(string: "first chunk;"))))
                        let head = try await connection.readHead()
                        #expect(head.status == .ok)
                        var echoed = ""
                        for chunk in ["second chunk;", "third chunk;"] {
                            while echoed.utf8.count < "first chunk;".utf8.count || !echoed.hasSuffix(";") {
                                guard let part = try await connection.readBodyPart() else { break }
                                echoed += String(buffer: part)
                            }
                            try await connection.send(.body(.byteBuffer(ByteBuffer(string: chunk))))
                            while !echoed.hasSuffix(chunk) {
                                guard let part = try await connection.readBodyPart() else { break }
                                echoed += String(buffer: part)
                            }
                        }
                        try await connection.send(.end(nil))
                        while let part = try await connection.readBodyPart() { echoed += String(buffer: part) }
                        #expect(echoed == "first chunk;second chunk;third chunk;")
                        // A plain POST with a length on the same connection reaches the upstream intact.
                        let posted = try await connection.request(
                            .POST,
                            "/form",
                            host: "echo.localhost",
                            body: "a=1&b=2"
                        )
                        #expect(posted.text.contains("body: a=1&b=2"))
                    }
                }
            }
        }
    }

    @Test func relaysALargeResponseBody() async throws {
        try await withUpstreams(["big-1"]) { upstreams in
            try await withRouter(routes: ["big.localhost": [upstreams[0].upstream]]) { _, port in
                try await TestConnection.with(port: port) { connection in
                    let size = 8 * 1024 * 1024 + 17
                    let response = try await connection.request(.GET, "/large?bytes=\(size)", host: "big.localhost")
                    #expect(response.status == .ok)
                    #expect(response.head.headers["content-length"] == [String(size)])
                    #expect(response.body.readableBytes == size)
                    // Byte i is UInt8(i % 256); compare 64 KiB at a time.
                    let pattern = ByteBuffer(bytes: (0..<(64 * 1024)).map { UInt8(truncatingIfNeeded: $0) })
                    var offset = 0
                    var intact = true
                    while offset < size, intact {
                        let length = min(pattern.readableBytes, size - offset)
                        intact =
                            response.body.getSlice(at: response.body.readerIndex + offset, length: length)
                            == pattern.getSlice(at: 0, length: length)
                        offset += length
                    }
                    #expect(intact, "the body differs from what the upstream sent near byte \(offset)")
                    // The connection is still good for the next request.
                    let response10 = try await connection.request(host: "big.localhost")
                    #expect(response10.status == .ok)
                }
            }
        }
    }

    @Test func upstreamClosingBeforeTheResponseGets502() async throws {
        try await withUpstreams(["flaky-1"]) { upstreams in
            try await withRouter(routes: ["flaky.localhost": [upstreams[0].upstream]]) { _, port in
                try await withTimeout(seconds: 5) {
                    try await TestConnection.with(port: port) { connection in
                        let response = try await connection.request(.GET, "/hangup", host: "flaky.localhost")
                        #expect(response.status == .badGateway)
                        #expect(response.text.contains("closed the connection before sending a response"))
                        let response11 = try await connection.request(host: "flaky.localhost")
                        #expect(response11.status == .ok)
                    }
                }
            }
        }
    }

    @Test func upstreamClosingMidResponseClosesTheClientConnection() async throws {
        try await withUpstreams(["flaky-1"]) { upstreams in
            try await withRouter(routes: ["flaky.localhost": [upstreams[0].upstream]]) { _, port in
                try await withTimeout(seconds: 5) {
                    try await TestConnection.with(port: port) { connection in
                        try await connection.send(
                            .head(
                                HTTPRequestHead(
                                    version: .http1_1,
                                    method: .GET,
                                    uri: "/truncate",
                                    headers: ["Host": "flaky.localhost"]
                                )
                            )
                        )
                        try await connection.send(.end(nil))
                        let head = try await connection.readHead()
                        #expect(head.status == .ok)
                        var completed = false
                        do {
                            while try await connection.readBodyPart() != nil {}
                            completed = true
                        } catch {
                            completed = false
                        }
                        #expect(!completed, "a truncated response must not look complete")
                        #expect(await connection.serverClosed())
                    }
                }
            }
        }
    }

    @Test func silentUpstreamGets502AfterTheResponseHeadTimeout() async throws {
        try await withUpstreams(["silent-1"]) { upstreams in
            let configuration = Router.Configuration(
                host: "127.0.0.1",
                port: 0,
                responseHeadTimeout: .seconds(2)
            )
            try await withRouter(routes: ["silent.localhost": [upstreams[0].upstream]], configuration: configuration) {
                _,
                port in
                try await withTimeout(seconds: 20) {
                    try await TestConnection.with(port: port) { connection in
                        let start = ContinuousClock.now
                        let response = try await connection.request(.GET, "/silent", host: "silent.localhost")
                        let elapsed = ContinuousClock.now - start
                        #expect(response.status == .badGateway)
                        #expect(response.text.contains("replica silent-1 did not answer within 2s"))
                        #expect(elapsed >= .seconds(2))
                        // Generous: the machine running the tests may be loaded.
                        #expect(elapsed < .seconds(10))
                        #expect(response.head.headers["connection"] != ["close"])
                        // The client connection carries on; the stuck upstream connection is not reused.
                        let next = try await connection.request(host: "silent.localhost")
                        #expect(next.status == .ok, "\(next.text)")
                        #expect(next.upstreamName == "silent-1")
                    }
                }
                #expect(upstreams[0].acceptedConnections == 2)
                #expect(try await eventually { upstreams[0].closedConnections >= 1 })
            }
        }
    }

    @Test func slowUpstreamWithinTheResponseHeadTimeoutSucceeds() async throws {
        try await withUpstreams(["slow-1"]) { upstreams in
            let configuration = Router.Configuration(host: "127.0.0.1", port: 0, responseHeadTimeout: .seconds(3))
            try await withRouter(routes: ["slow.localhost": [upstreams[0].upstream]], configuration: configuration) {
                _,
                port in
                try await withTimeout(seconds: 20) {
                    try await TestConnection.with(port: port) { connection in
                        let response = try await connection.request(.GET, "/slow?ms=300", host: "slow.localhost")
                        #expect(response.status == .ok)
                        #expect(response.upstreamName == "slow-1")
                    }
                }
            }
        }
    }

    @Test func responseHeadTimeoutDoesNotLimitAStreamingResponse() async throws {
        try await withUpstreams(["echo-1"]) { upstreams in
            let configuration = Router.Configuration(
                host: "127.0.0.1",
                port: 0,
                // Long enough for a loaded machine (parallel test runs) to get the head across.
                responseHeadTimeout: .seconds(3)
            )
            try await withRouter(routes: ["echo.localhost": [upstreams[0].upstream]], configuration: configuration) {
                _,
                port in
                try await withTimeout(seconds: 20) {
                    try await TestConnection.with(port: port) { connection in
                        let headers = HTTPHeaders([("Host", "echo.localhost"), ("Transfer-Encoding", "chunked")])
                        try await connection.send(
                            .head(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/echo", headers: headers))
                        )
                        #expect(try await connection.readHead().status == .ok)
                        // Well past the timeout, the response keeps streaming.
                        try await Task.sleep(for: .seconds(4))
                        try await connection.send(.body(.byteBuffer(ByteBuffer(string: "late chunk"))))
                        try await connection.send(.end(nil))
                        var echoed = ""
                        while let part = try await connection.readBodyPart() { echoed += String(buffer: part) }
                        #expect(echoed == "late chunk")
                    }
                }
            }
        }
    }

    @Test func honoursConnectionCloseFromTheClient() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            try await withRouter(routes: ["app.localhost": [upstreams[0].upstream]]) { _, port in
                try await TestConnection.with(port: port) { connection in
                    let response = try await connection.request(
                        host: "app.localhost",
                        headers: [("Connection", "close")]
                    )
                    #expect(response.status == .ok)
                    #expect(response.head.headers["connection"] == ["close"])
                    #expect(await connection.serverClosed())
                }
                // The upstream connection itself was kept for reuse.
                #expect(upstreams[0].closedConnections == 0)
            }
        }
    }

    @Test func followsHTTP10ConnectionRules() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            try await withRouter(routes: ["app.localhost": [upstreams[0].upstream]]) { _, port in
                try await TestConnection.with(port: port) { connection in
                    let kept = try await connection.request(
                        host: "app.localhost",
                        version: .http1_0,
                        headers: [("Connection", "keep-alive")]
                    )
                    #expect(kept.status == .ok)
                    #expect(kept.head.version == .http1_0)
                    #expect(kept.head.headers["connection"] == ["keep-alive"])
                    // The upstream still got HTTP/1.1.
                    #expect(upstreams[0].requests.last?.version == .http1_1)

                    let closing = try await connection.request(host: "app.localhost", version: .http1_0)
                    #expect(closing.status == .ok)
                    #expect(closing.head.headers["connection"] == ["close"])
                    #expect(await connection.serverClosed())
                }
            }
        }
    }

    @Test func answersHeadRequestsWithoutABody() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            try await withRouter(routes: ["app.localhost": [upstreams[0].upstream]]) { _, port in
                try await TestConnection.with(port: port) { connection in
                    let head = try await connection.request(.HEAD, "/large?bytes=5000", host: "app.localhost")
                    #expect(head.status == .ok)
                    #expect(head.head.headers["content-length"] == ["5000"])
                    #expect(head.body.readableBytes == 0)
                    let missing = try await connection.request(.HEAD, "/", host: "nowhere.localhost")
                    #expect(missing.status == .notFound)
                    #expect(missing.body.readableBytes == 0)
                    let response12 = try await connection.request(host: "app.localhost")
                    #expect(response12.status == .ok)
                }
            }
        }
    }

    @Test func closesClientConnectionsIdleBetweenRequestsOnly() async throws {
        try await withUpstreams(["slow-1"]) { upstreams in
            // Generous enough that a loaded machine sends the first request within it.
            let configuration = Router.Configuration(host: "127.0.0.1", port: 0, clientIdleTimeout: .seconds(1))
            try await withRouter(routes: ["slow.localhost": [upstreams[0].upstream]], configuration: configuration) {
                _,
                port in
                try await withTimeout(seconds: 10) {
                    try await TestConnection.with(port: port) { connection in
                        // A request that takes longer than the idle timeout is not cut off…
                        let response = try await connection.request(.GET, "/slow?ms=2000", host: "slow.localhost")
                        #expect(response.status == .ok)
                        // …but the quiet connection afterwards is closed.
                        let closed = await connection.serverClosed()
                        #expect(closed)
                    }
                }
            }
        }
    }

    @Test func boundPortFailsWhenThePortIsTaken() async throws {
        try await withUpstreams(["holder"]) { upstreams in
            let router = Router(
                configuration: .init(host: "127.0.0.1", port: upstreams[0].port),
                logger: .init(label: "test")
            )
            await #expect(throws: (any Error).self) { try await router.run() }
            await #expect(throws: (any Error).self) { try await router.boundPort() }
        }
    }
}
