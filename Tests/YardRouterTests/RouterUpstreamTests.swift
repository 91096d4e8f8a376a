import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
import YardRouter

#if canImport(Glibc)
    import Glibc
#endif

/// Upstream connections: the per-upstream connection limit and its queue, the connect and
/// request-duration timeouts, and backpressure in both directions.
///
/// Serialized: the backpressure tests load the machine, which would skew the timeouts of the others.
@Suite("Router upstream connections", .serialized, .timeLimit(.minutes(2)))
struct RouterUpstreamTests {
    // MARK: - Connection limit and queue

    @Test func requestsOverTheConnectionLimitWaitAndAllSucceed() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            // One event loop: the limit is per loop.
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
            configuration.maxConnectionsPerUpstream = 2
            try await withRouter(
                routes: ["app.localhost": [upstreams[0].upstream]],
                configuration: configuration,
                eventLoopGroup: group
            ) { router, port in
                try await withThrowingTaskGroup(of: HTTPResponseStatus.self) { tasks in
                    for _ in 0..<6 {
                        tasks.addTask {
                            try await TestConnection.with(port: port) { connection in
                                try await connection.request(.GET, "/slow?ms=300", host: "app.localhost").status
                            }
                        }
                    }
                    for try await status in tasks { #expect(status == .ok) }
                }
                #expect(upstreams[0].requests.count == 6)
                #expect(upstreams[0].acceptedConnections == 2)
                #expect(upstreams[0].peakSlowInFlight == 2)
                #expect(router.queuedRequestCount == 0)
            }
            try await group.shutdownGracefully()
        }
    }

    @Test func aFullQueueGets503AndTheRequestIsNeverSent() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
            configuration.maxConnectionsPerUpstream = 1
            configuration.maxQueuedRequestsPerUpstream = 1
            try await withRouter(
                routes: ["app.localhost": [upstreams[0].upstream]],
                configuration: configuration,
                eventLoopGroup: group
            ) { router, port in
                try await withThrowingTaskGroup(of: HTTPResponseStatus.self) { tasks in
                    // The first request takes the only connection…
                    tasks.addTask {
                        try await TestConnection.with(port: port) { connection in
                            try await connection.request(.GET, "/slow?ms=1500", host: "app.localhost").status
                        }
                    }
                    #expect(try await eventually { upstreams[0].requests.count == 1 })
                    // …the second waits in the queue…
                    tasks.addTask {
                        try await TestConnection.with(port: port) { connection in
                            try await connection.request(.GET, "/queued", host: "app.localhost").status
                        }
                    }
                    #expect(try await eventually { router.queuedRequestCount == 1 })
                    // …and the third finds the queue full.
                    let refused = try await TestConnection.with(port: port) { connection in
                        try await connection.request(.GET, "/refused", host: "app.localhost")
                    }
                    #expect(refused.status == .serviceUnavailable)
                    #expect(refused.text.contains("replica app-1 of host \"app.localhost\" is busy"))
                    #expect(
                        refused.text.contains("all 1 connections the router may open to it are in use and 1 requests are already waiting"))
                    #expect(refused.head.headers["connection"] != ["close"])
                    for try await status in tasks { #expect(status == .ok) }
                }
                let uris = upstreams[0].requests.map(\.uri)
                #expect(uris.contains("/queued"))
                #expect(!uris.contains("/refused"))
                #expect(upstreams[0].acceptedConnections == 1)
            }
            try await group.shutdownGracefully()
        }
    }

    @Test func aRequestWaitingLongerThanTheQueueTimeoutGets503AndIsNeverSent() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
            configuration.maxConnectionsPerUpstream = 1
            configuration.upstreamQueueTimeout = .milliseconds(300)
            try await withRouter(
                routes: ["app.localhost": [upstreams[0].upstream]],
                configuration: configuration,
                eventLoopGroup: group
            ) { router, port in
                try await withThrowingTaskGroup(of: HTTPResponseStatus.self) { tasks in
                    tasks.addTask {
                        try await TestConnection.with(port: port) { connection in
                            try await connection.request(.GET, "/slow?ms=3000", host: "app.localhost").status
                        }
                    }
                    #expect(try await eventually { upstreams[0].requests.count == 1 })
                    let response = try await TestConnection.with(port: port) { connection in
                        try await connection.request(.GET, "/too-late", host: "app.localhost")
                    }
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.text.contains("none of the 1 connections the router may open to it became free within 300ms"))
                    #expect(router.queuedRequestCount == 0)
                    for try await status in tasks { #expect(status == .ok) }
                }
                #expect(!upstreams[0].requests.map(\.uri).contains("/too-late"))
            }
            try await group.shutdownGracefully()
        }
    }

    @Test func aClientLeavingTheQueueFreesItsPlace() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
            configuration.maxConnectionsPerUpstream = 1
            configuration.maxQueuedRequestsPerUpstream = 1
            try await withRouter(
                routes: ["app.localhost": [upstreams[0].upstream]],
                configuration: configuration,
                eventLoopGroup: group
            ) { router, port in
                try await withThrowingTaskGroup(of: HTTPResponseStatus.self) { tasks in
                    tasks.addTask {
                        try await TestConnection.with(port: port) { connection in
                            try await connection.request(.GET, "/slow?ms=1500", host: "app.localhost").status
                        }
                    }
                    #expect(try await eventually { upstreams[0].requests.count == 1 })
                    let leaving = try await RawConnection.open(port: port)
                    try await leaving.writeAndFlush(
                        ByteBuffer(string: "GET /gone HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
                    )
                    #expect(try await eventually { router.queuedRequestCount == 1 })
                    try await leaving.close()
                    #expect(try await eventually { router.queuedRequestCount == 0 })
                    // Its place is free again: the next request queues instead of getting 503.
                    tasks.addTask {
                        try await TestConnection.with(port: port) { connection in
                            try await connection.request(.GET, "/next", host: "app.localhost").status
                        }
                    }
                    for try await status in tasks { #expect(status == .ok) }
                }
                let uris = upstreams[0].requests.map(\.uri)
                #expect(uris.contains("/next"))
                #expect(!uris.contains("/gone"))
            }
            try await group.shutdownGracefully()
        }
    }

    // MARK: - Timeouts

    @Test func anUpstreamThatNeverAcceptsGets502AfterTheConnectTimeout() async throws {
        let blackhole = try FullBacklogListener()
        defer { blackhole.close() }
        try await blackhole.fill()
        var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
        configuration.connectTimeout = .milliseconds(500)
        let upstream = Upstream(host: "127.0.0.1", port: blackhole.port, replicaID: "stuck-1")
        try await withRouter(routes: ["stuck.localhost": [upstream]], configuration: configuration) { _, port in
            try await withTimeout(seconds: 20) {
                try await TestConnection.with(port: port) { connection in
                    let start = ContinuousClock.now
                    let response = try await connection.request(host: "stuck.localhost")
                    let elapsed = ContinuousClock.now - start
                    #expect(response.status == .badGateway)
                    #expect(response.text.contains("could not connect to replica stuck-1"))
                    #expect(response.text.contains("connection timed out"))
                    #expect(elapsed >= .milliseconds(500))
                    #expect(elapsed < .seconds(10))
                }
            }
        }
    }

    @Test func aRequestOverTheMaximumDurationGets504() async throws {
        try await withUpstreams(["silent-1"]) { upstreams in
            var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
            configuration.maxRequestDuration = .milliseconds(500)
            try await withRouter(routes: ["silent.localhost": [upstreams[0].upstream]], configuration: configuration) {
                _, port in
                try await withTimeout(seconds: 20) {
                    try await TestConnection.with(port: port) { connection in
                        let start = ContinuousClock.now
                        let response = try await connection.request(.GET, "/silent", host: "silent.localhost")
                        #expect(response.status == .gatewayTimeout)
                        #expect(
                            response.text.contains("the request to host \"silent.localhost\" took longer than the router's limit of 500ms"))
                        #expect(ContinuousClock.now - start >= .milliseconds(500))
                        #expect(await connection.serverClosed())
                    }
                }
                // The upstream connection is closed, not reused.
                #expect(try await eventually { upstreams[0].closedConnections == 1 })
            }
        }
    }

    @Test func aResponseStreamingPastTheMaximumDurationIsCutOff() async throws {
        try await withUpstreams(["echo-1"]) { upstreams in
            var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
            configuration.maxRequestDuration = .seconds(2)
            try await withRouter(routes: ["echo.localhost": [upstreams[0].upstream]], configuration: configuration) {
                _, port in
                try await withTimeout(seconds: 20) {
                    try await TestConnection.with(port: port) { connection in
                        let headers = HTTPHeaders([("Host", "echo.localhost"), ("Transfer-Encoding", "chunked")])
                        try await connection.send(
                            .head(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/echo", headers: headers))
                        )
                        #expect(try await connection.readHead().status == .ok)
                        try await connection.send(.body(.byteBuffer(ByteBuffer(string: "chunk"))))
                        #expect(try await connection.readBodyPart().map { String(buffer: $0) } == "chunk")
                        // No end ever comes: the router closes the connection once the limit passes.
                        let start = ContinuousClock.now
                        #expect(await connection.serverClosed())
                        #expect(ContinuousClock.now - start < .seconds(10))
                    }
                }
                #expect(try await eventually { upstreams[0].closedConnections == 1 })
            }
        }
    }

    @Test func requestsWithinTheMaximumDurationStartItAfresh() async throws {
        try await withUpstreams(["slow-1"]) { upstreams in
            var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
            configuration.maxRequestDuration = .seconds(3)
            try await withRouter(routes: ["slow.localhost": [upstreams[0].upstream]], configuration: configuration) {
                _, port in
                try await TestConnection.with(port: port) { connection in
                    // Together they take longer than the limit; each alone does not.
                    for _ in 0..<4 {
                        let response = try await connection.request(.GET, "/slow?ms=1000", host: "slow.localhost")
                        #expect(response.status == .ok)
                    }
                }
            }
        }
    }

    // MARK: - Backpressure

    /// A client that stops reading a 200 MB download: the router stops reading from the
    /// upstream, so what the upstream got to write stays within the socket buffers on the
    /// way (Linux grows a loopback receive buffer up to `tcp_rmem`'s maximum, several MB;
    /// about 8 MB got through here) and the router's own 64 KiB write buffer, far below the body.
    @Test func aSlowReadingClientStopsTheUpstreamInsteadOfBuffering() async throws {
        let size = 200 * 1024 * 1024
        try await withUpstreams(["big-1"]) { upstreams in
            try await withRouter(routes: ["big.localhost": [upstreams[0].upstream]]) { _, port in
                let received = NIOLockedValueBox(0)
                let client = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .channelOption(.autoRead, value: false)
                    .channelOption(.socketOption(.so_rcvbuf), value: 64 * 1024)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(ByteCounter(received: received))
                        }
                    }
                    .connect(host: "127.0.0.1", port: port)
                    .get()
                try await client.writeAndFlush(
                    ByteBuffer(string: "GET /stream?bytes=\(size) HTTP/1.1\r\nHost: big.localhost\r\n\r\n")
                )
                let stalledAt = try await settledValue { upstreams[0].streamedBytes }
                #expect(stalledAt > 0, "the upstream never started streaming")
                #expect(stalledAt < 32 * 1024 * 1024, "the router buffered \(stalledAt) bytes for a client that does not read")
                // Reading again lets the body flow again (all of it would take long in a debug build).
                try await client.setOption(.autoRead, value: true)
                client.read()
                #expect(try await eventually(seconds: 60) { upstreams[0].streamedBytes >= stalledAt + 4 * 1024 * 1024 })
                #expect(received.withLockedValue { $0 } > 0)
                try await client.close()
                // A client gone mid-response takes its upstream connection with it.
                #expect(try await eventually { upstreams[0].closedConnections == 1 })
            }
        }
    }

    /// A client uploading 200 MB to an upstream that stops reading: the router stops
    /// reading from the client, so the client cannot get more than the socket buffers'
    /// worth in (about 4 MB here).
    @Test func aStalledUpstreamStopsTheClientUploadInsteadOfBuffering() async throws {
        let size = 200 * 1024 * 1024
        try await withUpstreams(["stall-1"]) { upstreams in
            var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
            configuration.maxRequestBodyBytes = 256 * 1024 * 1024
            try await withRouter(routes: ["stall.localhost": [upstreams[0].upstream]], configuration: configuration) {
                _, port in
                let sent = NIOLockedValueBox(0)
                let head = "POST /stall HTTP/1.1\r\nHost: stall.localhost\r\nContent-Length: \(size)\r\n\r\n"
                let client = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(UploadPump(head: head, bodyBytes: size, sent: sent))
                        }
                    }
                    .connect(host: "127.0.0.1", port: port)
                    .get()
                #expect(try await eventually { upstreams[0].requests.count == 1 })
                let stalledAt = try await settledValue { sent.withLockedValue { $0 } }
                #expect(stalledAt > 0)
                #expect(stalledAt < 32 * 1024 * 1024, "the router took \(stalledAt) bytes of a body the upstream does not read")
                #expect(client.isActive)
                try await client.close()
            }
        }
    }
}

