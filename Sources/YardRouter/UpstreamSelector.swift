import NIOCore

/// The outcome of looking a request's host up in the route table.
enum RouteSelection: Equatable, Sendable {
    /// No service is routed at the host.
    case unknownHost(String)
    /// The host is routed but no replica is ready; one is on its way.
    case noUpstreams(String)
    /// The host is routed but no replica is ready, and none is coming (crashed, failed,
    /// taken down): no point in holding the request.
    case stopped(String)
    /// Replicas to try, in order: the first is this request's round-robin pick, the rest are
    /// fallbacks in rotation order.
    case upstreams([Upstream])
}

/// The current route table plus one round-robin counter per route (host or path prefix). Lives behind the
/// router's lock; every request on every event loop advances the same per-host counter, so
/// consecutive requests alternate between replicas whichever connection they arrive on.
struct UpstreamSelector: Sendable {
    private(set) var table: RouteTable
    private var nextIndex: [String: UInt] = [:]
    /// Replicas a connection to recently failed, until when they are skipped. A replica
    /// that stops answering leaves the rotation at once, before any health check notices.
    private var ejected: [Upstream: NIODeadline] = [:]
    /// When each routed host last got a request (sleeping services wake and fall asleep by it).
    private(set) var lastRequest: [String: NIODeadline] = [:]

    init(table: RouteTable = RouteTable()) {
        self.table = table
    }

    /// Replaces the table. Counters survive so a table update does not restart every host
    /// at its first replica; counters of hosts that disappeared are dropped.
    mutating func replaceTable(_ table: RouteTable) {
        self.table = table
        let hosts = Set(table.hosts)
        let routes = table.allRoutes
        let keys = Set(routes.map(\.key))
        self.nextIndex = self.nextIndex.filter { keys.contains($0.key) }
        self.lastRequest = self.lastRequest.filter { hosts.contains($0.key) }
        if !self.ejected.isEmpty {
            let present = Set(routes.flatMap(\.upstreams))
            self.ejected = self.ejected.filter { present.contains($0.key) }
        }
    }

    /// Takes a replica out of rotation until `deadline` (a connection to it failed).
    mutating func eject(_ upstream: Upstream, until deadline: NIODeadline) {
        self.ejected[upstream] = deadline
    }

    /// Picks the replicas for a `Host` header value and request target (its path picks
    /// among the host's path prefixes) and advances that route's counter. Ejected replicas
    /// come last, as fallbacks, until their ejection ends.
    mutating func select(host: String, target: String = "/", now: NIODeadline? = nil) -> RouteSelection {
        let name = RouteTable.normalizedHost(host)
        guard let route = self.table.route(forHost: name, target: target) else {
            return .unknownHost(name)
        }
        self.lastRequest[name] = now ?? .now()
        let upstreams = route.upstreams
        guard !upstreams.isEmpty else {
            return route.waitsForReplicas ? .noUpstreams(name) : .stopped(name)
        }
        let counterKey = route.key
        if !self.ejected.isEmpty {
            let now = self.lastRequest[name] ?? .now()
            self.ejected = self.ejected.filter { $0.value > now }
            let healthy = upstreams.filter { self.ejected[$0] == nil }
            if !healthy.isEmpty, healthy.count < upstreams.count {
                let counter = self.nextIndex[counterKey, default: 0]
                self.nextIndex[counterKey] = counter &+ 1
                let start = Int(counter % UInt(healthy.count))
                let rotated = Array(healthy[start...] + healthy[..<start])
                return .upstreams(rotated + upstreams.filter { self.ejected[$0] != nil })
            }
        }
        let counter = self.nextIndex[counterKey, default: 0]
        self.nextIndex[counterKey] = counter &+ 1
        let start = Int(counter % UInt(upstreams.count))
        // The route's own array when the rotation starts at its first replica (always, with one).
        return .upstreams(start == 0 ? upstreams : Array(upstreams[start...] + upstreams[..<start]))
    }
}
