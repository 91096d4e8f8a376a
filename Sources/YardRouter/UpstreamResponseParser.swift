import NIOCore
import NIOHTTP1

/// Reads a replica's HTTP/1.1 responses from the bytes of its connection, one part at a time,
/// in place: a head is parsed once it is all in the buffer, and body bytes go on as slices of
/// the buffer they came in. It replaces NIO's `HTTPResponseDecoder` (llhttp behind a
/// `ByteToMessageHandler`) on upstream connections, which cost about 12,000 instructions per
/// proxied request in the profile (docs/performance.md, "A response parser of our own").
///
/// It produces the parts NIO's decoder produced for the same bytes, which
/// `UpstreamResponseParserTests` checks against it, and it is at least as strict:
/// - the status line is `HTTP/1.0` or `HTTP/1.1`, three digits, an optional reason;
/// - fields and chunks follow `HTTP1Syntax` and `HTTP1BodyReader` (shared with the client
///   side's `ClientRequestParser`);
/// - `Content-Length` is digits, present once, and never beside `Transfer-Encoding`;
/// - a head (or a trailer section) larger than 80 KiB is refused, as NIO's limit was.
///
/// Framing follows RFC 9112 §6.3: no body after `HEAD` or `CONNECT` or for 1xx, 204 and 304;
/// chunked when the last transfer coding is `chunked`, until the close for any other or when
/// there is no length. An informational (1xx) head is passed on without an end; a 101 ends
/// the parsing, and what follows belongs to the tunnel.
struct UpstreamResponseParser {
    static let maximumHeadSize = 80 * 1024

    private enum State: Equatable {
        /// Awaiting a response head; `scanned` bytes of the buffer hold no end of head.
        case head(scanned: Int)
        /// The head went out and its message has no body (or its last bytes went out): the
        /// end comes next.
        case endOfBodiless
        /// A 101 went out: its end comes next, then nothing more is parsed.
        case endOfUpgrade
        case body(HTTP1BodyReader)
        case untilClose
        /// After a 101 or a failure: nothing more is parsed.
        case done
    }

    private var state = State.head(scanned: 0)
    /// The methods of the requests written whose responses have not begun, oldest first.
    private var methods = CircularBuffer<HTTPMethod>(initialCapacity: 2)

    /// A request with this method was written: its response comes after the ones awaited.
    mutating func expectResponse(to method: HTTPMethod) {
        self.methods.append(method)
    }

    /// A 101 was read (the bytes after it belong to the tunnel), or the input was refused.
    var isDone: Bool { self.state == .done }

    /// The end of a message whose last bytes were read (or that has no body), which needs
    /// no more bytes; nil when none is due.
    mutating func dueEnd() -> HTTPClientResponsePart? {
        switch self.state {
        case .endOfBodiless:
            self.state = .head(scanned: 0)
            return .end(nil)
        case .endOfUpgrade:
            self.state = .done
            return .end(nil)
        default:
            return nil
        }
    }

    /// The next part in `buffer`, consuming its bytes; nil when the buffer holds no whole part
    /// yet (the rest stays in it) or after an upgrade.
    mutating func next(_ buffer: inout ByteBuffer) throws -> HTTPClientResponsePart? {
        do {
            return try self.step(&buffer)
        } catch {
            self.state = .done
            throw error
        }
    }

    private mutating func step(_ buffer: inout ByteBuffer) throws -> HTTPClientResponsePart? {
        switch self.state {
        case .head(let scanned):
            return try self.readHead(&buffer, scanned: scanned)
        case .endOfBodiless, .endOfUpgrade:
            return self.dueEnd()
        case .body(var reader):
            guard let step = try reader.next(&buffer) else {
                self.state = .body(reader)
                return nil
            }
            switch step {
            case .body(let bytes, let isLast):
                self.state = isLast ? .endOfBodiless : .body(reader)
                return .body(bytes)
            case .end(let trailers):
                self.state = .head(scanned: 0)
                return .end(trailers)
            }
        case .untilClose:
            guard buffer.readableBytes > 0 else { return nil }
            return .body(buffer.readSlice(length: buffer.readableBytes)!)
        case .done:
            return nil
        }
    }

