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
        /// are reset with `REFUSED_STREAM`.
        public var maxConcurrentStreams: Int = 100
        /// The largest request header list (`SETTINGS_MAX_HEADER_LIST_SIZE`, decoded names
        /// and values); nil uses `maxRequestHeaderBytes`. A larger one ends the connection
        /// with a `PROTOCOL_ERROR` GOAWAY, before anything is forwarded, as does a header
        /// block (HEADERS and CONTINUATION frames) that grows past twice this plus 1 KiB
        /// before it is complete.
        public var maxHeaderListBytes: Int? = nil
        /// Rapid reset (CVE-2023-44487): a client that resets more than this many streams
        /// within `resetWindow`, or makes the router reset them by breaking their rules
        /// (CVE-2025-8671), gets a GOAWAY (`ENHANCE_YOUR_CALM`) and is disconnected.
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

    /// The HTTP/2 connection (`HTTP2ServerConnection`) with the router's limits, and above it
    /// `HTTP2StreamDemultiplexer`, which serves each stream with the usual proxy handler
    /// without a child channel per stream, and closes idle connections and drains gracefully
    /// (GOAWAY on `ChannelShouldQuiesceEvent`).
    func addHTTP2Handlers(to channel: any Channel) throws {
        let configuration = self.configuration
        let limits = configuration.http2
        // Every stream of the connection has the same peer: worked out once, not per request.
        let connectionInfo = ClientConnectionInfo(channel: channel, trustedProxies: configuration.trustedProxies, logger: self.logger)
        // So is the rest a stream's handler is made of (its loop's pool, the route look-up).
        let makeProxyHandler = self.proxyHandlerFactory(on: channel.eventLoop, overTLS: true, connectionInfo: connectionInfo)
        let pipeline = channel.pipeline.syncOperations
        // Below the HTTP/2 connection: a header block left open past the head timeout ends it.
        try pipeline.addHandler(HTTP2HeadTimeoutHandler(timeout: configuration.requestHeadTimeout, logger: self.logger))
        try pipeline.addHandler(
            HTTP2ServerConnection(
                limits: .init(
                    maxConcurrentStreams: limits.maxConcurrentStreams,
                    maxHeaderListSize: limits.maxHeaderListBytes ?? configuration.maxRequestHeaderBytes,
                    maxResetStreams: limits.maxResetStreams,
                    resetWindow: limits.resetWindow),
                allocator: channel.allocator))
        try pipeline.addHandler(
            HTTP2StreamDemultiplexer(
                connectionInfo: connectionInfo,
                idleTimeout: configuration.clientIdleTimeout,
                graceTime: configuration.shutdownGracePeriod,
                makeProxyHandler: makeProxyHandler
            )
        )
    }
}
