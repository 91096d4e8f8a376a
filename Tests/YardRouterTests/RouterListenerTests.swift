import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import YardRouter

/// One listening socket per event loop (`SO_REUSEPORT`), and the per-request shortcuts.
@Suite("Router listeners and hot path", .timeLimit(.minutes(2)))
struct RouterListenerTests {
    @Test func everyEventLoopAcceptsConnectionsOfItsOwn() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 3)
        // The threads that served requests: each loop, NIO's or the router's own, has one.
        let servingLoops = NIOLockedValueBox(Set<UInt>())
        try await withUpstreams(["app-1"]) { upstreams in
            try await withRouter(routes: ["app.localhost": [upstreams[0].upstream]], eventLoopGroup: group) { router, port in
                router.onAccessLog { _ in
                    _ = servingLoops.withLockedValue { $0.insert(UInt(pthread_self())) }
                }
                // Connections are spread over the sockets by their addresses: 24 of them all
                // landing on one of three loops has a chance of 3 in 3^24.
                for _ in 0..<24 {
                    let response = try await TestConnection.with(port: port) { connection in
                        try await connection.request(host: "app.localhost")
                    }
                    #expect(response.status == .ok)
                    #expect(response.upstreamName == "app-1")
                }
            }
        }
        try await group.shutdownGracefully()
        #expect(servingLoops.withLockedValue { $0.count } > 1)
    }

    /// Plain HTTP/1.1 is served on the router's own event loops by default (issue 17), and on
    /// NIO's when `ownEventLoops` is off.
    @Test(arguments: [true, false])
    func plainHTTPIsServedOnTheLoopsConfigured(ownEventLoops: Bool) async throws {
        let servedOnOwnLoop = NIOLockedValueBox<[Bool]>([])
        var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
        configuration.ownEventLoops = ownEventLoops
        try await withUpstreams(["app-1"]) { upstreams in
            try await withRouter(routes: ["app.localhost": [upstreams[0].upstream]], configuration: configuration) {
                router, port in
                router.onAccessLog { _ in
                    let own = router.ownLoops.withLockedValue { $0 }?.loops.contains { $0.inEventLoop } ?? false
                    servedOnOwnLoop.withLockedValue { $0.append(own) }
                }
                let response = try await TestConnection.with(port: port) { try await $0.request(host: "app.localhost") }
                #expect(response.status == .ok)
            }
        }
        // The fixture's YARD_ROUTER_OWN_LOOPS=0 turns the own loops off whatever is asked.
        let expected = ownEventLoops && ProcessInfo.processInfo.environment["YARD_ROUTER_OWN_LOOPS"] != "0"
        #expect(servedOnOwnLoop.withLockedValue { $0 } == [expected])
    }

    @Test func aSecondRouterOnTheSamePortFailsInsteadOfSharingIt() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        try await withRouter(routes: [:], eventLoopGroup: group) { _, port in
            var logger = Logger(label: "yard.router.test")
            logger.logLevel = .critical
            let second = Router(
                configuration: .init(host: "127.0.0.1", port: port), eventLoopGroup: group, logger: logger)
            await #expect {
                try await second.run()
            } throws: { error in
                "\(error)".contains("could not listen on 127.0.0.1:\(port)")
            }
            // The first router still answers every connection.
            for _ in 0..<8 {
                let status = try await TestConnection.with(port: port) { connection in
                    try await connection.request(host: "nothing.localhost").status
                }
                #expect(status == .notFound)
            }
        }
        try await group.shutdownGracefully()
    }

    /// `.socketOption(.tcp_nodelay)` is level `SOL_SOCKET`, where option 1 is `SO_DEBUG`:
    /// the router once set that on every socket, which fails without `CAP_NET_ADMIN`.
    @Test func theRoutersSocketsHaveNoDelayAndNotDebug() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            let upstreamPort = upstreams[0].upstream.port
            try await withRouter(routes: ["app.localhost": [upstreams[0].upstream]]) { _, port in
                try await TestConnection.with(port: port) { connection in
                    let response = try await connection.request(host: "app.localhost")
                    #expect(response.status == .ok)
                    // The router's side of this connection is open, and its upstream
                    // connection waits in the pool.
                    let sockets = OpenTCPSocket.all()
                    let accepted = sockets.filter { $0.localPort == port }
                    let upstream = sockets.filter { $0.peerPort == upstreamPort }
                    #expect(accepted.count == 1 && upstream.count == 1)
                    for socket in accepted + upstream {
                        #expect(socket.noDelay && !socket.debug)
                    }
                }
            }
        }
    }

    static let headerNames: [(String, HeaderScan)] = [
        ("connection", .hopByHop), ("Keep-Alive", .hopByHop), ("PROXY-CONNECTION", .hopByHop),
        ("TE", .hopByHop), ("Trailer", .hopByHop), ("upgrade", .hopByHop),
        ("Transfer-Encoding", .transferEncoding), ("X-Forwarded-For", .forwarding), ("x-forwarded-yard-tls", .forwarding),
        ("Forwarded", .forwarding), ("X-Real-IP", .forwarding),
        ("Host", []), ("Content-Length", []), ("tea", []), ("x-forwarded", []), ("connections", []), ("", []),
    ]

    @Test(arguments: Self.headerNames)
    func classifiesHeaderNamesIgnoringCase(name: String, expected: HeaderScan) {
        #expect(HeaderScan.classify(name.utf8) == expected)
    }

    @Test func headersWithNothingToRewriteAreForwardedInOrderWithTheForwardingHeadersAdded() {
        let head = HTTPRequestHead(
            version: .http1_1, method: .GET, uri: "/x",
            headers: ["Host": "app.localhost", "Accept": "*/*", "Cookie": "a=b"])
        let forwarded = head.forwardedUpstream(peer: ForwardingPeer(address: "10.213.0.9", localPort: 8080))
        #expect(
            forwarded.headers.map(\.name) == [
                "Host", "Accept", "Cookie", "X-Forwarded-For", "X-Real-IP", "X-Forwarded-Port", "X-Forwarded-Proto",
                "X-Forwarded-Host",
            ])
        #expect(forwarded.headers["X-Forwarded-For"] == ["10.213.0.9"])
        #expect(forwarded.headers["X-Forwarded-Proto"] == ["http"])
    }

    @Test(arguments: ["app.localhost", "a-b_c.example.com", "10.213.0.1"])
    func normalHostNamesAreTakenAsTheyAre(host: String) {
        #expect(RouteTable.isNormalHostName(host))
        #expect(RouteTable.normalizedHost(host) == host)
    }

    @Test(arguments: ["App.localhost", "app.localhost.", "app.localhost:80", " app", "", "[::1]", "é.localhost"])
    func otherHostNamesGoThroughNormalization(host: String) {
        #expect(!RouteTable.isNormalHostName(host))
    }

    @Test func accessLogTimestampsFollowTheWallClock() {
        var clock = WallClockAnchor()
        let now = NIODeadline.now()
        #expect(abs(clock.date(at: now).timeIntervalSinceNow) < 0.5)
        // Past the refresh interval the anchor is taken again.
        let later = now + .seconds(5)
        #expect(abs(clock.date(at: later).timeIntervalSinceNow) < 0.5)
        #expect(abs(clock.date(at: later + .milliseconds(200)).timeIntervalSinceNow - 0.2) < 0.5)
    }
}
