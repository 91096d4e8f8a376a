/// Which replicas serve which hostname. A value: the router swaps whole tables atomically.
public struct RouteTable: Sendable, Equatable {
    private var routes: [String: [Upstream]]

    /// An empty table: every host is unknown.
    public init() {
        self.routes = [:]
    }

    /// - Parameter routes: hostname → replicas that are ready to serve it. Hostnames are
    ///   compared case-insensitively and a port in the key is ignored. An empty array marks
    ///   a known host with no ready replica (the router answers 503 rather than 404).
    public init(routes: [String: [Upstream]]) {
        var normalized: [String: [Upstream]] = [:]
        for (host, upstreams) in routes {
            normalized[Self.normalizedHost(host), default: []].append(contentsOf: upstreams)
        }
        self.routes = normalized
    }

    /// The replicas for a `Host` header value: `nil` when no service is routed at the host,
    /// `[]` when the host is known but no replica is ready.
    public func upstreams(forHost host: String) -> [Upstream]? {
        self.routes[Self.normalizedHost(host)]
    }

    /// The hostnames in the table, normalized.
    public var hosts: [String] { Array(self.routes.keys) }

    /// Lower-cases a `Host` value and drops its port and any trailing dot, keeping the
    /// brackets of an IPv6 literal (`[::1]:8080` → `[::1]`).
    public static func normalizedHost(_ host: some StringProtocol) -> String {
        var value = Substring(host.lowercased())
        while let first = value.first, first == " " || first == "\t" { value = value.dropFirst() }
        while let last = value.last, last == " " || last == "\t" { value = value.dropLast() }
        if value.hasPrefix("[") {
            if let close = value.firstIndex(of: "]") {
                return String(value[...close])
            }
            return String(value)
        }
        if let colon = value.lastIndex(of: ":") {
            value = value[..<colon]
        }
        while value.hasSuffix(".") { value = value.dropLast() }
        return String(value)
    }
}
