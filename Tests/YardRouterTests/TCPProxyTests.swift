import Logging
import NIOCore
import NIOPosix
import Testing
import YardCore
import YardRouter

#if canImport(Glibc)
    import Glibc
#endif

/// The TCP proxy over real sockets: a byte tunnel to the current upstream, which speaks
/// first like MySQL and echoes what it gets.
@Suite("TCP proxy", .timeLimit(.minutes(1)))
struct TCPProxyTests {
    /// A server that greets each connection with `greeting\n`, then echoes.
    struct GreetingServer {
        var channel: any Channel
        var port: Int { channel.localAddress!.port! }

        static func start(_ greeting: String) async throws -> GreetingServer {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(GreetingHandler(greeting: greeting))
                    }
                }
                .bind(host: "127.0.0.1", port: 0)
                .get()
            return GreetingServer(channel: channel)
        }

        func upstream(_ id: String) -> Upstream { Upstream(host: "127.0.0.1", port: port, replicaID: id) }
    }

    final class GreetingHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let greeting: String
        init(greeting: String) { self.greeting = greeting }

        func channelActive(context: ChannelHandlerContext) {
            context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(string: greeting + "\n")), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.writeAndFlush(data, promise: nil)
        }
    }

    /// A client connection through the proxy.
    struct Client {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

        init(port: Int) async throws {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        }
    }

    func makeProxy() -> TCPProxy {
        var logger = Logger(label: "yard.tcp-proxy.test")
        logger.logLevel = .critical
        return TCPProxy(host: "127.0.0.1", logger: logger)
    }

    /// A proxy with a port open on a free port, forwarding to `upstreams`.
    func openProxy(to upstreams: [Upstream]) async throws -> (proxy: TCPProxy, port: Int) {
        let proxy = makeProxy()
        let port = try await deadPort()
        try await proxy.open(port: port)
        if !upstreams.isEmpty { proxy.setUpstreams(upstreams, port: port) }
        return (proxy, port)
    }

    /// Connects through the proxy, reads the greeting, sends `ping`, reads it back.
    func exchange(port: Int) async throws -> (greeting: String, echo: String, closed: Bool) {
        let client = try await Client(port: port)
        return try await client.channel.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            var text = ""
            while !text.contains("\n") {
                guard let buffer = try await iterator.next() else { return (text, "", true) }
                text += String(buffer: buffer)
            }
            try await outbound.write(ByteBuffer(string: "ping"))
            var echo = ""
            while echo.count < 4 {
                guard let buffer = try await iterator.next() else { return (text, echo, true) }
                echo += String(buffer: buffer)
            }
            return (text, echo, false)
        }
    }

    @Test("forwards bytes both ways, server-first greeting included; new connections follow the upstream")
    func forwardsAndFollows() async throws {
        let first = try await GreetingServer.start("one")
        let second = try await GreetingServer.start("two")
        defer {
            first.channel.close(promise: nil)
            second.channel.close(promise: nil)
        }
        let (proxy, port) = try await openProxy(to: [first.upstream("r1")])

        let viaFirst = try await exchange(port: port)
        #expect(viaFirst.greeting == "one\n" && viaFirst.echo == "ping" && !viaFirst.closed)

        // An open connection stays with its replica; the next one goes to the new one.
        let held = try await Client(port: port)
        try await held.channel.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            let greeting = try await iterator.next().map { String(buffer: $0) }
            #expect(greeting == "one\n")
            proxy.setUpstreams([second.upstream("r2")], port: port)
            let viaSecond = try await exchange(port: port)
            #expect(viaSecond.greeting == "two\n" && viaSecond.echo == "ping")
            try await outbound.write(ByteBuffer(string: "still"))
            var echo = ""
            while echo.count < 5, let buffer = try await iterator.next() { echo += String(buffer: buffer) }
            #expect(echo == "still")
        }
        await proxy.close(port: port)
    }

    @Test("both of a forwarded connection's sockets have TCP_NODELAY and not SO_DEBUG")
    func socketOptions() async throws {
        let server = try await GreetingServer.start("one")
        defer { server.channel.close(promise: nil) }
        let (proxy, port) = try await openProxy(to: [server.upstream("r1")])
        let client = try await Client(port: port)
        try await client.channel.executeThenClose { inbound, _ in
            var iterator = inbound.makeAsyncIterator()
            let greeting = try await iterator.next().map { String(buffer: $0) }
            #expect(greeting == "one\n")
            let sockets = OpenTCPSocket.all()
            let accepted = sockets.filter { $0.localPort == port }
            let upstream = sockets.filter { $0.peerPort == server.port }
            #expect(accepted.count == 1 && upstream.count == 1)
            for socket in accepted + upstream {
                #expect(socket.noDelay && !socket.debug)
            }
        }
        await proxy.close(port: port)
    }

    @Test("with no replica running a connection closes at once; a replica that refuses closes it too")
    func noUpstream() async throws {
        let (proxy, port) = try await openProxy(to: [])
        let none = try await exchange(port: port)
        #expect(none.closed && none.greeting.isEmpty)
        proxy.setUpstreams([Upstream(host: "127.0.0.1", port: try await deadPort(), replicaID: "gone")], port: port)
        let refused = try await exchange(port: port)
        #expect(refused.closed && refused.greeting.isEmpty)
        await proxy.close(port: port)
    }

    @Test("closing a port closes its open connections and refuses new ones; a taken port is a clear error")
    func closing() async throws {
        let server = try await GreetingServer.start("one")
        defer { server.channel.close(promise: nil) }
        let proxy = makeProxy()
        let port = try await deadPort()
        try await proxy.open(port: port)
        #expect(proxy.openPorts == [port])
        #expect(try await proxy.open(port: port) == false, "a port open already is left as it is")
        proxy.setUpstreams([server.upstream("r1")], port: port)
        let client = try await Client(port: port)
        try await client.channel.executeThenClose { inbound, _ in
            var iterator = inbound.makeAsyncIterator()
            let greeting = try await iterator.next().map { String(buffer: $0) }
            #expect(greeting == "one\n")
            #expect(proxy.connectionCount(port: port) == 1)
            await proxy.close(port: port)
            // The proxy closed the connection: the stream ends.
            let next = try? await iterator.next()
            #expect(next == nil)
        }
        #expect(proxy.openPorts.isEmpty)
        await #expect(throws: (any Error).self) { _ = try await Client(port: port) }

        // The greeting server holds its port: the proxy cannot take it.
        let error = await #expect(throws: YardError.self) { try await proxy.open(port: server.port) }
        #expect(error?.message.contains("cannot listen on 127.0.0.1:\(server.port)") == true)
        #expect(proxy.openPorts.isEmpty)
    }

    @Test("32 MiB go through and come back intact and in order")
    func bulk() async throws {
        let server = try await GreetingServer.start("bulk")
        defer { server.channel.close(promise: nil) }
        let (proxy, port) = try await openProxy(to: [server.upstream("r1")])
        let chunk = (0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let chunks = 512
        let pattern = chunk + chunk
        let started = ContinuousClock.now
        let client = try await Client(port: port)
        let (received, intact) = try await client.channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                group.addTask {
                    for _ in 0..<chunks { try await outbound.write(ByteBuffer(bytes: chunk)) }
                    return (0, true)
                }
                group.addTask {
                    var total = 0
                    var intact = true
                    var greeting = "bulk\n".utf8.count
                    for try await var buffer in inbound {
                        if greeting > 0 {
                            let skip = min(greeting, buffer.readableBytes)
                            buffer.moveReaderIndex(forwardBy: skip)
                            greeting -= skip
                        }
                        // memcmp against the pattern (twice over, so any offset has a whole chunk after it).
                        buffer.withUnsafeReadableBytes { raw in
                            var offset = 0
                            while offset < raw.count {
                                let count = min(raw.count - offset, chunk.count)
                                let start = (total + offset) % chunk.count
                                pattern.withUnsafeBytes { expected in
                                    if memcmp(raw.baseAddress! + offset, expected.baseAddress! + start, count) != 0 { intact = false }
                                }
                                offset += count
                            }
                            total += raw.count
                        }
                        if total >= chunk.count * chunks { break }
                    }
                    return (total, intact)
                }
                var result = (0, true)
                for try await (total, intact) in group where total > 0 { result = (total, intact) }
                return result
            }
        }
        let elapsed = ContinuousClock.now - started
        #expect(received == chunk.count * chunks && intact)
        #expect(elapsed < .seconds(20), "32 MiB each way took \(elapsed)")
        await proxy.close(port: port)
    }

    @Test("a client that stops sending still gets the answer, and the connection closes once both sides are done")
    func halfClose() async throws {
        // Answers with everything it got once the client has stopped sending, then closes.
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AnswerAtEndHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        defer { server.close(promise: nil) }
        let (proxy, port) = try await openProxy(to: [Upstream(host: "127.0.0.1", port: server.localAddress!.port!, replicaID: "r1")])
        let client = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
        let answer = try await client.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "question"))
            outbound.finish()  // shutdown(SHUT_WR): the proxy passes it on to the server
            var text = ""
            for try await buffer in inbound { text += String(buffer: buffer) }
            return text
        }
        #expect(answer == "got: question")
        await proxy.close(port: port)
    }

    final class AnswerAtEndHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        private var received = ""

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            received += String(buffer: Self.unwrapInboundIn(data))
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            guard let closed = event as? ChannelEvent, closed == .inputClosed else { return }
            context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(string: "got: " + received))).whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }
}
