import NIOCore
import NIOHTTP1

/// A message one of the router's HTTP/1.1 parsers refuses, and why.
struct MalformedHTTPMessage: Error, CustomStringConvertible {
    let description: String
    /// A head or trailer section over the size limit (a client gets 431, not 400).
    let tooLarge: Bool

    init(_ description: String, tooLarge: Bool = false) {
        self.description = description
        self.tooLarge = tooLarge
    }
}

/// What requests and responses share in HTTP/1.1's syntax (RFC 9112): field lines, the
/// framing fields' values, byte classes. `UpstreamResponseParser` and `ClientRequestParser`
/// read with it, and `HTTP1BodyReader` reads the bodies of both.
enum HTTP1Syntax {
    /// The length up to and including the first CRLF CRLF at or after `from`, if there is one.
    ///
    /// The LFs are found eight bytes at a time, and only at an LF are the three bytes before
    /// it looked at: a head has one LF in twenty-odd bytes.
    static func endOfSection(in buffer: ByteBuffer, from: Int) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            // The pattern ends at an LF at least three bytes after `from`.
            @inline(__always)
            func endsPattern(_ lf: Int) -> Bool {
                lf &- 3 >= from && bytes[lf &- 3] == 0x0D && bytes[lf &- 2] == 0x0A && bytes[lf &- 1] == 0x0D
            }
            var index = from
            while index &+ 8 <= bytes.count {
                var lfs = Self.bytesEqual(to: 0x0A, in: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                while lfs != 0 {
                    let lf = index &+ lfs.trailingZeroBitCount / 8
                    if endsPattern(lf) { return lf &+ 1 }
                    lfs &= lfs &- 1
                }
                index &+= 8
            }
            while index < bytes.count {
                if bytes[index] == 0x0A && endsPattern(index) { return index &+ 1 }
                index &+= 1
            }
            return nil
        }
    }

    /// The high bit of each byte of `word` that equals `byte`, and no other bit. (Exact, unlike
    /// the shorter test for "some byte is zero", whose borrows mark bytes above a zero one.)
    @inline(__always)
    static func bytesEqual(to byte: UInt8, in word: UInt64) -> UInt64 {
        let lows: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
        let zeroWhereEqual = word ^ (0x0101_0101_0101_0101 &* UInt64(byte))
        // A byte's high bit is set by the sum when its low seven bits are not all zero, and by
        // the byte itself when its high bit is: left clear only where the byte is zero.
        return ~(((zeroWhereEqual & lows) &+ lows) | zeroWhereEqual | lows)
    }

    /// Where a head or trailer section ends in `buffer`, when it is there whole.
    enum SectionEnd {
        /// Its length, its final CRLF CRLF included.
        case found(Int)
        /// Not whole yet: the search resumes at `scanned` when more bytes come.
        case notYet(scanned: Int)
    }

    /// The end of the section that starts `buffer`, searched from `scanned`; `tooLarge` is
    /// thrown (made only then) once the section is longer than `limit`.
    static func sectionEnd(
        in buffer: ByteBuffer, from scanned: Int, limit: Int, tooLarge: () -> MalformedHTTPMessage
    ) throws -> SectionEnd {
        guard let length = Self.endOfSection(in: buffer, from: scanned) else {
            guard buffer.readableBytes <= limit else { throw tooLarge() }
            // The last three bytes may begin the end of the section.
            return .notYet(scanned: max(0, buffer.readableBytes - 3))
        }
        guard length <= limit else { throw tooLarge() }
        return .found(length)
    }

    /// Calls `field` with each field's name and value (without the whitespace before it) from
    /// `start` to the empty line that ends the section; `bytes` ends with CRLF CRLF.
    ///
    /// Names are tokens followed at once by `:`; values hold no control character but tab; a
    /// folded line (obs-fold) is refused (RFC 9112 §5.2: a proxy must not pass it on); every
    /// line ends with CRLF.
    static func parseFields(
        _ bytes: UnsafeRawBufferPointer, from start: Int,
        _ field: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        var index = start
        // Words are read while eight bytes are left; `bytes` ends with CRLF CRLF, so the
        // last eight are looked at one by one.
        let wordsEnd = bytes.count &- 8
        while true {
            if bytes[index] == 0x0D {
                guard bytes[index + 1] == 0x0A else { throw MalformedHTTPMessage("a field line does not end with CRLF") }
                return
            }
            let nameStart = index
            // Eight bytes at a time while they are letters, digits or '-' (a name byte by
            // byte cost twelve instructions a byte); from the first other byte, one by one.
            while index <= wordsEnd {
                let others = ~Self.letterDigitOrHyphenBytes(bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                    & 0x8080_8080_8080_8080
                guard others == 0 else {
                    index &+= others.trailingZeroBitCount &>> 3
                    break
                }
                index &+= 8
            }
            // `&+`: an index stays inside the section, which ends with CRLF CRLF.
            while Self.isTokenByte(bytes[index]) { index &+= 1 }
            guard bytes[index] == UInt8(ascii: ":") else {
                if bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") {
                    throw MalformedHTTPMessage(index == nameStart ? "a folded field line (obs-fold)" : "whitespace in a field name")
                }
                throw MalformedHTTPMessage("a field name holds an invalid character")
            }
            guard index > nameStart else { throw MalformedHTTPMessage("a field has an empty name") }
            let name = UnsafeRawBufferPointer(rebasing: bytes[nameStart..<index])
            index &+= 1
            while bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") { index &+= 1 }
            let valueStart = index
            // Eight bytes at a time while none of them is a control character (a CR ends
            // the value).
            while index <= wordsEnd {
                let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                guard !Self.holdsControlByte(word) else { break }
                index &+= 8
            }
            while true {
                let byte = bytes[index]
                // Printable ASCII, the usual case, in one comparison.
                if byte &- 0x20 < 0x5F {
                    index &+= 1
                    continue
                }
                if byte == 0x0D { break }
                guard Self.isFieldValueByte(byte) else { throw MalformedHTTPMessage("a field value holds a control character") }
                index &+= 1
            }
            guard bytes[index + 1] == 0x0A else { throw MalformedHTTPMessage("a field line does not end with CRLF") }
            // Whitespace after the value stays in it, as llhttp left it.
            try field(name, UnsafeRawBufferPointer(rebasing: bytes[valueStart..<index]))
            index += 2
        }
    }

    /// The fields of a section the parsers checked already (`bytes` from `start` to its
    /// empty line), as `HTTPHeaders`: for a head passed on without its fields, when they are
    /// needed after all.
    static func checkedFields(_ bytes: ByteBuffer, from start: Int) -> HTTPHeaders {
        var fields: [(String, String)] = []
        fields.reserveCapacity(12)
        bytes.withUnsafeReadableBytes { bytes in
            try! Self.parseFields(bytes, from: start) { name, value in
                fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
            }
        }
        return HTTPHeaders(fields)
    }

    /// A `Content-Length` value: digits, with nothing but trailing whitespace after them.
    static func contentLength(_ value: UnsafeRawBufferPointer) throws -> Int {
        var end = value.count
        while end > 0, value[end - 1] == UInt8(ascii: " ") || value[end - 1] == UInt8(ascii: "\t") { end -= 1 }
        guard end > 0 else { throw MalformedHTTPMessage("Content-Length is empty") }
        var length = 0
        for byte in value[..<end] {
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else { throw MalformedHTTPMessage("Content-Length is not a number") }
            let (times10, overflow1) = length.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(digit))
            guard !overflow1 && !overflow2 else { throw MalformedHTTPMessage("Content-Length is too large") }
            length = sum
        }
        return length
    }

    /// Whether the last coding of a `Transfer-Encoding` value is `chunked`.
    static func lastCodingIsChunked(_ value: UnsafeRawBufferPointer) -> Bool {
        var end = value.count
        while end > 0, value[end - 1] == UInt8(ascii: " ") || value[end - 1] == UInt8(ascii: "\t") { end -= 1 }
        var start = end
        while start > 0, value[start - 1] != UInt8(ascii: ",") { start -= 1 }
        while start < end, value[start] == UInt8(ascii: " ") || value[start] == UInt8(ascii: "\t") { start += 1 }
        return Self.equalsLowercased(UnsafeRawBufferPointer(rebasing: value[start..<end]), "chunked")
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

    /// The high bit of each byte of `word` that is an ASCII letter, digit or '-' (the bytes
    /// of almost every field name), and no other bit.
    ///
    /// A range test on seven-bit bytes: `b + (0x80 - low)` sets the high bit when `b >= low`,
    /// `b + (0x7F - high)` when `b > high`, and neither sum carries into the next byte.
    /// Letters are tested lower-cased (`| 0x20` maps A–Z to a–z, and only those bytes and
    /// a–z to a–z); a byte with its high bit set is none of them.
    @inline(__always)
    static func letterDigitOrHyphenBytes(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always)
        func within(_ bytes: UInt64, _ low: UInt8, _ high: UInt8) -> UInt64 {
            (bytes &+ ones &* UInt64(0x80 &- low)) & ~(bytes &+ ones &* UInt64(0x7F &- high))
        }
        let sevenBits = word & ~highs
        let letters = within(sevenBits | ones &* 0x20, UInt8(ascii: "a"), UInt8(ascii: "z"))
        let digits = within(sevenBits, UInt8(ascii: "0"), UInt8(ascii: "9"))
        return (letters | digits) & ~word & highs | Self.bytesEqual(to: UInt8(ascii: "-"), in: word)
    }

    /// Whether one of the eight bytes in `word` is below 0x20 or is 0x7F (DEL). The two
    /// tests are the usual ones for "a byte less than n" and "a zero byte", which tell
    /// whether there is one, though not which.
    @inline(__always)
    static func holdsControlByte(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let below0x20 = (word &- ones &* 0x20) & ~word & highs
        let del = word ^ (ones &* 0x7F)
        let hasDEL = (del &- ones) & ~del & highs
        return below0x20 | hasDEL != 0
    }

    /// VCHAR, obs-text, SP and HTAB.
    static func isFieldValueByte(_ byte: UInt8) -> Bool {
        byte >= 0x20 ? byte != 0x7F : byte == UInt8(ascii: "\t")
    }

    static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte &- UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(byte &- UInt8(ascii: "a") &+ 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(byte &- UInt8(ascii: "A") &+ 10)
        default: return nil
        }
    }

    /// Whether `bytes`, lower-cased, are `lowercased` (lower-case ASCII letters, digits and
    /// '-'). `| 0x20` maps A–Z to a–z and leaves digits and '-' as they are; of the bytes
    /// a field name or value may hold, no other byte becomes one of these.
    @inline(__always)
    static func equalsLowercased(_ bytes: UnsafeRawBufferPointer, _ lowercased: StaticString) -> Bool {
        let count = lowercased.utf8CodeUnitCount
        guard bytes.count == count else { return false }
        return Self.startsLowercased(bytes.baseAddress!, with: UnsafeRawPointer(lowercased.utf8Start), count: count)
    }

    /// Whether the `count` bytes at `bytes`, lower-cased, are the `count` bytes at `pattern`
    /// (see `equalsLowercased`), compared a word at a time: a name compared byte by byte
    /// cost about six instructions a byte, and every field's name is compared.
    static func startsLowercased(_ bytes: UnsafeRawPointer, with pattern: UnsafeRawPointer, count: Int) -> Bool {
        @inline(__always)
        func same<Word: FixedWidthInteger & UnsignedInteger>(_ offset: Int, _: Word.Type) -> Bool {
            let lower = Word(truncatingIfNeeded: 0x2020_2020_2020_2020 as UInt64)
            return bytes.loadUnaligned(fromByteOffset: offset, as: Word.self) | lower
                == pattern.loadUnaligned(fromByteOffset: offset, as: Word.self)
        }
        switch count {
        case 8...:
            var offset = 0
            while offset + 8 < count {
                guard same(offset, UInt64.self) else { return false }
                offset += 8
            }
            // The last eight, overlapping bytes compared already.
            return same(count - 8, UInt64.self)
        case 4...:
            return same(0, UInt32.self) && same(count - 4, UInt32.self)
        case 2...:
            return same(0, UInt16.self) && same(count - 2, UInt16.self)
        case 1:
            return same(0, UInt8.self)
        default:
            return true
        }
    }
}

