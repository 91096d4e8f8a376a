import NIOCore
import NIOHTTP1

/// Everything the proxy handler does to the client end of its exchanges: response parts
/// out, flushes, closes, reads on and off. An HTTP/1.1 connection writes bytes the router
/// encodes itself (`HTTP1ClientSide`); an HTTP/2 stream hands response parts to its stream
/// codec (`HTTP2StreamClientSide`). The handler thus never touches a channel context of its
/// own, so a stream served without a child channel can become one more conformance.
///
/// A protocol rather than an enum of the two cases: measured both ways, neither costs
/// more per request beyond code-layout noise (docs/performance.md, router17h).
protocol ProxyClientSide: AnyObject {
    var eventLoop: any EventLoop { get }
    var allocator: ByteBufferAllocator { get }
    var isWritable: Bool { get }

    /// Notes a request the next final response answers (an HTTP/1.1 response to `HEAD`
    /// carries no body; a stream's codec knows its own request).
    func requestReceived(method: HTTPMethod)
    /// Writes an interim (1xx) response head and flushes it: the client waits for it.
    func writeInformational(_ head: HTTPResponseHead)
    /// Writes a final response head; it goes out with the next flush.
    func writeHead(_ head: HTTPResponseHead)
    func writeBody(_ buffer: ByteBuffer)
    /// Writes the end of the response and flushes; with `thenClose` the connection (or
    /// stream) closes once that write has completed.
    func writeEnd(_ trailers: HTTPHeaders?, thenClose: Bool)
    func flush()
    /// Closes the connection or stream; what was not flushed is dropped.
    func close()
    func setAutoRead(_ value: Bool)
}

/// An HTTP/2 stream channel's end, above `HTTP2StreamCodec`, which takes response parts.
final class HTTP2StreamClientSide: ProxyClientSide {
    private let context: ChannelHandlerContext

    init(context: ChannelHandlerContext) {
        self.context = context
    }

    var eventLoop: any EventLoop { self.context.eventLoop }
    var allocator: ByteBufferAllocator { self.context.channel.allocator }
    var isWritable: Bool { self.context.channel.isWritable }

    func requestReceived(method: HTTPMethod) {}

    func writeInformational(_ head: HTTPResponseHead) {
        self.context.writeAndFlush(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
    }

    func writeHead(_ head: HTTPResponseHead) {
        self.context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
    }

    func writeBody(_ buffer: ByteBuffer) {
        self.context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil)
    }

    func writeEnd(_ trailers: HTTPHeaders?, thenClose: Bool) {
        let end = NIOAny(HTTPServerResponsePart.end(trailers))
        guard thenClose else {
            // No promise (and no future to allocate) when nothing waits for the write.
            self.context.writeAndFlush(end, promise: nil)
            return
        }
        let loopBound = self.context.loopBound
        self.context.writeAndFlush(end).assumeIsolated().whenComplete { _ in
            loopBound.value.close(promise: nil)
        }
    }

    func flush() {
        self.context.flush()
    }

    func close() {
        self.context.close(promise: nil)
    }

    func setAutoRead(_ value: Bool) {
        ProxyServerHandler.setAutoRead(self.context.channel, value)
    }
}
