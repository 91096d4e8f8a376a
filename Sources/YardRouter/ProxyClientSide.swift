import NIOCore
import NIOHTTP1

/// Everything the proxy handler does to the client end of its exchanges: response parts
/// out, flushes, closes, reads on and off. An HTTP/1.1 connection writes bytes the router
/// encodes itself; an HTTP/2 stream hands response parts to its stream codec. The handler
/// thus never touches a channel context of its own, so a stream served without a child
/// channel can become one more case here.
///
/// An enum rather than a protocol: each call is a switch over two cases, not a witness
/// table call through an existential (see docs/performance.md, router17h).
enum ProxyClientSide {
    case http1(HTTP1ClientConnection)
    /// The stream channel's handler context, above `HTTP2StreamCodec`.
    case http2Stream(ChannelHandlerContext)

    var eventLoop: any EventLoop {
        switch self {
        case .http1(let connection): connection.context.eventLoop
        case .http2Stream(let context): context.eventLoop
        }
    }

    var allocator: ByteBufferAllocator {
        switch self {
        case .http1(let connection): connection.context.channel.allocator
        case .http2Stream(let context): context.channel.allocator
        }
    }

    var isWritable: Bool {
        switch self {
        case .http1(let connection): connection.context.channel.isWritable
        case .http2Stream(let context): context.channel.isWritable
        }
    }

    /// Notes a request the next final response answers (an HTTP/1.1 response to `HEAD`
    /// carries no body; a stream's codec knows its own request).
    func requestReceived(method: HTTPMethod) {
        if case .http1(let connection) = self {
            connection.requestReceived(method: method)
        }
    }

    /// Writes an interim (1xx) response head and flushes it: the client waits for it.
    func writeInformational(_ head: HTTPResponseHead) {
        switch self {
        case .http1(let connection):
            connection.writeHead(head)
            connection.flush()
        case .http2Stream(let context):
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        }
    }

    /// Writes a final response head; it goes out with the next flush.
    func writeHead(_ head: HTTPResponseHead) {
        switch self {
        case .http1(let connection): connection.writeHead(head)
        case .http2Stream(let context): context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        }
    }

    func writeBody(_ buffer: ByteBuffer) {
        switch self {
        case .http1(let connection): connection.writeBody(buffer)
        case .http2Stream(let context):
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil)
        }
    }

    /// Writes the end of the response and flushes; with `thenClose` the connection (or
    /// stream) closes once that write has completed.
    func writeEnd(_ trailers: HTTPHeaders?, thenClose: Bool) {
        switch self {
        case .http1(let connection): connection.writeEnd(trailers, thenClose: thenClose)
        case .http2Stream(let context):
            let end = NIOAny(HTTPServerResponsePart.end(trailers))
            guard thenClose else {
                // No promise (and no future to allocate) when nothing waits for the write.
                context.writeAndFlush(end, promise: nil)
                return
            }
            let loopBound = context.loopBound
            context.writeAndFlush(end).assumeIsolated().whenComplete { _ in
                loopBound.value.close(promise: nil)
            }
        }
    }

    func flush() {
        switch self {
        case .http1(let connection): connection.flush()
        case .http2Stream(let context): context.flush()
        }
    }

    func close() {
        switch self {
        case .http1(let connection): connection.close()
        case .http2Stream(let context): context.close(promise: nil)
        }
    }

    func setAutoRead(_ value: Bool) {
        switch self {
        case .http1(let connection): ProxyServerHandler.setAutoRead(connection.context.channel, value)
        case .http2Stream(let context): ProxyServerHandler.setAutoRead(context.channel, value)
        }
    }
}

/// The client end of an HTTP/1.1 connection: encodes responses with `ClientResponseEncoder`
/// and writes the bytes below the proxy handler (to TLS or the socket).
///
/// Encoded bytes wait in one buffer until a flush, the end of the response or a large body
/// part: a response that arrives whole from the replica leaves as one write. A body part
/// that does not fit in the room the buffer has is written as it is, not copied.
final class HTTP1ClientConnection {
    let context: ChannelHandlerContext
    private var encoder = ClientResponseEncoder()
    /// Encoded bytes not yet written.
    private var pending: ByteBuffer?

    /// Room for a usual head and a small body: one allocation of the size class the
    /// allocator serves fastest, and bodies up to what is left of it are copied.
    private static let bufferCapacity = 1024

    init(context: ChannelHandlerContext) {
        self.context = context
    }

    func requestReceived(method: HTTPMethod) {
        self.encoder.requestReceived(method: method)
    }

    func writeHead(_ head: HTTPResponseHead) {
        var buffer = self.takePending()
        self.encoder.writeHead(head, into: &buffer)
        self.pending = buffer
    }

    func writeBody(_ body: ByteBuffer) {
        let length = body.readableBytes
        guard self.encoder.writesBody(length: length) else { return }
        let suffix = self.encoder.bodySuffix
        if self.pending == nil, suffix == nil {
            // Nothing to add to the bytes: they go out as they came.
            self.context.write(NIOAny(body), promise: nil)
            return
        }
        var buffer = self.takePending()
        self.encoder.writeBodyPrefix(length: length, into: &buffer)
        if length + 2 <= buffer.writableBytes {
            buffer.writeImmutableBuffer(body)
        } else {
            self.context.write(NIOAny(buffer), promise: nil)
            self.context.write(NIOAny(body), promise: nil)
            guard suffix != nil else { return }
            buffer = self.context.channel.allocator.buffer(capacity: Self.bufferCapacity)
        }
        if let suffix { buffer.writeStaticString(suffix) }
        self.pending = buffer
    }

    func writeEnd(_ trailers: HTTPHeaders?, thenClose: Bool) {
        var buffer = self.takePending()
        self.encoder.writeEnd(trailers, into: &buffer)
        if thenClose {
            // Written even when empty: the close waits for everything before it.
            let context = self.context
            let loopBound = context.loopBound
            context.writeAndFlush(NIOAny(buffer)).assumeIsolated().whenComplete { _ in
                loopBound.value.close(promise: nil)
            }
            return
        }
        if buffer.readableBytes > 0 {
            self.context.write(NIOAny(buffer), promise: nil)
        }
        self.context.flush()
    }

    func flush() {
        if let pending = self.pending {
            self.pending = nil
            self.context.write(NIOAny(pending), promise: nil)
        }
        self.context.flush()
    }

    /// Closes the connection. Bytes not flushed are dropped, as the channel drops writes
    /// not flushed when it closes: a response cut off stays cut off.
    func close() {
        self.pending = nil
        self.context.close(promise: nil)
    }

    /// The bytes waiting to be written, or a new buffer, to append to.
    private func takePending() -> ByteBuffer {
        guard let pending = self.pending else {
            return self.context.channel.allocator.buffer(capacity: Self.bufferCapacity)
        }
        self.pending = nil
        return pending
    }
}
