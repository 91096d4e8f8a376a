import NIOCore
import NIOHTTP1

/// Reads a client's HTTP/1.1 requests from the bytes of its connection, one part at a time,
/// in place: a head is parsed once it is all in the buffer, and body bytes go on as slices of
/// the buffer they came in. It replaces NIO's `HTTPRequestDecoder` (llhttp behind a
/// `ByteToMessageHandler`, a handler of its own in every client pipeline), which cost about
/// 8,000 instructions per proxied request in the profile (docs/performance.md, "A request
/// parser of our own"), as `UpstreamResponseParser` replaced its response twin.
///
/// It produces the parts NIO's decoder produced for the same bytes, which
/// `ClientRequestParserTests` checks against it, and refuses what it refused; every refusal
/// is a `MalformedHTTPMessage`, answered 400 (431 when too large) before anything of the
/// request is forwarded:
/// - the request line is a method (a token), one space, a target of visible bytes, one
///   space, and `HTTP/1.0` or `HTTP/1.1`; empty lines before it are skipped (RFC 9112 §2.2);
/// - fields follow `HTTP1Syntax`: token names with the colon at once, no control character
///   in a value, no folded line, CRLF line ends;
/// - `Content-Length` is digits and present once; `Transfer-Encoding` ends with `chunked`
///   (RFC 9112 §6.3: otherwise a server cannot tell a request's length) and never comes
///   with `Content-Length`: the request smuggling rules;
/// - a head (request line and fields) or a trailer section over `maximumHeadSize` bytes is
///   refused as too large.
///
/// A head part comes without its fields: they stay in the bytes they came in
/// (`RequestHeadScan.fieldLines`, with the scan `takeScan()` gives), and the usual request
/// goes upstream with those bytes as they are; making them strings, an array and
/// `HTTPHeaders` cost about 2,000 instructions per request.
///
/// As llhttp did, nothing after a request that asks for an upgrade (`Upgrade` with
/// `Connection: upgrade`) or after a `CONNECT` is parsed: those bytes belong to a tunnel, or
/// to nobody when the replica refuses (the connection then closes).
struct ClientRequestParser {
    private enum State: Equatable {
        /// Awaiting a request head; `scanned` bytes of the buffer hold no end of head.
        case head(scanned: Int)
        /// The request has no body (or its last bytes went out): its end comes next.
        case endOfBodiless
        case body(HTTP1BodyReader)
        /// After a request that asked for an upgrade, or a failure: nothing more is parsed.
        case done
    }

    private var state = State.head(scanned: 0)
    /// The request being read asked for an upgrade: parsing stops after its end.
    private var stopsAfterMessage = false
    let maximumHeadSize: Int

    init(maximumHeadSize: Int) {
        self.maximumHeadSize = maximumHeadSize
    }

    /// The scan of the last head read, made while its fields were parsed, until taken.
    private(set) var scan: RequestHeadScan?

    /// Moved out, not copied (a copy of the optional went through its value witness).
    mutating func takeScan() -> RequestHeadScan? {
        self.scan.take()
    }

    /// Nothing more will be parsed: after an upgrade request or a refusal.
    var isDone: Bool { self.state == .done }

    /// The next part in `buffer`, consuming its bytes; nil when the buffer holds no whole part
    /// yet (the rest stays in it), or nothing more is parsed.
    mutating func next(_ buffer: inout ByteBuffer) throws -> HTTPServerRequestPart? {
        do {
            return try self.step(&buffer)
        } catch {
            self.state = .done
            throw error
        }
    }

