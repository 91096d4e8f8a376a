import NIOCore
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
        var scanner = Scanner()
        for (name, value) in headers {
            scanner.add(name: name, value: value)
        }
        self = scanner.result
    }

    /// The pass over the fields, one field at a time (`RequestHeadScan` looks for more in
    /// the same pass).
    struct Scanner {
        private var found = HeaderScan()
        private var hopByHopFields = 0
        private var keepAliveConnection = false

        /// Classifies one field; returns what it is.
        @discardableResult
        mutating func add(name: String, value: String) -> HeaderScan {
            name.utf8.withBytes { name in
                self.add(name: name) { value.utf8.equalsLowercased("keep-alive") }
            }
        }

        /// Classifies one field given as bytes (a response head as the parser reads it).
        @discardableResult
        mutating func add(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) -> HeaderScan {
            self.add(name: name) { value.count == 10 && String.UTF8View.bytes(value, startWith: "keep-alive") }
        }

        private mutating func add(name: UnsafeBufferPointer<UInt8>, valueIsKeepAlive: () -> Bool) -> HeaderScan {
            let kind = HeaderScan.classify(name)
            guard !kind.isEmpty else { return kind }
            self.found.formUnion(kind)
            if kind == .hopByHop {
                self.hopByHopFields += 1
                // Of the hop-by-hop names only `Connection` starts with a "c".
                self.keepAliveConnection = name[0] | 0x20 == UInt8(ascii: "c") && valueIsKeepAlive()
            }
            return kind
        }

        var result: HeaderScan {
            var found = self.found
            if self.hopByHopFields == 1 && self.keepAliveConnection {
                found.insert(.onlyConnectionKeepAlive)
            }
            return found
        }
    }

    /// What one header name is, compared case-insensitively as HTTP names are.
    static func classify(_ name: String.UTF8View) -> HeaderScan {
        name.withBytes { Self.classify($0) }
    }

    /// Compared by length first, so that most names are not compared at all, then a word at
    /// a time (`HTTP1Syntax.equalsLowercased`).
    static func classify(_ name: UnsafeBufferPointer<UInt8>) -> HeaderScan {
        let name = UnsafeRawBufferPointer(name)
        func equals(_ lowercased: StaticString) -> Bool {
            HTTP1Syntax.equalsLowercased(name, lowercased)
        }
        switch name.count {
        case 2:
            return equals("te") ? .hopByHop : []
        case 7:
            return equals("upgrade") || equals("trailer") ? .hopByHop : []
        case 9:
            if equals("forwarded") || equals("x-real-ip") { return .forwarding }
            return []
        case 10:
            return equals("connection") || equals("keep-alive") ? .hopByHop : []
        case 16:
            if equals("proxy-connection") { return .hopByHop }
        case 17:
            if equals("transfer-encoding") { return .transferEncoding }
        default:
            break
        }
        // `X-Forwarded-` and whatever follows it.
        let prefix: StaticString = "x-forwarded-"
        guard name.count >= prefix.utf8CodeUnitCount else { return [] }
        let forwarded = HTTP1Syntax.startsLowercased(
            name.baseAddress!, with: UnsafeRawPointer(prefix.utf8Start), count: prefix.utf8CodeUnitCount)
        return forwarded ? .forwarding : []
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
        return self.withBytes { Self.bytes($0, startWith: lowercased) }
    }

    /// Calls `body` with these bytes in place (a small string's are copied to the stack
    /// first). Iterating the view itself costs several times more per byte, and every header
    /// name and value of every request and response is looked at.
    @inline(__always)
    func withBytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        if let result = try self.withContiguousStorageIfAvailable(body) {
            return result
        }
        return try Array(self).withUnsafeBufferPointer(body)
    }

    /// Whether `bytes` start with `lowercased`, ignoring ASCII case; `bytes` holds at least
    /// as many bytes.
    static func bytes(_ bytes: UnsafeBufferPointer<UInt8>, startWith lowercased: StaticString) -> Bool {
        let pattern = lowercased.utf8Start
        for index in 0..<lowercased.utf8CodeUnitCount {
            var byte = bytes[index]
            if byte &- UInt8(ascii: "A") < 26 { byte |= 0x20 }
            guard byte == pattern[index] else { return false }
        }
        return true
    }
}

/// What the proxy needs from a request head's fields, found in one pass: the `Host` value
/// and whether there is more than one, the first `Content-Length`, whether an `Upgrade` is
/// asked for, and the fields it rewrites (`HeaderScan`). The handler, the state machine and
/// the forwarded head each used to search the fields for their part: `Host` three times,
/// `Content-Length` twice, about 1,400 instructions per request.
struct RequestHeadScan {
    /// The fields the forwarded head rewrites.
    var fields: HeaderScan
    /// The first `Host` value as the client sent it.
    var host: String?
    /// More than one `Host` value, counting the non-empty comma-separated parts of each
    /// field (`headers[canonicalForm: "host"].count > 1`).
    var hasMoreThanOneHost: Bool
    /// The first `Content-Length` value.
    var contentLength: String?
    /// An `Upgrade` field is present.
    var hasUpgrade: Bool
    /// Whether the client's connection may stay open after this request, as its version
    /// and `Connection` tokens say; set by `ClientRequestParser`, which reads the tokens with
    /// the fields, and nil when the scan was made from a head's `HTTPHeaders` (then
    /// `head.isKeepAlive` answers).
    var keepAlive: Bool?
    /// Set by `ClientRequestParser`: the head came without its fields, and these are its
    /// field lines as the client sent them, each with its CRLF, and the empty line that ended
    /// the head. The usual request goes upstream with these bytes as they are
    /// (`UpstreamRequestEncoder.Framing.fieldLines`); `completing` makes the fields when
    /// something must read or change them.
    var fieldLines: ByteBuffer?

