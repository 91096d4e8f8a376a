import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import YardRouter

/// A tiny HTTP/1.1 server on 127.0.0.1 standing in for a replica. It answers with its own
/// name (`X-Upstream` header and first body line), lists the request headers it received,
/// counts connections, and has a few paths for the proxy's edge cases:
/// `/echo` streams the request body back as it arrives, `/large?bytes=N` sends N bytes,
/// `/slow?ms=N` answers after a delay, `/close` answers with `Connection: close`,
/// `/hangup` closes without answering, `/silent` never answers and keeps the connection open,
/// `/truncate` closes halfway through a body, `/stream?bytes=N` generates N bytes only as
/// fast as the connection takes them (counting what reached the socket), `/stall` stops
/// reading the request and never answers, `/bigheader?bytes=N` answers with a field of N bytes. One started with `hangsUp` reads every request
/// whole and closes without a byte of answer, like a replica killed mid-request.
final class TestUpstream: Sendable {
    struct Stats: Sendable {
        var accepted = 0
        var closed = 0
        var requests: [HTTPRequestHead] = []
        /// Bytes of `/stream` bodies written to the socket so far.
        var streamedBytes = 0
        /// `/slow` requests being answered now, and the most there ever were at once.
        var slowInFlight = 0
        var peakSlowInFlight = 0
    }

    let name: String
    let port: Int
    private let channel: any Channel
    private let stats: NIOLockedValueBox<Stats>

    private init(name: String, port: Int, channel: any Channel, stats: NIOLockedValueBox<Stats>) {
        self.name = name
        self.port = port
        self.channel = channel
        self.stats = stats
    }

    static func start(name: String, hangsUp: Bool = false) async throws -> TestUpstream {
        let stats = NIOLockedValueBox(Stats())
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                stats.withLockedValue { $0.accepted += 1 }
                channel.closeFuture.whenComplete { _ in stats.withLockedValue { $0.closed += 1 } }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(TestUpstreamHandler(name: name, stats: stats, hangsUp: hangsUp))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return TestUpstream(name: name, port: channel.localAddress!.port!, channel: channel, stats: stats)
    }

    var upstream: Upstream { Upstream(host: "127.0.0.1", port: self.port, replicaID: self.name) }
    var acceptedConnections: Int { self.stats.withLockedValue { $0.accepted } }
    var closedConnections: Int { self.stats.withLockedValue { $0.closed } }
    var requests: [HTTPRequestHead] { self.stats.withLockedValue { $0.requests } }
    var streamedBytes: Int { self.stats.withLockedValue { $0.streamedBytes } }
    var peakSlowInFlight: Int { self.stats.withLockedValue { $0.peakSlowInFlight } }

    func stop() async {
        try? await self.channel.close()
    }
}

/// A port that refuses connections: bound once, then closed.
func deadPort() async throws -> Int {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0)
        .get()
    let port = channel.localAddress!.port!
    try await channel.close()
    return port
}

