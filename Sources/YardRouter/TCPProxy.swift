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
        var connections: [ObjectIdentifier: NIOLoopBound<TCPRelay>] = [:]
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
        let relay: TCPRelay
        do {
            relay = try TCPRelay(client: descriptor, loop: loop)
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

/// One connection through the TCP proxy: the client's socket and its replica's, on one
/// loop. Bytes read on one side are written to the other; a side whose peer stops sending
/// has its partner's output shut; both close once neither direction is open, or at once
/// when either fails.
final class TCPRelay {
    private let client: SocketConnection
    private var replica: SocketConnection?
    private let loop: EpollEventLoop
    private var connectTimer: Scheduled<Void>?
    private var closed = false
    /// Told once, when both sockets have closed.
    var onClose: (() -> Void)?

    /// Takes over the accepted `client` descriptor; nothing is read from it until the
    /// replica's connection is up.
    init(client descriptor: Int32, loop: EpollEventLoop) throws {
        self.loop = loop
        self.client = try SocketConnection(descriptor: descriptor, loop: loop, delegate: nil, reading: false)
        self.client.delegate = Side(relay: self, isClient: true)
    }

    /// Connects to `upstream`; `failed` hears why when it cannot (refused, timed out).
    func connect(to upstream: Upstream, timeout: TimeAmount, failed: @escaping (any Error) -> Void) {
        let side = Side(relay: self, isClient: false)
        side.connectFailed = failed
        do {
            // A replica's host is an IP address; a name is resolved here, on the loop.
            let address = try upstream.ipAddress ?? SocketAddress.makeAddressResolvingHost(upstream.host, port: upstream.port)
            self.replica = try SocketConnection.connect(to: address, loop: self.loop, delegate: side)
        } catch {
            failed(error)
            self.close()
            return
        }
        // Held by the timer until it is cancelled (at the connect or the close) or fires.
        let bound = NIOLoopBound((relay: self, side: side), eventLoop: self.loop)
        self.connectTimer = self.loop.scheduleTask(in: timeout) {
            let (relay, side) = bound.value
            guard let replica = relay.replica, replica.isConnecting, let failed = side.connectFailed else { return }
            side.connectFailed = nil
            failed(SocketError.system("connect (after \(timeout.shortDescription))", ETIMEDOUT))
            relay.close()
        }
    }

    /// Closes both sockets.
    func close() {
        self.client.close()
        self.replica?.close()
    }

    private func other(_ isClient: Bool) -> SocketConnection? {
        isClient ? self.replica : self.client
    }

    private func mine(_ isClient: Bool) -> SocketConnection? {
        isClient ? self.client : self.replica
    }

    fileprivate func established() {
        self.connectTimer?.cancel()
        self.connectTimer = nil
        // Servers that speak first (MySQL's greeting) are read only now that the client's
        // side can take the bytes.
        self.client.readsEnabled = true
    }

    fileprivate func read(_ bytes: ByteBuffer, isClient: Bool) {
        guard let other = self.other(isClient) else { return }
        other.writeAndFlush(bytes)
        // Read only while the other side keeps up.
        if !other.isWritable { self.mine(isClient)?.readsEnabled = false }
    }

    fileprivate func writabilityChanged(isClient: Bool) {
        guard let mine = self.mine(isClient), mine.isWritable else { return }
        self.other(isClient)?.readsEnabled = true
    }

    fileprivate func inputEnded(isClient: Bool) {
        self.other(isClient)?.shutdownOutput()
        if let mine = self.mine(isClient), mine.isOutputShut || (self.other(isClient)?.isInputEnded ?? true) {
            self.closeWhenWritten()
        }
    }

    /// Both directions have ended: each side closes once what it still has to write is out.
    private func closeWhenWritten() {
        self.client.closeAfterFlush()
        self.replica?.closeAfterFlush()
    }

    fileprivate func sideClosed() {
        // Either side closing closes the other.
        self.close()
        guard !self.closed, !self.client.isOpen, !(self.replica?.isOpen ?? false) else { return }
        self.closed = true
        self.connectTimer?.cancel()
        self.connectTimer = nil
        self.onClose?()
        self.onClose = nil
    }

    /// One socket's delegate: tells the relay which side an event came from.
    private final class Side: SocketConnectionDelegate {
        /// Held while the socket is open (a socket holds its delegate until it has closed,
        /// which ends the cycle).
        let relay: TCPRelay
        let isClient: Bool
        var connectFailed: ((any Error) -> Void)?

        init(relay: TCPRelay, isClient: Bool) {
            self.relay = relay
            self.isClient = isClient
        }

        func connectionEstablished(_ connection: SocketConnection) {
            self.connectFailed = nil
            self.relay.established()
        }

        func connectionRead(_ connection: SocketConnection, _ bytes: ByteBuffer) {
            self.relay.read(bytes, isClient: self.isClient)
        }

        func connectionInputEnded(_ connection: SocketConnection) {
            self.relay.inputEnded(isClient: self.isClient)
        }

        func connectionWritabilityChanged(_ connection: SocketConnection) {
            self.relay.writabilityChanged(isClient: self.isClient)
        }

        func connectionClosed(_ connection: SocketConnection, error: SocketError?) {
            if let connectFailed = self.connectFailed {
                self.connectFailed = nil
                connectFailed(error ?? SocketError.system("connect", ECONNREFUSED))
            }
            self.relay.sideClosed()
        }
    }
}