/// A message body framed by its length or by chunks, read from the connection's buffer in
/// place: body bytes are slices of the buffer they came in.
struct HTTP1BodyReader: Equatable {
    /// A chunk-size line (size and extensions) longer than this is refused.
    static let maximumChunkLineSize = 4 * 1024

    enum Step {
        /// Body bytes; `isLast` when they complete a body framed by its length (its end
        /// needs no more bytes).
        case body(ByteBuffer, isLast: Bool)
        /// The end of a chunked body, with its trailers.
        case end(HTTPHeaders?)
    }

    private enum State: Equatable {
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        /// `scanned` bytes of the buffer hold no end of the trailer section.
        case trailers(scanned: Int)
    }

    private var state: State
    /// The largest trailer section read.
    private let maximumTrailerSize: Int

    /// A body of `length` bytes (more than none).
    init(length: Int, maximumTrailerSize: Int) {
        self.state = .fixed(remaining: length)
        self.maximumTrailerSize = maximumTrailerSize
    }

    /// A chunked body.
    init(chunkedWithTrailersUpTo maximumTrailerSize: Int) {
        self.state = .chunkSize
        self.maximumTrailerSize = maximumTrailerSize
    }

    /// The next part of the body in `buffer`, consuming its bytes; nil when the buffer holds
    /// no whole part yet (the rest stays in it).
    mutating func next(_ buffer: inout ByteBuffer) throws -> Step? {
        switch self.state {
        case .fixed(let remaining):
            guard let (body, left) = Self.bodyBytes(&buffer, remaining: remaining) else { return nil }
            self.state = .fixed(remaining: left)
            return .body(body, isLast: left == 0)
        case .chunkSize:
            guard let size = try Self.readChunkSize(&buffer) else { return nil }
            self.state = size == 0 ? .trailers(scanned: 0) : .chunkData(remaining: size)
            return try self.next(&buffer)
        case .chunkData(let remaining):
            guard let (body, left) = Self.bodyBytes(&buffer, remaining: remaining) else { return nil }
            self.state = left == 0 ? .chunkDataEnd : .chunkData(remaining: left)
            return .body(body, isLast: false)
        case .chunkDataEnd:
            guard buffer.readableBytes >= 2 else { return nil }
            guard buffer.readInteger(as: UInt16.self) == 0x0D0A else {
                throw MalformedHTTPMessage("a chunk's data is not followed by CRLF")
            }
            self.state = .chunkSize
            return try self.next(&buffer)
        case .trailers(let scanned):
            return try self.readTrailers(&buffer, scanned: scanned)
        }
    }

