import NIOCore
import NIOHTTP1

/// The client end of an HTTP/1.1 connection: encodes responses with `ClientResponseEncoder`
/// and writes the bytes below the proxy handler (to TLS or the socket), or, on the router's
/// own event loop, to its `SocketConnection`.
///
/// Encoded bytes wait in one buffer until a flush, the end of the response or a large body
/// part: a response that arrives whole from the replica leaves as one write. A body part
/// that does not fit in the room the buffer has is written as it is, not copied.
final class HTTP1ClientSide: ProxyClientSide {
    /// The proxy handler's context in a channel's pipeline; nil on a socket.
    let context: ChannelHandlerContext?
    #if canImport(Glibc)
        /// The connection on the router's own loop; nil in a pipeline.
        let socket: SocketConnection?
    #endif
    private var encoder = ClientResponseEncoder()
    /// Encoded bytes not yet written.
    private var pending: ByteBuffer?
    /// Bytes were written since the last flush. A flush with nothing to send still walks
    /// the pipeline and the channel's write queue (several hundred instructions), and the
    /// end of an upstream read burst asks for one just after a response's end was flushed.
    private var unflushed = false

    /// Room for a usual head and a small body: one allocation of the size class the
    /// allocator serves fastest, and bodies up to what is left of it are copied.
    private static let bufferCapacity = 1024

    /// The event loop's spare buffer, which responses are encoded into.
    private let spareBuffer: SpareWriteBuffer

    /// The channel's, read once: `context.channel` walks to the pipeline's channel and
    /// retains it, about 85 instructions each time.
    let allocator: ByteBufferAllocator

    init(context: ChannelHandlerContext, spareBuffer: SpareWriteBuffer = SpareWriteBuffer()) {
        self.context = context
        #if canImport(Glibc)
            self.socket = nil
        #endif
        self.spareBuffer = spareBuffer
        self.allocator = context.channel.allocator
        self.eventLoop = context.eventLoop
    }

    #if canImport(Glibc)
        init(socket: SocketConnection, spareBuffer: SpareWriteBuffer) {
            self.context = nil
            self.socket = socket
            self.spareBuffer = spareBuffer
            self.allocator = socket.loop.allocator
            self.eventLoop = socket.loop
        }
    #endif

    let eventLoop: any EventLoop

    var isWritable: Bool {
        if let context { return context.channel.isWritable }
        #if canImport(Glibc)
            return self.socket?.isWritable ?? false
        #else
            return false
        #endif
    }

    // MARK: - Bytes out, to the pipeline or the socket

    private func emit(_ buffer: ByteBuffer) {
        if let context {
            context.write(NIOAny(buffer), promise: nil)
            return
        }
        #if canImport(Glibc)
            self.socket?.write(buffer)
        #endif
    }

    private func emitAndFlush(_ buffer: ByteBuffer) {
        if let context {
            // One walk down the pipeline for the write and its flush.
            context.writeAndFlush(NIOAny(buffer), promise: nil)
            return
        }
        #if canImport(Glibc)
            self.socket?.writeAndFlush(buffer)
        #endif
    }

    private func flushOut() {
        if let context {
            context.flush()
            return
        }
        #if canImport(Glibc)
            self.socket?.flush()
        #endif
    }

    /// Writes `bytes` as they are, then closes the connection once they are out.
    func writeAndClose(_ bytes: ByteBuffer) {
        self.pending = nil
        self.unflushed = false
        if let context {
            let loopBound = context.loopBound
            context.writeAndFlush(NIOAny(bytes)).assumeIsolated().whenComplete { _ in
                loopBound.value.close(promise: nil)
            }
            return
        }
        #if canImport(Glibc)
            self.socket?.write(bytes)
            self.socket?.closeAfterFlush()
        #endif
    }

    func writeInformational(_ head: HTTPResponseHead) {
        self.writeHead(head)
        self.flush()
    }

    func setAutoRead(_ value: Bool) {
        if let context {
            ProxyServerHandler.setAutoRead(context.channel, value)
            return
        }
        #if canImport(Glibc)
            self.socket?.readsEnabled = value
        #endif
    }

    func requestReceived(method: HTTPMethod) {
        self.encoder.requestReceived(method: method)
    }

    func writeHead(_ head: HTTPResponseHead) {
        var buffer = self.takePending()
        self.encoder.writeHead(head, into: &buffer)
        self.pending = buffer
    }

    func writeHead(_ head: HTTPResponseHead, received: UpstreamResponseParser.ReceivedHead) {
        var buffer = self.takePending()
        if !self.encoder.writeHeadAsReceived(head, received: received, into: &buffer) {
            self.encoder.writeHead(received.completingIfNeeded(head), into: &buffer)
        }
        self.pending = buffer
    }

    func writeBody(_ body: ByteBuffer) {
        let length = body.readableBytes
        guard self.encoder.writesBody(length: length) else { return }
        let suffix = self.encoder.bodySuffix
        if self.pending == nil, suffix == nil {
            // Nothing to add to the bytes: they go out as they came.
            self.emit(body)
            self.unflushed = true
            return
        }
        var buffer = self.takePending()
        self.encoder.writeBodyPrefix(length: length, into: &buffer)
        if length + 2 <= buffer.writableBytes {
            buffer.writeImmutableBuffer(body)
        } else {
            self.emit(buffer)
            self.emit(body)
            self.unflushed = true
            guard suffix != nil else { return }
            buffer = self.allocator.buffer(capacity: Self.bufferCapacity)
        }
        if let suffix { buffer.writeStaticString(suffix) }
        self.pending = buffer
    }

    func writeEnd(_ trailers: HTTPHeaders?, thenClose: Bool) {
        var buffer = self.takePending()
        self.encoder.writeEnd(trailers, into: &buffer)
        if thenClose {
            // Written even when empty: the close waits for everything before it.
            self.writeAndClose(buffer)
            return
        }
        self.unflushed = false
        if buffer.readableBytes > 0 {
            self.emitAndFlush(buffer)
        } else {
            self.flushOut()
        }
        self.spareBuffer.keep(buffer)
    }

    func flush() {
        if let pending = self.pending {
            self.pending = nil
            self.unflushed = false
            self.emitAndFlush(pending)
            return
        }
        guard self.unflushed else { return }
        self.unflushed = false
        self.flushOut()
    }

    /// Closes the connection. Bytes not flushed are dropped, as the channel drops writes
    /// not flushed when it closes: a response cut off stays cut off.
    func close() {
        self.pending = nil
        self.unflushed = false
        if let context {
            context.close(promise: nil)
            return
        }
        #if canImport(Glibc)
            self.socket?.close()
        #endif
    }

    /// The bytes waiting to be written, or a new buffer, to append to.
    private func takePending() -> ByteBuffer {
        guard let pending = self.pending else {
            return self.spareBuffer.take(capacity: Self.bufferCapacity, allocator: self.allocator)
        }
        self.pending = nil
        return pending
    }
}
