import NIOCore
import NIOHTTP1

extension LocalResponse {
    /// The response as bytes, for handlers that sit below the HTTP encoder (or replace it).
    var encoded: ByteBuffer {
        var text = "HTTP/1.1 \(self.status.code) \(self.status.reasonPhrase)\r\n"
        for (name, value) in self.head.headers { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        if !self.omitBody { text += self.body }
        return ByteBuffer(string: text)
    }

    /// A refusal sent before (or instead of) any HTTP parsing: HTTP/1.1, closing.
    static func refusal(_ status: HTTPResponseStatus, _ message: String) -> LocalResponse {
        LocalResponse(status: status, message: message, version: .http1_1, omitBody: false, closeConnection: true)
    }
}

/// Answers a connection the router will not serve (over the per-client limit) with one
/// response and closes it, without reading a request.
final class RefusingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let response: LocalResponse
    private var answered = false

    init(status: HTTPResponseStatus, message: String) {
        self.response = .refusal(status, message)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.answer(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.answer(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Nothing the client sends is read.
    }

    private func answer(_ context: ChannelHandlerContext) {
        guard !self.answered else { return }
        self.answered = true
        let loopBound = context.loopBound
        context.writeAndFlush(NIOAny(self.response.encoded)).assumeIsolated().whenComplete { _ in
            loopBound.value.close(promise: nil)
        }
    }
}

/// The first handler of a client connection: once the first byte of a request arrives,
/// the whole head must follow within `timeout`, or the client gets 408 and the connection
/// closes. This bounds slowloris-style clients that trickle header bytes; the idle time
/// between requests is the proxy handler's (longer) idle timeout.
final class RequestHeadTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let timeout: TimeAmount
    private var context: ChannelHandlerContext?
    /// True between requests: the next byte starts a head.
    private var waitingForHead = true
    /// When the head being received must be complete; nil while none is.
    private var deadline: NIODeadline?
    /// Armed for `deadline` or earlier: a head arriving leaves it armed, and when it fires
    /// early it re-arms for the current deadline, so requests schedule no timer of their own.
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    /// After an upgrade every byte goes to the tunnel rather than to the HTTP parser
    /// (which would drop what arrives before it is removed); held until the tunnel is ready.
    private var tunnel: TunnelHandler?
    private var tunnelReady = false
    private var heldForTunnel: [ByteBuffer] = []

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.cancel()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let tunnel {
            // By name, not `Self`, so it is specialized (see `ProxyServerHandler.channelRead`).
            let buffer = RequestHeadTimeoutHandler.unwrapInboundIn(data)
            if self.tunnelReady {
                tunnel.forwardFromClient(buffer)
            } else {
                self.heldForTunnel.append(buffer)
            }
            return
        }
        if self.waitingForHead, self.deadline == nil {
            let deadline = NIODeadline.now() + self.timeout
            self.deadline = deadline
            self.armTimer(at: deadline, context: context)
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.cancel()
        context.fireChannelInactive()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if self.tunnel != nil {
            if self.tunnelReady { self.tunnel?.flushToReplica() }
            return
        }
        context.fireChannelReadComplete()
    }

    /// From now on the connection's bytes belong to `tunnel`; they are held until
    /// `tunnelIsReady()`.
    func divert(to tunnel: TunnelHandler) {
        self.cancel()
        self.waitingForHead = false
        self.tunnel = tunnel
    }

    func tunnelIsReady() {
        guard let tunnel, !self.tunnelReady else { return }
        self.tunnelReady = true
        for buffer in self.heldForTunnel { tunnel.forwardFromClient(buffer) }
        self.heldForTunnel = []
        tunnel.flushToReplica()
    }

    /// A complete request head was parsed.
    func headReceived() {
        self.waitingForHead = false
        self.deadline = nil
    }

    /// The connection is between requests again.
    func awaitNextHead() {
        guard self.tunnel == nil else { return }
        self.waitingForHead = true
    }

    private func cancel() {
        self.timer?.cancel()
        self.timer = nil
        self.timerDeadline = nil
        self.deadline = nil
    }

    private func armTimer(at deadline: NIODeadline, context: ChannelHandlerContext) {
        if let armed = self.timerDeadline, armed <= deadline { return }
        self.timer?.cancel()
        self.timerDeadline = deadline
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.timer = nil
            self.timerDeadline = nil
            self.timerFired()
        }
    }

    private func timerFired() {
        guard let deadline = self.deadline, let context else { return }
        if deadline <= .now() {
            self.deadline = nil
            self.timedOut()
        } else {
            self.armTimer(at: deadline, context: context)
        }
    }

    private func timedOut() {
        guard self.waitingForHead, let context else { return }
        let response = LocalResponse.refusal(
            .requestTimeout,
            "the request head did not arrive within \(self.timeout.shortDescription)"
        )
        let loopBound = context.loopBound
        context.writeAndFlush(NIOAny(response.encoded)).assumeIsolated().whenComplete { _ in
            loopBound.value.close(promise: nil)
        }
    }
}
