import NIOCore
import NIOHTTP1
import NIOHTTP2

/// The top of an HTTP/2 connection's pipeline, above `HTTP2ServerConnection`: it
/// hands each stream's frames to that stream's `HTTP2ServerStream` and its proxy handler.
///
/// A stream is an object in a dictionary, not a child channel: no pipeline, contexts,
/// activation or close futures per request. What the multiplexer's child channels did for
/// free is done here: the inbound flow-control windows are returned (a stream's only while
/// its reads are on, the upload backpressure), and a stream whose response cannot leave
/// reports itself not writable, so its proxy handler stops reading from the replica.
///
/// It also ends the connection: after `idleTimeout` without an open stream, or when the
/// router drains (`ChannelShouldQuiesceEvent`), gracefully, as RFC 9113 §6.8 asks: a GOAWAY
/// naming the highest stream ID and a PING; once the PING comes back, a GOAWAY naming the last
/// stream the client opened; the connection closes when its streams are done, or after
/// `graceTime`. (swift-nio-http2's `NIOHTTP2ServerConnectionManagementHandler` did this from
/// the HTTP/2 handler's stream events: a handler more on every frame, event and write, about
/// 5 % of an h2 request's instructions. The stream count it kept is `streams` here.)
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

    /// How long the connection may go without an open stream.
    private let idleTimeout: TimeAmount
    /// How long a graceful close waits for the streams in flight.
    private let graceTime: TimeAmount
    /// Since when no stream has been open; nil while one is.
    private var idleSince: NIODeadline?
    /// The highest stream ID the client opened.
    private var lastStreamID = HTTP2StreamID.rootStream
    private var shutdown = Shutdown.none

    private enum Shutdown {
        case none
        /// GOAWAY with the highest possible stream ID and a PING went out; `graceEnds` is
        /// when the connection closes whatever is still open.
        case announced(graceEnds: NIODeadline)
        /// The PING came back and the last GOAWAY went out: new streams are refused.
        case draining(graceEnds: NIODeadline)
        case closing
    }

    /// The PING of a graceful close; the client sends it back.
    private static let shutdownPing = HTTP2PingData(withInteger: 0x7961_7264_2d67_6f6e)

    init(
        connectionInfo: ClientConnectionInfo,
        idleTimeout: TimeAmount,
        graceTime: TimeAmount,
        makeProxyHandler: @escaping (TimeAmount?) -> ProxyServerHandler
    ) {
        self.connectionInfo = connectionInfo
        self.idleTimeout = idleTimeout
        self.graceTime = graceTime
        self.makeProxyHandler = makeProxyHandler
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Added once the handshake chose h2: the connection is open, with no stream yet.
        self.becameIdle(now: .now())
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
                // The connection passes a header block on a stream it does not know only for
                // a new stream the client may open.
                let handler = self.makeProxyHandler(nil)
                let stream = HTTP2ServerStream(id: frame.streamID, context: context, demultiplexer: self, handler: handler)
                self.streams[frame.streamID] = stream
                self.idleSince = nil
                if frame.streamID > self.lastStreamID { self.lastStreamID = frame.streamID }
                handler.attach(stream, info: self.connectionInfo)
                stream.received(frame.payload)
            }
        case .data:
            self.streams[frame.streamID]?.received(frame.payload)
        case .ping(let data, ack: true) where data == Self.shutdownPing:
            self.shutdownPingReturned(context: context)
        default:
            // RST_STREAM comes back as `StreamClosedEvent`; the connection's other frames are
            // the connection's (it answers PINGs and SETTINGS itself).
            break
        }
    }

    /// A malformed request, refused with a reset: at debug level, as an HTTP/1.1 one is.
    func logRefusal(_ refusal: HTTP2StreamCodec.Refusal, stream: HTTP2StreamID) {
        self.connectionInfo.logger.debug(
            "client sent a malformed HTTP/2 request; its stream is reset",
            metadata: ["reason": "\(refusal)", "http2.stream": "\(stream)"])
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
                if self.streams.isEmpty { self.lastStreamClosed(context: context) }
            }
        } else if type == ChannelShouldQuiesceEvent.self {
            self.beginShutdown(context: context)
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
    /// stream that closed since it armed just leaves nothing due), or the connection's own.
    private func timerFired() {
        let now = NIODeadline.now()
        for stream in Array(self.streams.values) {
            stream.timerFired(now: now)
        }
        var next = self.connectionDeadline
        if let due = next, due <= now, let context {
            switch self.shutdown {
            case .none: self.beginShutdown(context: context)
            case .announced, .draining: self.closeNextTick(context: context)
            case .closing: break
            }
            next = self.connectionDeadline
        }
        for stream in self.streams.values {
            if let deadline = stream.timerDeadline, deadline < (next ?? .distantFuture) { next = deadline }
        }
        if let next, next < (self.timerDeadline ?? .distantFuture) {
            self.scheduleTimer(next)
        }
    }

    // MARK: The connection's lifetime

    /// When the connection itself has something due: its idle limit, or the end of a
    /// graceful close's grace time.
    private var connectionDeadline: NIODeadline? {
        switch self.shutdown {
        case .none: self.idleSince.map { $0 + self.idleTimeout }
        case .announced(let graceEnds), .draining(let graceEnds): graceEnds
        case .closing: nil
        }
    }

    /// No stream is open from `now` on. A timer already armed sooner (a closed stream's)
    /// finds the idle deadline when it fires: the usual request arms nothing here.
    private func becameIdle(now: NIODeadline) {
        self.idleSince = now
        self.streamTimerArmed(now + self.idleTimeout)
    }

    private func lastStreamClosed(context: ChannelHandlerContext) {
        switch self.shutdown {
        case .none: self.becameIdle(now: .now())
        case .draining: self.closeNextTick(context: context)
        // The client may still open streams until the PING comes back.
        case .announced, .closing: break
        }
    }

    /// Idle too long, or the router drains: GOAWAY naming the highest possible stream ID (the
    /// client opens no more, and streams it opened meanwhile are still served) and a PING, so
    /// that the last GOAWAY, once the PING is back, can name the last stream the client opened.
    private func beginShutdown(context: ChannelHandlerContext) {
        guard case .none = self.shutdown else { return }
        let graceEnds = NIODeadline.now() + self.graceTime
        self.shutdown = .announced(graceEnds: graceEnds)
        self.streamTimerArmed(graceEnds)
        self.writeGoAway(lastStreamID: .maxID, context: context)
        context.write(HTTP2StreamDemultiplexer.wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .ping(Self.shutdownPing, ack: false))), promise: nil)
        self.flushNowOrAfterRead(context: context)
    }

    private func shutdownPingReturned(context: ChannelHandlerContext) {
        guard case .announced(let graceEnds) = self.shutdown else { return }
        self.shutdown = .draining(graceEnds: graceEnds)
        self.writeGoAway(lastStreamID: self.lastStreamID, context: context)
        self.flushNowOrAfterRead(context: context)
        if self.streams.isEmpty { self.closeNextTick(context: context) }
    }

    private func writeGoAway(lastStreamID: HTTP2StreamID, context: ChannelHandlerContext) {
        let goAway = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: lastStreamID, errorCode: .noError, opaqueData: nil))
        context.write(HTTP2StreamDemultiplexer.wrapOutboundOut(goAway), promise: nil)
    }

    /// Closes on the next tick: the frame that closed the last stream was written, and the
    /// connection sends it when it is flushed, after the event that said the stream closed.
    private func closeNextTick(context: ChannelHandlerContext) {
        guard !self.isClosing else { return }
        self.shutdown = .closing
        let loopBound = context.loopBound
        context.eventLoop.execute {
            loopBound.value.flush()
            loopBound.value.close(promise: nil)
        }
    }

    private var isClosing: Bool {
        if case .closing = self.shutdown { return true }
        return false
    }

    /// A stream's flush: during a read of the connection, once at its end.
    func flushConnection() {
        guard let context else { return }
        self.flushNowOrAfterRead(context: context)
    }

    private func flushNowOrAfterRead(context: ChannelHandlerContext) {
        if self.inRead {
            self.needsFlush = true
        } else {
            context.flush()
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
        self.flushNowOrAfterRead(context: context)
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
    /// The stream's inbound window as the connection last reported it.
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
        case .refused(let refusal):
            self.demultiplexer.logRefusal(refusal, stream: self.id)
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
        self.demultiplexer.flushConnection()
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

    /// Writes a frame for this stream; none once it is closed (the connection fails the write
    /// of a stream it no longer knows).
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
        self.demultiplexer.flushConnection()
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
