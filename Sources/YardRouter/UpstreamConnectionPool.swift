import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// Keep-alive connections to upstreams, for one event loop. Client connections on that
/// loop lease from it, so a client connection and its upstream connection always share a
/// loop and talk to each other without hops. Every method must be called on `eventLoop`.
///
/// At most `maxConnectionsPerUpstream` connections to one upstream are open from this loop
/// (leased, connecting or idle). Beyond that a lease waits in a bounded FIFO queue until a
/// connection comes back or a slot frees up; a full queue or a wait longer than
/// `queueTimeout` refuses it, and nothing is sent upstream.
final class UpstreamConnectionPool: Sendable {
    struct Configuration: Sendable {
        var connectTimeout: TimeAmount
        var idleTimeout: TimeAmount
        var maxIdleConnectionsPerUpstream: Int
        var maxConnectionsPerUpstream: Int = .max
        var maxQueuedRequestsPerUpstream: Int = 0
        var queueTimeout: TimeAmount = .seconds(10)
    }

    /// What `lease` found.
    enum Lease {
        /// A pooled connection, ready for a request.
        case idle(UpstreamConnection)
        /// A new connection being opened.
        case connecting(EventLoopFuture<UpstreamConnection>)
        /// The upstream has all its connections in use: the lease waits as `ticket` (cancel
        /// it with `cancelWait(_:)`); the waiter's `leaseGranted` is called once with the outcome.
        case queued(ticket: UInt64)
        /// All connections are in use and the queue is full.
        case refused(QueueRefusal)
    }

    /// Why a lease got no connection without anything being sent.
    enum QueueRefusal: Equatable {
        case queueFull(connections: Int, queued: Int)
        case timedOut(after: TimeAmount, connections: Int)
    }

    /// The outcome of a queued lease, delivered on the pool's loop.
    enum Grant {
        case idle(UpstreamConnection)
        case connecting(EventLoopFuture<UpstreamConnection>)
        case refused(QueueRefusal)
    }

    fileprivate struct IdleConnection {
        var connection: UpstreamConnection
        var expiry: NIODeadline
    }

    fileprivate struct Waiter {
        var ticket: UInt64
        var allowIdle: Bool
        var timer: Scheduled<Void>
        var waiter: any UpstreamLeaseWaiter
    }

    /// What the pool keeps for one upstream, found with one dictionary look-up per lease or
    /// release: hashing an `Upstream` (two strings and a port) costs about 550 instructions,
    /// and separate dictionaries for the idle, open and queued took four per request.
    fileprivate final class Entry {
        /// The upstream's address when its host is an IP address (a replica's always is):
        /// parsed once, so a new connection goes straight to `connect`. Nil for a name,
        /// which is resolved for every connection.
        let address: SocketAddress?
        /// In `State.upstreams` still: a `LeaseHint` to an entry taken out is not used.
        var isListed = true
        /// Idle connections, least recently used first.
        var idle: [IdleConnection] = []
        /// Connections open (or opening): the ones the limit counts.
        var open = 0
        var waiters = CircularBuffer<Waiter>()

        var isUnused: Bool { self.open == 0 && self.idle.isEmpty && self.waiters.isEmpty }

        init(_ upstream: Upstream) {
            self.address = upstream.ipAddress
        }

        /// The most recently used idle connection that is still open.
        func popIdle() -> UpstreamConnection? {
            while let idle = self.idle.popLast() {
                if idle.connection.isActive {
                    return idle.connection
                }
            }
            return nil
        }
    }

    private struct State {
        /// Upstreams with open connections or queued leases; an entry goes once it has neither.
        var upstreams: [Upstream: Entry] = [:]
        /// Connections counted in an entry's `open`, to uncount each exactly once.
        var counted: Set<ObjectIdentifier> = []
        var nextTicket: UInt64 = 0
        /// One timer closes expired idle connections, armed for the earliest expiry.
        var sweep: Scheduled<Void>?
        var sweepDeadline: NIODeadline?
        var isClosed = false
        /// Replicas being drained (see `drain(replicaIDs:)`): none of their connections is kept idle.
        var draining: [String: Int] = [:]
        var drainWaiters: [DrainWaiter] = []
        var drainCheckScheduled = false
        /// `scheduleTrim()` has a task on the loop.
        var trimScheduled = false
    }

