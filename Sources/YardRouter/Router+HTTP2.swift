import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOTLS

extension Router {
    /// HTTP/2 on the HTTPS listener: clients that offer `h2` by ALPN get it, the others
    /// (and WebSocket clients, which ask for `http/1.1`) keep HTTP/1.1. Every stream is one
    /// request, forwarded over the same HTTP/1.1 upstream pool with the same routing,
    /// forwarding headers, access log, body limit and timeouts as an HTTP/1.1 request.
    public struct HTTP2Configuration: Sendable {
        /// Offer `h2` at all; false negotiates only HTTP/1.1.
        public var isEnabled: Bool = true
        /// Streams a client may have open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`); more
        /// are refused by the HTTP/2 layer.
        public var maxConcurrentStreams: Int = 100
        /// The largest request header list (`SETTINGS_MAX_HEADER_LIST_SIZE`, decoded names
        /// and values); nil uses `maxRequestHeaderBytes`. A larger one ends the connection
        /// with a `PROTOCOL_ERROR` GOAWAY, before anything is forwarded. Until the client
        /// acknowledged the router's settings (its first round trip) swift-nio-http2 applies
        /// its default of 16 KiB instead.
        public var maxHeaderListBytes: Int? = nil
        /// Rapid reset (CVE-2023-44487): a client that resets more than this many streams
        /// within `resetWindow` gets a GOAWAY (`ENHANCE_YOUR_CALM`) and is disconnected.
        public var maxResetStreams: Int = 200
        public var resetWindow: TimeAmount = .seconds(30)

        public init() {}
    }

    /// Waits for the TLS handshake's protocol choice, then sets the connection up for it.
    func addProtocolNegotiation(to channel: any Channel) throws {
        let negotiation = ApplicationProtocolNegotiationHandler { [self] result, channel in
            channel.eventLoop.makeCompletedFuture {
                let router = self
                switch result {
                case .negotiated("h2") where router.configuration.http2.isEnabled:
                    try router.addHTTP2Handlers(to: channel)
                case .negotiated("http/1.1"), .fallback:
                    try router.addHTTP1Handlers(to: channel, overTLS: true)
                case .negotiated:
                    throw NIOHTTP2Errors.invalidALPNToken()
                }
            }
        }
        try channel.pipeline.syncOperations.addHandler(negotiation)
    }

    /// The HTTP/2 server handler with the router's limits, in frame mode, and above it
    /// `HTTP2StreamDemultiplexer`, which serves each stream with the usual proxy handler
    /// without a child channel per stream, and closes idle connections and drains gracefully
    /// (GOAWAY on `ChannelShouldQuiesceEvent`).
    func addHTTP2Handlers(to channel: any Channel) throws {
        let configuration = self.configuration
        let limits = configuration.http2
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: limits.maxConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: limits.maxHeaderListBytes ?? configuration.maxRequestHeaderBytes),
            HTTP2Setting(parameter: .maxFrameSize, value: 1 << 14),
        ]
        // `HTTP2StreamCodec` checks every rule of this validation in the pass that converts a
        // request block (and the response blocks it sends are built from heads NIO's HTTP/1.1
        // parser accepted, names lowercased): so each block is walked once, not twice.
        connection.headerBlockValidation = .disabled
        // The codec checks request content lengths too: a refusal here is an error passed up
        // this pipeline, and `HTTP2ConnectionErrorHandler` would close the whole connection.
        // Response bodies are framed by the upstream's HTTP/1.1 parser, which keeps to their length.
        connection.contentLengthValidation = .disabled
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.streamResetFrameRateLimit.maximumCount = limits.maxResetStreams
        stream.streamResetFrameRateLimit.windowLength = limits.resetWindow
        // Every stream of the connection has the same peer: worked out once, not per request.
        let connectionInfo = ClientConnectionInfo(channel: channel, trustedProxies: configuration.trustedProxies, logger: self.logger)
        // So is the rest a stream's handler is made of (its loop's pool, the route look-up).
        let makeProxyHandler = self.proxyHandlerFactory(on: channel.eventLoop, overTLS: true, connectionInfo: connectionInfo)
        let pipeline = channel.pipeline.syncOperations
        // Right above TLS: the frames of one event-loop tick leave as one TLS record and one write.
        try pipeline.addHandler(HTTP2WriteCoalescer())
        // Below the HTTP/2 handler: a header block left open past the head timeout ends the connection.
        try pipeline.addHandler(HTTP2HeadTimeoutHandler(timeout: configuration.requestHeadTimeout, logger: self.logger))
        let lastFrame = HTTP2LastFrameWritten()
        try pipeline.addHandler(
            NIOHTTP2Handler(mode: .server, frameDelegate: lastFrame, connectionConfiguration: connection, streamConfiguration: stream))
        try pipeline.addHandler(
            HTTP2StreamDemultiplexer(
                connectionInfo: connectionInfo,
                idleTimeout: configuration.clientIdleTimeout,
                graceTime: configuration.shutdownGracePeriod,
                makeProxyHandler: makeProxyHandler
            )
        )
        try pipeline.addHandler(HTTP2ConnectionErrorHandler(lastFrame: lastFrame))
    }
}

/// Closes an HTTP/2 connection after a connection error. `NIOHTTP2Handler` sends the GOAWAY
/// (`PROTOCOL_ERROR` for a header list over the limit, `ENHANCE_YOUR_CALM` for a rapid-reset
/// loop) and passes the error on; the connection stays open until someone closes it. It
/// passes a stream error on the same way (the state machine's own error, of no type that
/// says which), right after the stream's RST_STREAM: that stream is over, and the connection
/// and its other streams carry on (RFC 9113 §5.4.2).
final class HTTP2ConnectionErrorHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame

    private let lastFrame: HTTP2LastFrameWritten

    init(lastFrame: HTTP2LastFrameWritten) {
        self.lastFrame = lastFrame
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if self.lastFrame.wasStreamReset { return }
        context.close(promise: nil)
    }

    /// A stream error comes in the read that reset the stream: a reset written earlier
    /// (a stream of the router's own, closed) says nothing about a later error.
    func channelReadComplete(context: ChannelHandlerContext) {
        self.lastFrame.wasStreamReset = false
        context.fireChannelReadComplete()
    }

    /// The last handler: events end here (the pipeline's tail would drop them too).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {}
}

/// Whether the frame `NIOHTTP2Handler` wrote last was an RST_STREAM (see
/// `HTTP2ConnectionErrorHandler`). Only on the connection's event loop.
final class HTTP2LastFrameWritten: NIOHTTP2FrameDelegate {
    var wasStreamReset = false

    func wroteFrame(_ frame: HTTP2Frame) {
        if case .rstStream = frame.payload {
            self.wasStreamReset = true
        } else {
            self.wasStreamReset = false
        }
    }
}
