import NIOCore
import NIOHTTP1
import NIOHTTP2

/// The top of an HTTP/2 connection's pipeline, above `NIOHTTP2Handler` in frame mode: it
/// hands each stream's frames to that stream's `HTTP2ServerStream` and its proxy handler.
///
/// A stream is an object in a dictionary, not a child channel: no pipeline, contexts,
/// activation or close futures per request. What the multiplexer's child channels did for
/// free is done here: the inbound flow-control windows are returned (a stream's only while
/// its reads are on, the upload backpressure), and a stream whose response cannot leave
/// reports itself not writable, so its proxy handler stops reading from the replica.
final class HTTP2StreamDemultiplexer: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    /// The inbound window of the connection and of every stream: the HTTP/2 default, which the
    /// router's settings keep (RFC 9113 §6.9.2). A window is topped up once half of it is used.
    static let targetWindow = 65_535

    private let makeProxyHandler: (TimeAmount?) -> ProxyServerHandler
    private let connectionInfo: ClientConnectionInfo
    private var streams: [HTTP2StreamID: HTTP2ServerStream] = [:]
    /// Streams that were handed something during this read, told when it completes.
    private var readStreams: [HTTP2ServerStream] = []
    private var inRead = false
    /// A window update was written during the read: flushed when it completes.
    private var needsFlush = false
    private var context: ChannelHandlerContext?
    /// One timer for the deadlines of all streams (their proxy handlers' idle, response-head
    /// and request-duration limits), armed for the earliest: a stream schedules none of its own.
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?

    init(
        connectionInfo: ClientConnectionInfo,
        makeProxyHandler: @escaping (TimeAmount?) -> ProxyServerHandler
    ) {
        self.connectionInfo = connectionInfo
        self.makeProxyHandler = makeProxyHandler
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.closeAllStreams()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.inRead = true
        // By name, not `Self`, so it is specialized (see `ProxyServerHandler.channelRead`).
        let frame = HTTP2StreamDemultiplexer.unwrapInboundIn(data)
        switch frame.payload {
        case .headers:
            if let stream = self.streams[frame.streamID] {
                stream.received(frame.payload)
            } else {
                // The HTTP/2 handler passes a header block on a stream it does not know only for
                // a new stream the client may open.
                let handler = self.makeProxyHandler(nil)
                let stream = HTTP2ServerStream(id: frame.streamID, context: context, demultiplexer: self, handler: handler)
                self.streams[frame.streamID] = stream
                handler.attach(stream, info: self.connectionInfo)
                stream.received(frame.payload)
            }
        case .data:
            self.streams[frame.streamID]?.received(frame.payload)
        default:
            // RST_STREAM comes back as `StreamClosedEvent`; the connection's frames are the
            // HTTP/2 handler's and the connection manager's.
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.inRead = false
        if !self.readStreams.isEmpty {
            let streams = self.readStreams
            self.readStreams.removeAll(keepingCapacity: true)
            for stream in streams {
                stream.readComplete()
            }
        }
        if self.needsFlush {
            self.needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The event's type is compared first, and only the one it is cast to: a cast from
        // `Any` costs about 300 instructions, failed or not, and several events a request
        // (stream created, windows updated, stream closed) come through here.
        let type = Swift.type(of: event)
        if type == StreamClosedEvent.self, let closed = event as? StreamClosedEvent {
            if let stream = self.streams.removeValue(forKey: closed.streamID) {
                stream.closed()
            }
        } else if type == NIOHTTP2WindowUpdatedEvent.self, let updated = event as? NIOHTTP2WindowUpdatedEvent,
            let window = updated.inboundWindowSize
        {
            if updated.streamID == .rootStream {
                // The connection's window is returned as data arrives, whoever it was for (also
                // frames for streams already reset, which count against it all the same).
                self.topUp(.rootStream, window: window)
            } else {
                self.streams[updated.streamID]?.inboundWindowChanged(window)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        for stream in Array(self.streams.values) {
            stream.writabilityChanged()
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.closeAllStreams()
        context.fireChannelInactive()
    }

    private func closeAllStreams() {
        self.timer?.cancel()
        self.timer = nil
        self.timerDeadline = nil
        let streams = self.streams.values
        self.streams.removeAll()
        for stream in streams {
            stream.closed()
        }
    }

    /// A stream's deadline: the timer fires by then.
    func streamTimerArmed(_ deadline: NIODeadline) {
        if let armed = self.timerDeadline, armed <= deadline { return }
        self.scheduleTimer(deadline)
    }

    private func scheduleTimer(_ deadline: NIODeadline) {
        guard let context else { return }
        self.timer?.cancel()
        self.timerDeadline = deadline
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.timer = nil
            self.timerDeadline = nil
            self.timerFired()
        }
    }

    /// Tells the streams whose deadline passed, then re-arms for the earliest one left (a
    /// stream that closed since it armed just leaves nothing due).
    private func timerFired() {
        let now = NIODeadline.now()
        for stream in Array(self.streams.values) {
            stream.timerFired(now: now)
        }
        var next: NIODeadline?
        for stream in self.streams.values {
            if let deadline = stream.timerDeadline, deadline < (next ?? .distantFuture) { next = deadline }
        }
        if let next, next < (self.timerDeadline ?? .distantFuture) {
            self.scheduleTimer(next)
        }
    }

    /// Notes that `stream` was handed something in this read.
    func streamRead(_ stream: HTTP2ServerStream) {
        self.readStreams.append(stream)
    }

    /// Writes a WINDOW_UPDATE when `window` has fallen to half the target or below.
    func topUp(_ streamID: HTTP2StreamID, window: Int) {
        guard window <= Self.targetWindow / 2, let context else { return }
        let frame = HTTP2Frame(streamID: streamID, payload: .windowUpdate(windowSizeIncrement: Self.targetWindow - window))
        context.write(HTTP2StreamDemultiplexer.wrapOutboundOut(frame), promise: nil)
        if self.inRead {
            self.needsFlush = true
        } else {
            context.flush()
        }
    }
}

@available(*, unavailable)
extension HTTP2StreamDemultiplexer: Sendable {}

/// One HTTP/2 stream of a connection, and the client end of its proxy handler: its request
/// frames become HTTP/1 parts (`HTTP2StreamCodec`), the handler's response becomes frames
/// written for its stream ID on the connection's context.
final class HTTP2ServerStream: ProxyClientSide {
    /// A response with this many bytes written and not yet sent (held back by flow control or
    /// a slow connection) makes the stream not writable; it is writable again below the low mark.
    static let highWatermark = 64 * 1024
    static let lowWatermark = 32 * 1024
    /// How often (in body bytes) a write carries a promise that tells when it has been sent:
    /// a small response carries none.
    static let checkpointInterval = 16 * 1024

    let id: HTTP2StreamID
    private let context: ChannelHandlerContext
    private unowned let demultiplexer: HTTP2StreamDemultiplexer
    /// Nil once the stream is closed: the handler is told once, and the cycle between the two ends.
    private var handler: ProxyServerHandler?
    private var codec = HTTP2StreamCodec()
    private var isClosed = false
    /// Whether the handler wants the request's body (its reads are on).
    private var readsOn = true
    /// The stream's inbound window as the HTTP/2 handler last reported it.
    private var inboundWindow: Int?
    /// The request's end arrived: nothing more may, so no window is returned.
    private var requestEnded = false
    private var inReadBatch = false
    /// Response body bytes written, and those known to have been sent.
    private var bytesWritten = 0
    private var bytesSent = 0
    private var lastCheckpoint = 0
    private var writesBlocked = false
    /// The proxy handler's next deadline, kept by the connection's timer.
    private(set) var timerDeadline: NIODeadline?

    init(id: HTTP2StreamID, context: ChannelHandlerContext, demultiplexer: HTTP2StreamDemultiplexer, handler: ProxyServerHandler) {
        self.id = id
        self.context = context
        self.demultiplexer = demultiplexer
        self.handler = handler
    }

    // MARK: from the connection

    func received(_ payload: HTTP2Frame.FramePayload) {
        guard let handler else { return }
        if !self.inReadBatch {
            self.inReadBatch = true
            self.demultiplexer.streamRead(self)
        }
        switch self.codec.received(payload) {
        case .none:
            break
        case .one(let part):
            self.deliver(part, to: handler)
        case .two(let part, let end):
            self.deliver(part, to: handler)
            // The first may have closed the stream (a refusal answered at once).
            if let handler = self.handler { self.deliver(end, to: handler) }
        case .refused:
            self.reset(.protocolError)
        }
    }

    private func deliver(_ part: HTTPServerRequestPart, to handler: ProxyServerHandler) {
        if case .end = part { self.requestEnded = true }
        handler.clientSent(part)
    }

    func readComplete() {
        self.inReadBatch = false
        self.handler?.clientReadComplete()
    }

    func inboundWindowChanged(_ window: Int) {
        guard !self.isClosed, !self.requestEnded else { return }
        self.inboundWindow = window
        if self.readsOn {
            self.demultiplexer.topUp(self.id, window: window)
        }
    }

    func timerFired(now: NIODeadline) {
        guard let deadline = self.timerDeadline, deadline <= now else { return }
        self.timerDeadline = nil
        self.handler?.sharedTimerFired()
    }

    func writabilityChanged() {
        self.handler?.clientWritabilityChanged()
    }

    /// The stream is gone (both ends done, reset, or the connection closed).
    func closed() {
        guard !self.isClosed else { return }
        self.isClosed = true
        // An error (a boxed allocation) only when some write waits for it.
        self.codec.dropHeld()?.fail(ChannelError.ioOnClosedChannel)
        let handler = self.handler
        self.handler = nil
        handler?.clientClosed()
        handler?.detach()
    }

    // MARK: ProxyClientSide

    var eventLoop: any EventLoop { self.context.eventLoop }
    var allocator: ByteBufferAllocator { self.context.channel.allocator }
    var isWritable: Bool { !self.writesBlocked && self.context.channel.isWritable }

    func requestReceived(method: HTTPMethod) {}

    func writeInformational(_ head: HTTPResponseHead) {
        self.write(.head(head), promise: nil)
        self.flush()
    }

    func writeHead(_ head: HTTPResponseHead) {
        self.write(.head(head), promise: nil)
    }

    /// A stream's head is a HEADERS frame: a head without its fields gets them from the
    /// received bytes straight into the frame's block.
    func writeHead(_ head: HTTPResponseHead, received: UpstreamResponseParser.ReceivedHead) {
        guard received.headLacksFields else {
            self.writeHead(head)
            return
        }
        guard !self.isClosed else { return }
        let block = HTTP2StreamCodec.responseBlock(status: head.status, fieldsOf: received)
        if let frame = self.codec.writeHead(block, promise: nil) { self.emit(frame.payload, promise: frame.promise) }
    }

    func writeBody(_ buffer: ByteBuffer) {
        self.bytesWritten += buffer.readableBytes
        var promise: EventLoopPromise<Void>?
        if self.bytesWritten - self.lastCheckpoint >= Self.checkpointInterval {
            self.lastCheckpoint = self.bytesWritten
            promise = self.checkpoint(self.bytesWritten)
        }
        if self.bytesWritten - self.bytesSent >= Self.highWatermark {
            self.writesBlocked = true
        }
        self.write(.body(.byteBuffer(buffer)), promise: promise)
    }

    func writeEnd(_ trailers: HTTPHeaders?, thenClose: Bool) {
        // The client's request has ended: the response's end closes the stream, and there is
        // nothing to reset (no promise to wait on: about 900 instructions per stream).
        guard thenClose, !self.requestEnded else {
            self.write(.end(trailers), promise: nil)
            self.flush()
            return
        }
        // Closing a stream is resetting it: only once its response has left, and only if the
        // client is still sending (else the response's end closed it).
        let promise = self.context.eventLoop.makePromise(of: Void.self)
        self.write(.end(trailers), promise: promise)
        self.flush()
        promise.futureResult.assumeIsolated().whenComplete { _ in
            self.reset(.cancel)
        }
    }

    func flush() {
        if !self.isClosed, let held = self.codec.flush() {
            self.emit(held.payload, promise: held.promise)
        }
        // Also once closed: the frame that closed the stream (its response's end) still waits for it.
        self.context.flush()
    }

    func close() {
        self.reset(.cancel)
    }

    func armSharedTimer(at deadline: NIODeadline) -> Bool {
        self.timerDeadline = deadline
        self.demultiplexer.streamTimerArmed(deadline)
        return true
    }

    func setAutoRead(_ value: Bool) {
        self.readsOn = value
        if value, let window = self.inboundWindow, !self.isClosed, !self.requestEnded {
            self.demultiplexer.topUp(self.id, window: window)
        }
    }

    // MARK: writing

    private func write(_ part: HTTPServerResponsePart, promise: EventLoopPromise<Void>?) {
        guard !self.isClosed else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let (first, second) = self.codec.write(part, promise: promise, allocator: self.context.channel.allocator)
        if let first { self.emit(first.payload, promise: first.promise) }
        if let second { self.emit(second.payload, promise: second.promise) }
    }

    /// Writes a frame for this stream; none once it is closed (the HTTP/2 handler would take one
    /// for a stream it no longer knows as an error of the whole connection).
    private func emit(_ payload: HTTP2Frame.FramePayload, promise: EventLoopPromise<Void>?) {
        guard !self.isClosed else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        self.context.write(NIOAny(HTTP2Frame(streamID: self.id, payload: payload)), promise: promise)
    }

    /// Ends the stream with RST_STREAM; what was not sent of the response is dropped.
    private func reset(_ code: HTTP2ErrorCode) {
        guard !self.isClosed else { return }
        self.codec.dropHeld()?.fail(ChannelError.ioOnClosedChannel)
        self.emit(.rstStream(code), promise: nil)
        self.context.flush()
    }

    /// A promise completed once the response's first `mark` body bytes have been sent.
    private func checkpoint(_ mark: Int) -> EventLoopPromise<Void> {
        let promise = self.context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.assumeIsolated().whenSuccess {
            self.bytesSent = max(self.bytesSent, mark)
            guard self.writesBlocked, self.bytesWritten - self.bytesSent < Self.lowWatermark else { return }
            self.writesBlocked = false
            self.handler?.clientWritabilityChanged()
        }
        return promise
    }
}

@available(*, unavailable)
extension HTTP2ServerStream: Sendable {}