    private struct DrainWaiter {
        var token: UInt64
        var replicaIDs: Set<String>
        var promise: EventLoopPromise<Void>
    }

    let eventLoop: any EventLoop
    #if canImport(Glibc)
        /// `eventLoop` when it is the router's own: connections are then its sockets.
        private let epollLoop: EpollEventLoop?
    #endif
    private let configuration: Configuration
    private let logger: Logger
    private let state: NIOLoopBoundBox<State>
    private let spareBuffer: NIOLoopBoundBox<SpareWriteBuffer>
    /// Leases queued across the router's pools (for `Router.queuedRequestCount`).
    private let queuedCounter: NIOLockedValueBox<Int>

    init(
        eventLoop: any EventLoop,
        configuration: Configuration,
        queuedCounter: NIOLockedValueBox<Int> = NIOLockedValueBox(0),
        logger: Logger
    ) {
        self.eventLoop = eventLoop
        #if canImport(Glibc)
            self.epollLoop = eventLoop as? EpollEventLoop
        #endif
        self.configuration = configuration
        self.queuedCounter = queuedCounter
        self.logger = logger
        self.state = .makeBoxSendingValue(State(), eventLoop: eventLoop)
        self.spareBuffer = .makeBoxSendingValue(SpareWriteBuffer(), eventLoop: eventLoop)
    }

    /// The time for deadlines set on the pool's loop: the round's start on the router's own
    /// loop (`EpollEventLoop.roundStart`), the clock otherwise. Only on the pool's event loop.
    var now: NIODeadline {
        #if canImport(Glibc)
            if let epollLoop = self.epollLoop { return epollLoop.roundStart }
        #endif
        return .now()
    }

    /// The loop's spare write buffer, shared by its upstream connections and the client
    /// connections that lease them; only on the pool's event loop.
    var spareWriteBuffer: SpareWriteBuffer { self.spareBuffer.value }

    /// The number of idle connections to an upstream (for tests and logs).
    func idleCount(for upstream: Upstream) -> Int {
        self.state.value.upstreams[upstream]?.idle.count ?? 0
    }

    /// The number of open connections to an upstream from this loop: leased, connecting or idle.
    func openCount(for upstream: Upstream) -> Int {
        self.state.value.upstreams[upstream]?.open ?? 0
    }

    /// Requests on this loop that hold or wait for a connection to one of `replicaIDs`:
    /// leased and connecting connections plus queued leases. Upgraded connections (tunnels)
    /// are not counted.
    func inFlightCount(replicaIDs: Set<String>) -> Int {
        var count = 0
        for (upstream, entry) in self.state.value.upstreams where replicaIDs.contains(upstream.replicaID) {
            count += entry.open - entry.idle.count + entry.waiters.count
        }
        return count
    }

    /// Starts draining replicas that left the route table: their idle connections close now,
    /// connections to them that come back are closed instead of kept, and the future
    /// succeeds once no request on this loop holds or waits for a connection to them.
    /// Requests already on them finish normally. End it with `endDrain(token:replicaIDs:)`.
    func drain(token: UInt64, replicaIDs: Set<String>) -> EventLoopFuture<Void> {
        for id in replicaIDs { self.state.value.draining[id, default: 0] += 1 }
        var closing: [UpstreamConnection] = []
        for (upstream, entry) in self.state.value.upstreams where replicaIDs.contains(upstream.replicaID) {
            closing += entry.idle.map(\.connection)
            entry.idle = []
        }
        // Still counted as open until they have closed (`forget`), which checks again.
        for connection in closing { connection.close() }
        let promise = self.eventLoop.makePromise(of: Void.self)
        self.state.value.drainWaiters.append(DrainWaiter(token: token, replicaIDs: replicaIDs, promise: promise))
        self.scheduleDrainCheck()
        return promise.futureResult
    }

