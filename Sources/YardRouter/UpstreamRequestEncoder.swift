import NIOCore
import NIOHTTP1

/// Serializes the requests sent to an upstream into bytes. The upstream connection's
/// handler writes these bytes itself, so a request does not cross an encoder handler (one
/// pipeline hop and one `NIOAny` unwrapping per part); a `GET` goes out as one buffer.
///
/// Framing follows NIO's `HTTPRequestEncoder`, so replicas see the same bytes as before:
/// `TRACE` carries no body; `POST`, `PUT` and `PATCH` without a `Content-Length` are sent
/// chunked; other methods are chunked only when the head says `Transfer-Encoding: chunked`;
/// a `Content-Length` always wins over `Transfer-Encoding`.
struct UpstreamRequestEncoder {
    /// The body of the request being written is chunked.
    private(set) var isChunked = false

    /// Which framing fields a head holds, when the caller knows already (from the
    /// `RequestHeadScan` the proxy makes of every request): the two searches of the fields
    /// that `correctFraming` makes otherwise cost about 600 instructions per request.
    struct Framing: Equatable, Sendable {
        var hasLength: Bool
        var hasTransferEncoding: Bool
        /// The head has no fields of its own: these are its field lines as the client sent
        /// them and the empty line after them (`RequestHeadScan.fieldLines`), written as they
        /// are but for that line.
        var fieldLines: ByteBuffer? = nil
    }

    /// Appends `head` to `buffer`, its framing headers corrected first, and `forwarding`'s
    /// fields after its own. `framing` is which framing fields `head` holds, when known.
    mutating func writeHead(
        _ head: HTTPRequestHead, forwarding: ForwardingFields? = nil, framing: Framing? = nil, into buffer: inout ByteBuffer
    ) {
        var headers = head.headers
        self.isChunked = Self.correctFraming(method: head.method, version: head.version, headers: &headers, framing: framing)
        buffer.writeRequestLine(method: head.method.rawValue, target: head.uri, version: head.version)
        if let fieldLines = framing?.fieldLines {
            // Without the empty line that ended the head (the lines end with it).
            fieldLines.withUnsafeReadableBytes { buffer.writeBytes(UnsafeRawBufferPointer(start: $0.baseAddress, count: $0.count - 2)) }
        }
        guard let forwarding else {
            buffer.writeHTTPFields(headers)
            return
        }
        // Empty but for what the framing added when the fields went as their bytes.
        if !headers.isEmpty { buffer.writeHTTPFields(headers, endingHead: false) }
        buffer.writeForwardingFieldsEndingHead(forwarding)
    }

    /// The bytes that go before a body part (the chunk size line), and whether the part is
    /// written at all: an empty chunk would end a chunked body, so it is left out.
    func writeBodyPrefix(length: Int, into buffer: inout ByteBuffer) -> Bool {
        guard length > 0 else { return false }
        if self.isChunked {
            buffer.writeString(String(length, radix: 16))
            buffer.writeStaticString("\r\n")
        }
        return true
    }

    /// The bytes that go after a non-empty body part (the chunk's line end).
    func writeBodySuffix(into buffer: inout ByteBuffer) {
        if self.isChunked {
            buffer.writeStaticString("\r\n")
        }
    }

    /// Appends the end of the request: the last chunk and the trailers when chunked,
    /// nothing otherwise (the length or the method already delimits the body).
    mutating func writeEnd(_ trailers: HTTPHeaders?, into buffer: inout ByteBuffer) {
        guard self.isChunked else { return }
        self.isChunked = false
        buffer.writeStaticString("0\r\n")
        buffer.writeHTTPFields(trailers ?? [:])
    }

    /// Removes or adds framing headers so the body is delimited; true when it is chunked.
    /// Headers are only copied when something changes (the usual `GET` changes nothing).
    static func correctFraming(
        method: HTTPMethod, version: HTTPVersion, headers: inout HTTPHeaders, framing: Framing? = nil
    ) -> Bool {
        let hasLength = framing?.hasLength ?? headers.contains(name: "content-length")
        let hasTransferEncoding = framing?.hasTransferEncoding ?? headers.contains(name: "transfer-encoding")
        let http11 = version.major == 1 && version.minor >= 1
        switch method {
        case .TRACE:
            if hasLength { headers.remove(name: "content-length") }
            if hasTransferEncoding { headers.remove(name: "transfer-encoding") }
            return false
        case _ where hasLength:
            if hasTransferEncoding { headers.remove(name: "transfer-encoding") }
            return false
        case .POST, .PUT, .PATCH:
            guard http11 else { return false }
            if !(hasTransferEncoding && headers.first(name: "transfer-encoding") == "chunked") {
                headers.replaceOrAdd(name: "transfer-encoding", value: "chunked")
            }
            return true
        default:
            return http11 && hasTransferEncoding && headers.first(name: "transfer-encoding") == "chunked"
        }
    }
}
