import Logging
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// An address range in CIDR notation (`10.0.0.0/8`, `192.0.2.7`, `2001:db8::/32`): the
/// `--trusted-proxy` addresses whose forwarding headers the router keeps.
public struct AddressRange: Sendable, Hashable, CustomStringConvertible {
    let bytes: [UInt8]
    let prefixLength: Int

    /// Parses `address[/prefix]`; a bare address is a single host.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let bytes = Self.addressBytes(String(parts[0])) else { return nil }
        let maximum = bytes.count * 8
        var prefix = maximum
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...maximum).contains(value), parts[1].allSatisfy(\.isASCII) else { return nil }
            prefix = value
        }
        self.bytes = bytes
        self.prefixLength = prefix
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        _ = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        let address = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(address)/\(prefixLength)"
    }

    /// Whether `address` (as NIO prints it, IPv4 or IPv6, IPv4-mapped IPv6 read as IPv4) is in the range.
    public func contains(_ address: String) -> Bool {
        guard var candidate = Self.addressBytes(address) else { return false }
        if candidate.count == 16, bytes.count == 4, candidate.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] {
            candidate = Array(candidate.suffix(4))
        }
        guard candidate.count == bytes.count else { return false }
        var remaining = prefixLength
        for index in bytes.indices where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if candidate[index] & mask != bytes[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    static func addressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }
}

/// The client connection a request came in on, as the edge sees it: its forwarding headers
/// are set from this, never from what the client wrote, unless the peer is a trusted proxy.
///
/// A class, made once per connection and never changed: each request passes it on (to its
/// forwarding fields, the state machine, the encoder) as one reference, not as two strings.
final class ForwardingPeer: Equatable, Sendable, CustomStringConvertible {
    /// The connection's remote address.
    let address: String
    /// The router port the client connected to (`X-Forwarded-Port`).
    let localPort: Int?
    /// `localPort` as the header value: formatted once per connection, not per request.
    let localPortText: String?
    /// The peer is one of `--trusted-proxy`'s ranges: its `X-Forwarded-*`, `Forwarded` and
    /// `X-Real-IP` are kept (and our hop appended to `X-Forwarded-For`).
    let isTrustedProxy: Bool
    /// The forwarding fields this connection gives every request but `X-Forwarded-Host`, as
    /// `ForwardingFields` writes them: over plain HTTP and over TLS.
    let fields: [UInt8]
    let fieldsOverTLS: [UInt8]

    init(address: String, localPort: Int? = nil, isTrustedProxy: Bool = false) {
        self.address = address
        self.localPort = localPort
        self.localPortText = localPort.map { String($0) }
        self.isTrustedProxy = isTrustedProxy
        var common = "X-Forwarded-For: \(address)\r\nX-Real-IP: \(address)\r\n"
        if let port = self.localPortText { common += "X-Forwarded-Port: \(port)\r\n" }
        self.fields = Array((common + "X-Forwarded-Proto: http\r\n").utf8)
        self.fieldsOverTLS = Array((common + "X-Forwarded-Proto: https\r\n").utf8)
    }

    convenience init?(channel: any Channel, trustedProxies: [AddressRange]) {
        self.init(remote: channel.remoteAddress, local: channel.localAddress, trustedProxies: trustedProxies)
    }

    convenience init?(remote: SocketAddress?, local: SocketAddress?, trustedProxies: [AddressRange]) {
        guard let address = remote?.ipAddress else { return nil }
        self.init(address: address, localPort: local?.port, isTrustedProxy: trustedProxies.contains { $0.contains(address) })
    }

    static func == (lhs: ForwardingPeer, rhs: ForwardingPeer) -> Bool {
        lhs.address == rhs.address && lhs.localPort == rhs.localPort && lhs.isTrustedProxy == rhs.isTrustedProxy
    }

    var description: String {
        "\(self.address) port \(self.localPort.map(String.init) ?? "-")\(self.isTrustedProxy ? " (trusted proxy)" : "")"
    }
}

extension HTTPHeaders {
    /// Headers that say who the client is or how it connected; only the edge (or a trusted
    /// proxy in front of it) may set them.
    static func isForwardingHeader(_ name: String) -> Bool {
        let name = name.lowercased()
        return name.hasPrefix("x-forwarded-") || name == "forwarded" || name == "x-real-ip"
    }