    /// Ends a drain begun with `drain(token:replicaIDs:)`; its future succeeds if it has not yet.
    func endDrain(token: UInt64, replicaIDs: Set<String>) {
        for id in replicaIDs {
            let left = self.state.value.draining[id, default: 1] - 1
            self.state.value.draining[id] = left > 0 ? left : nil
        }
        var kept: [DrainWaiter] = []
        for waiter in self.state.value.drainWaiters {
            if waiter.token == token { waiter.promise.succeed() } else { kept.append(waiter) }
        }
        self.state.value.drainWaiters = kept
    }

    /// Checks the drains on the next loop tick, not in the middle of a callback: a request
    /// whose connect just failed takes its next replica in the same tick, and must be counted.
    private func scheduleDrainCheck() {
        guard !self.state.value.drainWaiters.isEmpty, !self.state.value.drainCheckScheduled else { return }
        self.state.value.drainCheckScheduled = true
        self.eventLoop.assumeIsolated().execute {
            self.state.value.drainCheckScheduled = false
            var kept: [DrainWaiter] = []
            for waiter in self.state.value.drainWaiters {
                if self.inFlightCount(replicaIDs: waiter.replicaIDs) == 0 { waiter.promise.succeed() } else { kept.append(waiter) }
            }
            self.state.value.drainWaiters = kept
        }
    }

    private func isDraining(_ upstream: Upstream) -> Bool {
        !self.state.value.draining.isEmpty && self.state.value.draining[upstream.replicaID] != nil
    }

    /// A connection to `upstream`: the most recently used idle one unless `allowIdle` is
    /// false, otherwise a new one if the upstream is under its limit, otherwise a place in
    /// its queue (`waiter` is told only for `.queued`; it is an object rather than a closure
    /// so that the usual lease, served at once, allocates nothing).
    func lease(_ upstream: Upstream, allowIdle: Bool, waiter: any UpstreamLeaseWaiter) -> Lease {
        var hint: LeaseHint? = nil
        return self.lease(upstream, allowIdle: allowIdle, waiter: waiter, hint: &hint)
    }

    /// The entry a client connection's last lease used: a keep-alive client's next request
    /// usually goes to the same replica, and its entry is then found without hashing the
    /// upstream (two strings and a port, about 550 instructions).
    struct LeaseHint {
        fileprivate let upstream: Upstream
        fileprivate let entry: Entry
    }

