import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import YardCore

#if canImport(Glibc)
    import Glibc
#endif

/// Railway's TCP proxy (`yard domain --tcp`): host ports that forward raw bytes to a
/// service port of the current replicas. Each accepted connection picks a replica when it
/// opens, so a redeploy moves new connections to the new replica; connections already open
/// stay with theirs until it stops. Closing a port closes its open connections too.
///
/// It runs on the router's own event loops (`EpollEventLoop`): a port listens on one loop,
/// and each connection it accepts and the connection to its replica stay on that loop.
/// Moving bytes through SwiftNIO's channels cost several times what nginx's stream module
/// spends (docs/performance.md, issue 17).
public final class TCPProxy: Service, Sendable {
    /// One host port: where it forwards, and what is open through it.
    private struct Listener {
        var loop: EpollEventLoop
        var socket: NIOLoopBound<SocketListener>?
        var upstreams: [Upstream] = []
        var next = 0
        var connections: [ObjectIdentifier: NIOLoopBound<SocketRelay>] = [:]
    }

    /// The address the ports are opened on.
    public let host: String
    let loops: EpollEventLoopGroup
    let logger: Logger
    private let listeners = NIOLockedValueBox([Int: Listener]())
    /// Told when a replica refuses (or times out) a connection of `port` (the swarm runtime
    /// takes a dead node's replica out of routing at once).
    private let connectFailed = NIOLockedValueBox<(@Sendable (_ port: Int, _ upstream: Upstream) -> Void)?>(nil)
    /// How long a replica may take to accept a connection.
    static let connectTimeout = TimeAmount.seconds(5)

    public init(host: String = "127.0.0.1", loops: EpollEventLoopGroup = .singleton, logger: Logger) {
        self.host = host
        self.loops = loops
        self.logger = logger
    }

    /// Opens `port` on `host`; returns false, changing nothing, when this proxy has it open
    /// already. Throws, naming the port, when it cannot be bound.
    @discardableResult
    public func open(port: Int) async throws -> Bool {
        let loop = self.loops.nextLoop()
        let claimed = self.listeners.withLockedValue { listeners -> Bool in
            guard listeners[port] == nil else { return false }
            listeners[port] = Listener(loop: loop)
            return true
        }
        guard claimed else { return false }
        do {
            let host = self.host
            let socket = try await loop.submit { () -> NIOLoopBound<SocketListener> in
                let listener = try SocketListener(
                    address: try SocketAddress(ipAddress: host, port: port), backlog: 128, loop: loop
                ) { [weak self] descriptor in
                    guard let self else {
                        Glibc.close(descriptor)
                        return
                    }
                    self.accept(descriptor, port: port, loop: loop)
                }
                try listener.start()
                return NIOLoopBound(listener, eventLoop: loop)
            }.get()
            let kept = self.listeners.withLockedValue { listeners -> Bool in
                guard listeners[port] != nil else { return false }
                listeners[port]?.socket = socket
                return true
            }
            // Closed while it was being bound.
            if !kept {
                try? await loop.submit { socket.value.close() }.get()
                return false
            }
        } catch {
            _ = self.listeners.withLockedValue { $0.removeValue(forKey: port) }
            throw YardError(.unavailable, "TCP proxy: cannot listen on \(self.host):\(port) (\(error)); the port is taken", cause: error)
        }
        self.logger.info("TCP proxy listening", metadata: ["proxy.address": "\(self.host):\(port)"])
        return true
    }

    /// Where new connections to `port` go: the first of `upstreams` in turn; none makes
    /// new connections close at once (no replica is running).
    public func setUpstreams(_ upstreams: [Upstream], port: Int) {
        self.listeners.withLockedValue { listeners in
            guard listeners[port] != nil, listeners[port]?.upstreams != upstreams else { return }
            listeners[port]?.upstreams = upstreams
            listeners[port]?.next = 0
        }
    }

    /// Stops listening on `port` and closes the connections open through it.
    public func close(port: Int) async {
        guard let listener = self.listeners.withLockedValue({ $0.removeValue(forKey: port) }) else { return }
        try? await listener.loop.submit {
            listener.socket?.value.close()
            for relay in listener.connections.values { relay.value.close() }
        }.get()
        self.logger.info("TCP proxy closed", metadata: ["proxy.address": "\(self.host):\(port)"])
    }

    /// Calls `handler` each time a replica refuses (or times out) a connection through a port.
    public func onConnectFailure(_ handler: @escaping @Sendable (_ port: Int, _ upstream: Upstream) -> Void) {
        self.connectFailed.withLockedValue { $0 = handler }
    }

    /// The ports open now.
    public var openPorts: Set<Int> { self.listeners.withLockedValue { Set($0.keys) } }

    /// Connections open now through `port`.
    public func connectionCount(port: Int) -> Int {
        self.listeners.withLockedValue { $0[port]?.connections.count ?? 0 }
    }

    /// Runs until shutdown, then closes every port and connection.
    public func run() async throws {
        try? await gracefulShutdown()
        for port in self.openPorts { await self.close(port: port) }
    }

    // MARK: Connections

    /// A connection came in on `port`'s listener; on its loop.
    private func accept(_ descriptor: Int32, port: Int, loop: EpollEventLoop) {
        let upstream = self.listeners.withLockedValue { listeners -> Upstream? in
            guard var listener = listeners[port], !listener.upstreams.isEmpty else { return nil }
            let chosen = listener.upstreams[listener.next % listener.upstreams.count]
            listener.next &+= 1
            listeners[port] = listener
            return chosen
        }
        guard let upstream else {
            // No replica runs: the client sees the connection closed, as with a stopped server.
            Glibc.close(descriptor)
            return
        }
        let relay: SocketRelay
        do {
            relay = try SocketRelay(client: descriptor, loop: loop)
        } catch {
            Glibc.close(descriptor)
            self.logger.warning("TCP proxy: cannot take the connection", metadata: ["proxy.port": "\(port)", "error": "\(error)"])
            return
        }
        let id = ObjectIdentifier(relay)
        self.listeners.withLockedValue { $0[port]?.connections[id] = NIOLoopBound(relay, eventLoop: loop) }
        relay.onClose = { [weak self] in
            self?.listeners.withLockedValue { _ = $0[port]?.connections.removeValue(forKey: id) }
        }
        let logger = self.logger
        let connectFailed = self.connectFailed.withLockedValue { $0 }
        relay.connect(to: upstream, timeout: Self.connectTimeout) { error in
            logger.warning(
                "TCP proxy: the replica refused the connection",
                metadata: ["proxy.port": "\(port)", "replica.id": "\(upstream.replicaID)", "error": "\(error)"])
            connectFailed?(port, upstream)
        }
    }
}
