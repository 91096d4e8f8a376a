import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import YardCore

/// The edge proxy: accepts HTTP/1.1 connections and forwards each request to a replica of
/// the service routed at its `Host`, round-robin, over pooled keep-alive connections.
///
/// A `Service`: `run()` serves until graceful shutdown (then stops accepting, lets
/// in-flight requests finish within `shutdownGracePeriod` and closes) or cancellation
/// (then closes at once). Routes can be replaced at any time with `updateRoutes(_:)`.
public final class Router: Service, Sendable {
    public struct Configuration: Sendable {
        /// The address to listen on.
        public var host: String
        /// The port to listen on; 0 picks a free one (see `boundPort()`).
        public var port: Int
        /// How long to wait for an upstream connection before answering 502.
        public var connectTimeout: TimeAmount
        /// How long an idle upstream connection is kept for reuse.
        public var upstreamIdleTimeout: TimeAmount
        /// At most this many idle connections are kept per upstream and event loop.
        public var maxIdleConnectionsPerUpstream: Int
        /// At most this many connections to one upstream are open (leased, connecting or
        /// idle) per event loop, so the router opens at most this many times its loop count
        /// (`System.coreCount` by default). Requests beyond it queue for a free connection.
        public var maxConnectionsPerUpstream: Int = Self.defaultMaxConnectionsPerUpstream
        /// At most this many requests per upstream and event loop wait for a connection; more
        /// get 503 at once and are never sent.
        public var maxQueuedRequestsPerUpstream: Int = 1024
        /// How long a request waits in that queue before it gets 503 (never sent).
        public var upstreamQueueTimeout: TimeAmount = .seconds(10)
        /// The longest a request's whole exchange may take, from its head arriving to its
        /// response's end: 504 if no response head was sent by then, else the client
        /// connection is closed. Upgraded connections (WebSockets) are not limited.
        public var maxRequestDuration: TimeAmount = .minutes(15)
        /// How long graceful shutdown waits for in-flight requests before closing connections.
        public var shutdownGracePeriod: TimeAmount
        /// How long a client connection may sit idle between requests before it is closed.
        public var clientIdleTimeout: TimeAmount
        /// How long a replica may take to send a response head once the request head went to
        /// it (the clock starts over while the request body is still streaming up). When it
        /// runs out the client gets 502 and that upstream connection is closed; response
        /// bodies are not limited by it.
        public var responseHeadTimeout: TimeAmount
        /// The largest request body forwarded (413 beyond it).
        public var maxRequestBodyBytes: Int = Self.defaultMaxRequestBodyBytes
        /// The largest request head, its request line and header lines together (431 beyond
        /// it); a request's trailer section has the same limit.
        public var maxRequestHeaderBytes: Int = 64 * 1024
        /// How long a client may take to send a whole request head once its first byte
        /// arrived; a slower one (the slowloris pattern) gets 408 and is closed.
        public var requestHeadTimeout: TimeAmount = .seconds(10)
        /// Open connections allowed from one client address; more get 429 and are closed.
        public var maxConnectionsPerClient: Int = 1024
        /// How long a request for a known host with no ready replica (deploying, restarting,
        /// asleep) is held waiting for one before it gets 503. Zero answers 503 at once.
        public var holdTimeout: TimeAmount = .seconds(30)
        /// How long a replica that refused a connection (or timed out) stays out of rotation.
        public var ejectionPeriod: TimeAmount = .seconds(5)
        /// A second listener serving the same routes over TLS; nil serves plain HTTP only.
        public var https: HTTPSConfiguration? = nil
        /// HTTP/2 on the HTTPS listener (negotiated by ALPN) and its limits.
        public var http2: Router.HTTP2Configuration = .init()
        /// Peers whose `X-Forwarded-*`, `Forwarded` and `X-Real-IP` headers are kept
        /// (`--trusted-proxy`); from anyone else they are replaced with the connection's own.
        public var trustedProxies: [AddressRange] = []
        /// Plain HTTP/1.1 on the router's own event loops (`EpollEventLoop`, as many as the
        /// router's NIO group has) instead of NIO's channels: the listeners, the client
        /// connections, their upstream connections and WebSocket tunnels (issue 17: a request
        /// costs about nginx's instructions this way, 1.5 times them through NIO's channels).
        /// HTTPS and HTTP/2 stay on NIO. False serves plain HTTP/1.1 on NIO's loops too.
        public var ownEventLoops = true