    /// The connection's input ended: the end of a body delimited by the close, nothing
    /// between messages, and a failure in the middle of one.
    mutating func inputEnded(unparsed: Int) throws -> HTTPClientResponsePart? {
        switch self.state {
        case .untilClose:
            self.state = .done
            return .end(nil)
        case .head where unparsed == 0, .done:
            return nil
        default:
            self.state = .done
            throw MalformedHTTPMessage("the upstream closed the connection in the middle of a response")
        }
    }

    // MARK: heads

    private mutating func readHead(_ buffer: inout ByteBuffer, scanned: Int) throws -> HTTPClientResponsePart? {
        let headLength: Int
        switch try HTTP1Syntax.sectionEnd(
            in: buffer, from: scanned, limit: Self.maximumHeadSize,
            tooLarge: { MalformedHTTPMessage("the response head is larger than 80 KiB", tooLarge: true) })
        {
        case .notYet(let scanned):
            self.state = .head(scanned: scanned)
            return nil
        case .found(let length):
            headLength = length
        }
        let parsed = try buffer.withUnsafeReadableBytes { bytes in
            try Self.parseHead(UnsafeRawBufferPointer(rebasing: bytes[..<headLength]))
        }
        let bytes = buffer.readSlice(length: headLength)!
        let head = try self.frame(parsed)
        if parsed.fieldsDeferred {
            self.receivedHead = ReceivedHead(
                bytes: bytes, fieldsStart: parsed.fieldsStart, hasContentLength: parsed.contentLength != nil,
                transferEncoding: parsed.transferEncoding, scan: parsed.scanner.result)
        }
        return .head(head)
    }

    private struct ParsedHead {
        var minorVersion: Int
        var status: Int
        /// Where the field lines begin in the head's bytes.
        var fieldsStart: Int
        /// A final head (not 1xx, not 101): its fields are left in its bytes (`ReceivedHead`).
        var fieldsDeferred: Bool
        var fields: [(String, String)]
        var contentLength: Int?
        var transferEncoding: TransferEncoding
        var scanner = HeaderScan.Scanner()
    }

    enum TransferEncoding {
        case none
        case chunked
        /// A coding other than chunked comes last: the body is delimited by the close.
        case other
    }

    /// A final response head's bytes as they came (a slice of the read buffer) and its
    /// framing fields, so that a head the proxy relays unchanged can go to the client as
    /// these bytes instead of being written again field by field.
    ///
    /// The head part passed on beside it has no fields: they are made from these bytes
    /// (`completing`) only when the head is not relayed as received. Making them (two
    /// strings each, an array, `HTTPHeaders`) cost about 3,000 instructions per response.
    struct ReceivedHead {
        var bytes: ByteBuffer
        /// Where the field lines begin in `bytes`.
        var fieldsStart: Int
        var hasContentLength: Bool
        var transferEncoding: TransferEncoding
        /// The fields' `HeaderScan`, found while they were checked.
        var scan: HeaderScan
        /// The head written with these bytes still lacks its fields (it is the parser's own,
        /// relayed unchanged): a writer that cannot use the bytes completes it. Set by the
        /// proxy handler from `ProxyConnectionStateMachine.ResponseAction.sendHead`.
        var headLacksFields = false

        /// The fields, read from the bytes (which the parser checked already).
        var fields: HTTPHeaders {
            HTTP1Syntax.checkedFields(self.bytes, from: self.fieldsStart)
        }

        /// `head` (the parser's head of these bytes) with its fields.
        func completing(_ head: HTTPResponseHead) -> HTTPResponseHead {
            var head = head
            head.headers = self.fields
            return head
        }

        /// `head` with its fields when it lacks them (`headLacksFields`), otherwise `head`.
        func completingIfNeeded(_ head: HTTPResponseHead) -> HTTPResponseHead {
            self.headLacksFields ? self.completing(head) : head
        }
    }

    /// The last final head read, until taken; its head part came without fields.
    private(set) var receivedHead: ReceivedHead?

    mutating func takeReceivedHead() -> ReceivedHead? {
        defer { self.receivedHead = nil }
        return self.receivedHead
    }

