import NIOHTTP1

/// The headers of a message that the proxy has to rewrite, found in one pass over the
/// names without allocating. Most requests and responses have none of them, and then their
/// headers are forwarded as they are instead of being searched name by name.
struct HeaderScan: OptionSet {
    let rawValue: UInt8

    /// `Connection`, `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer` or `Upgrade`
    /// (`HTTPHeaders.hopByHopHeaderNames`). Headers that `Connection` lists are only
    /// removed when it is present, so this flag covers them too.
    static let hopByHop = HeaderScan(rawValue: 1 << 0)
    /// `Transfer-Encoding`.
    static let transferEncoding = HeaderScan(rawValue: 1 << 1)
    /// `X-Forwarded-*` (which includes the HTTPS listener's mark), `Forwarded` or `X-Real-IP`.
    static let forwarding = HeaderScan(rawValue: 1 << 2)
    /// With `.hopByHop`: the only hop-by-hop field is one `Connection: keep-alive` (no other
    /// value, no other connection header), so a head can go to a keep-alive HTTP/1.1 client
    /// as it is. Found in the same pass, not in a second one over every field.
    static let onlyConnectionKeepAlive = HeaderScan(rawValue: 1 << 3)

    init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    init(_ headers: HTTPHeaders) {
        var found = HeaderScan()
        var hopByHopFields = 0
        var keepAliveConnection = false
        for (name, value) in headers {
            let kind = Self.classify(name.utf8)
            guard !kind.isEmpty else { continue }
            found.formUnion(kind)
            if kind == .hopByHop {
                hopByHopFields += 1
                // Of the hop-by-hop names only `Connection` starts with a "c".
                keepAliveConnection =
                    name.utf8.first.map { $0 | 0x20 == UInt8(ascii: "c") } == true
                    && value.utf8.equalsLowercased("keep-alive")
            }
        }
        if hopByHopFields == 1 && keepAliveConnection {
            found.insert(.onlyConnectionKeepAlive)
        }
        self = found
    }

    /// What one header name is, compared case-insensitively as HTTP names are.
    static func classify(_ name: String.UTF8View) -> HeaderScan {
        guard let first = name.first else { return [] }
        switch first | 0x20 {
        case UInt8(ascii: "c"):
            return name.equalsLowercased("connection") ? .hopByHop : []
        case UInt8(ascii: "k"):
            return name.equalsLowercased("keep-alive") ? .hopByHop : []
        case UInt8(ascii: "p"):
            return name.equalsLowercased("proxy-connection") ? .hopByHop : []
        case UInt8(ascii: "t"):
            if name.equalsLowercased("te") || name.equalsLowercased("trailer") { return .hopByHop }
            return name.equalsLowercased("transfer-encoding") ? .transferEncoding : []
        case UInt8(ascii: "u"):
            return name.equalsLowercased("upgrade") ? .hopByHop : []
        case UInt8(ascii: "x"):
            return name.hasLowercasedPrefix("x-forwarded-") || name.equalsLowercased("x-real-ip") ? .forwarding : []
        case UInt8(ascii: "f"):
            return name.equalsLowercased("forwarded") ? .forwarding : []
        default:
            return []
        }
    }
}

extension String.UTF8View {
    /// Whether these bytes are `lowercased`, ignoring ASCII case; `lowercased` must be lower-case ASCII.
    func equalsLowercased(_ lowercased: StaticString) -> Bool {
        self.count == lowercased.utf8CodeUnitCount && self.hasLowercasedPrefix(lowercased)
    }

    /// Whether these bytes start with `lowercased`, ignoring ASCII case; `lowercased` must be lower-case ASCII.
    func hasLowercasedPrefix(_ lowercased: StaticString) -> Bool {
        let count = lowercased.utf8CodeUnitCount
        guard self.count >= count else { return false }
        // Over the bytes in place (a small string's are copied to the stack): iterating the
        // view costs several times more per byte, and every header name of every request and
        // response comes through here.
        if let matches = self.withContiguousStorageIfAvailable({ Self.bytes($0, startWith: lowercased) }) {
            return matches
        }
        return Array(self.prefix(count)).withUnsafeBufferPointer { Self.bytes($0, startWith: lowercased) }
    }

    private static func bytes(_ bytes: UnsafeBufferPointer<UInt8>, startWith lowercased: StaticString) -> Bool {
        let pattern = lowercased.utf8Start
        for index in 0..<lowercased.utf8CodeUnitCount {
            var byte = bytes[index]
            if byte &- UInt8(ascii: "A") < 26 { byte |= 0x20 }
            guard byte == pattern[index] else { return false }
        }
        return true
    }
}

extension HTTPHeaders {
    /// `self[canonicalForm: "host"].count > 1` (more than one `Host` value, counting the
    /// non-empty comma-separated parts of each), without building the arrays it builds.
    var hasMoreThanOneHost: Bool {
        var values = 0
        for (name, value) in self where name.utf8.equalsLowercased("host") {
            var inValue = false
            for byte in value.utf8 {
                if byte == UInt8(ascii: ",") {
                    inValue = false
                } else if !inValue {
                    inValue = true
                    values += 1
                    if values > 1 { return true }
                }
            }
        }
        return false
    }

    /// Whether the only hop-by-hop header is one `Connection: keep-alive` (no other value, no
    /// other connection header): such a head can go to a keep-alive HTTP/1.1 client as it is.
    var hasOnlyConnectionKeepAlive: Bool {
        HeaderScan(self).contains(.onlyConnectionKeepAlive)
    }
}
