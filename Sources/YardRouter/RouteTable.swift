/// Which replicas serve which hostname, and optionally which path prefix under it. A value:
/// the router swaps whole tables atomically.
public struct RouteTable: Sendable, Equatable {
    /// One routed hostname, or one path prefix under it.
    public struct Route: Sendable, Equatable {
        /// The hostname, normalized like a `Host` header.
        public var host: String
        /// nil for the whole host; else a path such as `/api` that matches `/api`, `/api/…`
        /// and `/api?…`, never `/apis` (see `normalizedPathPrefix`).
        public var pathPrefix: String?
        /// The replicas ready to serve it; empty when it is known but none is ready (503, not 404).
        public var upstreams: [Upstream]
        /// Who owns the route (the platform puts its service there), for the caller's use.
        public var owner: String?
        /// With no upstream: whether one is on its way (deploying, restarting, waking), so a
        /// request is worth holding; false answers 503 at once (crashed, failed, taken down).
        public var waitsForReplicas: Bool

        public init(host: String, pathPrefix: String? = nil, upstreams: [Upstream], owner: String? = nil, waitsForReplicas: Bool = true) {
            self.host = RouteTable.normalizedHost(host)
            self.pathPrefix = pathPrefix.flatMap(RouteTable.normalizedPathPrefix)
            self.upstreams = upstreams
            self.owner = owner
            self.waitsForReplicas = waitsForReplicas
        }

        /// Identifies the route within a table (round-robin counters are kept per route).
        var key: String { self.pathPrefix.map { self.host + $0 } ?? self.host }
    }

    /// A host's routes: the prefixed ones longest first, then the whole-host one.
    struct HostRoutes: Sendable, Equatable {
        var prefixed: [Route] = []
        var whole: Route?

        /// How many routes: a position below it names one (`subscript`).
        var count: Int { self.prefixed.count + (self.whole == nil ? 0 : 1) }

        /// The route at a position: the prefixed ones in order, then the whole host.
        subscript(position: Int) -> Route {
            position < self.prefixed.count ? self.prefixed[position] : self.whole!
        }

        /// The position of the route for a request target: the longest path prefix that
        /// matches it, else the whole host; nil when neither exists.
        func position(for target: String) -> Int? {
            if !self.prefixed.isEmpty, target.hasPrefix("/") {
                let path = target.prefix { $0 != "?" && $0 != "#" }
                for (position, route) in self.prefixed.enumerated() {
                    guard let prefix = route.pathPrefix, path.hasPrefix(prefix) else { continue }
                    // A segment boundary: /api matches /api and /api/x, not /apix.
                    if path.count == prefix.count || path[path.index(path.startIndex, offsetBy: prefix.count)] == "/" {
                        return position
                    }
                }
            }
            // Matched by case: comparing the optional route with nil copied it (its strings
            // and replica array retained and released) on every request.
            if case .none = self.whole { return nil }
            return self.prefixed.count
        }

        /// The replicas of the route at a position, and whether it waits for some when it has
        /// none, read in place (a copy of the route retains its strings and array).
        func replicas(at position: Int) -> (upstreams: [Upstream], waitsForReplicas: Bool) {
            if position < self.prefixed.count {
                return (self.prefixed[position].upstreams, self.prefixed[position].waitsForReplicas)
            }
            return (self.whole!.upstreams, self.whole!.waitsForReplicas)
        }
    }

    private var routes: [String: HostRoutes]

    /// An empty table: every host is unknown.
    public init() {
        self.routes = [:]
    }

    /// - Parameter routes: hostname → replicas that are ready to serve it. Hostnames are
    ///   compared case-insensitively and a port in the key is ignored. An empty array marks
    ///   a known host with no ready replica (the router answers 503 rather than 404).
    public init(routes: [String: [Upstream]]) {
        self.init(routes: routes.map { Route(host: $0.key, upstreams: $0.value) })
    }

    /// - Parameter routes: whole hosts and path prefixes; for the same host and prefix twice,
    ///   the replicas are merged and the first owner kept.
    public init(routes: [Route]) {
        var table: [String: HostRoutes] = [:]
        for route in routes {
            var entry = table[route.host, default: HostRoutes()]
            if let prefix = route.pathPrefix {
                if let index = entry.prefixed.firstIndex(where: { $0.pathPrefix == prefix }) {
                    entry.prefixed[index].upstreams += route.upstreams
                } else {
                    entry.prefixed.append(route)
                }
            } else if entry.whole != nil {
                entry.whole?.upstreams += route.upstreams
            } else {
                entry.whole = route
            }
            table[route.host] = entry
        }
        for host in table.keys {
            table[host]?.prefixed.sort { ($0.pathPrefix?.count ?? 0) > ($1.pathPrefix?.count ?? 0) }
        }
        self.routes = table
    }

