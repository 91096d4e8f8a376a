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
/// client connection that leased it and writes request parts upstream.
final class UpstreamConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    /// The client connection using this connection, nil while it sits in the pool.
    var receiver: (any UpstreamResponseReceiver)?
    private var context: ChannelHandlerContext?
    private var closeReason: String?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Writes request parts and flushes them.
    func send(_ parts: [HTTPClientRequestPart]) {
        guard let context else { return }
        for part in parts {
            context.write(Self.wrapOutboundOut(part), promise: nil)
        }
        context.flush()
    }

    /// Writes one request part without flushing; `flush()` follows at the end of a read burst.
    func write(_ part: HTTPClientRequestPart) {
        self.context?.write(Self.wrapOutboundOut(part), promise: nil)
    }

    func flush() {
        self.context?.flush()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let receiver else {
            // An idle pooled connection must stay silent; anything else means it is unusable.
            self.closeReason = "the upstream sent data on an idle connection"
            context.close(promise: nil)
            return
        }
        receiver.upstreamReceived(Self.unwrapInboundIn(data))
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

/// A connection to one upstream, as leased from the pool.
struct UpstreamConnection {
    var upstream: Upstream
    var channel: any Channel
    var handler: UpstreamConnectionHandler
}
