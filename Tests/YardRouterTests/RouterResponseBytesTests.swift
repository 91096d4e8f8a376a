import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import Testing
import YardRouter

/// The exact bytes an HTTP/1.1 client receives. The expectations are what the router sent
/// while NIO's `HTTPResponseEncoder` framed its responses (captured from main at 7de5a88);
/// the router's own encoder must send the same.
@Suite("Response bytes to HTTP/1.1 clients", .serialized, .timeLimit(.minutes(1)))
struct RouterResponseBytesTests {
    @Test func aResponseWithALength() async throws {
        let answer = try await Self.exchange(
            replica: [.send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Replica: a\r\n\r\nhello")],
            request: "GET / HTTP/1.1\r\nHost: bytes.localhost\r\nConnection: close\r\n\r\n")
        #expect(
            answer == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Replica: a\r\nConnection: close\r\n\r\nhello", "\(answer.debugDescription)"
        )
    }

    @Test func aChunkedResponseInSeveralPartsWithTrailers() async throws {
        let answer = try await Self.exchange(
            replica: [
                .send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"),
                .pause, .send("5\r\nhello\r\n"),
                .pause, .send("6\r\n world\r\n"),
                .pause, .send("0\r\nX-Checksum: abc\r\n\r\n"),
            ],
            request: "GET / HTTP/1.1\r\nHost: bytes.localhost\r\nConnection: close\r\n\r\n")
        #expect(
            answer
                == "HTTP/1.1 200 OK\r\nConnection: close\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n",
            "\(answer.debugDescription)")
    }

    @Test func anHTTP10ClientGetsAResponseDelimitedByTheClose() async throws {
        let answer = try await Self.exchange(
            replica: [
                .send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
                .pause, .send("5\r\nhello\r\n"),
                .pause, .send("0\r\n\r\n"),
            ],
            request: "GET / HTTP/1.0\r\nHost: bytes.localhost\r\n\r\n")
        #expect(answer == "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nhello", "\(answer.debugDescription)")
    }

    /// To a keep-alive client a head that needs no change goes out as the replica wrote it
    /// (its reason phrase, its fields' spelling and spacing), framed by its length or by
    /// chunked alone; the same answer to a client that closes is rewritten.
    @Test func anUnchangedHeadGoesOutAsTheReplicaWroteIt() async throws {
        let head = "HTTP/1.1 200 Fine Thanks\r\ncontent-length: 5\r\nX-Spaced:   a  b \r\nConnection: keep-alive\r\n\r\n"
        // The second request comes on the same upstream connection, as bytes after the first.
        let answer = try await Self.exchange(
            replica: [.send(head + "hello"), .awaitBytes(1), .send(head + "hello")],
            request: "GET / HTTP/1.1\r\nHost: bytes.localhost\r\n\r\n",
            then: "GET / HTTP/1.1\r\nHost: bytes.localhost\r\nConnection: close\r\n\r\n")
        #expect(
            answer == head + "hello" + "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nX-Spaced: a  b \r\nConnection: close\r\n\r\nhello",
            "\(answer.debugDescription)")

        let chunkedHead = "HTTP/1.1 201 Made\r\nTransfer-Encoding: chunked\r\n\r\n"
        let chunked = try await Self.exchange(
            replica: [
                .send(chunkedHead + "5\r\nhello\r\n0\r\n\r\n"), .awaitBytes(1), .send(chunkedHead + "5\r\nhello\r\n0\r\n\r\n"),
            ],
            request: "GET / HTTP/1.1\r\nHost: bytes.localhost\r\n\r\n",
            then: "GET / HTTP/1.1\r\nHost: bytes.localhost\r\nConnection: close\r\n\r\n")
        #expect(
            chunked
                == chunkedHead + "5\r\nhello\r\n0\r\n\r\n"
                + "HTTP/1.1 201 Created\r\nConnection: close\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            "\(chunked.debugDescription)")
    }

    /// A head whose framing the router changes is written again even to a keep-alive
    /// client: without a length an HTTP/1.1 answer becomes chunked.
    @Test func aHeadWhoseFramingChangesIsWrittenAgain() async throws {
        // Delimited by the replica's close; the second request gets a new upstream connection.
        let answer = try await Self.exchange(
            replica: [.send("HTTP/1.1 200 Fine\r\nX-Replica: a\r\n\r\nhello"), .close],
            request: "GET / HTTP/1.1\r\nHost: bytes.localhost\r\n\r\n",
            then: "GET / HTTP/1.1\r\nHost: bytes.localhost\r\nConnection: close\r\n\r\n")
        #expect(
            answer
                == "HTTP/1.1 200 OK\r\nX-Replica: a\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                + "HTTP/1.1 200 OK\r\nX-Replica: a\r\nConnection: close\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            "\(answer.debugDescription)")
    }

    @Test func theAnswerToHEADHasNoBodyNotEvenAChunkTerminator() async throws {
        let answer = try await Self.exchange(
            replica: [.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Replica: a\r\n\r\n")],
            request: "HEAD / HTTP/1.1\r\nHost: bytes.localhost\r\nConnection: close\r\n\r\n")
        #expect(
            answer == "HTTP/1.1 200 OK\r\nX-Replica: a\r\nConnection: close\r\ntransfer-encoding: chunked\r\n\r\n",
            "\(answer.debugDescription)")
    }

    @Test func theAnswerToHEADKeepsItsLength() async throws {
        let answer = try await Self.exchange(
            replica: [.send("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")],
            request: "HEAD / HTTP/1.1\r\nHost: bytes.localhost\r\nConnection: close\r\n\r\n")
        #expect(answer == "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nConnection: close\r\n\r\n", "\(answer.debugDescription)")
    }

    @Test func a204AndA304CarryNoFramingHeaders() async throws {
        let noContent = try await Self.exchange(
            replica: [.send("HTTP/1.1 204 No Content\r\nX-Replica: a\r\n\r\n")],
            request: "DELETE /x HTTP/1.1\r\nHost: bytes.localhost\r\nConnection: close\r\n\r\n")
        #expect(noContent == "HTTP/1.1 204 No Content\r\nX-Replica: a\r\nConnection: close\r\n\r\n", "\(noContent.debugDescription)")
        let notModified = try await Self.exchange(
            replica: [.send("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 5\r\n\r\n")],
            request: "GET / HTTP/1.1\r\nHost: bytes.localhost\r\nIf-None-Match: \"v1\"\r\nConnection: close\r\n\r\n")
        #expect(notModified == "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n", "\(notModified.debugDescription)")
    }

    @Test func a100ContinueGoesOutBeforeTheFinalResponse() async throws {
        let answer = try await Self.exchange(
            replica: [
                .send("HTTP/1.1 100 Continue\r\n\r\n"),
                .awaitBytes(5),
                .send("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"),
            ],
            request: "PUT /x HTTP/1.1\r\nHost: bytes.localhost\r\nExpect: 100-continue\r\nContent-Length: 5\r\n"
                + "Connection: close\r\n\r\n",
            then: "hello")
        #expect(
            answer == "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
            "\(answer.debugDescription)")
    }

    @Test func aLocalAnswerForAnUnknownHost() async throws {
        let answer = try await Self.exchange(
            replica: [],
            request: "GET / HTTP/1.1\r\nHost: nobody.localhost\r\nConnection: close\r\n\r\n")
        #expect(
            answer
                == "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 48\r\nCache-Control: no-store\r\nConnection: close\r\n\r\nno service is routed at host \"nobody.localhost\"\n",
            "\(answer.debugDescription)")
    }

    @Test func theLastResponseBeforeShutdownSaysConnectionClose() async throws {
        let replica = try await ScriptedReplica.start([
            .pause, .pause, .pause, .pause, .pause,
            .send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        ])
        var logger = Logger(label: "yard.router.test")
        logger.logLevel = .critical
        let router = Router(configuration: .init(host: "127.0.0.1", port: 0), logger: logger)
        router.updateRoutes(RouteTable(routes: ["bytes.localhost": [replica.upstream]]))
        let group = ServiceGroup(services: [router], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
        let answer = try await withThrowingTaskGroup(of: String?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            let port = try await router.boundPort()
            tasks.addTask {
                try await RawConnection.exchange(port: port, "GET / HTTP/1.1\r\nHost: bytes.localhost\r\n\r\n")
            }
            #expect(try await eventually { replica.requestsSeen == 1 })
            await group.triggerGracefulShutdown()
            var answer: String?
            for try await result in tasks where result != nil { answer = result }
            return answer ?? ""
        }
        await replica.stop()
        #expect(answer == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nconnection: close\r\n\r\nok", "\(answer.debugDescription)")
    }

    /// A WebSocket upgrade request, as a browser sends it.
    static let upgradeRequest =
        "GET /ws HTTP/1.1\r\nHost: bytes.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

    @Test func aWebSocketUpgradeStillTunnels() async throws {
        // An unmasked text frame, "hello", then the replica closes: so does the tunnel.
        let answer = try await Self.tunnel(replicaFirst: .pause, client: Self.upgradeRequest)
        #expect(
            answer == "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\u{FFFD}\u{05}hello",
            "\(answer.debugDescription)")
    }

    /// A replica that sends its 101, a frame and its close at once: the frame still reaches
    /// the client before the router closes the connection.
    @Test func aFrameSentWithThe101AndTheCloseReachesTheClient() async throws {
        for _ in 0..<5 {
            let answer = try await Self.tunnel(replicaFirst: nil, client: Self.upgradeRequest)
            #expect(
                answer == "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\u{FFFD}\u{05}hello",
                "\(answer.debugDescription)")
        }
    }

    /// A replica that sends its 101 and a frame in one write and then waits: the frame reaches
    /// the client now, not with the replica's next bytes. The replica's HTTP handler hands
    /// the bytes after the 101 to the tunnel as it leaves, and the tunnel flushes them at the
    /// end of that read, as it does for every read from a socket.
    @Test func aFrameSentWithThe101ReachesTheClientWhileTheReplicaWaits() async throws {
        let replica = try await ScriptedReplica.start([
            .send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\u{81}\u{05}hello"),
            .awaitBytes(1 << 20),
        ])
        try await withRouter(routes: ["bytes.localhost": [replica.upstream]]) { _, port in
            let (head, frame) = try await withTimeout(seconds: 5) {
                try await RawStream.with(port: port) { stream in
                    try await stream.send(Self.upgradeRequest)
                    return (try await stream.readHead(), try await stream.readFrame()?.payload)
                }
            }
            #expect(head.hasPrefix("HTTP/1.1 101 "), "\(head)")
            #expect(frame == Array("hello".utf8))
        }
        await replica.stop()
    }

    /// What a client sends right after its upgrade request, before the 101 came, reaches the
    /// replica through the tunnel (NIO's decoder, which the router used to parse requests
    /// with, dropped those bytes). The replica answers only once it has them.
    @Test func bytesSentBeforeThe101ReachTheReplica() async throws {
        let answer = try await Self.tunnel(replicaFirst: .awaitBytes(11), client: Self.upgradeRequest + "early-bytes")
        #expect(
            answer == "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\u{FFFD}\u{05}hello",
            "\(answer.debugDescription)")
    }

    /// An upgrade the replica refuses: its answer goes out with all its fields (made from
    /// the bytes it came as), and the connection closes, since nothing after an upgrade
    /// request is read.
    @Test func aRefusedUpgradeKeepsTheReplicasFieldsAndCloses() async throws {
        let answer = try await Self.exchange(
            replica: [.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Replica: a\r\n\r\nno")], request: Self.upgradeRequest)
        #expect(
            answer == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Replica: a\r\nConnection: close\r\n\r\nno",
            "\(answer.debugDescription)")
    }

    /// A replica that accepts an upgrade, then does `replicaFirst` (if any), sends a frame
    /// ("hello") and closes; what a client that sends `client` gets.
    private static func tunnel(replicaFirst: ScriptedReplica.Step?, client: String) async throws -> String {
        let replica = try await ScriptedReplica.start(
            [.send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")]
                + (replicaFirst.map { [$0] } ?? []) + [.send("\u{81}\u{05}hello"), .close])
        var answer = ""
        try await withRouter(routes: ["bytes.localhost": [replica.upstream]]) { _, port in
            answer = try await RawConnection.exchange(port: port, client, timeout: .seconds(5))
        }
        await replica.stop()
        return answer
    }

    /// Runs a router in front of a replica that plays `replica` to each request, writes
    /// `request` (and `then`, after a pause) and returns everything until the router closes.
    private static func exchange(replica script: [ScriptedReplica.Step], request: String, then: String? = nil)
        async throws -> String
    {
        let replica = try await ScriptedReplica.start(script)
        var answer = ""
        try await withRouter(routes: ["bytes.localhost": [replica.upstream]]) { _, port in
            answer = try await RawConnection.exchange(
                port: port, writes: [request] + (then.map { [$0] } ?? []), pause: .milliseconds(100))
        }
        await replica.stop()
        return answer
    }
}

/// A replica that answers each request head with a script of raw writes and pauses (also
/// `RouterResponseHeaderTests`'s replica of malformed heads).
final class ScriptedReplica: Sendable {
    enum Step: Sendable {
        case send(String)
        /// 50 ms: the router reads what came before on its own.
        case pause
        /// Waits until this many bytes follow the request head (a body sent after 100-continue).
        case awaitBytes(Int)
        case close
    }

    let upstream: Upstream
    private let channel: any Channel
    private let seen: NIOLockedValueBox<Int>

    private init(port: Int, channel: any Channel, seen: NIOLockedValueBox<Int>) {
        self.upstream = Upstream(host: "127.0.0.1", port: port, replicaID: "scripted-1")
        self.channel = channel
        self.seen = seen
    }

    var requestsSeen: Int { self.seen.withLockedValue { $0 } }

    static func start(_ script: [Step]) async throws -> ScriptedReplica {
        let seen = NIOLockedValueBox(0)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ScriptHandler(script: script, seen: seen))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return ScriptedReplica(port: channel.localAddress!.port!, channel: channel, seen: seen)
    }

    func stop() async {
        try? await self.channel.close()
    }
}

