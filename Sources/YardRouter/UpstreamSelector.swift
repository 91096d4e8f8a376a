import Atomics
import NIOConcurrencyHelpers
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

/// The current route table plus one round-robin counter per route (host or path prefix),
/// shared by every event loop: consecutive requests alternate between replicas whichever
/// connection they arrive on.
///
/// A request takes no lock: it loads the current `Snapshot` (an immutable table with atomic
/// counters and last-request times) from one atomic reference and advances its route's counter
/// with an atomic increment. Replacing the table builds a new snapshot and swaps it in; the
/// counters and times of routes that stay are the same atomics, so nothing done on the old
/// snapshot meanwhile is lost. Only ejections (a replica that refused a connection) take a
/// lock, and requests look at them only while there are some.
final class UpstreamSelector: Sendable {
    /// One route table and the atomics its requests update; never changed once published.
    final class Snapshot: AtomicReference, Sendable {
        let table: RouteTable
        /// Per normalized hostname, all a request needs: one look-up (hashing the host once).
        let hosts: [String: Host]

        /// A snapshot of `table` that keeps `previous`'s atomics for the routes and hosts both have.
        init(table: RouteTable, previous: Snapshot?) {
            self.table = table
            var hosts: [String: Host] = [:]
            for (name, routes) in table.routesByHost {
                hosts[name] = Host(routes: routes, previous: previous?.hosts[name])
            }
            self.hosts = hosts
        }
    }

    /// A routed host's routes with a round-robin counter each, and its last request's time.
    final class Host: Sendable {
        let routes: RouteTable.HostRoutes
        /// The next round-robin position of each route, in `routes`' order.
        let counters: [ManagedAtomic<UInt>]
        /// When the host last got a request (`NIODeadline.uptimeNanoseconds`, 0 for never):
        /// sleeping services wake and fall asleep by it.
        let lastRequest: ManagedAtomic<UInt64>

        /// Keeps `previous`'s time, and its counters of the routes (`Route.key`) both have.
        init(routes: RouteTable.HostRoutes, previous: Host?) {
            self.routes = routes
            self.counters = (0..<routes.count).map { position in
                let key = routes[position].key
                guard let previous, let kept = (0..<previous.routes.count).first(where: { previous.routes[$0].key == key }) else {
                    return ManagedAtomic(0)
                }
                return previous.counters[kept]
            }
            self.lastRequest = previous?.lastRequest ?? ManagedAtomic(0)
        }

        /// `routes.position(for:)`, the routes read in place (a request's look-up through
        /// `host.routes` copied them out of the object: two arrays and an optional route).
        func position(for target: String) -> Int? { self.routes.position(for: target) }

        func replicas(at position: Int) -> (upstreams: [Upstream], waitsForReplicas: Bool) {
            self.routes.replicas(at: position)
        }
    }

    private let current: ManagedAtomic<Snapshot>
    /// Serializes table replacements (readers never take it).
    private let replacing = NIOLock()
    /// Replicas a connection to recently failed, until when they are skipped. A replica
    /// that stops answering leaves the rotation at once, before any health check notices.
    private let ejected = NIOLockedValueBox([Upstream: NIODeadline]())
    /// How many replicas are ejected: requests skip the ejection lock while it is 0.
    private let ejectedCount = ManagedAtomic(0)
    /// Counts table replacements, each after its snapshot is in: a keep-alive request whose
    /// `LastHost` has the current count skips loading the snapshot (loading a reference
    /// atomically takes a double-word compare-and-swap and a retain).
    private let tableVersion = ManagedAtomic<UInt64>(0)

    init(table: RouteTable = RouteTable()) {
        self.current = ManagedAtomic(Snapshot(table: table, previous: nil))
    }

    /// The table in effect.
    var table: RouteTable { self.current.load(ordering: .acquiring).table }

    /// Replaces the table. Counters survive so a table update does not restart every host
    /// at its first replica; counters of routes that disappeared are dropped.
    func replaceTable(_ table: RouteTable) {
        self.replacing.withLock {
            let previous = self.current.load(ordering: .acquiring)
            self.current.store(Snapshot(table: table, previous: previous), ordering: .releasing)
            self.tableVersion.wrappingIncrement(ordering: .releasing)
        }
        guard self.ejectedCount.load(ordering: .relaxed) > 0 else { return }
        let present = Set(table.allRoutes.flatMap(\.upstreams))
        self.ejected.withLockedValue { ejected in
            ejected = ejected.filter { present.contains($0.key) }
            self.ejectedCount.store(ejected.count, ordering: .relaxed)
        }
    }

