import NIOCore
import NIOHPACK

/// Encodes the header blocks of the router's HTTP/2 responses (RFC 7541) for
/// `HTTP2ServerConnection`, in place of swift-nio-http2's `HPACKEncoder`, which cost about
/// 7,600 instructions for a response's five fields: each name was looked up in the static
/// table through a hash of its case-folded bytes, then every dynamic entry compared byte by
/// byte without case, then the value Huffman-coded.
///
/// Here names are already lowercase (the stream codec wrote them): a static-table look-up is
/// a switch on the name's length and a compare of a few small strings, the dynamic table is
/// searched newest first with plain string compares (a field repeated from the last response,
/// the usual case, is found among the first entries and sent as one or two bytes), and string
/// literals go out as they are, without Huffman coding: a few more bytes on the wire for
/// values that change, none for those that repeat.
///
/// Every field is added to the dynamic table (incremental indexing) except `set-cookie`,
/// which is sent never-indexed (§7.1.3): a cookie should not be guessable through how well a
/// block compresses.
struct HPACKResponseEncoder {
    /// The table size both ends start from (`SETTINGS_HEADER_TABLE_SIZE`'s default).
    static let defaultTableSize = 4096
    /// An entry's size beyond its bytes (§4.1).
    private static let entryOverhead = 32
    private static let staticTableCount = 61

    /// The dynamic table, oldest entry first.
    private var entries = CircularBuffer<(name: String, value: String)>(initialCapacity: 16)
    private var size = 0
    private var maxSize = HPACKResponseEncoder.defaultTableSize
    /// Size changes the next block must announce (§4.2): the smallest since the last block,
    /// when it is below the final one, and the final one.
    private var pendingSmallest: Int?
    private var pendingFinal: Int?

    /// The client's `SETTINGS_HEADER_TABLE_SIZE`: the table is kept at most this large (and
    /// never larger than the default).
    mutating func setMaximumSize(_ limit: Int) {
        let newSize = min(max(limit, 0), Self.defaultTableSize)
        guard newSize != self.maxSize || self.pendingFinal != nil else { return }
        self.pendingSmallest = min(self.pendingSmallest ?? newSize, newSize)
        self.pendingFinal = newSize
        self.maxSize = newSize
        self.evict(toFit: 0)
    }

    mutating func encode(_ headers: HPACKHeaders, into buffer: inout ByteBuffer) {
        if let final = self.pendingFinal {
            if let smallest = self.pendingSmallest, smallest < final {
                Self.writeInteger(smallest, prefix: 5, flags: 0x20, into: &buffer)
            }
            Self.writeInteger(final, prefix: 5, flags: 0x20, into: &buffer)
            self.pendingSmallest = nil
            self.pendingFinal = nil
        }
        for (name, value, _) in headers {
            self.encodeField(name, value, into: &buffer)
        }
    }

    private mutating func encodeField(_ name: String, _ value: String, into buffer: inout ByteBuffer) {
        let staticName = Self.staticIndex(of: name)
        if staticName == 8, let index = Self.staticStatusIndex(value) {
            Self.writeInteger(index, prefix: 7, flags: 0x80, into: &buffer)
            return
        }
        if staticName == 55 {
            // set-cookie: never indexed, by any hop after this one either.
            Self.writeInteger(55, prefix: 4, flags: 0x10, into: &buffer)
            Self.writeString(value, into: &buffer)
            return
        }
        // Newest first: what the last response sent is found first.
        var nameIndex = staticName
        var position = self.entries.count
        for entry in self.entries.reversed() {
            position -= 1
            guard entry.name == name else { continue }
            let index = Self.staticTableCount + self.entries.count - position
            if entry.value == value {
                Self.writeInteger(index, prefix: 7, flags: 0x80, into: &buffer)
                return
            }
            if nameIndex == nil { nameIndex = index }
        }
        if let nameIndex {
            Self.writeInteger(nameIndex, prefix: 6, flags: 0x40, into: &buffer)
        } else {
            buffer.writeInteger(UInt8(0x40))
            Self.writeString(name, into: &buffer)
        }
        Self.writeString(value, into: &buffer)
        self.insert(name, value)
    }