    /// Sets the forwarding headers for a request from `peer`: from an untrusted peer every
    /// client-sent forwarding header is dropped and replaced with what the connection says;
    /// a trusted proxy's are kept, with the proxy's address appended to `X-Forwarded-For`.
    /// `clientSentForwarding` false says a scan found no forwarding header to remove.
    mutating func setForwardingHeaders(
        peer: ForwardingPeer?, originalHost: String?, overTLS: Bool, clientSentForwarding: Bool = true
    ) {
        guard let peer, peer.isTrustedProxy else {
            if clientSentForwarding { self.removeForwardingHeaders() }
            self.appendForwardingFields(ForwardingFields(peer: peer, originalHost: originalHost, overTLS: overTLS))
            return
        }
        let existing = self[canonicalForm: "x-forwarded-for"].map(String.init).filter { !$0.isEmpty }
        self.remove(name: "x-forwarded-for")
        self.add(name: "X-Forwarded-For", value: (existing + [peer.address]).joined(separator: ", "))
        if !self.contains(name: "x-real-ip") {
            self.add(
                name: "X-Real-IP", value: existing.first.map { String($0.split(separator: ",")[0].trimmingASCIISpaces) } ?? peer.address)
        }
        if !self.contains(name: "x-forwarded-port"), let port = peer.localPortText {
            self.add(name: "X-Forwarded-Port", value: port)
        }
        if overTLS || !self.contains(name: "x-forwarded-proto") {
            self.replaceOrAdd(name: "X-Forwarded-Proto", value: overTLS ? "https" : "http")
        }
        if !self.contains(name: "x-forwarded-host"), let originalHost {
            self.add(name: "X-Forwarded-Host", value: originalHost)
        }
    }
}

/// The edge's own forwarding fields for a request from a client that is not a trusted
/// proxy: `X-Forwarded-For`, `X-Real-IP`, `X-Forwarded-Port`, `X-Forwarded-Proto` and
/// `X-Forwarded-Host`, in that order, after the client's fields (from which every forwarding
/// field has been removed).
///
/// The names are the constants below; the values are what `HTTPHeaders.add` never checked
/// either: the peer's address as NIO formats it, a port number, and the client's `Host` as
/// its parser accepted it (NIO's HTTP/1.1 decoder, or `HTTP2StreamCodec`, which refuses CR,
/// LF and NUL in any value).
struct ForwardingFields: Equatable, Sendable {
    var peer: ForwardingPeer?
    var originalHost: String?
    var overTLS: Bool

    /// The fields, in order.
    var pairs: [(String, String)] {
        var pairs: [(String, String)] = []
        if let peer {
            pairs.append(("X-Forwarded-For", peer.address))
            pairs.append(("X-Real-IP", peer.address))
            if let port = peer.localPortText { pairs.append(("X-Forwarded-Port", port)) }
        }
        pairs.append(("X-Forwarded-Proto", self.overTLS ? "https" : "http"))
        if let originalHost { pairs.append(("X-Forwarded-Host", originalHost)) }
        return pairs
    }
}

extension HTTPHeaders {
    /// Removes every forwarding field the client sent.
    mutating func removeForwardingHeaders() {
        let names = Set(self.map(\.name).filter(Self.isForwardingHeader))
        for name in names { self.remove(name: name) }
    }

    /// Appends `forwarding`'s fields, after the client's.
    ///
    /// Not with `add` one by one: `add` checks every name for non-ASCII bytes (a closure call
    /// per byte, about 3,500 instructions per request for these five, measured).
    mutating func appendForwardingFields(_ forwarding: ForwardingFields) {
        // The client's fields and ours in one new storage of the final size.
        var fields: [(String, String)] = []
        fields.reserveCapacity(self.count + 5)
        for (name, value) in self {
            fields.append((name, value))
        }
        fields += forwarding.pairs
        self = HTTPHeaders(fields)
    }
}

/// What the proxy handler needs to know about its client connection: worked out once per
/// connection (for HTTP/2 once for all its streams, not per request).
struct ClientConnectionInfo {
    var peer: ForwardingPeer?
    /// The router's logger with the client's address.
    var logger: Logger

    init(channel: any Channel, trustedProxies: [AddressRange], logger: Logger) {
        self.init(remote: channel.remoteAddress, local: channel.localAddress, trustedProxies: trustedProxies, logger: logger)
    }

    init(remote: SocketAddress?, local: SocketAddress?, trustedProxies: [AddressRange], logger: Logger) {
        self.peer = ForwardingPeer(remote: remote, local: local, trustedProxies: trustedProxies)
        self.logger = logger
        if let address = self.peer?.address {
            self.logger[metadataKey: "client.address"] = "\(address)"
        }
    }
}