    /// Up to `remaining` body bytes from `buffer` as a slice of it, and how many the body
    /// needs after them; nil when the buffer is empty.
    private static func bodyBytes(_ buffer: inout ByteBuffer, remaining: Int) -> (ByteBuffer, left: Int)? {
        guard buffer.readableBytes > 0 else { return nil }
        let length = min(remaining, buffer.readableBytes)
        return (buffer.readSlice(length: length)!, remaining - length)
    }

    /// A chunk's size from its size line (extensions skipped), or nil until the line is whole.
    private static func readChunkSize(_ buffer: inout ByteBuffer) throws -> Int? {
        let line: (size: Int, length: Int)? = try buffer.withUnsafeReadableBytes { bytes in
            guard let lineFeed = bytes.firstIndex(of: 0x0A) else {
                guard bytes.count <= Self.maximumChunkLineSize else { throw MalformedHTTPMessage("a chunk-size line is too long") }
                return nil
            }
            guard lineFeed > 0, bytes[lineFeed - 1] == 0x0D else {
                throw MalformedHTTPMessage("a chunk-size line does not end with CRLF")
            }
            var size = 0
            var index = 0
            while index < lineFeed - 1, let digit = HTTP1Syntax.hexValue(bytes[index]) {
                guard size < (Int.max >> 4) else { throw MalformedHTTPMessage("a chunk size is too large") }
                size = size << 4 | digit
                index += 1
            }
            guard index > 0 else { throw MalformedHTTPMessage("a chunk-size line does not begin with a hexadecimal size") }
            while index < lineFeed - 1, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") { index += 1 }
            if index < lineFeed - 1 {
                guard bytes[index] == UInt8(ascii: ";") else {
                    throw MalformedHTTPMessage("a chunk size is followed by something other than an extension")
                }
                for byte in bytes[index..<(lineFeed - 1)] where !HTTP1Syntax.isFieldValueByte(byte) {
                    throw MalformedHTTPMessage("a chunk extension holds a control character")
                }
            }
            return (size, lineFeed + 1)
        }
        guard let line else { return nil }
        buffer.moveReaderIndex(forwardBy: line.length)
        return line.size
    }