    /// Adds an entry, evicting the oldest to make room (§4.4); one larger than the whole
    /// table empties it and is not added.
    private mutating func insert(_ name: String, _ value: String) {
        let entrySize = name.utf8.count + value.utf8.count + Self.entryOverhead
        self.evict(toFit: entrySize)
        guard entrySize <= self.maxSize else { return }
        self.entries.append((name, value))
        self.size += entrySize
    }

    private mutating func evict(toFit entrySize: Int) {
        while self.size + entrySize > self.maxSize, let oldest = self.entries.popFirst() {
            self.size -= oldest.name.utf8.count + oldest.value.utf8.count + Self.entryOverhead
        }
    }

    /// An integer with an N-bit prefix (§5.1), the byte's other bits `flags`.
    private static func writeInteger(_ value: Int, prefix: Int, flags: UInt8, into buffer: inout ByteBuffer) {
        let limit = (1 << prefix) - 1
        guard value >= limit else {
            buffer.writeInteger(flags | UInt8(value))
            return
        }
        buffer.writeInteger(flags | UInt8(limit))
        var rest = value - limit
        while rest >= 128 {
            buffer.writeInteger(UInt8(rest & 0x7F | 0x80))
            rest >>= 7
        }
        buffer.writeInteger(UInt8(rest))
    }

    /// A string literal (§5.2), as it is (no Huffman coding).
    private static func writeString(_ string: String, into buffer: inout ByteBuffer) {
        Self.writeInteger(string.utf8.count, prefix: 7, flags: 0, into: &buffer)
        buffer.writeString(string)
    }

    /// `:status`'s static entries with their values (§A: 8 to 14).
    private static func staticStatusIndex(_ value: String) -> Int? {
        switch value {
        case "200": 8
        case "204": 9
        case "206": 10
        case "304": 11
        case "400": 12
        case "404": 13
        case "500": 14
        default: nil
        }
    }

    /// The static table's index of `name` (RFC 7541 Appendix A), for the names a response
    /// may carry; by length first, so a miss costs a compare or two.
    static func staticIndex(of name: String) -> Int? {
        switch name.utf8.count {
        case 3:
            if name == "age" { return 21 }
            if name == "via" { return 60 }
        case 4:
            if name == "date" { return 33 }
            if name == "etag" { return 34 }
            if name == "vary" { return 59 }
            if name == "link" { return 45 }
            if name == "from" { return 37 }
            if name == "host" { return 38 }
        case 5:
            if name == "allow" { return 22 }
            if name == "range" { return 50 }
        case 6:
            if name == "server" { return 54 }
            if name == "accept" { return 19 }
            if name == "cookie" { return 32 }
            if name == "expect" { return 35 }
        case 7:
            if name == ":status" { return 8 }
            if name == "expires" { return 36 }
            if name == "referer" { return 51 }
            if name == "refresh" { return 52 }
        case 8:
            if name == "location" { return 46 }
            if name == "if-match" { return 39 }
            if name == "if-range" { return 42 }
        case 10:
            if name == "set-cookie" { return 55 }
            if name == "user-agent" { return 58 }
            if name == ":authority" { return 1 }
        case 11:
            if name == "retry-after" { return 53 }
        case 12:
            if name == "content-type" { return 31 }
            if name == "max-forwards" { return 47 }
        case 13:
            if name == "cache-control" { return 24 }
            if name == "last-modified" { return 44 }
            if name == "accept-ranges" { return 18 }
            if name == "content-range" { return 30 }
            if name == "authorization" { return 23 }
            if name == "if-none-match" { return 41 }
        case 14:
            if name == "content-length" { return 28 }
            if name == "accept-charset" { return 15 }
        case 15:
            if name == "accept-encoding" { return 16 }
            if name == "accept-language" { return 17 }
        case 16:
            if name == "content-encoding" { return 26 }
            if name == "content-language" { return 27 }
            if name == "content-location" { return 29 }
            if name == "www-authenticate" { return 61 }
        case 17:
            if name == "if-modified-since" { return 40 }
            if name == "transfer-encoding" { return 57 }
        case 18:
            if name == "proxy-authenticate" { return 48 }
        case 19:
            if name == "content-disposition" { return 25 }
            if name == "if-unmodified-since" { return 43 }
            if name == "proxy-authorization" { return 49 }
        case 25:
            if name == "strict-transport-security" { return 56 }
        case 27:
            if name == "access-control-allow-origin" { return 20 }
        default:
            break
        }
        return nil
    }
}
