#if canImport(Glibc)
    import Glibc
    import NIOCore

    /// A client's socket and its replica's joined on one of the router's own loops: bytes read on
    /// one side are written to the other, reads pause while the other side cannot take more,
    /// and either side failing closes both.
    ///
    /// Two uses. A connection through the TCP proxy (`init(client:loop:)`, then `connect`): a
    /// side whose peer stops sending has its partner's output shut, and both close once neither
    /// direction is open. A tunnel after an upgrade (`init(tunnelling:to:tracksWebSocketFrames:)`):
    /// either side's end of input closes both, and a WebSocket tunnel can be told to go away,
    /// which puts a close frame between two of the replica's frames.
    final class SocketRelay {
        private let client: SocketConnection
        private var replica: SocketConnection?
        private let loop: EpollEventLoop
        private var connectTimer: Scheduled<Void>?
        private var closed = false
        /// Told once, when both sockets have closed.
        var onClose: (() -> Void)?
        /// A half-close passes on (the TCP proxy); in a tunnel the end of input closes both.
        private let forwardsHalfClosure: Bool
        /// On a WebSocket tunnel: where the replica's frames end.
        private var frames: WebSocketFrameTracker?
        /// Going away: after the current frame the client gets a close frame, and nothing more
        /// from the replica.
        private var closingAfterFrame = false
        private var sentCloseFrame = false

        /// Takes over the accepted `client` descriptor; nothing is read from it until the
        /// replica's connection is up.
        init(client descriptor: Int32, loop: EpollEventLoop) throws {
            self.loop = loop
            self.forwardsHalfClosure = true
            self.client = try SocketConnection(descriptor: descriptor, loop: loop, delegate: nil, reading: false)
            self.client.delegate = Side(relay: self, isClient: true)
        }

        /// Joins two open sockets after an upgrade; each becomes the relay's (its delegate is
        /// replaced) and both read.
        init(tunnelling client: SocketConnection, to replica: SocketConnection, tracksWebSocketFrames: Bool) {
            self.loop = client.loop
            self.forwardsHalfClosure = false
            self.client = client
            self.replica = replica
            self.frames = tracksWebSocketFrames ? WebSocketFrameTracker() : nil
            client.delegate = Side(relay: self, isClient: true)
            replica.delegate = Side(relay: self, isClient: false)
            client.readsEnabled = true
            replica.readsEnabled = true
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

        /// Bytes read on one side (or, in a tunnel, ones read before it: the client's after its
        /// upgrade request, the replica's after its 101) go to the other.
        func read(_ bytes: ByteBuffer, isClient: Bool) {
            guard let other = self.other(isClient) else { return }
            if !isClient, var frames = self.frames {
                if self.sentCloseFrame { return }
                let used = frames.consume(bytes.readableBytesView, stopAtBoundary: self.closingAfterFrame)
                self.frames = frames
                other.writeAndFlush(bytes.getSlice(at: bytes.readerIndex, length: used) ?? bytes)
                if self.closingAfterFrame, frames.atBoundary { self.sendCloseFrame() }
            } else {
                other.writeAndFlush(bytes)
            }
            // Read only while the other side keeps up.
            if !other.isWritable { self.mine(isClient)?.readsEnabled = false }
        }

        /// The replica's deployment drains: a WebSocket client gets a close frame (1001, going
        /// away) at the next frame boundary; another tunnel is closed.
        func goAway() {
            guard let frames = self.frames else {
                self.close()
                return
            }
            self.closingAfterFrame = true
            if frames.atBoundary { self.sendCloseFrame() }
        }

        private func sendCloseFrame() {
            guard !self.sentCloseFrame else { return }
            self.sentCloseFrame = true
            self.client.writeAndFlush(WebSocketFrameTracker.closeFrame(code: 1001))
            // The client answers with its own close frame and closes; if it does not, both
            // connections close shortly after.
            let bound = NIOLoopBound(self, eventLoop: self.loop)
            self.loop.assumeIsolated().scheduleTask(in: .seconds(2)) { bound.value.close() }
        }

        fileprivate func writabilityChanged(isClient: Bool) {
            guard let mine = self.mine(isClient), mine.isWritable else { return }
            self.other(isClient)?.readsEnabled = true
        }

        fileprivate func inputEnded(isClient: Bool) {
            guard self.forwardsHalfClosure else {
                // A tunnel's end of input closes it, as an upgraded channel's did.
                self.other(isClient)?.closeAfterFlush()
                self.mine(isClient)?.close()
                return
            }
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
            let relay: SocketRelay
            let isClient: Bool
            var connectFailed: ((any Error) -> Void)?

            init(relay: SocketRelay, isClient: Bool) {
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
#endif