    /// `lease(_:allowIdle:waiter:)`, the upstream's entry taken from `hint` when it is
    /// the same upstream's and still listed; `hint` is updated to the entry used.
    func lease(_ upstream: Upstream, allowIdle: Bool, waiter: any UpstreamLeaseWaiter, hint: inout LeaseHint?) -> Lease {
        let entry: Entry
        if let hinted = hint, hinted.entry.isListed, hinted.upstream == upstream {
            entry = hinted.entry
        } else {
            entry = self.entry(for: upstream)
            hint = LeaseHint(upstream: upstream, entry: entry)
        }
        if allowIdle, let connection = entry.popIdle() {
            return .idle(connection)
        }
        let open = entry.open
        let queued = entry.waiters.count
        if open < self.configuration.maxConnectionsPerUpstream, queued == 0 {
            return .connecting(self.connect(upstream, entry: entry))
        }
        guard queued < self.configuration.maxQueuedRequestsPerUpstream, !self.state.value.isClosed else {
            self.dropIfUnused(upstream, entry)
            return .refused(.queueFull(connections: open, queued: queued))
        }
        let ticket = self.state.value.nextTicket
        self.state.value.nextTicket += 1
        let timeout = self.configuration.queueTimeout
        let timer = self.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            guard let waiter = self.removeWaiter(ticket, upstream: upstream) else { return }
            waiter.waiter.leaseGranted(.refused(.timedOut(after: timeout, connections: self.openCount(for: upstream))))
        }
        entry.waiters.append(Waiter(ticket: ticket, allowIdle: allowIdle, timer: timer, waiter: waiter))
        self.queuedCounter.withLockedValue { $0 += 1 }
        if !allowIdle, let connection = entry.popIdle() {
            // A retry after a stale connection must not take another idle one: close one to
            // free its slot (`forget` serves the queue once it has closed).
            connection.close()
        }
        return .queued(ticket: ticket)
    }

    /// Gives up a queued lease (its client went away or its request was cut).
    func cancelWait(_ ticket: UInt64, upstream: Upstream) {
        self.removeWaiter(ticket, upstream: upstream)?.timer.cancel()
    }

    /// The entry of `upstream`, made if it has none.
    private func entry(for upstream: Upstream) -> Entry {
        if let entry = self.state.value.upstreams[upstream] { return entry }
        let entry = Entry(upstream)
        self.state.value.upstreams[upstream] = entry
        return entry
    }

    private func dropIfUnused(_ upstream: Upstream, _ entry: Entry) {
        if entry.isUnused, self.state.value.upstreams[upstream] === entry {
            self.state.value.upstreams[upstream] = nil
            entry.isListed = false
        }
    }

    /// Opens a new connection to `upstream` on this pool's event loop; it counts against
    /// the upstream's limit until it closes (or fails to connect).
    private func connect(_ upstream: Upstream, entry: Entry) -> EventLoopFuture<UpstreamConnection> {
        entry.open += 1
        let spareBuffer = self.spareWriteBuffer
        let future = self.openConnection(to: upstream, address: entry.address, spareBuffer: spareBuffer)
        future.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let connection):
                // The entry that counts this connection: it stays in `upstreams` while the connection is open.
                connection.poolEntry = entry
                let id = ObjectIdentifier(connection)
                self.state.value.counted.insert(id)
                connection.whenClosed { self.forget(id, upstream: upstream) }
            case .failure:
                self.uncount(upstream)
            }
        }
        return future
    }

    /// A new connection: a socket on the router's own loop, or a channel on NIO's.
    private func openConnection(
        to upstream: Upstream, address: SocketAddress?, spareBuffer: SpareWriteBuffer
    ) -> EventLoopFuture<UpstreamConnection> {
        #if canImport(Glibc)
            if let loop = self.epollLoop {
                do {
                    // A replica's address is an IP address; a name is resolved here, on the loop.
                    let address = try address ?? SocketAddress.makeAddressResolvingHost(upstream.host, port: upstream.port)
                    return SocketUpstreamConnection.connect(
                        to: upstream, address: address, loop: loop, timeout: self.configuration.connectTimeout,
                        spareBuffer: spareBuffer)
                } catch {
                    return loop.makeFailedFuture(error)
                }
            }
        #endif
        let bootstrap = ClientBootstrap(group: self.eventLoop)
            .connectTimeout(self.configuration.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // One handler: it parses responses and writes requests as bytes itself.
                    try channel.pipeline.syncOperations.addHandler(UpstreamConnectionHandler(spareBuffer: spareBuffer))
                }
            }
        // An IP address is not resolved (`connect(to:address:)`): a new connection is paid
        // for whenever more requests are in flight than connections are kept idle.
        return bootstrap.connect(to: upstream, address: address).flatMapThrowing { channel -> UpstreamConnection in
            do {
                let handler = try channel.pipeline.syncOperations.handler(type: UpstreamConnectionHandler.self)
                return ChannelUpstreamConnection(upstream: upstream, channel: channel, handler: handler)
            } catch {
                channel.close(promise: nil)
                throw error
            }
        }
    }

    /// The entry that counts `connection`, without a look-up by upstream when the connection has it.
    private func entry(of connection: UpstreamConnection) -> Entry? {
        guard let object = connection.poolEntry else { return self.state.value.upstreams[connection.upstream] }
        // Only `connection(for:upstream:)` sets it, always to an `Entry`.
        return unsafeDowncast(object, to: Entry.self)
    }

    /// Takes a connection back after an exchange. It is kept for reuse (or handed to a
    /// queued lease) when `reusable` and still open, otherwise closed; what is over the idle
    /// limit is closed at the end of the loop tick (`scheduleTrim()`).
    func release(_ connection: UpstreamConnection, reusable: Bool) {
        connection.receiver = nil
        let upstream = connection.upstream
        // Every leased connection is counted in its upstream's entry, which stays until it closes.
        guard reusable, !self.state.value.isClosed, connection.isActive, !self.isDraining(upstream),
            let entry = self.entry(of: connection)
        else {
            connection.close()
            return
        }
        // An idle connection must read so that the upstream closing it is noticed: the
        // client handler turns reads back on before it hands a connection back (only when it
        // turned them off, so a request does not pay for the option here).
        let expiry = self.now + self.configuration.idleTimeout
        entry.idle.append(IdleConnection(connection: connection, expiry: expiry))
        self.armSweep(at: expiry)
        if !entry.waiters.isEmpty {
            // Outside the caller's read loop: the waiter writes to this connection at once.
            self.eventLoop.assumeIsolated().execute { self.serveWaiters(upstream) }
        } else if entry.idle.count > self.configuration.maxIdleConnectionsPerUpstream {
            self.scheduleTrim()
        }
    }

    /// Closes the idle connections over `maxIdleConnectionsPerUpstream`, least recently used
    /// first, once this loop tick's events are handled. Replies and new requests come in
    /// the same batches: a connection handed back to a full pool while a request read a
    /// moment later needs one is taken by that request instead of being closed and replaced
    /// by a new connection.
    private func scheduleTrim() {
        guard !self.state.value.trimScheduled else { return }
        self.state.value.trimScheduled = true
        self.eventLoop.assumeIsolated().execute {
            self.state.value.trimScheduled = false
            let limit = self.configuration.maxIdleConnectionsPerUpstream
            var closing: [UpstreamConnection] = []
            for entry in self.state.value.upstreams.values where entry.idle.count > limit {
                let excess = entry.idle.count - limit
                closing += entry.idle[..<excess].map(\.connection)
                entry.idle.removeFirst(excess)
            }
            for connection in closing { connection.close() }
        }
    }

    /// An upgraded connection became a tunnel: it no longer counts against the limit.
    func detach(_ connection: UpstreamConnection) {
        connection.receiver = nil
        if self.state.value.counted.remove(ObjectIdentifier(connection)) != nil {
            self.uncount(connection.upstream)
        }
    }

    /// Closes every idle connection and refuses queued leases; connections released
    /// afterwards are closed too.
    func close() {
        self.state.value.isClosed = true
        var idle: [IdleConnection] = []
        var waiters: [(Upstream, CircularBuffer<Waiter>)] = []
        for (upstream, entry) in self.state.value.upstreams {
            idle += entry.idle
            entry.idle = []
            if !entry.waiters.isEmpty { waiters.append((upstream, entry.waiters)) }
            entry.waiters = []
        }
        // Open connections keep their entries until they have closed (`forget`).
        self.state.value.upstreams = self.state.value.upstreams.filter { _, entry in
            if entry.isUnused { entry.isListed = false }
            return !entry.isUnused
        }
        self.state.value.sweep?.cancel()
        self.state.value.sweep = nil
        for entry in idle {
            entry.connection.close()
        }
        let drains = self.state.value.drainWaiters
        self.state.value.drainWaiters = []
        for waiter in drains { waiter.promise.succeed() }
        for (upstream, queue) in waiters {
            self.queuedCounter.withLockedValue { $0 -= queue.count }
            for waiter in queue {
                waiter.timer.cancel()
                waiter.waiter.leaseGranted(.refused(.queueFull(connections: self.openCount(for: upstream), queued: queue.count)))
            }
        }
    }

    /// Gives queued leases what has become available: idle connections, then free slots.
    private func serveWaiters(_ upstream: Upstream) {
        guard let entry = self.state.value.upstreams[upstream] else { return }
        while let waiter = entry.waiters.first {
            if waiter.allowIdle, let connection = entry.popIdle() {
                self.dequeue(entry)
                waiter.waiter.leaseGranted(.idle(connection))
            } else if entry.open < self.configuration.maxConnectionsPerUpstream {
                self.dequeue(entry)
                waiter.waiter.leaseGranted(.connecting(self.connect(upstream, entry: entry)))
            } else if !waiter.allowIdle, let connection = entry.popIdle() {
                // Its slot frees when it has closed; `forget` serves the queue again then.
                connection.close()
                return
            } else {
                return
            }
        }
    }

    /// Takes the first queued lease off, about to be granted a connection its entry counts.
    private func dequeue(_ entry: Entry) {
        guard let waiter = entry.waiters.popFirst() else { return }
        waiter.timer.cancel()
        self.queuedCounter.withLockedValue { $0 -= 1 }
    }

    private func removeWaiter(_ ticket: UInt64, upstream: Upstream) -> Waiter? {
        guard let entry = self.state.value.upstreams[upstream],
            let index = entry.waiters.firstIndex(where: { $0.ticket == ticket })
        else { return nil }
        let waiter = entry.waiters.remove(at: index)
        self.dropIfUnused(upstream, entry)
        self.queuedCounter.withLockedValue { $0 -= 1 }
        self.scheduleDrainCheck()
        return waiter
    }

    private func uncount(_ upstream: Upstream) {
        guard let entry = self.state.value.upstreams[upstream] else { return }
        entry.open = max(entry.open - 1, 0)
        if !entry.waiters.isEmpty {
            self.serveWaiters(upstream)
        }
        self.dropIfUnused(upstream, entry)
        self.scheduleDrainCheck()
    }

    private func forget(_ id: ObjectIdentifier, upstream: Upstream) {
        if let entry = self.state.value.upstreams[upstream],
            let index = entry.idle.firstIndex(where: { ObjectIdentifier($0.connection) == id })
        {
            entry.idle.remove(at: index)
        }
        if self.state.value.counted.remove(id) != nil {
            self.uncount(upstream)
        }
    }

    /// Makes sure the sweep runs by `deadline`; a later sweep re-arms itself when it fires.
    private func armSweep(at deadline: NIODeadline) {
        if let armed = self.state.value.sweepDeadline, armed <= deadline { return }
        self.state.value.sweep?.cancel()
        self.state.value.sweepDeadline = deadline
        self.state.value.sweep = self.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.state.value.sweep = nil
            self.state.value.sweepDeadline = nil
            self.closeExpiredIdleConnections()
        }
    }

    private func closeExpiredIdleConnections() {
        let now = NIODeadline.now()
        var expired: [UpstreamConnection] = []
        var next: NIODeadline?
        for entry in self.state.value.upstreams.values {
            // Least recently used first: the expired ones are a prefix.
            let split = entry.idle.firstIndex(where: { $0.expiry > now }) ?? entry.idle.endIndex
            expired += entry.idle[..<split].map(\.connection)
            entry.idle.removeFirst(split)
            if let first = entry.idle.first { next = min(next ?? first.expiry, first.expiry) }
        }
        for connection in expired { connection.close() }
        if let next { self.armSweep(at: next) }
    }
}

extension UpstreamConnectionPool {
    /// A short reason for a failed connect, for the 502 body and logs.
    static func describeConnectError(_ error: any Error) -> String {
        #if canImport(Glibc)
            if let error = error as? SocketError {
                switch error.code {
                case ECONNREFUSED: return "connection refused"
                case ETIMEDOUT: return "connection timed out"
                default: return "\(error)"
                }
            }
        #endif
        if let error = error as? ChannelError, case .connectTimeout = error {
            return "connection timed out"
        }
        if let error = error as? IOError {
            return error.errnoCode == ECONNREFUSED ? "connection refused" : "\(error)"
        }
        if let error = error as? NIOConnectionError {
            if let failure = error.connectionErrors.first {
                return Self.describeConnectError(failure.error)
            }
            if error.dnsAError != nil || error.dnsAAAAError != nil {
                return "could not resolve \(error.host)"
            }
        }
        return "\(error)"
    }
}

/// Who waits for a queued lease: told once, on the pool's loop, what it got.
protocol UpstreamLeaseWaiter: AnyObject {
    func leaseGranted(_ grant: UpstreamConnectionPool.Grant)
}
