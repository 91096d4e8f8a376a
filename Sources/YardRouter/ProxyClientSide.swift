import NIOCore
import NIOHTTP1

/// Everything the proxy handler does to the client end of its exchanges: response parts
/// out, flushes, closes, reads on and off. An HTTP/1.1 connection writes bytes the router
/// encodes itself (`HTTP1ClientSide`); an HTTP/2 stream turns them into frames for its stream
/// ID (`HTTP2ServerStream`). The handler thus never touches a channel context of its own, and
/// an HTTP/2 stream needs no child channel.
///
/// A protocol rather than an enum of the two cases: measured both ways, neither costs
/// more per request beyond code-layout noise (docs/performance.md, router17h).
protocol ProxyClientSide: AnyObject {
    var eventLoop: any EventLoop { get }
    var allocator: ByteBufferAllocator { get }
    var isWritable: Bool { get }

    /// Notes a request the next final response answers (an HTTP/1.1 response to `HEAD`
    /// carries no body; a stream's codec knows its own request).
    func requestReceived(method: HTTPMethod)
    /// Writes an interim (1xx) response head and flushes it: the client waits for it.
    func writeInformational(_ head: HTTPResponseHead)
    /// Writes a final response head; it goes out with the next flush.
    func writeHead(_ head: HTTPResponseHead)
    /// Writes `head`, which came from the upstream unchanged as `received`: its bytes may be
    /// written as they came when the framing stays the same.
    func writeHead(_ head: HTTPResponseHead, received: UpstreamResponseParser.ReceivedHead)
    func writeBody(_ buffer: ByteBuffer)
    /// Writes the end of the response and flushes; with `thenClose` the connection (or
    /// stream) closes once that write has completed.
    func writeEnd(_ trailers: HTTPHeaders?, thenClose: Bool)
    func flush()
    /// Closes the connection or stream; what was not flushed is dropped.
    func close()
    func setAutoRead(_ value: Bool)
    /// Arms the connection's one timer, shared by all its exchanges, to call the handler's
    /// `sharedTimerFired()` at `deadline` (replacing the deadline armed before); false when
    /// the connection has none and the handler schedules its own.
    func armSharedTimer(at deadline: NIODeadline) -> Bool
}

extension ProxyClientSide {
    /// An HTTP/1.1 connection has one exchange at a time: its handler's own timer is the connection's.
    func armSharedTimer(at deadline: NIODeadline) -> Bool { false }
}