    private mutating func step(_ buffer: inout ByteBuffer) throws -> HTTPServerRequestPart? {
        switch self.state {
        case .head(let scanned):
            return try self.readHead(&buffer, scanned: scanned)
        case .endOfBodiless:
            return self.end(nil)
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
                return self.end(trailers)
            }
        case .done:
            return nil
        }
    }

    /// The end of a request whose last bytes were read (or that has no body), which needs
    /// no more bytes; nil when none is due.
    mutating func dueEnd() -> HTTPServerRequestPart? {
        self.state == .endOfBodiless ? self.end(nil) : nil
    }

    private mutating func end(_ trailers: HTTPHeaders?) -> HTTPServerRequestPart {
        self.state = self.stopsAfterMessage ? .done : .head(scanned: 0)
        return .end(trailers)
    }

    /// The client closed its sending side with `unparsed` bytes not parsed: fine between
    /// requests, a refusal in the middle of one.
    mutating func inputEnded(unparsed: Int) throws {
        switch self.state {
        case .head where unparsed == 0, .done:
            return
        default:
            self.state = .done
            throw MalformedHTTPMessage("the client closed its side of the connection in the middle of a request")
        }
    }

    // MARK: heads

    private mutating func readHead(_ buffer: inout ByteBuffer, scanned: Int) throws -> HTTPServerRequestPart? {
        if scanned == 0 {
            // Empty lines before a request line are skipped (RFC 9112 §2.2).
            while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
                buffer.moveReaderIndex(forwardBy: 2)
            }
        }
        // The refusal is made only when thrown: its message costs more to build than the head
        // to parse.
        let limit = self.maximumHeadSize
        let headLength: Int
        switch try HTTP1Syntax.sectionEnd(
            in: buffer, from: scanned, limit: limit,
            tooLarge: { MalformedHTTPMessage("the request head is larger than \(limit.formattedByteCount)", tooLarge: true) })
        {
        case .notYet(let scanned):
            self.state = .head(scanned: scanned)
            return nil
        case .found(let length):
            headLength = length
        }
        var parsed = try buffer.withUnsafeReadableBytes { bytes in
            try Self.parseHead(UnsafeRawBufferPointer(rebasing: bytes[..<headLength]))
        }
        let head = buffer.readSlice(length: headLength)!

        let isConnect = parsed.method.isCONNECT
        self.stopsAfterMessage = (parsed.upgradeField && parsed.connection.upgrade) || isConnect
        let http11 = parsed.minorVersion == 1
        // Made in place: a local scan assigned at the end was copied, then destroyed.
        self.scan = parsed.scanner.takeResult()
        // As llhttp: HTTP/1.1 stays open unless `close` is listed, 1.0 only if `keep-alive`
        // is; and nothing follows a CONNECT.
        self.scan!.keepAlive = (http11 ? !parsed.connection.close : parsed.connection.keepAlive) && !isConnect
        // The fields stay in their bytes: the head part goes on without them.
        self.scan!.fieldLines = head.getSlice(at: head.readerIndex + parsed.fieldsStart, length: headLength - parsed.fieldsStart)

        if isConnect {
            // Whatever its fields say, a CONNECT has no body: a tunnel follows.
            self.state = .endOfBodiless
        } else if parsed.chunked {
            self.state = .body(HTTP1BodyReader(chunkedWithTrailersUpTo: self.maximumHeadSize))
        } else if let length = parsed.contentLength, length > 0 {
            self.state = .body(HTTP1BodyReader(length: length, maximumTrailerSize: 0))
        } else {
            self.state = .endOfBodiless
        }
        return .head(
            HTTPRequestHead(
                version: HTTPVersion(major: 1, minor: parsed.minorVersion), method: parsed.method, uri: parsed.target,
                headers: HTTPHeaders()))
    }

    private struct ParsedHead {
        var method: HTTPMethod
        var target: String
        var minorVersion: Int
        /// Where the field lines begin in the head's bytes.
        var fieldsStart: Int
        var contentLength: Int?
        var transferEncoding = false
        var chunked = false
        var upgradeField = false
        var connection = ConnectionTokens()
        var scanner = RequestHeadScan.Builder()
    }

    /// The `Connection` (and `Proxy-Connection`) tokens llhttp looked for.
    private struct ConnectionTokens {
        var close = false
        var keepAlive = false
        var upgrade = false

        mutating func add(_ value: UnsafeRawBufferPointer) {
            var start = 0
            while start < value.count {
                var end = start
                while end < value.count, value[end] != UInt8(ascii: ",") { end += 1 }
                var first = start
                var last = end
                while first < last, value[first] == UInt8(ascii: " ") || value[first] == UInt8(ascii: "\t") { first += 1 }
                while last > first, value[last - 1] == UInt8(ascii: " ") || value[last - 1] == UInt8(ascii: "\t") { last -= 1 }
                let token = UnsafeRawBufferPointer(rebasing: value[first..<last])
                if HTTP1Syntax.equalsLowercased(token, "close") {
                    self.close = true
                } else if HTTP1Syntax.equalsLowercased(token, "keep-alive") {
                    self.keepAlive = true
                } else if HTTP1Syntax.equalsLowercased(token, "upgrade") {
                    self.upgrade = true
                }
                start = end + 1
            }
        }
    }

    /// Parses a head's bytes, its final CRLF CRLF included.
    private static func parseHead(_ bytes: UnsafeRawBufferPointer) throws -> ParsedHead {
        var index = 0
        while HTTP1Syntax.isTokenByte(bytes[index]) { index &+= 1 }
        guard index > 0, bytes[index] == UInt8(ascii: " ") else {
            throw MalformedHTTPMessage("the request line does not begin with a method")
        }
        let method = Self.method(UnsafeRawBufferPointer(rebasing: bytes[..<index]))
        index += 1
        let targetStart = index
        // Visible ASCII and bytes beyond it; a space ends the target, anything else is refused.
        while bytes[index] &- 0x21 < 0x5E || bytes[index] >= 0x80 { index &+= 1 }
        guard index > targetStart, bytes[index] == UInt8(ascii: " ") else {
            throw MalformedHTTPMessage("the request target is empty or holds a space or control character")
        }
        let target = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[targetStart..<index]), as: UTF8.self)
        index += 1
        // "HTTP/1.x" and CRLF: the head ends with CRLF CRLF, so the line's bytes are there
        // or the comparison meets one of those first.
        guard bytes.count - index >= 10, bytes[index] == UInt8(ascii: "H"), bytes[index + 1] == UInt8(ascii: "T"),
            bytes[index + 2] == UInt8(ascii: "T"), bytes[index + 3] == UInt8(ascii: "P"), bytes[index + 4] == UInt8(ascii: "/"),
            bytes[index + 5] == UInt8(ascii: "1"), bytes[index + 6] == UInt8(ascii: "."),
            bytes[index + 7] == UInt8(ascii: "0") || bytes[index + 7] == UInt8(ascii: "1")
        else { throw MalformedHTTPMessage("the request line does not end with HTTP/1.0 or HTTP/1.1") }
        let minor = Int(bytes[index + 7] &- UInt8(ascii: "0"))
        guard bytes[index + 8] == 0x0D, bytes[index + 9] == 0x0A else {
            throw MalformedHTTPMessage("the request line does not end with CRLF")
        }
        index += 10

        var parsed = ParsedHead(method: method, target: target, minorVersion: minor, fieldsStart: index)
        try HTTP1Syntax.parseFields(bytes, from: index) { name, value in
            parsed.scanner.add(
                name: name.assumingMemoryBound(to: UInt8.self), value: value.assumingMemoryBound(to: UInt8.self),
                valueString: String(decoding: value, as: UTF8.self))
            switch name.first.map({ $0 | 0x20 }) {
            case UInt8(ascii: "c") where HTTP1Syntax.equalsLowercased(name, "content-length"):
                guard parsed.contentLength == nil else { throw MalformedHTTPMessage("the request has more than one Content-Length") }
                parsed.contentLength = try HTTP1Syntax.contentLength(value)
            case UInt8(ascii: "c") where HTTP1Syntax.equalsLowercased(name, "connection"),
                UInt8(ascii: "p") where HTTP1Syntax.equalsLowercased(name, "proxy-connection"):
                // llhttp read `Proxy-Connection` (sent by old clients) as `Connection`.
                parsed.connection.add(value)
            case UInt8(ascii: "t") where HTTP1Syntax.equalsLowercased(name, "transfer-encoding"):
                parsed.transferEncoding = true
                parsed.chunked = HTTP1Syntax.lastCodingIsChunked(value)
            case UInt8(ascii: "u") where HTTP1Syntax.equalsLowercased(name, "upgrade"):
                parsed.upgradeField = true
            default:
                break
            }
        }
        if parsed.transferEncoding {
            guard parsed.contentLength == nil else {
                throw MalformedHTTPMessage("the request has both Content-Length and Transfer-Encoding")
            }
            guard parsed.chunked else { throw MalformedHTTPMessage("the request's Transfer-Encoding does not end with chunked") }
        }
        return parsed
    }

    /// The method, without building a string for the common ones.
    private static func method(_ bytes: UnsafeRawBufferPointer) -> HTTPMethod {
        switch bytes.count {
        case 3 where bytes[0] == UInt8(ascii: "G") && bytes[1] == UInt8(ascii: "E") && bytes[2] == UInt8(ascii: "T"):
            return .GET
        case 4 where bytes[0] == UInt8(ascii: "P") && bytes[1] == UInt8(ascii: "O") && bytes[2] == UInt8(ascii: "S")
            && bytes[3] == UInt8(ascii: "T"):
            return .POST
        case 4 where bytes[0] == UInt8(ascii: "H") && bytes[1] == UInt8(ascii: "E") && bytes[2] == UInt8(ascii: "A")
            && bytes[3] == UInt8(ascii: "D"):
            return .HEAD
        default:
            return HTTPMethod(rawValue: String(decoding: bytes, as: UTF8.self))
        }
    }
}