    /// Takes a replica out of rotation until `deadline` (a connection to it failed).
    func eject(_ upstream: Upstream, until deadline: NIODeadline) {
        self.ejected.withLockedValue { ejected in
            ejected[upstream] = deadline
            self.ejectedCount.store(ejected.count, ordering: .relaxed)
        }
    }

    /// When `host` (normalized) last got a request, nil if none came since it was routed.
    func lastRequest(forHost host: String) -> NIODeadline? {
        guard let time = self.current.load(ordering: .acquiring).hosts[host]?.lastRequest.load(ordering: .relaxed), time > 0
        else { return nil }
        return NIODeadline.uptimeNanoseconds(time)
    }

    /// Picks the replicas for a `Host` header value and request target (its path picks
    /// among the host's path prefixes) and advances that route's counter. Ejected replicas
    /// come last, as fallbacks, until their ejection ends.
    func select(host: String, target: String = "/", now: NIODeadline? = nil) -> RouteSelection {
        self.select(normalizedHost: RouteTable.normalizedHost(host), target: target, now: now)
    }

    /// `select(host:target:now:)` for a host already normalized (`RouteTable.normalizedHost`).
    func select(normalizedHost name: String, target: String = "/", now: NIODeadline? = nil) -> RouteSelection {
        var last: LastHost? = nil
        return self.select(normalizedHost: name, target: target, now: now, last: &last)
    }

    /// The host a connection's last request was routed to, and the table it was found in:
    /// a keep-alive client sends the same `Host` again, and while the table is the same its
    /// next request skips the look-up (hashing the name, about 600 instructions).
    struct LastHost {
        /// `tableVersion` when the host was looked up.
        fileprivate let version: UInt64
        fileprivate let name: String
        fileprivate let host: Host?
    }

    /// `select(normalizedHost:target:now:)`, the host looked up only when `last` (which it
    /// updates) is of another host or an older table.
    func select(normalizedHost name: String, target: String, now: NIODeadline? = nil, last: inout LastHost?) -> RouteSelection {
        let version = self.tableVersion.load(ordering: .acquiring)
        let found: Host?
        if let last, last.version == version, last.name == name {
            found = last.host
        } else {
            // Loaded after the version: at least as new as it, so a later replacement always
            // changes the version this look-up is remembered with.
            found = self.current.load(ordering: .acquiring).hosts[name]
            last = LastHost(version: version, name: name, host: found)
        }
        guard let host = found, let position = host.position(for: target) else {
            return .unknownHost(name)
        }
        let (upstreams, waitsForReplicas) = host.replicas(at: position)
        let now = now ?? .now()
        host.lastRequest.store(now.uptimeNanoseconds, ordering: .relaxed)
        guard !upstreams.isEmpty else {
            return waitsForReplicas ? .noUpstreams(name) : .stopped(name)
        }
        // One replica has one rotation: its counter stays (an atomic increment a request saved).
        let counter = upstreams.count > 1 ? host.counters[position].loadThenWrappingIncrement(ordering: .relaxed) : 0
        if self.ejectedCount.load(ordering: .relaxed) > 0, let rotated = self.rotationAvoidingEjected(upstreams, counter: counter, now: now)
        {
            return .upstreams(rotated)
        }
        let start = Int(counter % UInt(upstreams.count))
        // The route's own array when the rotation starts at its first replica (always, with one).
        return .upstreams(start == 0 ? upstreams : Array(upstreams[start...] + upstreams[..<start]))
    }

    /// The healthy replicas in rotation order, then the ejected ones; nil when none or all
    /// of `upstreams` are ejected (the plain rotation then).
    private func rotationAvoidingEjected(_ upstreams: [Upstream], counter: UInt, now: NIODeadline) -> [Upstream]? {
        self.ejected.withLockedValue { ejected in
            ejected = ejected.filter { $0.value > now }
            self.ejectedCount.store(ejected.count, ordering: .relaxed)
            let healthy = upstreams.filter { ejected[$0] == nil }
            guard !healthy.isEmpty, healthy.count < upstreams.count else { return nil }
            let start = Int(counter % UInt(healthy.count))
            return Array(healthy[start...] + healthy[..<start]) + upstreams.filter { ejected[$0] != nil }
        }
    }
}