        public static let defaultMaxRequestBodyBytes = 100 * 1024 * 1024
        public static let defaultMaxConnectionsPerUpstream = 256

        public init(
            host: String = "0.0.0.0",
            port: Int = 8080,
            connectTimeout: TimeAmount = .seconds(5),
            upstreamIdleTimeout: TimeAmount = .seconds(60),
            maxIdleConnectionsPerUpstream: Int = Self.defaultMaxConnectionsPerUpstream,
            shutdownGracePeriod: TimeAmount = .seconds(10),
            clientIdleTimeout: TimeAmount = .seconds(60),
            responseHeadTimeout: TimeAmount = .seconds(60)
        ) {
            self.host = host
            self.port = port
            self.connectTimeout = connectTimeout
            self.upstreamIdleTimeout = upstreamIdleTimeout
            self.maxIdleConnectionsPerUpstream = maxIdleConnectionsPerUpstream
            self.shutdownGracePeriod = shutdownGracePeriod
            self.clientIdleTimeout = clientIdleTimeout
            self.responseHeadTimeout = responseHeadTimeout
        }
    }

    private enum ListeningState {
        case waiting(next: Int, waiters: [Int: CheckedContinuation<Int, any Error>])
        case listening(port: Int)
        case failed(any Error)
    }

    /// A client connection the router counts, for the per-client limit and graceful shutdown.
    enum ClientConnection: Sendable {
        case channel(any Channel)
        #if canImport(Glibc)
            case socket(OwnClientConnection)
        #endif

        /// Asks it to finish its current request and close.
        func quiesce() {
            switch self {
            case .channel(let channel):
                channel.eventLoop.execute {
                    channel.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
                }
            #if canImport(Glibc)
                case .socket(let connection): connection.quiesce()
            #endif
            }
        }

        func close() {
            switch self {
            case .channel(let channel): channel.close(promise: nil)
            #if canImport(Glibc)
                case .socket(let connection): connection.close()
            #endif
            }
        }

        var closed: EventLoopFuture<Void> {
            switch self {
            case .channel(let channel): return channel.closeFuture
            #if canImport(Glibc)
                case .socket(let connection): return connection.closed
            #endif
            }
        }
    }

    private struct ClientConnections {
        var channels: [ObjectIdentifier: ClientConnection] = [:]
        /// Open connections by client address.
        var perClient: [String: Int] = [:]
        var isDraining = false
    }

    let configuration: Configuration
    let logger: Logger
    let eventLoopGroup: any EventLoopGroup
    let https = HTTPSState()
    /// The route table, read by every request without a lock (an atomic snapshot).
    private let selector = UpstreamSelector()
    private let listening = NIOLockedValueBox(ListeningState.waiting(next: 0, waiters: [:]))
    private let clientConnections = NIOLockedValueBox(ClientConnections())
    private let pools = NIOLockedValueBox([ObjectIdentifier: UpstreamConnectionPool]())
    #if canImport(Glibc)
        /// The own event loops while `run()` serves with `ownEventLoops`.
        let ownLoops = NIOLockedValueBox<EpollEventLoopGroup?>(nil)
    #endif
    private let queuedLeases = NIOLockedValueBox(0)
    let nextDrainToken = NIOLockedValueBox<UInt64>(0)
    private let held = HeldRequests()
    private let tunnels = Tunnels()
    let accessLog = AccessLog()

    /// Creates a router that serves on the shared NIO event loops.
    public convenience init(configuration: Configuration, logger: Logger) {
        self.init(configuration: configuration, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger)
    }

