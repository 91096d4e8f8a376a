import NIOCore
import NIOHTTP1

#if canImport(Glibc)
    import Glibc
#endif

/// Receives what happens on a leased upstream connection. Implemented by the client
/// connection's handler; both live on the same event loop.
protocol UpstreamResponseReceiver: AnyObject {
    func upstreamReceived(_ part: HTTPClientResponsePart)
    func upstreamReadComplete()
    func upstreamWritabilityChanged(isWritable: Bool)
    /// The connection closed or failed; `reason` says why, for logs.
    func upstreamClosed(reason: String)
}

/// The handler of an upstream connection: parses the replica's responses from the bytes read
/// (`UpstreamResponseParser`) and relays their parts to the client connection that leased it,
/// and writes requests upstream as bytes it serializes itself (`UpstreamRequestEncoder`), so
/// no other handler sits between it and the socket.
///
/// Either the one handler of a NIO channel's pipeline, or the delegate of a socket on the
/// router's own event loop (`attach(to:)`, `SocketUpstreamConnection`): the HTTP work is the
/// same, only where the bytes go differs.
final class UpstreamConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = IOData

    /// The client connection using this connection, nil while it sits in the pool.
    var receiver: (any UpstreamResponseReceiver)?
    private var context: ChannelHandlerContext?
    /// The socket, on the router's own loop (then `context` is nil).
    private var socket: SocketConnection?
    /// On a socket: told once the connect is done (nil) or failed (why).
    var socketConnected: ((SocketError?) -> Void)?
    private var closeReason: String?
    private var encoder = UpstreamRequestEncoder()
    private var parser = UpstreamResponseParser()
    /// Bytes read and not parsed yet: part of a head or of a chunk-size line, or, after a
    /// 101, the tunnel's first bytes (passed on when this handler leaves the pipeline).
    private var unparsed: ByteBuffer?
    /// A read loop is running: a read that arrives meanwhile (from a part's receiver) only
    /// appends its bytes.
    private var parsing = false
    private var inputClosed = false
    /// The head being relayed as it came, while its receiver handles it (see
    /// `UpstreamResponseParser.ReceivedHead`); nil otherwise, so the read buffer is not held.
    private(set) var receivedHead: UpstreamResponseParser.ReceivedHead?
    /// The event loop's spare buffer, which a request's head is written into.
    private let spareBuffer: SpareWriteBuffer
    /// The channel's, read once (see `HTTP1ClientSide.allocator`).
    private var allocator = ByteBufferAllocator()

    init(spareBuffer: SpareWriteBuffer = SpareWriteBuffer()) {
        self.spareBuffer = spareBuffer
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.allocator = context.channel.allocator
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Works on `socket` (connecting, on an `EpollEventLoop`) instead of a channel.
    func attach(to socket: SocketConnection) {
        self.socket = socket
        self.allocator = socket.loop.allocator
    }

    // MARK: - Bytes out, to the channel or the socket

    private func emit(_ buffer: ByteBuffer) {
        if let context {
            context.write(UpstreamConnectionHandler.wrapOutboundOut(.byteBuffer(buffer)), promise: nil)
        } else {
            self.socket?.write(buffer)
        }
    }

    private func emitAndFlush(_ buffer: ByteBuffer) {
        if let context {
            // One walk down the pipeline for the write and its flush.
            context.writeAndFlush(UpstreamConnectionHandler.wrapOutboundOut(.byteBuffer(buffer)), promise: nil)
        } else {
            self.socket?.writeAndFlush(buffer)
        }
    }

    private var isAttached: Bool { self.context != nil || self.socket != nil }

    /// Leaving after an upgrade: the bytes that came with the 101 go to the tunnel's handler,
    /// as a read of their own (its end is when the tunnel flushes them to the client).
    func removeHandler(context: ChannelHandlerContext, removalToken: ChannelHandlerContext.RemovalToken) {
        if let unparsed = self.unparsed, unparsed.readableBytes > 0 {
            self.unparsed = nil
            context.fireChannelRead(UpstreamConnectionHandler.wrapInboundOut(unparsed))
            context.fireChannelReadComplete()
        }
        context.leavePipeline(removalToken: removalToken)
    }

    /// Writes request parts and flushes them; the head, framing and the end share one
    /// buffer (a request without a body is one write).
    func send(_ outgoing: ProxyConnectionStateMachine.Outgoing) {
        guard self.isAttached else { return }
        var pending = self.spareBuffer.take(capacity: 256, allocator: self.allocator)
        // The parser must know the method to frame the response (none after HEAD).
        let request = outgoing.request
        self.parser.expectResponse(to: request.head.method)
        self.encoder.writeHead(request.head, forwarding: request.forwarding, framing: request.framing, into: &pending)
        for body in outgoing.body {
            self.encode(.body(.byteBuffer(body)), pending: &pending)
        }
        if outgoing.end {
            self.encode(.end(nil), pending: &pending)
        }
        if pending.readableBytes > 0 {
            self.emitAndFlush(pending)
        } else {
            self.flush()
        }
        self.spareBuffer.keep(pending)
    }

    /// Writes one request part without flushing; `flush()` follows at the end of a read burst.
    /// Returns whether anything was written (the end of a request with a length writes
    /// nothing, and then there is nothing to flush).
    @discardableResult
    func write(_ part: HTTPClientRequestPart) -> Bool {
        guard self.isAttached else { return false }
        if !self.encoder.isChunked {
            switch part {
            case .body(let body):
                // A body part of a request with a length goes out as it came: nothing to add.
                guard case .byteBuffer(let buffer) = body, buffer.readableBytes > 0 else {
                    return self.writeFile(body)
                }
                self.emit(buffer)
                return true
            case .end:
                // Nothing marks the end of such a request: no buffer to allocate.
                return false
            case .head:
                break
            }
        }
        var pending = self.allocator.buffer(capacity: 16)
        self.encode(part, pending: &pending)
        if pending.readableBytes > 0 {
            self.emit(pending)
        }
        // A body part is written by `encode` itself even when `pending` stays empty.
        return true
    }

    func flush() {
        if let context {
            context.flush()
        } else {
            self.socket?.flush()
        }
    }

    /// A body part that is not bytes in memory (never from the router's parsers): written
    /// as it is to a channel; a socket takes only bytes.
    private func writeFile(_ body: IOData) -> Bool {
        guard case .fileRegion = body, let context else { return false }
        context.write(UpstreamConnectionHandler.wrapOutboundOut(body), promise: nil)
        return true
    }

    /// Appends `part`'s bytes to `pending`; a body part's own buffer is written as it is
    /// (after what is pending), not copied.
    private func encode(_ part: HTTPClientRequestPart, pending: inout ByteBuffer) {
        switch part {
        case .head(let head):
            // The parser must know the method to frame the response (none after HEAD).
            self.parser.expectResponse(to: head.method)
            self.encoder.writeHead(head, into: &pending)
        case .body(let body):
            guard self.encoder.writeBodyPrefix(length: body.readableBytes, into: &pending) else { return }
            if pending.readableBytes > 0 {
                self.emit(pending)
                // Consumed without touching the storage the write still holds.
                pending.moveReaderIndex(to: pending.writerIndex)
            }
            if case .byteBuffer(let buffer) = body {
                self.emit(buffer)
            } else {
                _ = self.writeFile(body)
            }
            self.encoder.writeBodySuffix(into: &pending)
        case .end(let trailers):
            self.encoder.writeEnd(trailers, into: &pending)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // By name, not `Self`, so it is specialized (see `ProxyServerHandler.channelRead`).
        self.bytesRead(UpstreamConnectionHandler.unwrapInboundIn(data))
    }

    /// Parses what was read and hands each whole response part to the receiver.
    private func bytesRead(_ bytes: ByteBuffer) {
        self.unparsed.appendRead(bytes)
        if self.parsing || self.parser.isDone { return }
        guard self.receiver != nil else {
            // An idle pooled connection must stay silent; anything else means it is unusable.
            self.fail("the upstream sent data on an idle connection")
            return
        }
        self.parsing = true
        defer { self.parsing = false }
        while !self.inputClosed {
            let part: HTTPClientResponsePart?
            if let end = self.parser.dueEnd() {
                part = end
            } else if var buffer = self.unparsed {
                self.unparsed = nil
                do {
                    part = try self.parser.next(&buffer)
                } catch {
                    self.fail("the upstream sent a malformed response: \(error)")
                    return
                }
                if buffer.readableBytes > 0 { self.unparsed = buffer }
            } else {
                return
            }
            guard let part else { return }
            guard let receiver = self.receiver else {
                self.fail("the upstream sent data on an idle connection")
                return
            }
            self.receivedHead = self.parser.takeReceivedHead()
            receiver.upstreamReceived(part)
            self.receivedHead = nil
        }
    }

    private func fail(_ reason: String) {
        self.unparsed = nil
        if self.closeReason == nil { self.closeReason = reason }
        if let context {
            context.close(promise: nil)
        } else {
            self.socket?.close()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.receiver?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.receiver?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.closed()
    }

    /// The connection closed: a body delimited by the close ends, the receiver is told.
    private func closed() {
        self.inputClosed = true
        // A body delimited by the close ends here; a response cut short is a failure.
        if let receiver = self.receiver {
            do {
                if let end = try self.parser.inputEnded(unparsed: self.unparsed?.readableBytes ?? 0) {
                    receiver.upstreamReceived(end)
                }
            } catch {
                if self.closeReason == nil { self.closeReason = "\(error)" }
            }
        }
        // After a 101 the bytes that came with it are the tunnel's: kept for the handover
        // (`takeBytesAfterUpgrade`), which may come after a replica that closed at once.
        if !self.parser.isDone { self.unparsed = nil }
        let receiver = self.receiver
        self.receiver = nil
        receiver?.upstreamClosed(reason: self.closeReason ?? "the upstream closed the connection")
    }

    /// After a 101: the bytes that came after it and were not passed on, taken.
    func takeBytesAfterUpgrade() -> ByteBuffer? {
        guard self.parser.isDone else { return nil }
        return self.unparsed.take()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // I/O errors leave the connection in an unknown state.
        if self.closeReason == nil {
            self.closeReason = "upstream connection error: \(error)"
        }
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension UpstreamConnectionHandler: Sendable {}

/// A connection to one upstream, as leased from the pool: what the proxy handler and the pool
/// do to it, whatever carries its bytes. A class, made once per connection: a lease, the
/// proxy handler and the pool's idle list pass it around as one reference (as a struct,
/// each copy retained two strings, the channel and the handler: about 2,000 instructions per
/// request). Subclassed per transport: `ChannelUpstreamConnection` on NIO's loops.
class UpstreamConnection {
    let upstream: Upstream
    /// The pool's record of this connection's upstream (set and read only by
    /// `UpstreamConnectionPool`, which keeps it while the connection is open), so that a
    /// release needs no look-up by upstream.
    var poolEntry: AnyObject?

    init(upstream: Upstream) {
        self.upstream = upstream
    }

    /// The client connection using this connection, nil while it sits in the pool.
    var receiver: (any UpstreamResponseReceiver)? {
        get { fatalError("\(Self.self) does not implement receiver") }
        set { fatalError("\(Self.self) does not implement receiver") }
    }

    /// The head being relayed as it came, while its receiver handles it.
    var receivedHead: UpstreamResponseParser.ReceivedHead? { nil }

    /// The connection takes more writes without queueing past its high watermark.
    var isWritable: Bool { fatalError("\(Self.self) does not implement isWritable") }

    /// Open: not closed by either side.
    var isActive: Bool { fatalError("\(Self.self) does not implement isActive") }

    /// Writes a request's head and what of it is known and flushes (`UpstreamConnectionHandler.send`).
    func send(_ outgoing: ProxyConnectionStateMachine.Outgoing) {
        fatalError("\(Self.self) does not implement send")
    }

    /// Writes one request part without flushing; whether anything was written.
    @discardableResult
    func write(_ part: HTTPClientRequestPart) -> Bool {
        fatalError("\(Self.self) does not implement write")
    }

    func flush() {
        fatalError("\(Self.self) does not implement flush")
    }

    /// Reads on or off (the client fell behind).
    func setReads(_ enabled: Bool) {
        fatalError("\(Self.self) does not implement setReads")
    }

    func close() {
        fatalError("\(Self.self) does not implement close")
    }

    /// Calls `callback` once, on the connection's loop, when it has closed.
    func whenClosed(_ callback: @escaping () -> Void) {
        fatalError("\(Self.self) does not implement whenClosed")
    }
}

/// An upstream connection on one of NIO's loops: a channel whose one handler is an
/// `UpstreamConnectionHandler`.
final class ChannelUpstreamConnection: UpstreamConnection {
    let channel: any Channel
    let handler: UpstreamConnectionHandler

    init(upstream: Upstream, channel: any Channel, handler: UpstreamConnectionHandler) {
        self.channel = channel
        self.handler = handler
        super.init(upstream: upstream)
    }

    override var receiver: (any UpstreamResponseReceiver)? {
        get { self.handler.receiver }
        set { self.handler.receiver = newValue }
    }

    override var receivedHead: UpstreamResponseParser.ReceivedHead? { self.handler.receivedHead }
    override var isWritable: Bool { self.channel.isWritable }
    override var isActive: Bool { self.channel.isActive }

    override func send(_ outgoing: ProxyConnectionStateMachine.Outgoing) {
        self.handler.send(outgoing)
    }

    @discardableResult
    override func write(_ part: HTTPClientRequestPart) -> Bool {
        self.handler.write(part)
    }

    override func flush() {
        self.handler.flush()
    }

    override func setReads(_ enabled: Bool) {
        ProxyServerHandler.setAutoRead(self.channel, enabled)
    }

    override func close() {
        self.channel.close(promise: nil)
    }

    override func whenClosed(_ callback: @escaping () -> Void) {
        self.channel.closeFuture.assumeIsolated().whenComplete { _ in callback() }
    }
}

#if canImport(Glibc)
    extension UpstreamConnectionHandler: SocketConnectionDelegate {
        /// The connect took too long: the lease fails with `error`, and the socket closes.
        func abandonConnect(_ error: SocketError) {
            guard let connected = self.socketConnected, let socket = self.socket else { return }
            self.socketConnected = nil
            connected(error)
            socket.close()
        }

        func connectionEstablished(_ connection: SocketConnection) {
            let connected = self.socketConnected
            self.socketConnected = nil
            connected?(nil)
        }

        func connectionRead(_ connection: SocketConnection, _ bytes: ByteBuffer) {
            self.bytesRead(bytes)
            self.receiver?.upstreamReadComplete()
        }

        /// The replica stopped sending: the connection is done, as a channel without
        /// half-closure closes at the end of its input.
        func connectionInputEnded(_ connection: SocketConnection) {
            connection.close()
        }

        func connectionWritabilityChanged(_ connection: SocketConnection) {
            self.receiver?.upstreamWritabilityChanged(isWritable: connection.isWritable)
        }

        func connectionClosed(_ connection: SocketConnection, error: SocketError?) {
            self.socket = nil
            if let connected = self.socketConnected {
                // It never connected: the lease fails, no receiver has it.
                self.socketConnected = nil
                connected(error ?? SocketError.system("connect", ECONNREFUSED))
                return
            }
            if let error, self.closeReason == nil { self.closeReason = "upstream connection error: \(error)" }
            self.closed()
        }
    }

    /// An upstream connection on the router's own event loop: a socket whose delegate is an
    /// `UpstreamConnectionHandler`.
    final class SocketUpstreamConnection: UpstreamConnection {
        let socket: SocketConnection
        let handler: UpstreamConnectionHandler

        init(upstream: Upstream, socket: SocketConnection, handler: UpstreamConnectionHandler) {
            self.socket = socket
            self.handler = handler
            super.init(upstream: upstream)
        }

        /// Starts connecting to `address` on `loop`; the future has the connection once it is
        /// up, or fails with why (refused, or `timeout` passed).
        static func connect(
            to upstream: Upstream,
            address: SocketAddress,
            loop: EpollEventLoop,
            timeout: TimeAmount,
            spareBuffer: SpareWriteBuffer
        ) -> EventLoopFuture<UpstreamConnection> {
            let handler = UpstreamConnectionHandler(spareBuffer: spareBuffer)
            let socket: SocketConnection
            do {
                socket = try SocketConnection.connect(to: address, loop: loop, delegate: handler)
            } catch {
                return loop.makeFailedFuture(error)
            }
            handler.attach(to: socket)
            let connection = SocketUpstreamConnection(upstream: upstream, socket: socket, handler: handler)
            let promise = loop.makePromise(of: UpstreamConnection.self)
            let timer = loop.assumeIsolated().scheduleTask(in: timeout) {
                handler.abandonConnect(SocketError.system("connect", ETIMEDOUT))
            }
            handler.socketConnected = { error in
                timer.cancel()
                if let error {
                    promise.fail(error)
                } else {
                    promise.assumeIsolated().succeed(connection)
                }
            }
            return promise.futureResult
        }

        override var receiver: (any UpstreamResponseReceiver)? {
            get { self.handler.receiver }
            set { self.handler.receiver = newValue }
        }

        override var receivedHead: UpstreamResponseParser.ReceivedHead? { self.handler.receivedHead }
        override var isWritable: Bool { self.socket.isWritable }
        override var isActive: Bool { self.socket.isOpen }

        override func send(_ outgoing: ProxyConnectionStateMachine.Outgoing) {
            self.handler.send(outgoing)
        }

        @discardableResult
        override func write(_ part: HTTPClientRequestPart) -> Bool {
            self.handler.write(part)
        }

        override func flush() {
            self.handler.flush()
        }

        override func setReads(_ enabled: Bool) {
            self.socket.readsEnabled = enabled
        }

        override func close() {
            self.socket.close()
        }

        override func whenClosed(_ callback: @escaping () -> Void) {
            self.socket.whenClosed(callback)
        }
    }
#endif
