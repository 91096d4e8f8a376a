import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
import YardRouter

/// The client pipeline has no outbound header validator (a handler every response part
/// crossed): a replica's response reaches the client only through NIO's strict parser. These
/// replicas try to inject a header or split the response with bytes the validator used to
/// catch; each must end as a 502 with nothing of the replica's head passed on.
@Suite("Response header injection from a replica", .serialized)
struct RouterResponseHeaderTests {
    static let injections: [String] = [
        // A bare LF inside a value: a second header line for a lenient reader.
        "HTTP/1.1 200 OK\r\nX-A: a\nInjected: yes\r\nContent-Length: 2\r\n\r\nok",
        // A bare CR inside a value.
        "HTTP/1.1 200 OK\r\nX-A: a\rInjected: yes\r\nContent-Length: 2\r\n\r\nok",
        // A NUL inside a value.
        "HTTP/1.1 200 OK\r\nX-A: a\u{0}Injected: yes\r\nContent-Length: 2\r\n\r\nok",
        // A space inside a header name.
        "HTTP/1.1 200 OK\r\nInjected Name: yes\r\nContent-Length: 2\r\n\r\nok",
        // A bare LF in the reason phrase.
        "HTTP/1.1 200 OK\nInjected: yes\r\nContent-Length: 2\r\n\r\nok",
    ]

    @Test(arguments: injections)
    func aResponseHeadWithInvalidBytesBecomes502(_ response: String) async throws {
        let replica = try await RawReplica.start(answer: response)
        let route = Upstream(host: "127.0.0.1", port: replica.port, replicaID: "raw-1")
        try await withRouter(routes: ["raw.localhost": [route]]) { _, port in
            let answer = try await RawConnection.exchange(
                port: port, "GET / HTTP/1.1\r\nHost: raw.localhost\r\nConnection: close\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"), "\(answer)")
            #expect(!answer.lowercased().contains("injected"), "\(answer)")
            #expect(replica.requestsSeen >= 1, "the request reached the replica")
        }
        await replica.stop()
    }
}

/// A replica that answers every connection's first bytes with `answer`, byte for byte.
private final class RawReplica: Sendable {
    let port: Int
    private let channel: any Channel
    private let seen: NIOLockedValueBox<Int>

    private init(port: Int, channel: any Channel, seen: NIOLockedValueBox<Int>) {
        self.port = port
        self.channel = channel
        self.seen = seen
    }

    var requestsSeen: Int { self.seen.withLockedValue { $0 } }

    static func start(answer: String) async throws -> RawReplica {
        let seen = NIOLockedValueBox(0)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RawAnswerHandler(answer: answer, seen: seen))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return RawReplica(port: channel.localAddress!.port!, channel: channel, seen: seen)
    }

    func stop() async {
        try? await self.channel.close()
    }
}

private final class RawAnswerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let answer: String
    private let seen: NIOLockedValueBox<Int>
    private var answered = false

    init(answer: String, seen: NIOLockedValueBox<Int>) {
        self.answer = answer
        self.seen = seen
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.answered else { return }
        self.answered = true
        self.seen.withLockedValue { $0 += 1 }
        context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(string: self.answer)), promise: nil)
    }
}
