import NIOCore

/// Between TLS and `NIOHTTP2Handler` on an HTTP/2 connection: the frames written during one
/// event-loop tick leave as one buffer and one flush, at the end of the tick.
///
/// `NIOHTTP2Handler` writes every frame as its own buffer (a DATA frame as two: its header,
/// then the payload), and every stream's response ends with a flush of its own: without this
/// handler each of those buffers becomes a TLS record and each response a `write` call. Here
/// small buffers are copied into one that is reused, and a flush only marks the connection:
/// the real flush runs once the event loop has handled the I/O that woke it, so the responses
/// of all streams finished in that wake-up go out together. Large buffers (body chunks) pass
/// through without a copy, in order.
final class HTTP2WriteCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    /// Buffers at least this large are forwarded as they are rather than copied.
    static let copyLimit = 4 * 1024
    static let initialCapacity = 1024

    /// Bytes written and not yet passed on; reused after each flush (TLS has encrypted them by then).
    private var buffer: ByteBuffer?
    /// A flush was asked for and is scheduled for the end of the tick.
    private var flushScheduled = false
    /// Promises of the writes gathered in `buffer`.
    private var promises: [EventLoopPromise<Void>] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .byteBuffer(let bytes) = HTTP2WriteCoalescer.unwrapOutboundIn(data), bytes.readableBytes > 0,
            bytes.readableBytes < Self.copyLimit
        else {
            self.passOn(context: context)
            context.write(data, promise: promise)
            return
        }
        if self.buffer == nil {
            self.buffer = context.channel.allocator.buffer(capacity: max(Self.initialCapacity, bytes.readableBytes))
        }
        self.buffer!.writeImmutableBuffer(bytes)
        // Completed when the gathered bytes are written (the stream channels wait for their last frame).
        if let promise {
            self.promises.append(promise)
        }
    }

    func flush(context: ChannelHandlerContext) {
        guard !self.flushScheduled else { return }
        // Nothing gathered (the HTTP/2 handler flushes after every read): no task to schedule.
        guard let buffer = self.buffer, buffer.readableBytes > 0 else {
            context.flush()
            return
        }
        self.flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.flushNow(context: context)
        }
    }

    /// Nothing written before a close is lost: a GOAWAY goes out before the connection ends.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        self.flushNow(context: context)
        context.close(mode: mode, promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.passOn(context: context)
        context.flush()
    }

    private func flushNow(context: ChannelHandlerContext) {
        self.flushScheduled = false
        self.passOn(context: context)
        context.flush()
        // TLS encrypted the bytes during the flush and let go of them: the buffer is ours again.
        self.buffer?.clear()
    }

    /// Forwards the bytes gathered so far as one write, completing their writers' promises with it.
    private func passOn(context: ChannelHandlerContext) {
        guard let buffer = self.buffer, buffer.readableBytes > 0 else { return }
        var promise: EventLoopPromise<Void>?
        switch self.promises.count {
        case 0:
            break
        case 1:
            promise = self.promises[0]
        default:
            let waiting = self.promises
            let combined = context.eventLoop.makePromise(of: Void.self)
            combined.futureResult.whenComplete { result in
                for each in waiting { each.completeWith(result) }
            }
            promise = combined
        }
        self.promises.removeAll(keepingCapacity: true)
        context.write(HTTP2WriteCoalescer.wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
        self.buffer!.moveReaderIndex(forwardBy: buffer.readableBytes)
    }
}

@available(*, unavailable)
extension HTTP2WriteCoalescer: Sendable {}
