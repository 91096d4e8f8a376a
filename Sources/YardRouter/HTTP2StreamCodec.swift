import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2

/// A stream's request as HTTP/1 parts for the proxy handler, and its response as HTTP/2
/// frame payloads: what swift-nio-http2's `HTTP2FramePayloadToHTTP1ServerCodec` does, with
/// fewer frames and copies per request, as a value its stream (`HTTP2ServerStream`) keeps.
///
/// - The response's last frame carries END_STREAM (the HEADERS frame of a response without a
///   body, else its last DATA frame) instead of an empty DATA frame after it: each response
///   part is held back until the next one (or a flush) shows whether it is the last.
/// - The request head is read in one pass over the header block (the pseudo-headers found,
///   checked and dropped, `:authority` becoming `Host`), the response head written as an
///   HPACK block in one pass (names lowercased, connection-specific fields dropped).
/// - That pass also checks every rule RFC 9113 sets for a request's block (§8.2 and §8.3:
///   lowercase token names, no connection-specific field, `te` only as `trailers`, no CR, LF
///   or NUL in a value, pseudo-headers first, known, once each, with valid values and a
///   non-empty `:path`) and for trailers (no pseudo-header): the block is walked once. A block
///   that breaks one is never forwarded; the stream is reset.
/// - Content lengths are checked here too (RFC 9113 §8.1.1).
/// - A refused request is reset with `PROTOCOL_ERROR` (RFC 9113 §8.1.1) by its stream, rather
///   than raised as an error, which would end the whole connection.
struct HTTP2StreamCodec {
    static let version = HTTPVersion(major: 2, minor: 0)

    /// Where the stream's request is.
    private enum RequestState {
        case awaitingHead
        /// The head went on; `remaining` is what its `content-length` still allows, nil without one.
        case body(remaining: Int?)
        /// Reset: nothing more of the request is read.
        case refused
    }

    /// Why a request was refused, for the router's log: rules and field names, never a value
    /// (one may be a credential), a name quoted and cut short (it may hold anything but a
    /// line break, which quoting escapes).
    struct Refusal: Error, CustomStringConvertible {
        let description: String

        init(_ description: String) {
            self.description = description
        }

        init(_ rule: String, name: String) {
            self.description = "\(rule) \(String(name.prefix(64)).debugDescription)"
        }
    }

    private var request = RequestState.awaitingHead
    /// The response frame written last and not sent yet.
    private var held: HTTP2Frame.FramePayload?
    private var heldPromise: EventLoopPromise<Void>?

    // MARK: the request

    /// What a received frame is for the proxy handler.
    enum RequestParts {
        case none
        case one(HTTPServerRequestPart)
        /// A part and the request's end (the frame carried END_STREAM).
        case two(HTTPServerRequestPart, HTTPServerRequestPart)
        /// The request is malformed: its stream is reset (`PROTOCOL_ERROR`), nothing more of it read.
        case refused(Refusal)
    }

    /// Converts a received frame's payload into request parts. Returned, not handed on from
    /// here: the proxy handler may answer at once, and its answer passes through this codec.
    mutating func received(_ payload: HTTP2Frame.FramePayload) -> RequestParts {
        switch (payload, self.request) {
        case (_, .refused):
            return .none
        case (.headers(let headers), .awaitingHead):
            let converted: (HTTPRequestHead, contentLength: Int?)
            do {
                converted = try Self.requestHead(headers.headers, endStream: headers.endStream)
            } catch {
                return self.refuse(error)
            }
            self.request = .body(remaining: converted.contentLength)
            return headers.endStream ? .two(.head(converted.0), .end(nil)) : .one(.head(converted.0))
        case (.headers(let headers), .body(let remaining)):
            // A second header block is the request's trailers (the HTTP/2 layer checked END_STREAM).
            // They end the stream: a declared length must be complete by now.
            guard (remaining ?? 0) == 0 else {
                return self.refuse(Refusal("trailers before the body reached its content-length"))
            }
            do {
                return .one(.end(try Self.trailerFields(headers.headers)))
            } catch {
                return self.refuse(error)
            }
        case (.data(let data), .body(let remaining)):
            guard case .byteBuffer(let buffer) = data.data else { return .none }
            if let remaining {
                // Not a byte past the declared length goes on: upstream, that length frames the body.
                let left = remaining - buffer.readableBytes
                guard left >= 0 else { return self.refuse(Refusal("body longer than its content-length")) }
                guard left == 0 || !data.endStream else {
                    return self.refuse(Refusal("body ended short of its content-length"))
                }
                self.request = .body(remaining: left)
            }
            switch (buffer.readableBytes > 0 || !data.endStream, data.endStream) {
            case (true, true): return .two(.body(buffer), .end(nil))
            case (true, false): return .one(.body(buffer))
            case (false, _): return .one(.end(nil))
            }
        default:
            return .none
        }
    }

