import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import YardRouter

/// A WebSocket server on 127.0.0.1 standing in for a replica (NIO's own upgrader and
/// frame codec): it greets each client with a text frame "hello", echoes text frames,
/// and answers a close frame with a close frame.
final class TestWebSocketUpstream: Sendable {
    let port: Int
    private let channel: any Channel

    private init(port: Int, channel: any Channel) {
        self.port = port
        self.channel = channel
    }

    static func start() async throws -> TestWebSocketUpstream {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let upgrader = NIOWebSocketServerUpgrader(
                    shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(EchoFrames())
                        }
                    }
                )
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in })
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return TestWebSocketUpstream(port: channel.localAddress!.port!, channel: channel)
    }

    func upstream(_ replicaID: String) -> Upstream { Upstream(host: "127.0.0.1", port: self.port, replicaID: replicaID) }

    func stop() async {
        try? await self.channel.close()
    }
}

private final class EchoFrames: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.greet(context) }
    }

    private func greet(_ context: ChannelHandlerContext) {
        let frame = WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "hello"))
        context.writeAndFlush(Self.wrapOutboundOut(frame), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            let reply = WebSocketFrame(fin: true, opcode: .text, data: frame.unmaskedData)
            context.writeAndFlush(Self.wrapOutboundOut(reply), promise: nil)
        case .connectionClose:
            let reply = WebSocketFrame(fin: true, opcode: .connectionClose, data: frame.unmaskedData)
            let loopBound = context.loopBound
            context.writeAndFlush(Self.wrapOutboundOut(reply)).assumeIsolated().whenComplete { _ in
                loopBound.value.close(promise: nil)
            }
        default:
            break
        }
    }
}

/// A raw client connection read frame by frame, for the WebSocket tests.
final class RawStream {
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var buffer = ByteBuffer()
    private(set) var closedByPeer = false

    private init(
        inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    ) {
        self.inbound = inbound
        self.outbound = outbound
    }

    /// Connects to 127.0.0.1:`port` (over TLS with `tls`, sending `serverName` as SNI), runs
    /// `body` with the stream, then closes it.
    static func with<Result>(
        port: Int, tls: NIOSSLContext? = nil, serverName: String? = nil, _ body: (RawStream) async throws -> Result
    ) async throws -> Result {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await body(RawStream(inbound: inbound.makeAsyncIterator(), outbound: outbound))
        }
    }

    func send(_ bytes: [UInt8]) async throws {
        try await self.outbound.write(ByteBuffer(bytes: bytes))
    }

    func send(_ text: String) async throws {
        try await self.outbound.write(ByteBuffer(string: text))
    }

    /// Reads until `count` bytes are buffered (or the peer closed) and takes them.
    func read(_ count: Int) async throws -> [UInt8] {
        while self.buffer.readableBytes < count, !self.closedByPeer {
            if var next = try await self.inbound.next() {
                self.buffer.writeBuffer(&next)
            } else {
                self.closedByPeer = true
            }
        }
        return self.buffer.readBytes(length: min(count, self.buffer.readableBytes)) ?? []
    }

    /// Reads an HTTP response head (through the blank line).
    func readHead() async throws -> String {
        var text = ""
        while !text.hasSuffix("\r\n\r\n") {
            let byte = try await self.read(1)
            guard let first = byte.first else { break }
            text.append(Character(UnicodeScalar(first)))
        }
        return text
    }

    /// Reads one unmasked frame: (opcode, payload).
    func readFrame() async throws -> (opcode: UInt8, payload: [UInt8])? {
        let header = try await self.read(2)
        guard header.count == 2 else { return nil }
        var length = Int(header[1] & 0x7F)
        if length == 126 {
            let extended = try await self.read(2)
            length = Int(extended[0]) << 8 | Int(extended[1])
        }
        let payload = try await self.read(length)
        return (header[0] & 0x0F, payload)
    }

    /// Waits until the peer closes the connection; returns false if it does not within `timeout`.
    func waitForClose(timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !self.closedByPeer, ContinuousClock.now < deadline {
            _ = try await self.read(self.buffer.readableBytes + 1)
        }
        return self.closedByPeer
    }

    /// A masked client frame.
    static func clientFrame(opcode: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        var frame: [UInt8] = [0x80 | opcode, 0x80 | UInt8(payload.count)]
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        return frame
    }
}