    /// `head`, which came without its fields, with them (`head` itself when it has them).
    func completing(_ head: HTTPRequestHead) -> HTTPRequestHead {
        guard let fieldLines = self.fieldLines else { return head }
        var head = head
        head.headers = HTTP1Syntax.checkedFields(fieldLines, from: 0)
        return head
    }

    init(_ headers: HTTPHeaders) {
        var builder = Builder()
        for (name, value) in headers {
            name.utf8.withBytes { name in
                value.utf8.withBytes { valueBytes in
                    builder.add(name: name, value: valueBytes, valueString: value)
                }
            }
        }
        self = builder.result
    }

    private init(
        fields: HeaderScan, host: String?, hasMoreThanOneHost: Bool, contentLength: String?, hasUpgrade: Bool
    ) {
        self.fields = fields
        self.host = host
        self.hasMoreThanOneHost = hasMoreThanOneHost
        self.contentLength = contentLength
        self.hasUpgrade = hasUpgrade
    }

    /// The pass over the fields, one field at a time: over a head's `HTTPHeaders`, or over
    /// the bytes as `ClientRequestParser` reads them.
    struct Builder {
        private var scanner = HeaderScan.Scanner()
        private var host: String?
        private var hostValues = 0
        private var contentLength: String?
        private var hasUpgrade = false

        /// Adds one field; `valueString` is the value as a string, taken only for `Host` and
        /// `Content-Length`.
        mutating func add(
            name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>, valueString: @autoclosure () -> String
        ) {
            switch name.first.map({ $0 | 0x20 }) {
            case UInt8(ascii: "h") where HTTP1Syntax.equalsLowercased(UnsafeRawBufferPointer(name), "host"):
                if self.host == nil { self.host = valueString() }
                if self.hostValues < 2 { self.hostValues += RequestHeadScan.listCount(value, atMost: 2 - self.hostValues) }
                return
            case UInt8(ascii: "c")
            where self.contentLength == nil && HTTP1Syntax.equalsLowercased(UnsafeRawBufferPointer(name), "content-length"):
                self.contentLength = valueString()
                return
            default:
                break
            }
            if self.scanner.add(name: name, value: value) == .hopByHop, name[0] | 0x20 == UInt8(ascii: "u") {
                // Of the hop-by-hop names only `Upgrade` starts with a "u".
                self.hasUpgrade = true
            }
        }

        var result: RequestHeadScan {
            var copy = self
            return copy.takeResult()
        }

        /// The scan, its strings moved out of the builder rather than copied.
        mutating func takeResult() -> RequestHeadScan {
            RequestHeadScan(
                fields: self.scanner.result, host: self.host.take(), hasMoreThanOneHost: self.hostValues > 1,
                contentLength: self.contentLength.take(), hasUpgrade: self.hasUpgrade)
        }
    }

    /// The request carries a body: a non-zero length, or chunked framing.
    var declaresBody: Bool {
        if let contentLength { return contentLength.trimmingASCIISpaces != "0" }
        return self.fields.contains(.transferEncoding)
    }

    /// The non-empty comma-separated parts of `value`, counted up to `limit`.
    static func listCount(_ value: UnsafeBufferPointer<UInt8>, atMost limit: Int) -> Int {
        var count = 0
        var inValue = false
        for byte in value {
            if byte == UInt8(ascii: ",") {
                inValue = false
            } else if !inValue {
                inValue = true
                count += 1
                if count == limit { break }
            }
        }
        return count
    }
}

extension HTTPHeaders {
    /// `self[canonicalForm: "host"].count > 1` (more than one `Host` value, counting the
    /// non-empty comma-separated parts of each), without building the arrays it builds.
    var hasMoreThanOneHost: Bool {
        RequestHeadScan(self).hasMoreThanOneHost
    }

    /// Whether the only hop-by-hop header is one `Connection: keep-alive` (no other value, no
    /// other connection header): such a head can go to a keep-alive HTTP/1.1 client as it is.
    var hasOnlyConnectionKeepAlive: Bool {
        HeaderScan(self).contains(.onlyConnectionKeepAlive)
    }
}

extension String {
    /// The string with ASCII upper-case letters lowered (header names are ASCII tokens); the
    /// string itself, not a copy, when it has none. `lowercased()` handles all of Unicode and
    /// allocates, about 150 instructions a name more.
    var lowercasedASCII: String {
        self.utf8.withBytes { bytes in
            guard bytes.contains(where: { $0 &- UInt8(ascii: "A") < 26 }) else { return self }
            return String(unsafeUninitializedCapacity: bytes.count) { target in
                for index in bytes.indices {
                    let byte = bytes[index]
                    target[index] = byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
                }
                return bytes.count
            }
        }
    }
}
