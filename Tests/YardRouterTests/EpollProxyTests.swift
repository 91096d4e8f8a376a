import Logging
import NIOCore
import NIOHTTP1
import Testing

@testable import YardRouter

/// The proxy handler serving a client connection on the router's own event loop, with the
/// upstream connection from that loop's pool: a request's bytes go through no NIO channel.
@Suite("Proxying on the router's own event loop")
struct EpollProxyTests {
    /// Listens on a free port of `loop`; each connection is served by a proxy handler that
    /// routes every request to `upstream`. Returns the port.
    private static func listen(on loop: EpollEventLoop, to upstream: Upstream) async throws -> (Int, NIOLoopBound<SocketListener>) {
        try await loop.submit {
            var logger = Logger(label: "yard.router.test.epoll")
            logger.logLevel = .critical
            let pool = UpstreamConnectionPool(
                eventLoop: loop,
                configuration: .init(connectTimeout: .seconds(2), idleTimeout: .seconds(30), maxIdleConnectionsPerUpstream: 4),
                logger: logger)
            let listener = try SocketListener(address: try SocketAddress(ipAddress: "127.0.0.1", port: 0), loop: loop) {
                descriptor in
                let handler = ProxyServerHandler(
                    pool: pool, idleTimeout: .seconds(30), responseHeadTimeout: .seconds(10), maxRequestBodyBytes: 1 << 20,
                    requestHeadTimeout: .seconds(10), hold: .init(requests: HeldRequests(), timeout: .zero),
                    tunnels: Tunnels(), accessLog: AccessLog(), eject: { _ in }, logger: logger,
                    selectRoute: { _, _, _, _ in .upstreams([upstream]) })
                guard let socket = try? SocketConnection(descriptor: descriptor, loop: loop, delegate: handler) else { return }
                handler.start(on: socket)
            }
            try listener.start()
            return (listener.localAddress.port ?? 0, NIOLoopBound(listener, eventLoop: loop))
        }.get()
    }

    @Test func requestsOnOneConnectionGoThroughOneKeptUpstreamConnection() async throws {
        let loop = try EpollEventLoop()
        defer { loop.shutdownGracefully { _ in } }
        try await withUpstreams(["app-1"]) { upstreams in
            let (port, listener) = try await Self.listen(on: loop, to: upstreams[0].upstream)
            let answer = try await RawConnection.exchange(
                port: port,
                writes: [
                    "GET /first HTTP/1.1\r\nHost: app.test\r\n\r\n",
                    "POST /echo HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
                ],
                pause: .milliseconds(50))
            #expect(answer.components(separatedBy: "HTTP/1.1 200 OK\r\n").count == 3)
            #expect(answer.contains("upstream: app-1"))
            #expect(answer.hasSuffix("\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
            #expect(upstreams[0].requests.map(\.uri) == ["/first", "/echo"])
            #expect(upstreams[0].acceptedConnections == 1)
            // The forwarding fields come from the socket's own addresses.
            let forwarded = upstreams[0].requests.first?.headers
            #expect(forwarded?.first(name: "x-forwarded-for") == "127.0.0.1")
            #expect(forwarded?.first(name: "x-forwarded-port") == String(port))
            try await loop.submit { listener.value.close() }.get()
        }
    }

    @Test func aMalformedRequestIsRefusedAndTheConnectionClosed() async throws {
        let loop = try EpollEventLoop()
        defer { loop.shutdownGracefully { _ in } }
        try await withUpstreams(["app-1"]) { upstreams in
            let (port, listener) = try await Self.listen(on: loop, to: upstreams[0].upstream)
            let answer = try await RawConnection.exchange(
                port: port, "GET / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
            #expect(upstreams[0].requests.isEmpty)
            try await loop.submit { listener.value.close() }.get()
        }
    }
}
