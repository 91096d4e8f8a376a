import NIOCore
import NIOHTTP1

/// Receives what happens on a leased upstream connection. Implemented by the client
/// connection's handler; both live on the same event loop.
protocol UpstreamResponseReceiver: AnyObject {
    func upstreamReceived(_ part: HTTPClientResponsePart)
    func upstreamReadComplete()
    func upstreamWritabilityChanged(isWritable: Bool)
    /// The connection closed or failed; `reason` says why, for logs.
    func upstreamClosed(reason: String)
}

/// The last handler of an upstream connection's pipeline: relays response parts to the
/// client connection that leased it and writes requests upstream as bytes it serializes
/// itself (`UpstreamRequestEncoder`), so no encoder handler sits between it and the socket.
final class UpstreamConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = IOData

    /// The client connection using this connection, nil while it sits in the pool.
    var receiver: (any UpstreamResponseReceiver)?
    private var context: ChannelHandlerContext?
    private var closeReason: String?
    private var encoder = UpstreamRequestEncoder()
    /// The response parser, told each request head directly (see `UpstreamResponseDecoder`).
    private let responseDecoder: HTTPResponseDecoder

    init(responseDecoder: HTTPResponseDecoder) {
        self.responseDecoder = responseDecoder
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Writes request parts and flushes them; the head, framing and the end share one
    /// buffer (a request without a body is one write).
    func send(_ outgoing: ProxyConnectionStateMachine.Outgoing) {
        guard let context else { return }
        var pending = context.channel.allocator.buffer(capacity: 256)
        // The parser must know the method to frame the response (none after HEAD).
        self.responseDecoder.write(data: .head(outgoing.head))
        self.encoder.writeHead(outgoing.head, forwarding: outgoing.forwarding, framing: outgoing.framing, into: &pending)
        for body in outgoing.body {
            self.encode(.body(.byteBuffer(body)), pending: &pending, context: context)
        }
        if outgoing.end {
            self.encode(.end(nil), pending: &pending, context: context)
        }
        if pending.readableBytes > 0 {
            context.write(UpstreamConnectionHandler.wrapOutboundOut(.byteBuffer(pending)), promise: nil)
        }
        context.flush()
    }

    /// Writes one request part without flushing; `flush()` follows at the end of a read burst.
    /// Returns whether anything was written (the end of a request with a length writes
    /// nothing, and then there is nothing to flush).
    @discardableResult
    func write(_ part: HTTPClientRequestPart) -> Bool {
        guard let context else { return false }
        if !self.encoder.isChunked {
            switch part {
            case .body(let body):
                // A body part of a request with a length goes out as it came: nothing to add.
                guard body.readableBytes > 0 else { return false }
                context.write(UpstreamConnectionHandler.wrapOutboundOut(body), promise: nil)
                return true
            case .end:
                // Nothing marks the end of such a request: no buffer to allocate.
                return false
            case .head:
                break
            }
        }
        var pending = context.channel.allocator.buffer(capacity: 16)
        self.encode(part, pending: &pending, context: context)
        if pending.readableBytes > 0 {
            context.write(UpstreamConnectionHandler.wrapOutboundOut(.byteBuffer(pending)), promise: nil)
        }
        // A body part is written by `encode` itself even when `pending` stays empty.
        return true
    }

    func flush() {
        self.context?.flush()
    }

    /// Appends `part`'s bytes to `pending`; a body part's own buffer is written as it is
    /// (after what is pending), not copied.
    private func encode(_ part: HTTPClientRequestPart, pending: inout ByteBuffer, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            // The parser must know the method to frame the response (none after HEAD).
            self.responseDecoder.write(data: .head(head))
            self.encoder.writeHead(head, into: &pending)
        case .body(let body):
            guard self.encoder.writeBodyPrefix(length: body.readableBytes, into: &pending) else { return }
            if pending.readableBytes > 0 {
                context.write(UpstreamConnectionHandler.wrapOutboundOut(.byteBuffer(pending)), promise: nil)
                // Consumed without touching the storage the write still holds.
                pending.moveReaderIndex(to: pending.writerIndex)
            }
            context.write(UpstreamConnectionHandler.wrapOutboundOut(body), promise: nil)
            self.encoder.writeBodySuffix(into: &pending)
        case .end(let trailers):
            self.encoder.writeEnd(trailers, into: &pending)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let receiver else {
            // An idle pooled connection must stay silent; anything else means it is unusable.
            self.closeReason = "the upstream sent data on an idle connection"
            context.close(promise: nil)
            return
        }
        // By name, not `Self`, so it is specialized (see `ProxyServerHandler.channelRead`).
        receiver.upstreamReceived(UpstreamConnectionHandler.unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.receiver?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.receiver?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let receiver = self.receiver
        self.receiver = nil
        receiver?.upstreamClosed(reason: self.closeReason ?? "the upstream closed the connection")
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Malformed responses and I/O errors leave the connection in an unknown state.
        if self.closeReason == nil {
            self.closeReason = "upstream connection error: \(error)"
        }
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension UpstreamConnectionHandler: Sendable {}

/// NIO's response parser without its write observation. `HTTPResponseDecoder` watches the
/// request parts written past it to learn each request's method; in a `ByteToMessageHandler`
/// that makes the handler an outbound hop for every request part (about 5,000 instructions
/// per request in the profile) and requires the writes to be `HTTPClientRequestPart`s. This
/// wrapper only decodes; `UpstreamConnectionHandler`, which writes bytes, tells the parser
/// each request head itself.
struct UpstreamResponseDecoder: ByteToMessageDecoder {
    typealias InboundOut = HTTPClientResponsePart

    let http: HTTPResponseDecoder

    init() {
        // Bytes a replica sends right after a 101 belong to the tunnel.
        self.http = HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes, informationalResponseStrategy: .forward)
    }

    func decoderAdded(context: ChannelHandlerContext) {
        self.http.decoderAdded(context: context)
    }

    func decoderRemoved(context: ChannelHandlerContext) {
        self.http.decoderRemoved(context: context)
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        try self.http.decode(context: context, buffer: &buffer)
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try self.http.decodeLast(context: context, buffer: &buffer, seenEOF: seenEOF)
    }
}

/// A connection to one upstream, as leased from the pool. A class, made once per connection:
/// a lease, the proxy handler and the pool's idle list pass it around as one reference (as a
/// struct, each copy retained two strings, the channel and the handler: about 2,000
/// instructions per request).
final class UpstreamConnection {
    let upstream: Upstream
    let channel: any Channel
    let handler: UpstreamConnectionHandler
    /// The pool's record of this connection's upstream (set and read only by
    /// `UpstreamConnectionPool`, which keeps it while the connection is open), so that a
    /// release needs no look-up by upstream.
    var poolEntry: AnyObject?

    init(upstream: Upstream, channel: any Channel, handler: UpstreamConnectionHandler) {
        self.upstream = upstream
        self.channel = channel
        self.handler = handler
    }
}
