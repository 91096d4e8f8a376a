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
