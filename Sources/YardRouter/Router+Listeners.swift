import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

extension Router {
    /// The plain HTTP listeners: one socket per event loop, all on the same port with
    /// `SO_REUSEPORT`, each accepting on its own loop. The kernel spreads new connections
    /// over them, so a connection is served where it was accepted (no hand-off between
    /// threads) and accepting scales with the loops. The first binds the configured port
    /// (0 picks one); the others join it.
    ///
    /// `SO_REUSEPORT` would also let a second router of the same user join the port instead
    /// of failing, so with several loops a configured port is first claimed by a plain socket
    /// (which fails if anything listens there) and then handed over to the shared ones. Port
    /// 0 is not probed: the first shared listener takes a fresh port and keeps it while the
    /// others join. A probe there closed its port before the listeners bound it, and another
    /// process's socket could take it in between (`yard serve` then failed at start with
    /// "Address already in use" on port 0, about once per CI run under load).
    func bindListeners() async throws -> [any Channel] {
        let allLoops = Array(self.eventLoopGroup.makeIterator())
        let loops = allLoops.isEmpty ? [self.eventLoopGroup.next()] : allLoops
        let sharesPort = loops.count > 1
        var port = self.configuration.port
        if sharesPort && port != 0 {
            let probe = try await ServerBootstrap(group: loops[0])
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: self.configuration.host, port: port)
                .get()
            port = probe.localAddress?.port ?? port
            try await probe.close()
        }
        var listeners: [any Channel] = []
        do {
            for loop in loops {
                let listener = try await ServerBootstrap(group: loop)
                    .serverChannelOption(.backlog, value: 256)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .serverChannelOption(
                        ChannelOptions.socket(SocketOptionLevel(SOL_SOCKET), SO_REUSEPORT), value: sharesPort ? 1 : 0)
                    // Accepted sockets inherit TCP_NODELAY from the listener (NIO's default there).
                    .childChannelInitializer { channel in
                        self.initializeClientChannel(channel)
                    }
                    .bind(host: self.configuration.host, port: port)
                    .get()
                port = listener.localAddress?.port ?? port
                listeners.append(listener)
            }
        } catch {
            for listener in listeners { listener.close(promise: nil) }
            throw error
        }
        return listeners
    }
}