    /// Creates a router that serves on `eventLoopGroup`; upstream connections use the same loops.
    public init(configuration: Configuration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    /// Replaces the route table. Requests that already picked a replica keep it; every
    /// later request uses the new table. Callable from any task, before or during `run()`.
    public func updateRoutes(_ table: RouteTable) {
        self.selector.replaceTable(table)
        self.held.tableChanged(table)
    }

    /// Requests held now, waiting for a host to get a ready replica.
    public var heldRequestCount: Int { self.held.count }

    /// Requests waiting now for a connection to a busy upstream (see `maxConnectionsPerUpstream`).
    public var queuedRequestCount: Int { self.queuedLeases.withLockedValue { $0 } }

    /// Open upgraded connections (WebSockets) through the router.
    public var tunnelCount: Int { self.tunnels.count }

    /// Client connections the router has accepted and counts (against the per-client limit
    /// and for graceful shutdown) that are still open.
    public var clientConnectionCount: Int { self.clientConnections.withLockedValue { $0.channels.count } }

    /// Calls `observer` with the host of every request that starts waiting for a replica,
    /// from the event loop that holds it: the platform wakes sleeping services with it.
    public func onHeldRequest(_ observer: @escaping @Sendable (consuming String) -> Void) {
        self.held.observe(observer)
    }

    /// Calls `observer` with the access log entry of every request once its response ended
    /// (or its connection closed), from the event loop that served it: return at once.
    /// Requests the router answered itself are included, with no replica.
    public func onAccessLog(_ observer: @escaping @Sendable (consuming AccessLogEntry) -> Void) {
        self.accessLog.observe(observer)
    }

    /// How long ago `host` last got a request (any request that reached routing), nil if
    /// none came since it was routed.
    public func timeSinceLastRequest(forHost host: String) -> Duration? {
        let name = RouteTable.normalizedHost(host)
        guard let last = self.selector.lastRequest(forHost: name) else { return nil }
        return .nanoseconds((NIODeadline.now() - last).nanoseconds)
    }

    /// Whether upgraded connections (WebSockets) to any of `replicaIDs` are open.
    public func hasTunnels(toReplicas replicaIDs: Set<String>) -> Bool {
        self.tunnels.contains(replicaIDs: replicaIDs)
    }

    /// Before replicas are stopped: their WebSocket clients get a close frame (1001, going
    /// away) between two frames, and other upgraded connections are closed. Waits up to
    /// `timeout` for those connections to end; returns how many there were.
    @discardableResult
    public func closeTunnels(toReplicas replicaIDs: Set<String>, timeout: Duration = .seconds(2)) async -> Int {
        let count = self.tunnels.goAway(replicaIDs: replicaIDs)
        guard count > 0 else { return 0 }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, self.tunnels.contains(replicaIDs: replicaIDs) {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return count
    }

    /// The route table in effect.
    public var routes: RouteTable {
        self.selector.table
    }

    /// Waits until `run()` is listening and returns the bound port (useful with port 0).
    /// Throws if binding failed or the waiting task is cancelled.
    public func boundPort() async throws -> Int {
        // Either the outcome is settled, or take a ticket to wait for it.
        let ticket = self.listening.withLockedValue { state -> Int? in
            guard case .waiting(let next, let waiters) = state else { return nil }
            state = .waiting(next: next + 1, waiters: waiters)
            return next
        }
        guard let ticket else {
            return try self.listeningOutcome()
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
                let immediate: Result<Int, any Error>? = self.listening.withLockedValue { state in
                    switch state {
                    case .listening(let port): return .success(port)
                    case .failed(let error): return .failure(error)
                    case .waiting(let next, var waiters):
                        if Task.isCancelled { return .failure(CancellationError()) }
                        waiters[ticket] = continuation
                        state = .waiting(next: next, waiters: waiters)
                        return nil
                    }
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let continuation = self.listening.withLockedValue { state -> CheckedContinuation<Int, any Error>? in
                guard case .waiting(let next, var waiters) = state else { return nil }
                let continuation = waiters.removeValue(forKey: ticket)
                state = .waiting(next: next, waiters: waiters)
                return continuation
            }
            continuation?.resume(throwing: CancellationError())
        }
    }

    private func listeningOutcome() throws -> Int {
        try self.listening.withLockedValue { state in
            switch state {
            case .listening(let port): return port
            case .failed(let error): throw error
            case .waiting: throw CancellationError()  // unreachable: the state never returns to waiting
            }
        }
    }

    private func finishListening(_ result: Result<Int, any Error>) {
        let waiters = self.listening.withLockedValue { state -> [CheckedContinuation<Int, any Error>] in
            guard case .waiting(_, let waiters) = state else { return [] }
            switch result {
            case .success(let port): state = .listening(port: port)
            case .failure(let error): state = .failed(error)
            }
            return Array(waiters.values)
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    // MARK: - Serving

    public func run() async throws {
        let listeners: [any Channel]
        let ownListeners: OwnListeners?
        do {
            #if canImport(Glibc)
                ownListeners = self.configuration.ownEventLoops ? try await self.bindOwnListeners() : nil
            #else
                ownListeners = nil
            #endif
            listeners = ownListeners == nil ? try await self.bindListeners() : []
        } catch {
            let failure = YardError(
                .unavailable,
                "the router could not listen on \(self.configuration.host):\(self.configuration.port) (\(error)); free that port or configure another one",
                cause: error
            )
            self.finishListening(.failure(failure))
            throw failure
        }
        let httpsServer: (any Channel)?
        do {
            httpsServer = try await self.bindHTTPS(host: self.configuration.host)
        } catch {
            for listener in listeners { listener.close(promise: nil) }
            ownListeners?.close()
            self.finishListening(.failure(error))
            throw error
        }
        let port = ownListeners?.port ?? listeners.first?.localAddress?.port ?? self.configuration.port
        self.finishListening(.success(port))
        self.logger.info(
            "router listening",
            metadata: [
                "router.address": "\(self.configuration.host):\(port)",
                "router.listeners": "\(ownListeners?.count ?? listeners.count)",
            ])

        // Serve until asked to stop; closing the listeners stops accepting.
        let stopAccepting: @Sendable () -> Void = {
            for listener in listeners { listener.close(promise: nil) }
            ownListeners?.close()
            httpsServer?.close(promise: nil)
        }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                for listener in listeners { try? await listener.closeFuture.get() }
                try? await ownListeners?.closed.get()
                httpsServer?.close(promise: nil)
                try? await httpsServer?.closeFuture.get()
            } onGracefulShutdown: {
                stopAccepting()
            }
        } onCancel: {
            stopAccepting()
        }
        self.logger.info(
            "router stopped accepting connections; draining",
            metadata: ["router.address": "\(self.configuration.host):\(port)"]
        )
        await self.drainClientConnections()
        await self.closePools()
        #if canImport(Glibc)
            if let loops = self.ownLoops.withLockedValue({ $0.take() }) {
                try? await loops.shutdownGracefully()
            }
        #endif
        self.logger.info("router stopped")
    }

    func initializeClientChannel(_ channel: any Channel) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            guard try self.admit(channel) else { return }
            try self.addHTTP1Handlers(to: channel, overTLS: false)
        }
    }

    /// Registers a new client connection; one over the per-client limit gets a handler that
    /// answers 429 and closes, and false.
    func admit(_ channel: any Channel) throws -> Bool {
        guard try self.register(channel) else {
            try channel.pipeline.syncOperations.addHandler(
                RefusingHandler(
                    status: .tooManyRequests,
                    message:
                        "too many connections from this address (the limit is \(self.configuration.maxConnectionsPerClient)); close some and retry"
                ))
            return false
        }
        return true
    }

    /// The HTTP/1.1 handlers of a client connection (plain, or after TLS negotiated `http/1.1`).
    func addHTTP1Handlers(to channel: any Channel, overTLS: Bool) throws {
        let configuration = self.configuration
        let pipeline = channel.pipeline.syncOperations
        // No NIO decoder or encoder: the proxy handler parses requests (`ClientRequestParser`)
        // and encodes responses (`ClientResponseEncoder`) itself, so no request or response
        // part crosses a handler of its own. No outbound header validator (a handler every
        // response part and flush crosses) either: what the router writes is its own constant
        // headers or a replica's, which reached it through its strict parser and so hold no
        // CR, LF or other invalid byte. No `HTTPServerPipelineHandler` (two hops per request
        // part and response write): the proxy handler holds pipelined requests back and
        // orders parser errors after the responses before them
        // (`ProxyServerHandler.handlePipelined`).
        if !overTLS {
            // A client that closes its sending side mid-response still gets all of it (over
            // TLS the end of input comes as close_notify, which ends the connection).
            try channel.syncOptions?.setOption(.allowRemoteHalfClosure, value: true)
        }
        // One handler: the proxy handler times request heads itself (a handler in front of it
        // was one more hop for every read).
        try pipeline.addHandler(
            self.makeProxyHandler(on: channel.eventLoop, requestHeadTimeout: configuration.requestHeadTimeout, overTLS: overTLS))
    }

    /// The handler that proxies one connection's requests (HTTP/1.1) or one stream's (HTTP/2).
    func makeProxyHandler(
        on eventLoop: any EventLoop, requestHeadTimeout: TimeAmount?, overTLS: Bool,
        connectionInfo: ClientConnectionInfo? = nil
    ) -> ProxyServerHandler {
        self.proxyHandlerFactory(on: eventLoop, overTLS: overTLS, connectionInfo: connectionInfo)(requestHeadTimeout)
    }

    /// Makes proxy handlers that share what one connection's handlers have in common (the
    /// event loop's pool, the route and ejection closures), worked out once: an HTTP/2
    /// connection makes a handler per stream, that is per request.
    func proxyHandlerFactory(
        on eventLoop: any EventLoop, overTLS: Bool, connectionInfo: ClientConnectionInfo?
    ) -> @Sendable (TimeAmount?) -> ProxyServerHandler {
        let selector = self.selector
        let ejectionPeriod = self.configuration.ejectionPeriod
        let configuration = self.configuration
        let pool = self.pool(for: eventLoop)
        let hold = ProxyServerHandler.Hold(requests: self.held, timeout: configuration.holdTimeout)
        let tunnels = self.tunnels
        let accessLog = self.accessLog
        let logger = self.logger
        let eject: @Sendable (Upstream) -> Void = { upstream in
            selector.eject(upstream, until: .now() + ejectionPeriod)
        }
        // The handler passes the Host header normalized.
        let selectRoute: @Sendable (String, String, NIODeadline, inout UpstreamSelector.LastHost?) -> RouteSelection = {
            host, target, now, last in
            selector.select(normalizedHost: host, target: target, now: now, last: &last)
        }
        return { requestHeadTimeout in
            ProxyServerHandler(
                pool: pool,
                idleTimeout: configuration.clientIdleTimeout,
                responseHeadTimeout: configuration.responseHeadTimeout,
                maxRequestDuration: configuration.maxRequestDuration,
                maxRequestBodyBytes: configuration.maxRequestBodyBytes,
                maxRequestHeadBytes: configuration.maxRequestHeaderBytes,
                requestHeadTimeout: requestHeadTimeout,
                hold: hold,
                tunnels: tunnels,
                accessLog: accessLog,
                eject: eject,
                logger: logger,
                trustedProxies: configuration.trustedProxies,
                overTLS: overTLS,
                connectionInfo: connectionInfo,
                selectRoute: selectRoute
            )
        }
    }

    /// Tracks a client connection for graceful shutdown; refuses it once draining started.
    /// Returns false when its address already has `maxConnectionsPerClient` open.
    private func register(_ channel: any Channel) throws -> Bool {
        try self.register(.channel(channel), id: ObjectIdentifier(channel), address: channel.remoteAddress?.ipAddress)
    }

    /// Counts `connection` (its id unique while it is open) from `address`; throws once
    /// draining started, false when the address has `maxConnectionsPerClient` open. Counted
    /// until its `closed` future completes.
    func register(_ connection: ClientConnection, id: ObjectIdentifier, address: String?) throws -> Bool {
        let address = address ?? "unknown"
        let limit = self.configuration.maxConnectionsPerClient
        let admitted = try self.clientConnections.withLockedValue { connections -> Bool in
            guard !connections.isDraining else { throw ChannelError.ioOnClosedChannel }
            guard connections.perClient[address, default: 0] < limit else { return false }
            connections.channels[id] = connection
            connections.perClient[address, default: 0] += 1
            return true
        }
        guard admitted else {
            self.logger.warning("refusing a connection over the per-client limit", metadata: ["client.address": "\(address)"])
            return false
        }
        let clientConnections = self.clientConnections
        connection.closed.whenComplete { _ in
            clientConnections.withLockedValue { connections in
                _ = connections.channels.removeValue(forKey: id)
                let left = connections.perClient[address, default: 1] - 1
                connections.perClient[address] = left > 0 ? left : nil
            }
        }
        return true
    }

    /// Asks every client connection to finish its current request and close, then waits
    /// for them, closing whatever is left after the grace period (or at once on cancellation).
    private func drainClientConnections() async {
        let connections = self.clientConnections.withLockedValue { connections in
            connections.isDraining = true
            return Array(connections.channels.values)
        }
        guard !connections.isEmpty else { return }
        for connection in connections { connection.quiesce() }
        let eventLoop = self.eventLoopGroup.any()
        let allClosed = EventLoopFuture.andAllComplete(connections.map(\.closed), on: eventLoop)
        let deadline = eventLoop.scheduleTask(in: self.configuration.shutdownGracePeriod) {
            for connection in connections { connection.close() }
        }
        await withTaskCancellationHandler {
            try? await allClosed.get()
        } onCancel: {
            for connection in connections { connection.close() }
        }
        deadline.cancel()
    }

    func pool(for eventLoop: any EventLoop) -> UpstreamConnectionPool {
        self.pools.withLockedValue { pools in
            let id = ObjectIdentifier(eventLoop)
            if let pool = pools[id] { return pool }
            let pool = UpstreamConnectionPool(
                eventLoop: eventLoop,
                configuration: .init(
                    connectTimeout: self.configuration.connectTimeout,
                    idleTimeout: self.configuration.upstreamIdleTimeout,
                    maxIdleConnectionsPerUpstream: self.configuration.maxIdleConnectionsPerUpstream,
                    maxConnectionsPerUpstream: self.configuration.maxConnectionsPerUpstream,
                    maxQueuedRequestsPerUpstream: self.configuration.maxQueuedRequestsPerUpstream,
                    queueTimeout: self.configuration.upstreamQueueTimeout
                ),
                queuedCounter: self.queuedLeases,
                logger: self.logger
            )
            pools[id] = pool
            return pool
        }
    }

    /// Every event loop's pool, created where missing, so a drain covers every loop.
    func allPools() -> [UpstreamConnectionPool] {
        var loops: [any EventLoop] = Array(self.eventLoopGroup.makeIterator())
        #if canImport(Glibc)
            if let own = self.ownLoops.withLockedValue({ $0 }) { loops += own.loops as [any EventLoop] }
        #endif
        return loops.map { self.pool(for: $0) }
    }

    private func closePools() async {
        let pools = self.pools.withLockedValue { pools in
            defer { pools = [:] }
            return Array(pools.values)
        }
        for pool in pools {
            try? await pool.eventLoop.submit { pool.close() }.get()
        }
    }
}
