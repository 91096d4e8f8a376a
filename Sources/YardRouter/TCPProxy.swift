import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import YardCore

/// Railway's TCP proxy (`yard domain --tcp`): host ports that forward raw bytes to a
/// service port of the current replicas. Each accepted connection picks a replica when it
/// opens, so a redeploy moves new connections to the new replica; connections already open
/// stay with theirs until it stops. Closing a port closes its open connections too.
public final class TCPProxy: Service, Sendable {
    /// One host port: where it forwards, and what is open through it.
    private struct Listener {
        var channel: (any Channel)?
        var upstreams: [Upstream] = []
        var next = 0
        var connections: [ObjectIdentifier: any Channel] = [:]
    }

    /// The address the ports are opened on.
    public let host: String
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    private let listeners = NIOLockedValueBox([Int: Listener]())
    /// Told when a replica refuses (or times out) a connection of `port` (the swarm runtime
    /// takes a dead node's replica out of routing at once).
    private let connectFailed = NIOLockedValueBox<(@Sendable (_ port: Int, _ upstream: Upstream) -> Void)?>(nil)

    public init(host: String = "127.0.0.1", eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) {
        self.host = host
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    /// Opens `port` on `host`; returns false, changing nothing, when this proxy has it open
    /// already. Throws, naming the port, when it cannot be bound.
    @discardableResult
    public func open(port: Int) async throws -> Bool {
        let claimed = self.listeners.withLockedValue { listeners -> Bool in
            guard listeners[port] == nil else { return false }
            listeners[port] = Listener()
            return true
        }
        guard claimed else { return false }
        do {
            let channel = try await ServerBootstrap(group: self.eventLoopGroup)
                .serverChannelOption(.backlog, value: 128)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                // Accepted sockets inherit TCP_NODELAY from the listener (NIO's default there).
                // Nothing is read from the client until its replica's connection is up.
                .childChannelOption(.autoRead, value: false)
                // A client that stops sending (shutdown(SHUT_WR)) still gets the answer.
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { channel in self.accept(channel, port: port) }
                .bind(host: self.host, port: port)
                .get()
            let kept = self.listeners.withLockedValue { listeners -> Bool in
                guard listeners[port] != nil else { return false }
                listeners[port]?.channel = channel
                return true
            }
            // Closed while it was being bound.
            if !kept {
                try? await channel.close()
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
        try? await listener.channel?.close()
        for connection in listener.connections.values { connection.close(promise: nil) }
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

    private func accept(_ client: any Channel, port: Int) -> EventLoopFuture<Void> {
        let id = ObjectIdentifier(client)
        let upstream = self.listeners.withLockedValue { listeners -> Upstream? in
            guard var listener = listeners[port], !listener.upstreams.isEmpty else { return nil }
            let chosen = listener.upstreams[listener.next % listener.upstreams.count]
            listener.next &+= 1
            listener.connections[id] = client
            listeners[port] = listener
            return chosen
        }
        guard let upstream else {
            // No replica runs: the client sees the connection closed, as with a stopped server.
            return client.close()
        }
        client.closeFuture.whenComplete { _ in
            self.listeners.withLockedValue { _ = $0[port]?.connections.removeValue(forKey: id) }
        }
        let clientSide = TunnelHandler(tracksWebSocketFrames: false, forwardsHalfClosure: true)
        let replicaSide = TunnelHandler(tracksWebSocketFrames: false, forwardsHalfClosure: true)
        clientSide.partner = replicaSide
        replicaSide.partner = clientSide
        let handlers = NIOLoopBound((client: clientSide, replica: replicaSide), eventLoop: client.eventLoop)
        let logger = self.logger
        let connectFailed = self.connectFailed.withLockedValue { $0 }
        // Both connections on the client's event loop, so the two handlers share it.
        return ClientBootstrap(group: client.eventLoop)
            .connectTimeout(.seconds(5))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.autoRead, value: false)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { upstreamChannel in
                upstreamChannel.eventLoop.makeCompletedFuture {
                    try upstreamChannel.pipeline.syncOperations.addHandler(handlers.value.replica)
                }
            }
            .connect(to: upstream, address: upstream.ipAddress)
            .flatMap { upstreamChannel -> EventLoopFuture<Void> in
                // Either side closing closes the other (TunnelHandler.channelInactive).
                client.closeFuture.whenComplete { _ in upstreamChannel.close(promise: nil) }
                do {
                    try client.pipeline.syncOperations.addHandler(handlers.value.client)
                } catch {
                    upstreamChannel.close(promise: nil)
                    return client.eventLoop.makeFailedFuture(error)
                }
                // Servers that speak first (MySQL's greeting) are read only now that the
                // client's side can take the bytes.
                return client.setOption(.autoRead, value: true).and(upstreamChannel.setOption(.autoRead, value: true)).map { _ in }
            }
            .flatMapError { error in
                logger.warning(
                    "TCP proxy: the replica refused the connection",
                    metadata: ["proxy.port": "\(port)", "replica.id": "\(upstream.replicaID)", "error": "\(error)"])
                connectFailed?(port, upstream)
                return client.close()
            }
    }
}
