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
/// - field names are tokens followed at once by `:`; values hold no control character but
///   tab; a folded line (obs-fold) is refused (RFC 9112 §5.2: a proxy must not pass it on);
/// - lines end with CRLF;
/// - `Content-Length` is digits, present once, and never beside `Transfer-Encoding`;
/// - a head (or a trailer section) larger than 80 KiB is refused, as NIO's limit was.
///
/// Framing follows RFC 9112 §6.3: no body after `HEAD` or `CONNECT` or for 1xx, 204 and 304;
/// chunked when the last transfer coding is `chunked`, until the close for any other or when
/// there is no length. An informational (1xx) head is passed on without an end; a 101 ends
/// the parsing, and what follows belongs to the tunnel.
struct UpstreamResponseParser {
    struct Malformed: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static let maximumHeadSize = 80 * 1024
    /// A chunk-size line (size and extensions) longer than this is refused.
    static let maximumChunkLineSize = 4 * 1024

    private enum State: Equatable {
        /// Awaiting a response head; `scanned` bytes of the buffer hold no end of head.
        case head(scanned: Int)
        /// The head went out and its message has no body: the end comes next.
        case endOfBodiless
        /// A 101 went out: its end comes next, then nothing more is parsed.
        case endOfUpgrade
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(scanned: Int)
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
        switch self.state {
        case .head(let scanned):
            return try self.readHead(&buffer, scanned: scanned)
        case .endOfBodiless, .endOfUpgrade:
            return self.dueEnd()
        case .fixed(let remaining):
            guard let (body, left) = Self.bodyBytes(&buffer, remaining: remaining) else { return nil }
            self.state = left == 0 ? .endOfBodiless : .fixed(remaining: left)
            return .body(body)
        case .untilClose:
            guard buffer.readableBytes > 0 else { return nil }
            return .body(buffer.readSlice(length: buffer.readableBytes)!)
        case .chunkSize:
            guard let size = try self.readChunkSize(&buffer) else { return nil }
            self.state = size == 0 ? .trailers(scanned: 0) : .chunkData(remaining: size)
            return try self.next(&buffer)
        case .chunkData(let remaining):
            guard let (body, left) = Self.bodyBytes(&buffer, remaining: remaining) else { return nil }
            self.state = left == 0 ? .chunkDataEnd : .chunkData(remaining: left)
            return .body(body)
        case .chunkDataEnd:
            guard buffer.readableBytes >= 2 else { return nil }
            guard buffer.readInteger(as: UInt16.self) == 0x0D0A else {
                throw self.fail("a chunk's data is not followed by CRLF")
            }
            self.state = .chunkSize
            return try self.next(&buffer)
        case .trailers(let scanned):
            return try self.readTrailers(&buffer, scanned: scanned)
        case .done:
            return nil
        }
    }