    /// The replicas of a whole host (`Host` header value): `nil` when no service is routed
    /// at the host as a whole, `[]` when it is but no replica is ready.
    public func upstreams(forHost host: String) -> [Upstream]? {
        self.routes[Self.normalizedHost(host)]?.whole?.upstreams
    }

    /// The route for a request: the longest path prefix of the host that matches the
    /// request target, else the whole host; nil when neither exists.
    public func route(forHost host: String, target: String) -> Route? {
        guard let entry = self.routes[Self.normalizedHost(host)], let position = entry.position(for: target) else { return nil }
        return entry[position]
    }

    /// Each normalized hostname's routes.
    var routesByHost: [String: HostRoutes] { self.routes }

    /// Whether a request to `host` could be served now or will never be: it has a route with
    /// ready replicas, or no route at all. Held requests for it are worth another look.
    func mayServeOrRefuse(host: String) -> Bool {
        guard let entry = self.routes[host] else { return true }
        return entry.prefixed.contains { !$0.upstreams.isEmpty } || entry.whole?.upstreams.isEmpty == false
    }

    /// The hostnames in the table, normalized.
    public var hosts: [String] { Array(self.routes.keys) }

    /// Every route, in no particular order.
    public var allRoutes: [Route] {
        self.routes.values.flatMap { $0.prefixed + ($0.whole.map { [$0] } ?? []) }
    }

    /// Lower-cases a `Host` value and drops its port and any trailing dot, keeping the
    /// brackets of an IPv6 literal (`[::1]:8080` → `[::1]`).
    public static func normalizedHost(_ host: some StringProtocol) -> String {
        // The usual value is already normal (lower-case, no port, spaces or trailing dot):
        // hand it back without building a new string.
        if let host = host as? String, Self.isNormalHostName(host) { return host }
        // An ASCII value (any host name, an address, a port) is normalized over its bytes:
        // the general path below cost about 6,500 instructions for `name:port`, the
        // `:authority` every HTTP/2 client on a non-default port sends.
        if let normalized = String(host).utf8.withBytes(Self.normalizedASCIIHost) { return normalized }
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

    /// `normalizedHost` for ASCII bytes (the same steps: lower-case, spaces and tabs trimmed,
    /// an IPv6 literal kept up to its `]`, otherwise the port and trailing dots dropped); nil
    /// for anything else, which takes the general path (Unicode lower-casing).
    private static func normalizedASCIIHost(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
        var start = bytes.startIndex
        var end = bytes.endIndex
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        while start < end, isBlank(bytes[start]) { start += 1 }
        while end > start, isBlank(bytes[end - 1]) { end -= 1 }
        if start < end, bytes[start] == UInt8(ascii: "[") {
            if let close = bytes[start..<end].firstIndex(of: UInt8(ascii: "]")) { end = close + 1 }
        } else {
            if let colon = bytes[start..<end].lastIndex(of: UInt8(ascii: ":")) { end = colon }
            while end > start, bytes[end - 1] == UInt8(ascii: ".") { end -= 1 }
        }
        return String(unsafeUninitializedCapacity: end - start) { target in
            for index in start..<end {
                let byte = bytes[index]
                target[index - start] = byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
            }
            return end - start
        }
    }

    /// Whether `host` is a non-empty name of lower-case ASCII letters, digits, `-`, `_` and
    /// `.` that does not end in a dot: `normalizedHost` would return it unchanged.
    static func isNormalHostName(_ host: String) -> Bool {
        // Over the contiguous bytes (always, for a native string): no index arithmetic per byte.
        host.utf8.withContiguousStorageIfAvailable { Self.isNormalHostName(bytes: $0) }
            ?? Self.isNormalHostName(bytes: host.utf8)
    }

    private static func isNormalHostName(bytes: some Sequence<UInt8>) -> Bool {
        var last: UInt8 = 0
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                last = byte
            default:
                return false
            }
        }
        return last != 0 && last != UInt8(ascii: ".")
    }

    /// A path prefix as routes compare it: trailing slashes dropped, so `/api/` is `/api`;
    /// nil for `/` or an empty path, which mean the whole host. Paths are case-sensitive.
    public static func normalizedPathPrefix(_ prefix: String) -> String? {
        var value = Substring(prefix)
        while value.hasSuffix("/") { value = value.dropLast() }
        guard !value.isEmpty else { return nil }
        return value.hasPrefix("/") ? String(value) : "/" + value
    }
}