    private mutating func refuse(_ error: any Error) -> RequestParts {
        self.request = .refused
        return .refused(error as? Refusal ?? Refusal("\(type(of: error))"))
    }

    /// The HTTP/1 view of a request header block: like swift-nio-http2's conversion (`Host`
    /// from `:authority` unless the client sent one; a body-carrying method without
    /// `content-length` gets `content-length: 0` or chunked framing), in one pass that also
    /// validates the block (see the type's documentation); throws for a malformed one. Also the
    /// body length its `content-length` declares, kept as one field.
    static func requestHead(_ block: HPACKHeaders, endStream: Bool) throws -> (HTTPRequestHead, contentLength: Int?) {
        var method: String?
        var path: String?
        var scheme: String?
        var authority: String?
        var hasHost = false
        var contentLength: Int?
        var inRegularFields = false
        var fields: [(String, String)] = []
        fields.reserveCapacity(max(0, block.count - 2))
        for (name, value, _) in block {
            guard name.utf8.first == UInt8(ascii: ":") else {
                inRegularFields = true
                switch try Self.checkRegularField(name: name, value: value) {
                case .host:
                    hasHost = true
                case .contentLength:
                    guard let length = Self.contentLength(value) else { throw Refusal("malformed content-length") }
                    if let declared = contentLength {
                        guard length == declared else { throw Refusal("content-length fields that disagree") }
                        // HTTP/1.1 parsers refuse a repeated `Content-Length`, even an agreeing one.
                        continue
                    }
                    contentLength = length
                case .te:
                    // The one `te` a request may carry over HTTP/2 (RFC 9113 §8.2.2).
                    guard value == "trailers" else { throw Refusal("te other than trailers") }
                case .other:
                    break
                }
                fields.append((name, value))
                continue
            }
            guard !inRegularFields else { throw Refusal("pseudo-header after a regular field:", name: name) }
            // By length first: a `String` compare that fails is a runtime call, not a few instructions.
            switch name.utf8.count {
            case 7 where name == ":method": try Self.setPseudo(&method, name: name, value: value)
            case 5 where name == ":path":
                guard !value.isEmpty else { throw Refusal("empty :path") }
                try Self.setPseudo(&path, name: name, value: value)
            case 7 where name == ":scheme": try Self.setPseudo(&scheme, name: name, value: value)
            case 10 where name == ":authority": try Self.setPseudo(&authority, name: name, value: value)
            // `:status` belongs to responses; `:protocol` needs extended CONNECT, which the router does not offer.
            default: throw Refusal("unknown pseudo-header", name: name)
            }
        }
        guard let method else { throw Refusal("no :method") }
        // CONNECT over HTTP/2 has no `:path` or `:scheme` (RFC 9113 §8.5): the router proxies no tunnels.
        guard method != "CONNECT" else { throw Refusal("CONNECT (the router proxies no tunnels)") }
        guard let path else { throw Refusal("no :path") }
        guard scheme != nil else { throw Refusal("no :scheme") }
        guard let authority else { throw Refusal("no :authority") }
        let httpMethod = HTTPMethod(rawValue: method)
        if !hasHost {
            fields.append(("host", authority))
        }
        switch httpMethod {
        case .GET, .HEAD, .DELETE, .CONNECT, .TRACE:
            break
        default:
            if contentLength == nil {
                fields.append(endStream ? ("content-length", "0") : ("transfer-encoding", "chunked"))
            }
        }
        // A body declared and none sent (END_STREAM on the head): malformed (RFC 9113 §8.1.1).
        if endStream, let contentLength, contentLength > 0 { throw Refusal("a content-length over 0 and END_STREAM on the head") }
        return (HTTPRequestHead(version: Self.version, method: httpMethod, uri: path, headers: HTTPHeaders(fields)), contentLength)
    }

