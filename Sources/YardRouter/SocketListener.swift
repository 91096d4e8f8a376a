#if canImport(Glibc)
    import CEpoll
    import Glibc
    import NIOCore

    /// A listening TCP socket on an `EpollEventLoop`: each connection it accepts is handed to
    /// `accepted` as a non-blocking descriptor with `TCP_NODELAY` set, on the loop.
    ///
    /// With `reusePort`, several loops each listen on the same address (`SO_REUSEPORT`) and the
    /// kernel spreads connections across them: no loop hands a connection to another.
    final class SocketListener: EpollWatcher {
        let loop: EpollEventLoop
        private(set) var descriptor: Int32
        /// The address it listens on (with the port the kernel chose for port 0).
        let localAddress: SocketAddress
        private let accepted: (Int32) -> Void

        /// Connections accepted per readiness event at most, so one busy listener does not
        /// starve the loop's connections.
        static let acceptsPerWakeUp = 32

        init(
            address: SocketAddress,
            reusePort: Bool = false,
            backlog: Int32 = 4096,
            loop: EpollEventLoop,
            accepted: @escaping (Int32) -> Void
        ) throws {
            let descriptor = Glibc.socket(
                Int32(address.protocol.rawValue),
                Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                0
            )
            guard descriptor >= 0 else { throw SocketError.system("socket", errno) }
            do {
                var on: Int32 = 1
                let size = socklen_t(MemoryLayout<Int32>.size)
                guard setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, size) == 0 else {
                    throw SocketError.system("setsockopt(SO_REUSEADDR)", errno)
                }
                if reusePort, setsockopt(descriptor, SOL_SOCKET, SO_REUSEPORT, &on, size) != 0 {
                    throw SocketError.system("setsockopt(SO_REUSEPORT)", errno)
                }
                let bound = address.withSockAddr { pointer, length in Glibc.bind(descriptor, pointer, socklen_t(length)) }
                guard bound == 0 else { throw SocketError.system("bind to \(address)", errno) }
                guard Glibc.listen(descriptor, backlog) == 0 else { throw SocketError.system("listen", errno) }
                self.localAddress = try Self.localAddress(of: descriptor)
            } catch {
                Glibc.close(descriptor)
                throw error
            }
            self.loop = loop
            self.descriptor = descriptor
            self.accepted = accepted
        }

        /// Starts accepting; on the loop.
        func start() throws {
            try self.loop.watch(self.descriptor, events: EPOLLIN.rawValue, watcher: self)
        }

        /// Stops accepting and closes the socket; on the loop. Connections accepted stay open.
        func close() {
            guard self.descriptor >= 0 else { return }
            self.loop.unwatch(self.descriptor)
            Glibc.close(self.descriptor)
            self.descriptor = -1
        }

        func epollReady(_ events: UInt32) {
            for _ in 0..<Self.acceptsPerWakeUp {
                guard self.descriptor >= 0 else { return }
                let client = cepoll_accept4(self.descriptor, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                guard client >= 0 else { return }  // EAGAIN, or an error the next wake-up retries
                SocketConnection.setNoDelay(client)
                self.accepted(client)
            }
        }

        private static func localAddress(of descriptor: Int32) throws -> SocketAddress {
            guard let address = SocketConnection.address(of: descriptor, using: getsockname) else {
                throw SocketError.system("getsockname", errno)
            }
            return address
        }
    }
#endif