    /// Up to `remaining` body bytes from `buffer` as a slice of it, and how many the body
    /// needs after them; nil when the buffer is empty.
    private static func bodyBytes(_ buffer: inout ByteBuffer, remaining: Int) -> (ByteBuffer, left: Int)? {
        guard buffer.readableBytes > 0 else { return nil }
        let length = min(remaining, buffer.readableBytes)
        return (buffer.readSlice(length: length)!, remaining - length)
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
            throw self.fail("the upstream closed the connection in the middle of a response")
        }
    }

    // MARK: heads

    private mutating func readHead(_ buffer: inout ByteBuffer, scanned: Int) throws -> HTTPClientResponsePart? {
        guard let headLength = Self.endOfSection(in: buffer, from: scanned) else {
            guard buffer.readableBytes <= Self.maximumHeadSize else {
                throw self.fail("the response head is larger than 80 KiB")
            }
            // The last three bytes may begin the end of the head.
            self.state = .head(scanned: max(0, buffer.readableBytes - 3))
            return nil
        }
        guard headLength <= Self.maximumHeadSize else {
            throw self.fail("the response head is larger than 80 KiB")
        }
        let parsed = try buffer.withUnsafeReadableBytes { bytes in
            try Self.parseHead(UnsafeRawBufferPointer(rebasing: bytes[..<headLength]))
        }
        let bytes = buffer.readSlice(length: headLength)!
        let head = try self.frame(parsed)
        if parsed.status >= 200 {
            self.receivedHead = ReceivedHead(
                bytes: bytes, hasContentLength: parsed.contentLength != nil, transferEncoding: parsed.transferEncoding,
                scan: parsed.scanner.result)
        }
        return .head(head)
    }

    private struct ParsedHead {
        var minorVersion: Int
        var status: Int
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
    struct ReceivedHead {
        var bytes: ByteBuffer
        var hasContentLength: Bool
        var transferEncoding: TransferEncoding
        /// `HeaderScan(head.headers)`, found while the fields were read.
        var scan: HeaderScan
    }

    /// The last final head read, until taken.
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
            headers: HTTPHeaders(parsed.fields))
        if parsed.status >= 100 && parsed.status < 200 && parsed.status != 101 {
            // Informational: the final response to the same request follows.
            guard !self.methods.isEmpty else { throw self.fail("the upstream sent a response nobody asked for") }
            self.state = .head(scanned: 0)
            return head
        }
        guard let method = self.methods.popFirst() else {
            throw self.fail("the upstream sent a response nobody asked for")
        }
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
            self.state = .chunkSize
        case (.other, _):
            self.state = .untilClose
        case (.none, let length?):
            self.state = length == 0 ? .endOfBodiless : .fixed(remaining: length)
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
        else { throw Malformed("the status line does not begin with HTTP/1.0 or HTTP/1.1") }
        var status = 0
        for index in 9..<12 {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { throw Malformed("the status code is not three digits") }
            status = status * 10 + Int(digit)
        }
        guard status >= 100 else { throw Malformed("the status code \(status) is below 100") }
        var index = 12
        if bytes[index] == UInt8(ascii: " ") {
            index += 1
            while bytes[index] != 0x0D {
                guard Self.isFieldValueByte(bytes[index]) else { throw Malformed("the reason phrase holds a control character") }
                index += 1
            }
        }
        guard bytes[index] == 0x0D, bytes[index + 1] == 0x0A else { throw Malformed("the status line does not end with CRLF") }
        index += 2

        var parsed = ParsedHead(
            minorVersion: bytes[7] == UInt8(ascii: "1") ? 1 : 0, status: status, fields: [], contentLength: nil,
            transferEncoding: .none)
        parsed.fields.reserveCapacity(12)
        try Self.parseFields(bytes, from: index) { name, value in
            let field = (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
            parsed.scanner.add(name: name.assumingMemoryBound(to: UInt8.self), value: value.assumingMemoryBound(to: UInt8.self))
            if Self.equalsLowercased(name, "content-length") {
                guard parsed.contentLength == nil else { throw Malformed("the response has more than one Content-Length") }
                parsed.contentLength = try Self.contentLength(value)
            } else if Self.equalsLowercased(name, "transfer-encoding") {
                parsed.transferEncoding = Self.lastCodingIsChunked(value) ? .chunked : .other
            }
            parsed.fields.append(field)
        }
        if parsed.contentLength != nil && parsed.transferEncoding != .none {
            throw Malformed("the response has both Content-Length and Transfer-Encoding")
        }
        return parsed
    }

    /// Calls `field` with each field's name and value (without the whitespace before it) from
    /// `start` to the empty line that ends the section.
    private static func parseFields(
        _ bytes: UnsafeRawBufferPointer, from start: Int,
        _ field: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        var index = start
        while true {
            if bytes[index] == 0x0D {
                guard bytes[index + 1] == 0x0A else { throw Malformed("a field line does not end with CRLF") }
                return
            }
            let nameStart = index
            // `&+`: an index stays inside the head, which ends with CRLF CRLF.
            while Self.isTokenByte(bytes[index]) { index &+= 1 }
            guard bytes[index] == UInt8(ascii: ":") else {
                if bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") {
                    throw Malformed(index == nameStart ? "a folded field line (obs-fold)" : "whitespace in a field name")
                }
                throw Malformed("a field name holds an invalid character")
            }
            guard index > nameStart else { throw Malformed("a field has an empty name") }
            let name = UnsafeRawBufferPointer(rebasing: bytes[nameStart..<index])
            index &+= 1
            while bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") { index &+= 1 }
            let valueStart = index
            while true {
                let byte = bytes[index]
                // Printable ASCII, the usual case, in one comparison.
                if byte &- 0x20 < 0x5F {
                    index &+= 1
                    continue
                }
                if byte == 0x0D { break }
                guard Self.isFieldValueByte(byte) else { throw Malformed("a field value holds a control character") }
                index &+= 1
            }
            guard bytes[index + 1] == 0x0A else { throw Malformed("a field line does not end with CRLF") }
            // Whitespace after the value stays in it, as llhttp left it.
            try field(name, UnsafeRawBufferPointer(rebasing: bytes[valueStart..<index]))
            index += 2
        }
    }

    private static func contentLength(_ value: UnsafeRawBufferPointer) throws -> Int {
        var end = value.count
        while end > 0, value[end - 1] == UInt8(ascii: " ") || value[end - 1] == UInt8(ascii: "\t") { end -= 1 }
        guard end > 0 else { throw Malformed("Content-Length is empty") }
        var length = 0
        for byte in value[..<end] {
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else { throw Malformed("Content-Length is not a number") }
            let (times10, overflow1) = length.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(digit))
            guard !overflow1 && !overflow2 else { throw Malformed("Content-Length is too large") }
            length = sum
        }
        return length
    }

    /// Whether the last coding of a `Transfer-Encoding` value is `chunked`.
    private static func lastCodingIsChunked(_ value: UnsafeRawBufferPointer) -> Bool {
        var end = value.count
        while end > 0, value[end - 1] == UInt8(ascii: " ") || value[end - 1] == UInt8(ascii: "\t") { end -= 1 }
        var start = end
        while start > 0, value[start - 1] != UInt8(ascii: ",") { start -= 1 }
        while start < end, value[start] == UInt8(ascii: " ") || value[start] == UInt8(ascii: "\t") { start += 1 }
        return Self.equalsLowercased(UnsafeRawBufferPointer(rebasing: value[start..<end]), "chunked")
    }

    // MARK: chunks

    /// A chunk's size from its size line (extensions skipped), or nil until the line is whole.
    private mutating func readChunkSize(_ buffer: inout ByteBuffer) throws -> Int? {
        let line: (size: Int, length: Int)? = try buffer.withUnsafeReadableBytes { bytes in
            guard let lineFeed = bytes.firstIndex(of: 0x0A) else {
                guard bytes.count <= Self.maximumChunkLineSize else { throw Malformed("a chunk-size line is too long") }
                return nil
            }
            guard lineFeed > 0, bytes[lineFeed - 1] == 0x0D else { throw Malformed("a chunk-size line does not end with CRLF") }
            var size = 0
            var index = 0
            while index < lineFeed - 1, let digit = Self.hexValue(bytes[index]) {
                guard size < (Int.max >> 4) else { throw Malformed("a chunk size is too large") }
                size = size << 4 | digit
                index += 1
            }
            guard index > 0 else { throw Malformed("a chunk-size line does not begin with a hexadecimal size") }
            while index < lineFeed - 1, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") { index += 1 }
            if index < lineFeed - 1 {
                guard bytes[index] == UInt8(ascii: ";") else { throw Malformed("a chunk size is followed by something other than an extension") }
                for byte in bytes[index..<(lineFeed - 1)] where !Self.isFieldValueByte(byte) {
                    throw Malformed("a chunk extension holds a control character")
                }
            }
            return (size, lineFeed + 1)
        }
        guard let line else { return nil }
        buffer.moveReaderIndex(forwardBy: line.length)
        return line.size
    }

    private mutating func readTrailers(_ buffer: inout ByteBuffer, scanned: Int) throws -> HTTPClientResponsePart? {
        // No trailers: the last chunk is followed by the empty line at once.
        if buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
            buffer.moveReaderIndex(forwardBy: 2)
            self.state = .head(scanned: 0)
            return .end(nil)
        }
        guard let length = Self.endOfSection(in: buffer, from: scanned) else {
            guard buffer.readableBytes <= Self.maximumHeadSize else { throw self.fail("the trailer section is larger than 80 KiB") }
            self.state = .trailers(scanned: max(0, buffer.readableBytes - 3))
            return nil
        }
        guard length <= Self.maximumHeadSize else { throw self.fail("the trailer section is larger than 80 KiB") }
        var trailers: [(String, String)] = []
        try buffer.withUnsafeReadableBytes { bytes in
            try Self.parseFields(UnsafeRawBufferPointer(rebasing: bytes[..<length]), from: 0) { name, value in
                trailers.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
            }
        }
        buffer.moveReaderIndex(forwardBy: length)
        self.state = .head(scanned: 0)
        return .end(HTTPHeaders(trailers))
    }

    // MARK: bytes

    /// The length up to and including the first CRLF CRLF at or after `from`, if there is one.
    private static func endOfSection(in buffer: ByteBuffer, from: Int) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            guard bytes.count >= 4 else { return nil }
            var index = from
            let last = bytes.count - 4
            while index <= last {
                // Step to the next LF; the pattern's second LF sits three bytes after its start.
                if bytes[index + 3] != 0x0A {
                    index += bytes[index + 3] == 0x0D ? 1 : 4
                    continue
                }
                if bytes[index] == 0x0D && bytes[index + 1] == 0x0A && bytes[index + 2] == 0x0D {
                    return index + 4
                }
                index += 1
            }
            return nil
        }
    }

    private mutating func fail(_ description: String) -> Malformed {
        self.state = .done
        return Malformed(description)
    }

    /// tchar (RFC 9110 §5.6.2) as two bit sets over the ASCII bytes: digits, letters and
    /// the 14 symbols `!#$%&'*+-.^_|~` and the backquote.
    @inline(__always)
    static func isTokenByte(_ byte: UInt8) -> Bool {
        let low: UInt64 = 0x03FF_6CFA_0000_0000  // 0x00–0x3F: ! # $ % & ' * + - . 0–9
        let high: UInt64 = 0x57FF_FFFF_C7FF_FFFE  // 0x40–0x7F: A–Z ^ _ ` a–z | ~
        guard byte < 0x80 else { return false }
        let set = byte < 0x40 ? low : high
        return (set >> UInt64(byte & 0x3F)) & 1 == 1
    }

    /// VCHAR, obs-text, SP and HTAB.
    private static func isFieldValueByte(_ byte: UInt8) -> Bool {
        byte >= 0x20 ? byte != 0x7F : byte == UInt8(ascii: "\t")
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte &- UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(byte &- UInt8(ascii: "a") &+ 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(byte &- UInt8(ascii: "A") &+ 10)
        default: return nil
        }
    }

    /// Whether `bytes`, lower-cased, are `lowercased` (ASCII).
    private static func equalsLowercased(_ bytes: UnsafeRawBufferPointer, _ lowercased: StaticString) -> Bool {
        guard bytes.count == lowercased.utf8CodeUnitCount else { return false }
        let expected = lowercased.utf8Start
        for index in 0..<bytes.count where bytes[index] | 0x20 != expected[index] {
            // `| 0x20` maps A–Z to a–z; '-' (0x2D) is unchanged.
            return false
        }
        return true
    }
}