    /// Chooses how the body is framed, and the state after the head.
    private mutating func frame(_ parsed: ParsedHead) throws -> HTTPResponseHead {
        let head = HTTPResponseHead(
            version: HTTPVersion(major: 1, minor: parsed.minorVersion),
            status: HTTPResponseStatus(statusCode: parsed.status),
            headers: parsed.fieldsDeferred ? HTTPHeaders() : HTTPHeaders(parsed.fields))
        func unasked() -> MalformedHTTPMessage { MalformedHTTPMessage("the upstream sent a response nobody asked for") }
        if parsed.status >= 100 && parsed.status < 200 && parsed.status != 101 {
            // Informational: the final response to the same request follows.
            guard !self.methods.isEmpty else { throw unasked() }
            self.state = .head(scanned: 0)
            return head
        }
        guard let method = self.methods.popFirst() else { throw unasked() }
        if parsed.status == 101 {
            self.state = .endOfUpgrade
            return head
        }
        if method.isHEAD || method.isCONNECT || parsed.status == 204 || parsed.status == 304 {
            self.state = .endOfBodiless
            return head
        }
        switch (parsed.transferEncoding, parsed.contentLength) {
        case (.chunked, _):
            self.state = .body(HTTP1BodyReader(chunkedWithTrailersUpTo: Self.maximumHeadSize))
        case (.other, _):
            self.state = .untilClose
        case (.none, let length?):
            self.state = length == 0 ? .endOfBodiless : .body(HTTP1BodyReader(length: length, maximumTrailerSize: 0))
        case (.none, nil):
            self.state = .untilClose
        }
        return head
    }

    /// Parses a head's bytes, its final CRLF CRLF included.
    private static func parseHead(_ bytes: UnsafeRawBufferPointer) throws -> ParsedHead {
        // "HTTP/1.x NNN" at least, then an optional reason.
        guard bytes.count >= 14, bytes[0] == UInt8(ascii: "H"), bytes[1] == UInt8(ascii: "T"), bytes[2] == UInt8(ascii: "T"),
            bytes[3] == UInt8(ascii: "P"), bytes[4] == UInt8(ascii: "/"), bytes[5] == UInt8(ascii: "1"),
            bytes[6] == UInt8(ascii: "."), bytes[7] == UInt8(ascii: "0") || bytes[7] == UInt8(ascii: "1"),
            bytes[8] == UInt8(ascii: " ")
        else { throw MalformedHTTPMessage("the status line does not begin with HTTP/1.0 or HTTP/1.1") }
        var status = 0
        for index in 9..<12 {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { throw MalformedHTTPMessage("the status code is not three digits") }
            status = status * 10 + Int(digit)
        }
        guard status >= 100 else { throw MalformedHTTPMessage("the status code \(status) is below 100") }
        var index = 12
        if bytes[index] == UInt8(ascii: " ") {
            index += 1
            while bytes[index] != 0x0D {
                guard HTTP1Syntax.isFieldValueByte(bytes[index]) else {
                    throw MalformedHTTPMessage("the reason phrase holds a control character")
                }
                index += 1
            }
        }
        guard bytes[index] == 0x0D, bytes[index + 1] == 0x0A else {
            throw MalformedHTTPMessage("the status line does not end with CRLF")
        }
        index += 2

        let deferred = status >= 200 && status != 101
        var parsed = ParsedHead(
            minorVersion: bytes[7] == UInt8(ascii: "1") ? 1 : 0, status: status, fieldsStart: index, fieldsDeferred: deferred,
            fields: [], contentLength: nil, transferEncoding: .none)
        if !deferred { parsed.fields.reserveCapacity(12) }
        try HTTP1Syntax.parseFields(bytes, from: index) { name, value in
            parsed.scanner.add(name: name.assumingMemoryBound(to: UInt8.self), value: value.assumingMemoryBound(to: UInt8.self))
            if HTTP1Syntax.equalsLowercased(name, "content-length") {
                guard parsed.contentLength == nil else { throw MalformedHTTPMessage("the response has more than one Content-Length") }
                parsed.contentLength = try HTTP1Syntax.contentLength(value)
            } else if HTTP1Syntax.equalsLowercased(name, "transfer-encoding") {
                parsed.transferEncoding = HTTP1Syntax.lastCodingIsChunked(value) ? .chunked : .other
            }
            if !deferred {
                parsed.fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
            }
        }
        if parsed.contentLength != nil && parsed.transferEncoding != .none {
            throw MalformedHTTPMessage("the response has both Content-Length and Transfer-Encoding")
        }
        return parsed
    }
}