/// Waits until `value` has not changed for a second (checked every 100 ms, for at most
/// `seconds`) and returns it.
func settledValue(seconds: Double = 60, _ value: () -> Int) async throws -> Int {
    let deadline = ContinuousClock.now + .seconds(seconds)
    var last = value()
    var unchangedSince = ContinuousClock.now
    while ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(100))
        let current = value()
        if current != last {
            last = current
            unchangedSince = ContinuousClock.now
        } else if ContinuousClock.now - unchangedSince >= .seconds(1) {
            return current
        }
    }
    throw TestClientError(description: "the value kept changing for \(seconds) seconds (last \(last))")
}

/// Counts and drops what a connection receives.
private final class ByteCounter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let received: NIOLockedValueBox<Int>

    init(received: NIOLockedValueBox<Int>) {
        self.received = received
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let count = Self.unwrapInboundIn(data).readableBytes
        self.received.withLockedValue { $0 += count }
    }
}

/// Uploads a request of `bodyBytes` only as fast as the connection takes it, counting the
/// bytes that reached the socket.
private final class UploadPump: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let head: String
    var remaining: Int
    let sent: NIOLockedValueBox<Int>

    init(head: String, bodyBytes: Int, sent: NIOLockedValueBox<Int>) {
        self.head = head
        self.remaining = bodyBytes
        self.sent = sent
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(Self.wrapOutboundOut(ByteBuffer(string: self.head)), promise: nil)
        self.pump(context: context)
        context.fireChannelActive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { self.pump(context: context) }
        context.fireChannelWritabilityChanged()
    }

    private func pump(context: ChannelHandlerContext) {
        let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 64 * 1024)
        let sent = self.sent
        while self.remaining > 0, context.channel.isWritable {
            let size = min(chunk.readableBytes, self.remaining)
            self.remaining -= size
            let promise = context.eventLoop.makePromise(of: Void.self)
            promise.futureResult.whenSuccess { sent.withLockedValue { $0 += size } }
            context.write(Self.wrapOutboundOut(chunk.getSlice(at: 0, length: size)!), promise: promise)
        }
        context.flush()
    }
}

/// A loopback listener that never accepts, with its backlog filled: connecting to it
/// hangs (the kernel drops the SYN) until the connect timeout.
private final class FullBacklogListener {
    let port: Int
    private let descriptor: Int32
    private var fillers: [any Channel] = []

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestClientError(description: "socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 0) == 0 else {
            Glibc.close(fd)
            throw TestClientError(description: "bind/listen failed: errno \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.descriptor = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Connects until a connect times out: from then on the backlog is full.
    func fill() async throws {
        for _ in 0..<16 {
            do {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.milliseconds(300))
                    .connect(host: "127.0.0.1", port: self.port)
                    .get()
                self.fillers.append(channel)
            } catch {
                return
            }
        }
        throw TestClientError(description: "the listener's backlog never filled up")
    }

    func close() {
        for channel in self.fillers { channel.close(promise: nil) }
        Glibc.close(self.descriptor)
    }
}