    private mutating func readTrailers(_ buffer: inout ByteBuffer, scanned: Int) throws -> Step? {
        // No trailers: the last chunk is followed by the empty line at once.
        if buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
            buffer.moveReaderIndex(forwardBy: 2)
            return .end(nil)
        }
        let limit = self.maximumTrailerSize
        let length: Int
        switch try HTTP1Syntax.sectionEnd(
            in: buffer, from: scanned, limit: limit,
            tooLarge: { MalformedHTTPMessage("the trailer section is larger than \(limit.formattedByteCount)", tooLarge: true) })
        {
        case .notYet(let scanned):
            self.state = .trailers(scanned: scanned)
            return nil
        case .found(let found):
            length = found
        }
        var trailers: [(String, String)] = []
        try buffer.withUnsafeReadableBytes { bytes in
            try HTTP1Syntax.parseFields(UnsafeRawBufferPointer(rebasing: bytes[..<length]), from: 0) { name, value in
                trailers.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
            }
        }
        buffer.moveReaderIndex(forwardBy: length)
        return .end(HTTPHeaders(trailers))
    }
}

extension Optional where Wrapped == ByteBuffer {
    /// Adds bytes read to those not parsed yet. The buffer is taken out first, so that the
    /// append does not copy its storage for a second owner.
    mutating func appendRead(_ bytes: ByteBuffer) {
        guard var unparsed = self.take() else {
            self = bytes
            return
        }
        unparsed.writeImmutableBuffer(bytes)
        self = unparsed
    }
}

extension Int {
    /// A size limit as people read it: "80 KiB", "64 KiB", "1000 bytes".
    var formattedByteCount: String {
        self >= 1024 && self % 1024 == 0 ? "\(self / 1024) KiB" : "\(self) bytes"
    }
}
