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

    init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    init(_ headers: HTTPHeaders) {
        var found = HeaderScan()
        for (name, _) in headers {
            found.formUnion(Self.classify(name.utf8))
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
        return lowercased.withUTF8Buffer { pattern in
            var index = 0
            for byte in self {
                guard index < count else { return true }
                let folded = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
                guard folded == pattern[index] else { return false }
                index += 1
            }
            return index == count
        }
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
        var found = false
        for (name, value) in self where !HeaderScan.classify(name.utf8).intersection(.hopByHop).isEmpty {
            guard !found, name.utf8.equalsLowercased("connection"), value.utf8.equalsLowercased("keep-alive") else {
                return false
            }
            found = true
        }
        return found
    }
}