    /// A `content-length` value as RFC 9110 §8.6 writes it (digits only); nil for anything else: a
    /// sign, a list (`5, 5`), white space, nothing, or more than `Int` holds.
    static func contentLength(_ value: String) -> Int? {
        var length = 0
        for byte in value.utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (tens, overflowed) = length.multipliedReportingOverflow(by: 10)
            let (sum, overflowedAgain) = tens.addingReportingOverflow(Int(byte &- UInt8(ascii: "0")))
            guard !overflowed, !overflowedAgain else { return nil }
            length = sum
        }
        return value.utf8.isEmpty ? nil : length
    }

    private static func setPseudo(_ slot: inout String?, name: String, value: String) throws {
        guard slot == nil else { throw Refusal("repeated pseudo-header", name: name) }
        // No SP, control character or DEL: `:path` becomes the HTTP/1.1 request line.
        guard !value.utf8.withBytes({ $0.contains(where: { $0 <= 0x20 || $0 == 0x7F }) }) else {
            throw Refusal("space or control character in the value of", name: name)
        }
        slot = value
    }

    /// A trailer block as HTTP/1 trailers; throws for a pseudo-header or a field that breaks
    /// the rules of `checkRegularField`.
    static func trailerFields(_ block: HPACKHeaders) throws -> HTTPHeaders {
        var fields: [(String, String)] = []
        fields.reserveCapacity(block.count)
        for (name, value, _) in block {
            guard name.utf8.first != UInt8(ascii: ":") else { throw Refusal("pseudo-header in trailers", name: name) }
            _ = try Self.checkRegularField(name: name, value: value)
            fields.append((name, value))
        }
        return HTTPHeaders(fields)
    }

    /// The regular fields the request conversion looks for.
    enum RegularField {
        case host, contentLength, te, other
    }

    /// Checks a regular (not pseudo-) field of a received block as RFC 9113 §8.2 asks: the
    /// name a lowercase token, not a connection-specific field, the value without CR, LF or
    /// NUL (which would end the line, or smuggle one in, when the field is written as HTTP/1.1).
    static func checkRegularField(name: String, value: String) throws -> RegularField {
        // Over the bytes in place: iterating a `String.UTF8View` costs several times more per byte.
        let length = name.utf8.withBytes { $0.allSatisfy(Self.isLowercaseTokenByte) ? $0.count : 0 }
        guard length > 0 else { throw Refusal("field name that is not a lowercase token:", name: name) }
        if value.utf8.withBytes({ $0.contains(where: { $0 == 0 || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) }) {
            throw Refusal("CR, LF or NUL in the value of", name: name)
        }
        // Compared only when the length matches: most names are none of these.
        switch length {
        case 2 where name == "te":
            return .te
        case 4 where name == "host":
            return .host
        case 14 where name == "content-length":
            return .contentLength
        case 7 where name == "upgrade", 10 where name == "connection" || name == "keep-alive",
            16 where name == "proxy-connection", 17 where name == "transfer-encoding":
            throw Refusal("connection-specific field", name: name)
        default:
            return .other
        }
    }

    /// RFC 9110's `tchar` without the upper-case letters (HTTP/2 names are lowercase).
    private static func isLowercaseTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#")...UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"),
            UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"),
            UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    // MARK: the response

    /// A frame to send and the promise it completes.
    typealias ResponseFrame = (payload: HTTP2Frame.FramePayload, promise: EventLoopPromise<Void>?)

    /// Converts a response part into the frames it releases, in order, holding its own back
    /// (see the type's documentation); `promise` completes with the frame that carries the
    /// part. Returned, not written from here: a written END_STREAM closes the stream at once.
    /// A response head already made into its field block (`responseBlock(status:fieldsOf:)`),
    /// held back as `write` holds a head.
    mutating func writeHead(_ block: HPACKHeaders, promise: EventLoopPromise<Void>?) -> ResponseFrame? {
        self.hold(.headers(.init(headers: block)), promise: promise)
    }

    mutating func write(
        _ part: HTTPServerResponsePart, promise: EventLoopPromise<Void>?, allocator: ByteBufferAllocator
    ) -> (ResponseFrame?, ResponseFrame?) {
        switch part {
        case .head(let head):
            return (self.hold(.headers(.init(headers: Self.responseBlock(head))), promise: promise), nil)
        case .body(let body):
            return (self.hold(.data(.init(data: body)), promise: promise), nil)
        case .end(let trailers?):
            return (self.flush(), (.headers(.init(headers: Self.fieldBlock(trailers), endStream: true)), promise))
        case .end(nil):
            guard var last = self.held else {
                return ((.data(.init(data: .byteBuffer(allocator.buffer(capacity: 0)), endStream: true)), promise), nil)
            }
            var lastPromise = self.heldPromise
            self.held = nil
            self.heldPromise = nil
            switch last {
            case .headers(var headers):
                headers.endStream = true
                last = .headers(headers)
            case .data(var frame):
                frame.endStream = true
                last = .data(frame)
            default:
                break
            }
            if let promise {
                if let lastPromise { lastPromise.futureResult.cascade(to: promise) } else { lastPromise = promise }
            }
            return ((last, lastPromise), nil)
        }
    }

    /// The frame held back, to send now.
    mutating func flush() -> ResponseFrame? {
        guard let held = self.held else { return nil }
        let promise = self.heldPromise
        self.held = nil
        self.heldPromise = nil
        return (held, promise)
    }

    /// Drops the frame held back (the stream is gone or reset) and returns its promise, to fail.
    mutating func dropHeld() -> EventLoopPromise<Void>? {
        let promise = self.heldPromise
        self.held = nil
        self.heldPromise = nil
        return promise
    }

    /// Holds `payload` back and returns the frame held before it.
    private mutating func hold(_ payload: HTTP2Frame.FramePayload, promise: EventLoopPromise<Void>?) -> ResponseFrame? {
        let previous = self.flush()
        self.held = payload
        self.heldPromise = promise
        return previous
    }

    /// `:status` and the response's fields, in one array. Blocks are made from an array of
    /// pairs, not field by field: `HPACKHeaders.add` checks each name for ASCII a byte at a
    /// time through its UTF-8 view, about 300 instructions a field (names here are tokens,
    /// which the parsers checked).
    static func responseBlock(_ head: HTTPResponseHead) -> HPACKHeaders {
        var fields: [(String, String)] = []
        fields.reserveCapacity(head.headers.count + 1)
        fields.append((":status", String(head.status.code)))
        Self.appendFields(head.headers, to: &fields)
        return HPACKHeaders(fields)
    }

    static func fieldBlock(_ headers: HTTPHeaders) -> HPACKHeaders {
        var fields: [(String, String)] = []
        fields.reserveCapacity(headers.count)
        Self.appendFields(headers, to: &fields)
        return HPACKHeaders(fields)
    }

    /// `:status` and a replica's fields read from the bytes its head came in
    /// (`UpstreamResponseParser.ReceivedHead`, for a head passed on without fields): each
    /// name is lowercased as its string is made, and no `HTTPHeaders` is made at all.
    static func responseBlock(
        status: HTTPResponseStatus, fieldsOf received: UpstreamResponseParser.ReceivedHead
    ) -> HPACKHeaders {
        var fields: [(String, String)] = []
        fields.reserveCapacity(12)
        fields.append((":status", String(status.code)))
        var connection: [String] = []
        received.bytes.withUnsafeReadableBytes { bytes in
            // The parser checked these bytes already.
            try! HTTP1Syntax.parseFields(bytes, from: received.fieldsStart) { name, value in
                let lowercased = String(unsafeUninitializedCapacity: name.count) { target in
                    for index in name.indices {
                        let byte = name[index]
                        target[index] = byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
                    }
                    return name.count
                }
                Self.append(lowercased, String(decoding: value, as: UTF8.self), to: &fields, connection: &connection)
            }
        }
        Self.removeFields(namedIn: connection, from: &fields)
        return HPACKHeaders(fields)
    }

    /// Names lowercased (HTTP/2 requires it); connection-specific fields, and those a
    /// `Connection` field names, left out.
    private static func appendFields(_ headers: HTTPHeaders, to fields: inout [(String, String)]) {
        var connection: [String] = []
        for (name, value) in headers {
            Self.append(name.lowercasedASCII, value, to: &fields, connection: &connection)
        }
        Self.removeFields(namedIn: connection, from: &fields)
    }

    /// One field, its name lowercased already, unless it is connection-specific; the value
    /// of a `Connection` field that names more than `keep-alive` (dropped anyway) is kept
    /// in `connection`.
    private static func append(
        _ lowercased: String, _ value: String, to fields: inout [(String, String)], connection: inout [String]
    ) {
        // By length first, as in `requestHead`.
        switch lowercased.utf8.count {
        case 10 where lowercased == "connection":
            if !value.utf8.equalsLowercased("keep-alive") { connection.append(value) }
        case 10 where lowercased == "keep-alive", 16 where lowercased == "proxy-connection",
            17 where lowercased == "transfer-encoding", 7 where lowercased == "upgrade":
            break
        default:
            fields.append((lowercased, value))
        }
    }

    /// Removes the fields the `Connection` values name (comma-separated, any case).
    private static func removeFields(namedIn connection: [String], from fields: inout [(String, String)]) {
        for value in connection {
            for token in value.split(separator: ",") {
                let name = token.trimmingASCIISpaces.lowercased()
                if !name.isEmpty { fields.removeAll { $0.0 == name } }
            }
        }
    }
}