private final class TestUpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let name: String
    private let stats: NIOLockedValueBox<TestUpstream.Stats>
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var echoing = false
    /// Bytes of a `/stream` body still to write.
    private var streamRemaining = 0
    private let hangsUp: Bool

    init(name: String, stats: NIOLockedValueBox<TestUpstream.Stats>, hangsUp: Bool = false) {
        self.name = name
        self.stats = stats
        self.hangsUp = hangsUp
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body.clear()
            self.stats.withLockedValue { $0.requests.append(head) }
            if head.uri.hasPrefix("/echo") {
                // Answer at once and echo every body part as it arrives.
                self.echoing = true
                context.writeAndFlush(Self.wrapOutboundOut(.head(self.responseHead(.ok))), promise: nil)
            }
            if head.uri.hasPrefix("/stall") {
                // Never read again: whatever the client sends piles up in front of us.
                try? context.channel.syncOptions?.setOption(.autoRead, value: false)
            }
        case .body(var part):
            if self.echoing {
                context.writeAndFlush(Self.wrapOutboundOut(.body(.byteBuffer(part))), promise: nil)
            } else {
                self.body.writeBuffer(&part)
            }
        case .end:
            guard let head = self.head else { return }
            if self.echoing {
                self.echoing = false
                context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
                return
            }
            self.respond(to: head, context: context)
        }
    }

    private func responseHead(_ status: HTTPResponseStatus, _ headers: [(String, String)] = []) -> HTTPResponseHead {
        var responseHeaders = HTTPHeaders([("X-Upstream", self.name)])
        responseHeaders.add(contentsOf: headers)
        return HTTPResponseHead(version: .http1_1, status: status, headers: responseHeaders)
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        if self.hangsUp {
            context.close(promise: nil)
            return
        }
        let (path, query) = Self.split(head.uri)
        switch path {
        case "/large":
            let total = Int(query["bytes"] ?? "") ?? 1_000_000
            context.write(
                Self.wrapOutboundOut(.head(self.responseHead(.ok, [("Content-Length", String(total))]))),
                promise: nil
            )
            // Byte i of the body is UInt8(i % 256); chunks are multiples of 256 so they all look alike.
            let chunk = ByteBuffer(bytes: (0..<(64 * 1024)).map { UInt8(truncatingIfNeeded: $0) })
            var sent = 0
            while sent < total {
                let size = min(chunk.readableBytes, total - sent)
                context.write(
                    Self.wrapOutboundOut(.body(.byteBuffer(chunk.getSlice(at: 0, length: size)!))),
                    promise: nil
                )
                sent += size
            }
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
        case "/slow":
            let delay = Int64(query["ms"] ?? "") ?? 200
            let response = self.describe(head)
            let loopBound = context.loopBound
            self.stats.withLockedValue {
                $0.slowInFlight += 1
                $0.peakSlowInFlight = max($0.peakSlowInFlight, $0.slowInFlight)
            }
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(delay)) {
                self.stats.withLockedValue { $0.slowInFlight -= 1 }
                self.write(response, status: .ok, context: loopBound.value)
            }
        case "/stream":
            let total = Int(query["bytes"] ?? "") ?? 1_000_000
            context.write(
                Self.wrapOutboundOut(.head(self.responseHead(.ok, [("Content-Length", String(total))]))),
                promise: nil
            )
            self.streamRemaining = total
            self.pumpStream(context: context)
        case "/stall":
            break  // never reached: it stops reading at the head
        case "/close":
            self.write(self.describe(head), status: .ok, extraHeaders: [("Connection", "close")], context: context)
            context.close(promise: nil)
        case "/hangup":
            context.close(promise: nil)
        case "/silent":
            break
        case "/truncate":
            context.write(
                Self.wrapOutboundOut(.head(self.responseHead(.ok, [("Content-Length", "100")]))),
                promise: nil
            )
            context.writeAndFlush(
                Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "only ten b")))),
                promise: nil
            )
            context.close(promise: nil)
        case "/bigheader":
            // A response head with one field of `bytes` bytes (`x-big`).
            let size = Int(query["bytes"] ?? "") ?? 30_000
            let value = String((0..<size).map { Character(Unicode.Scalar(UInt8(97 + $0 % 26))) })
            self.write(self.describe(head), status: .ok, extraHeaders: [("X-Big", value)], context: context)
        case "/status":
            let code = Int(query["code"] ?? "") ?? 200
            self.write(self.describe(head), status: HTTPResponseStatus(statusCode: code), context: context)
        default:
            self.write(self.describe(head), status: .ok, context: context)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, self.streamRemaining > 0 {
            self.pumpStream(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    /// Writes `/stream` chunks while the connection is writable; the rest waits for
    /// `channelWritabilityChanged`. Only bytes that reached the socket are counted.
    private func pumpStream(context: ChannelHandlerContext) {
        let chunk = ByteBuffer(bytes: (0..<(64 * 1024)).map { UInt8(truncatingIfNeeded: $0) })
        let stats = self.stats
        while self.streamRemaining > 0, context.channel.isWritable {
            let size = min(chunk.readableBytes, self.streamRemaining)
            self.streamRemaining -= size
            let promise = context.eventLoop.makePromise(of: Void.self)
            promise.futureResult.whenSuccess { stats.withLockedValue { $0.streamedBytes += size } }
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(chunk.getSlice(at: 0, length: size)!))), promise: promise)
        }
        if self.streamRemaining == 0 {
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            context.flush()
        }
    }

    private func describe(_ head: HTTPRequestHead) -> String {
        var lines = ["upstream: \(self.name)", "method: \(head.method.rawValue)", "uri: \(head.uri)"]
        lines += head.headers.map { "header: \($0.name.lowercased()): \($0.value)" }
        if self.body.readableBytes > 0 {
            lines.append("body: \(String(buffer: self.body))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func write(
        _ text: String,
        status: HTTPResponseStatus,
        extraHeaders: [(String, String)] = [],
        context: ChannelHandlerContext
    ) {
        let body = ByteBuffer(string: text)
        let head = self.responseHead(status, [("Content-Length", String(body.readableBytes))] + extraHeaders)
        context.write(Self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
    }

    private static func split(_ uri: String) -> (String, [String: String]) {
        let parts = uri.split(separator: "?", maxSplits: 1)
        let path = String(parts.first ?? "")
        var query: [String: String] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let keyValue = pair.split(separator: "=", maxSplits: 1)
                if keyValue.count == 2 { query[String(keyValue[0])] = String(keyValue[1]) }
            }
        }
        return (path, query)
    }
}