private final class ScriptHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let script: [ScriptedReplica.Step]
    private let seen: NIOLockedValueBox<Int>
    private var received = ""
    private var next = 0
    /// Bytes after the request head, counted for `awaitBytes`.
    private var bodyBytes = 0
    private var started = false

    init(script: [ScriptedReplica.Step], seen: NIOLockedValueBox<Int>) {
        self.script = script
        self.seen = seen
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Self.unwrapInboundIn(data)
        if self.started {
            self.bodyBytes += bytes.readableBytes
        } else {
            self.received += String(buffer: bytes)
            guard let end = self.received.range(of: "\r\n\r\n") else { return }
            self.started = true
            self.seen.withLockedValue { $0 += 1 }
            self.bodyBytes = self.received[end.upperBound...].utf8.count
        }
        self.play(context)
    }

    private func play(_ context: ChannelHandlerContext) {
        while self.next < self.script.count {
            switch self.script[self.next] {
            case .send(let text):
                self.next += 1
                context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(bytes: Self.bytes(text))), promise: nil)
            case .pause:
                self.next += 1
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .milliseconds(50)) {
                    let (handler, context) = loopBound.value
                    handler.play(context)
                }
                return
            case .awaitBytes(let count):
                guard self.bodyBytes >= count else { return }
                self.next += 1
            case .close:
                self.next += 1
                context.close(promise: nil)
            }
        }
    }

    /// The text's scalars as bytes: below 256 each is one byte, so a frame header fits in a string.
    private static func bytes(_ text: String) -> [UInt8] {
        text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }
    }
}
