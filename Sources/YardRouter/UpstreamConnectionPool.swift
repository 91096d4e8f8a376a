import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// Idle keep-alive connections to upstreams, for one event loop. Client connections on that
/// loop lease from it, so a client connection and its upstream connection always share a
/// loop and talk to each other without hops. Every method must be called on `eventLoop`.
final class UpstreamConnectionPool: Sendable {
    struct Configuration: Sendable {
        var connectTimeout: TimeAmount
        var idleTimeout: TimeAmount
        var maxIdleConnectionsPerUpstream: Int
    }

    /// What `lease` found.
    enum Lease {
        /// A pooled connection, ready for a request.
        case idle(UpstreamConnection)
        /// A new connection being opened; turn the channel into a connection with `connection(for:upstream:)`.
        case connecting(EventLoopFuture<any Channel>)
    }

    private struct IdleConnection {
        var connection: UpstreamConnection
        var expiry: Scheduled<Void>
    }

    private struct State {
        var idle: [Upstream: [IdleConnection]] = [:]
        var isClosed = false
    }

    let eventLoop: any EventLoop
    private let configuration: Configuration
    private let logger: Logger
    private let state: NIOLoopBoundBox<State>

    init(eventLoop: any EventLoop, configuration: Configuration, logger: Logger) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.logger = logger
        self.state = .makeBoxSendingValue(State(), eventLoop: eventLoop)
    }

    /// The number of idle connections to an upstream (for tests and logs).
    func idleCount(for upstream: Upstream) -> Int {
        self.state.value.idle[upstream]?.count ?? 0
    }

    /// A connection to `upstream`: the most recently used idle one unless `allowIdle` is
    /// false, otherwise a new one.
    func lease(_ upstream: Upstream, allowIdle: Bool) -> Lease {
        if allowIdle {
            while let idle = self.state.value.idle[upstream]?.popLast() {
                idle.expiry.cancel()
                if idle.connection.channel.isActive {
                    return .idle(idle.connection)
                }
            }
        }
        return .connecting(self.connect(upstream))
    }

    /// Opens a new connection to `upstream` on this pool's event loop.
    func connect(_ upstream: Upstream) -> EventLoopFuture<any Channel> {
        ClientBootstrap(group: self.eventLoop)
            .connectTimeout(self.configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(HTTPRequestEncoder())
                    try pipeline.addHandler(
                        ByteToMessageHandler(
                            HTTPResponseDecoder(
                                // Bytes a replica sends right after a 101 belong to the tunnel.
                                leftOverBytesStrategy: .forwardBytes,
                                informationalResponseStrategy: .forward
                            )
                        )
                    )
                    try pipeline.addHandler(UpstreamConnectionHandler())
                }
            }
            .connect(host: upstream.host, port: upstream.port)
    }

    /// Wraps a newly connected channel; from now on the pool forgets it once it closes.
    func connection(for channel: any Channel, upstream: Upstream) throws -> UpstreamConnection {
        let handler = try channel.pipeline.syncOperations.handler(type: UpstreamConnectionHandler.self)
        let id = ObjectIdentifier(channel)
        channel.closeFuture.assumeIsolated().whenComplete { _ in
            self.forget(id, upstream: upstream)
        }
        return UpstreamConnection(upstream: upstream, channel: channel, handler: handler)
    }

    /// Takes a connection back after an exchange. It is kept for reuse when `reusable`, still
    /// open and there is room; otherwise it is closed.
    func release(_ connection: UpstreamConnection, reusable: Bool) {
        connection.handler.receiver = nil
        let channel = connection.channel
        let upstream = connection.upstream
        guard reusable, !self.state.value.isClosed, channel.isActive,
            self.idleCount(for: upstream) < self.configuration.maxIdleConnectionsPerUpstream
        else {
            channel.close(promise: nil)
            return
        }
        // An idle connection must read so that the upstream closing it is noticed.
        try? channel.syncOptions?.setOption(.autoRead, value: true)
        let expiry = self.eventLoop.assumeIsolated().scheduleTask(in: self.configuration.idleTimeout) {
            channel.close(promise: nil)
        }
        self.state.value.idle[upstream, default: []].append(IdleConnection(connection: connection, expiry: expiry))
    }

    /// Closes every idle connection; connections released afterwards are closed too.
    func close() {
        self.state.value.isClosed = true
        let idle = self.state.value.idle.values.flatMap { $0 }
        self.state.value.idle = [:]
        for entry in idle {
            entry.expiry.cancel()
            entry.connection.channel.close(promise: nil)
        }
    }

    private func forget(_ id: ObjectIdentifier, upstream: Upstream) {
        guard var entries = self.state.value.idle[upstream] else { return }
        if let index = entries.firstIndex(where: { ObjectIdentifier($0.connection.channel) == id }) {
            entries[index].expiry.cancel()
            entries.remove(at: index)
            self.state.value.idle[upstream] = entries.isEmpty ? nil : entries
        }
    }
}

extension UpstreamConnectionPool {
    /// A short reason for a failed connect, for the 502 body and logs.
    static func describeConnectError(_ error: any Error) -> String {
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
