import NIOCore
import NIOHTTP1

/// Serializes the responses of an HTTP/1.1 client connection into bytes, which the proxy
/// handler writes itself: no response part crosses an encoder handler (a pipeline hop and
/// a `NIOAny` unwrapping per part), and a head, a small body and the end go out as one
/// buffer.
///
/// Framing follows NIO's `HTTPResponseEncoder` as `configureHTTPServerPipeline` sets it up,
/// so clients see the same bytes as before: a status that has no body (1xx, 204, 304) and
/// the answer to `CONNECT` lose `Content-Length` and `Transfer-Encoding`; otherwise a
/// `Content-Length` wins over `Transfer-Encoding`, and an HTTP/1.1 response without one is
/// sent chunked (HTTP/1.0 ones end with the connection). The answer to `HEAD` keeps its
/// framing headers but carries no body, chunked terminator included. Empty body parts are
/// left out, as an empty chunk would end a chunked body.
struct ClientResponseEncoder {
    /// The body of the response being written is chunked.
    private var isChunked = false
    /// The response being written answers `HEAD` or `CONNECT`: nothing of a body goes out.
    private var suppressesBody = false
    /// The method of the request the next final response answers; NIO's encoder learns it
    /// from its paired decoder, this one from the proxy handler as it takes each request on.
    private var pendingMethod: HTTPMethod?

    /// Notes the method of a request whose response comes next.
    mutating func requestReceived(method: HTTPMethod) {
        self.pendingMethod = method
    }

    /// Appends `head` to `buffer`, its framing headers corrected first. An interim (1xx
    /// other than 101) response leaves the request it precedes unanswered.
    mutating func writeHead(_ head: HTTPResponseHead, into buffer: inout ByteBuffer) {
        let code = head.status.code
        var respondingToConnect = false
        if !((100..<200).contains(code) && code != 101), let method = self.pendingMethod {
            self.pendingMethod = nil
            self.suppressesBody = method.isHEAD || method.isCONNECT
            respondingToConnect = method.isCONNECT
        }
        var headers = head.headers
        let chunked = Self.correctFraming(
            hasBody: !respondingToConnect && head.status.mayHaveResponseBody, version: head.version, headers: &headers)
        self.isChunked = chunked && !self.suppressesBody
        Self.writeStatusLine(version: head.version, status: head.status, into: &buffer)
        buffer.writeHTTPFields(headers)
    }

    /// Writes a replica's final head as its bytes came (`received`) when `writeHead` would
    /// change nothing in it but spelling: a body framed by its length alone, or by chunked
    /// alone, on a status that may have a body, not after `CONNECT`. The status line keeps
    /// the replica's reason phrase and the fields their spelling and spacing (the parser has
    /// checked every byte). Returns false, having changed nothing, when `writeHead` must
    /// write it. Saves writing the head field by field (about 2,900 instructions per request).
    mutating func writeHeadAsReceived(
        _ head: HTTPResponseHead, received: UpstreamResponseParser.ReceivedHead, into buffer: inout ByteBuffer
    ) -> Bool {
        let chunked: Bool
        switch (received.hasContentLength, received.transferEncoding) {
        case (true, .none): chunked = false
        case (false, .chunked) where head.version == .http1_1: chunked = true
        default: return false
        }
        let code = head.status.code
        guard code >= 200, head.status.mayHaveResponseBody, self.pendingMethod?.isCONNECT != true else { return false }
        if let method = self.pendingMethod {
            self.pendingMethod = nil
            self.suppressesBody = method.isHEAD
        }
        self.isChunked = chunked && !self.suppressesBody
        buffer.writeImmutableBuffer(received.bytes)
        return true
    }

    /// Whether a body part of `length` bytes is written at all: not when it is empty (an
    /// empty chunk would end a chunked body) nor when the response may have no body.
    func writesBody(length: Int) -> Bool {
        length > 0 && !self.suppressesBody
    }

    /// The bytes that go before a written body part: its chunk size line when chunked.
    func writeBodyPrefix(length: Int, into buffer: inout ByteBuffer) {
        guard self.isChunked else { return }
        buffer.writeString(String(length, radix: 16))
        buffer.writeStaticString("\r\n")
    }

    /// The bytes that go after a written body part: the chunk's line end when chunked.
    var bodySuffix: StaticString? {
        self.isChunked ? "\r\n" : nil
    }

    /// Appends the end of the response: the last chunk and the trailers when chunked,
    /// nothing otherwise (the length, the status or the connection's end delimits it).
    mutating func writeEnd(_ trailers: HTTPHeaders?, into buffer: inout ByteBuffer) {
        self.suppressesBody = false
        guard self.isChunked else { return }
        self.isChunked = false
        buffer.writeStaticString("0\r\n")
        buffer.writeHTTPFields(trailers ?? [:])
    }

    /// Removes or adds framing headers so the body is delimited; true when it is chunked.
    /// Headers are only copied when something changes (a response with a length changes
    /// nothing).
    static func correctFraming(hasBody: Bool, version: HTTPVersion, headers: inout HTTPHeaders) -> Bool {
        let hasLength = headers.contains(name: "content-length")
        let hasTransferEncoding = headers.contains(name: "transfer-encoding")
        guard hasBody else {
            if hasLength { headers.remove(name: "content-length") }
            if hasTransferEncoding { headers.remove(name: "transfer-encoding") }
            return false
        }
        if hasLength {
            if hasTransferEncoding { headers.remove(name: "transfer-encoding") }
            return false
        }
        guard version.major == 1, version.minor >= 1 else { return false }
        headers.replaceOrAdd(name: "transfer-encoding", value: "chunked")
        return true
    }

    /// The status line as NIO writes it: the code, a space, the status's reason phrase.
    private static func writeStatusLine(version: HTTPVersion, status: HTTPResponseStatus, into buffer: inout ByteBuffer) {
        switch (version.major, version.minor, status) {
        case (1, 1, .ok):
            buffer.writeStaticString("HTTP/1.1 200 OK\r\n")
            return
        case (1, 1, _):
            buffer.writeStaticString("HTTP/1.1 ")
        case (1, 0, _):
            buffer.writeStaticString("HTTP/1.0 ")
        default:
            buffer.writeString("HTTP/\(version.major).\(version.minor) ")
        }
        buffer.writeString(String(status.code))
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(status.reasonPhrase)
        buffer.writeStaticString("\r\n")
    }
}

extension HTTPMethod {
    /// `self == .TRACE`, by case: `==` compares the methods' names as strings.
    var isTRACE: Bool {
        if case .TRACE = self { return true }
        return false
    }

    /// `.HEAD` by its case: NIO's `==` compares the methods' names as strings, about 60
    /// instructions a comparison, and the response path made six of them per request.
    var isHEAD: Bool {
        if case .HEAD = self { return true }
        return false
    }

    /// `.CONNECT` by its case (see `isHEAD`).
    var isCONNECT: Bool {
        if case .CONNECT = self { return true }
        return false
    }
}
