import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// The plain HTTP listeners on the router's own event loops (`Configuration.ownEventLoops`).
struct OwnListeners: Sendable {
    let port: Int
    let count: Int
    /// Stops accepting; existing connections stay.
    let close: @Sendable () -> Void
    /// Completes once `close` ran.
    let closed: EventLoopFuture<Void>
}

#if canImport(Glibc)
    /// A client connection on one of the router's own loops, as the router tracks it.
    struct OwnClientConnection: Sendable {
        let loop: EpollEventLoop
        let handle: NIOLoopBound<(socket: SocketConnection, handler: ProxyServerHandler)>
        let closed: EventLoopFuture<Void>

        func quiesce() {
            let handle = self.handle
            self.loop.execute { handle.value.handler.quiesce() }
        }

        func close() {
            let handle = self.handle
            self.loop.execute { handle.value.socket.close() }
        }
    }

    extension Router {
        /// One listener per own loop, on one port with `SO_REUSEPORT` when there are several,
        /// as `bindListeners()` does on NIO's loops (a configured port is first claimed by a
        /// plain socket, which fails if anything listens there).
        func bindOwnListeners() async throws -> OwnListeners {
            let count = max(Array(self.eventLoopGroup.makeIterator()).count, 1)
            let group = try EpollEventLoopGroup(loopCount: count, name: "yard-router")
            self.ownLoops.withLockedValue { $0 = group }
            let sharesPort = group.loops.count > 1
            var port = self.configuration.port
            let host = self.configuration.host
            if sharesPort && port != 0 {
                let loop = group.loops[0]
                let configured = port
                port = try await loop.submit {
                    let probe = try SocketListener(address: try SocketAddress(ipAddress: host, port: configured), loop: loop) {
                        Glibc.close($0)
                    }
                    defer { probe.close() }
                    return probe.localAddress.port ?? configured
                }.get()
            }
            var listeners: [NIOLoopBound<SocketListener>] = []
            do {
                for loop in group.loops {
                    let chosen = port
                    let listener = try await loop.submit {
                        let listener = try SocketListener(
                            address: try SocketAddress(ipAddress: host, port: chosen), reusePort: sharesPort, backlog: 256,
                            loop: loop
                        ) { [weak self] descriptor in
                            guard let self else {
                                Glibc.close(descriptor)
                                return
                            }
                            self.acceptOwn(descriptor, on: loop)
                        }
                        try listener.start()
                        return NIOLoopBound(listener, eventLoop: loop)
                    }.get()
                    port = try await loop.submit { listener.value.localAddress.port ?? chosen }.get()
                    listeners.append(listener)
                }
            } catch {
                for listener in listeners {
                    listener.eventLoop.execute { listener.value.close() }
                }
                throw error
            }
            let closed = group.loops[0].makePromise(of: Void.self)
            let bound = listeners
            let close: @Sendable () -> Void = {
                for listener in bound {
                    listener.eventLoop.execute { listener.value.close() }
                }
                closed.succeed()
            }
            return OwnListeners(port: port, count: listeners.count, close: close, closed: closed.futureResult)
        }

        /// A connection accepted on `loop`: served by a proxy handler on that loop, or refused
        /// (429) over the per-client limit, or closed once the router is draining.
        private func acceptOwn(_ descriptor: Int32, on loop: EpollEventLoop) {
            let handler = self.makeProxyHandler(
                on: loop, requestHeadTimeout: self.configuration.requestHeadTimeout, overTLS: false)
            let socket: SocketConnection
            do {
                socket = try SocketConnection(descriptor: descriptor, loop: loop, delegate: handler, reading: false)
            } catch {
                Glibc.close(descriptor)
                self.logger.warning("cannot take a client connection", metadata: ["error": "\(error)"])
                return
            }
            let closed = loop.makePromise(of: Void.self)
            socket.whenClosed { closed.succeed() }
            let connection = OwnClientConnection(
                loop: loop, handle: NIOLoopBound((socket, handler), eventLoop: loop), closed: closed.futureResult)
            let admitted: Bool
            do {
                admitted = try self.register(
                    .socket(connection), id: ObjectIdentifier(socket), address: socket.remoteAddress()?.ipAddress)
            } catch {
                socket.close()
                return
            }
            guard admitted else {
                socket.delegate = nil
                let response = LocalResponse.refusal(
                    .tooManyRequests,
                    "too many connections from this address (the limit is \(self.configuration.maxConnectionsPerClient)); close some and retry"
                )
                socket.write(response.encoded)
                socket.closeAfterFlush()
                return
            }
            handler.start(on: socket)
            socket.readsEnabled = true
        }
    }
#endif
