#if canImport(Glibc)
    import CEpoll
    import Glibc
    import NIOCore

    /// A system call on the router's own sockets failed.
    struct SocketError: Error, CustomStringConvertible {
        var call: String
        var code: Int32

        static func system(_ call: String, _ code: Int32) -> SocketError {
            SocketError(call: call, code: code)
        }

        var description: String { "\(self.call) failed: \(String(cString: strerror(self.code)))" }
    }

    /// What happens on a `SocketConnection`, told on its loop.
    protocol SocketConnectionDelegate: AnyObject {
        /// Bytes read. The buffer is the loop's read buffer: kept past the call it stays valid
        /// (the loop then reads into a new one), but holding it costs its whole capacity.
        func connectionRead(_ connection: SocketConnection, _ bytes: ByteBuffer)
        /// The peer will send nothing more (it half-closed or closed).
        func connectionInputEnded(_ connection: SocketConnection)
        /// `isWritable` changed: the bytes waiting to be written crossed a watermark.
        func connectionWritabilityChanged(_ connection: SocketConnection)
        /// An outgoing connection was established (`SocketConnection.connect`).
        func connectionEstablished(_ connection: SocketConnection)
        /// The connection closed: by `close()`, an error (`error`), or a failed connect. Told
        /// once, after the call that closed it has returned.
        func connectionClosed(_ connection: SocketConnection, error: SocketError?)
    }

    extension SocketConnectionDelegate {
        func connectionEstablished(_ connection: SocketConnection) {}
        func connectionWritabilityChanged(_ connection: SocketConnection) {}
    }

    /// A non-blocking stream socket on an `EpollEventLoop`: reads go to its delegate, writes wait
    /// in a queue until `flush()` (one `writev` for all of them), and whatever the socket cannot
    /// take yet is written when epoll says it can. All of it runs on the loop's thread.
    ///
    /// Reads use the loop's one read buffer: after a read is handed on, the same storage is
    /// read into again unless the delegate kept it. A connection thus allocates nothing per
    /// read while its delegate consumes what it is given.
    final class SocketConnection: EpollWatcher {
        let loop: EpollEventLoop
        private(set) var descriptor: Int32
        /// Held until the connection has told it it closed: the loop holds an open connection,
        /// and the connection its delegate, as a channel holds its handlers.
        var delegate: (any SocketConnectionDelegate)?

        private enum State {
            case connecting
            case open
            case closed
        }

        private var state: State
        /// Whether the descriptor is watched for reads; `readsEnabled` sets it.
        private var readsWanted = true
        /// Waiting for `EPOLLOUT`: the socket took less than was queued, or a connect is pending.
        private var writesWanted = false
        private var inputEnded = false
        /// Taken out of epoll after a hang-up while not reading: epoll reports a hang-up whatever
        /// a descriptor is watched for, so a paused one would be woken for it without end.
        private var parked = false
        private var closeWhenFlushed = false
        private var closeCallbacks: [() -> Void] = []
        private var shutdownWhenFlushed = false
        private var outputShut = false

        /// Bytes written and not yet flushed to the socket.
        private var queued = CircularBuffer<ByteBuffer>(initialCapacity: 4)
        private var flushedCount = 0
        private(set) var queuedBytes = 0
        private(set) var isWritable = true
        /// Above this many queued bytes `isWritable` turns false, below the low mark true again
        /// (NIO's defaults for a channel).
        static let highWatermark = 64 * 1024
        static let lowWatermark = 32 * 1024

        /// The size of the loop's read buffer; a read that fills it doubles the next one, up to
        /// the maximum.
        static let initialReadSize = 8 * 1024
        static let maximumReadSize = 64 * 1024

        /// Takes over `descriptor`, a connected non-blocking socket, and starts reading it unless
        /// `reading` is false (then `readsEnabled` starts it).
        init(descriptor: Int32, loop: EpollEventLoop, delegate: (any SocketConnectionDelegate)?, reading: Bool = true) throws {
            self.loop = loop
            self.descriptor = descriptor
            self.delegate = delegate
            self.state = .open
            self.readsWanted = reading
            try loop.watch(descriptor, events: reading ? EPOLLIN.rawValue | EPOLLRDHUP.rawValue : 0, watcher: self)
        }

        private init(connecting descriptor: Int32, loop: EpollEventLoop, delegate: (any SocketConnectionDelegate)?) throws {
            self.loop = loop
            self.descriptor = descriptor
            self.delegate = delegate
            self.state = .connecting
            self.writesWanted = true
            try loop.watch(descriptor, events: EPOLLOUT.rawValue, watcher: self)
        }

        /// Starts connecting to `address`; the delegate hears `connectionEstablished` or
        /// `connectionClosed` with the error.
        static func connect(
            to address: SocketAddress,
            loop: EpollEventLoop,
            delegate: (any SocketConnectionDelegate)?
        ) throws -> SocketConnection {
            let descriptor = Glibc.socket(
                Int32(address.protocol.rawValue),
                Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                0
            )
            guard descriptor >= 0 else { throw SocketError.system("socket", errno) }
            Self.setNoDelay(descriptor)
            let result = address.withSockAddr { pointer, length in
                Glibc.connect(descriptor, pointer, socklen_t(length))
            }
            if result != 0, errno != EINPROGRESS {
                let error = errno
                Glibc.close(descriptor)
                throw SocketError.system("connect", error)
            }
            do {
                return try SocketConnection(connecting: descriptor, loop: loop, delegate: delegate)
            } catch {
                Glibc.close(descriptor)
                throw error
            }
        }

        static func setNoDelay(_ descriptor: Int32) {
            var on: Int32 = 1
            _ = setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        }

        /// The peer's address (`getpeername`), nil once closed or when it cannot be read.
        func remoteAddress() -> SocketAddress? {
            Self.address(of: self.descriptor, using: getpeername)
        }

        /// The connection's own address (`getsockname`).
        func localAddress() -> SocketAddress? {
            Self.address(of: self.descriptor, using: getsockname)
        }

        static func address(
            of descriptor: Int32, using call: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
        ) -> SocketAddress? {
            guard descriptor >= 0 else { return nil }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let result = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call(descriptor, $0, &length) }
            }
            guard result == 0 else { return nil }
            let family = storage.ss_family
            return withUnsafePointer(to: &storage) { pointer in
                switch Int32(family) {
                case AF_INET6: return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee) }
                case AF_INET: return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee) }
                default: return nil
                }
            }
        }

        /// An outgoing connection not established (nor failed) yet.
        var isConnecting: Bool {
            if case .connecting = self.state { return true }
            return false
        }

        var isOpen: Bool {
            if case .closed = self.state { return false }
            return true
        }

        /// Reads on or off (off: the peer's bytes wait in the socket, and the peer slows down).
        var readsEnabled: Bool {
            get { self.readsWanted }
            set {
                guard newValue != self.readsWanted else { return }
                self.readsWanted = newValue
                self.updateWatch()
            }
        }

        // MARK: - Writing

        /// Queues `bytes`; they go out with the next `flush()`.
        func write(_ bytes: ByteBuffer) {
            guard self.isOpen, !self.closeWhenFlushed, !self.shutdownWhenFlushed, !self.outputShut, bytes.readableBytes > 0
            else { return }
            self.queued.append(bytes)
            self.queuedBytes += bytes.readableBytes
            if self.isWritable, self.queuedBytes > Self.highWatermark {
                self.isWritable = false
                self.delegate?.connectionWritabilityChanged(self)
            }
        }

        /// `write(bytes)` and `flush()`; with nothing queued the bytes go to the socket at once,
        /// and only what it does not take is queued.
        func writeAndFlush(_ bytes: ByteBuffer) {
            guard self.queued.isEmpty, case .open = self.state, !self.closeWhenFlushed, !self.shutdownWhenFlushed,
                !self.outputShut
            else {
                self.write(bytes)
                self.flush()
                return
            }
            let count = bytes.readableBytes
            guard count > 0 else { return }
            let written = bytes.withUnsafeReadableBytes { pointer in
                Glibc.send(self.descriptor, pointer.baseAddress, pointer.count, Int32(MSG_NOSIGNAL))
            }
            if written == count { return }
            if written < 0, errno != EAGAIN, errno != EWOULDBLOCK, errno != EINTR {
                self.fail(SocketError.system("write", errno))
                return
            }
            var rest = bytes
            rest.moveReaderIndex(forwardBy: max(written, 0))
            self.write(rest)
            self.flushedCount = self.queued.count
            self.wantWrites(true)
        }

        /// Writes what is queued, as far as the socket takes it now; the rest goes when it can.
        func flush() {
            self.flushedCount = self.queued.count
            guard case .open = self.state, !self.writesWanted else { return }
            self.writeFlushed()
        }

        /// The input ended: the peer sends nothing more.
        var isInputEnded: Bool { self.inputEnded }

        /// Closes the connection once everything queued has been written.
        func closeAfterFlush() {
            guard self.isOpen else { return }
            self.closeWhenFlushed = true
            self.flush()
            if self.flushedCount == 0, case .open = self.state { self.close() }
        }

        /// Stops sending once what is queued has been written: the peer then reads the end of input.
        func shutdownOutput() {
            guard self.isOpen, !self.outputShut else { return }
            self.shutdownWhenFlushed = true
            self.flush()
        }

        /// The output was shut (`shutdownOutput()` took effect).
        var isOutputShut: Bool { self.outputShut }

        private func shutDownOutputNow() {
            self.shutdownWhenFlushed = false
            self.outputShut = true
            _ = Glibc.shutdown(self.descriptor, Int32(SHUT_WR))
        }

        private func writeFlushed() {
            while self.flushedCount > 0 {
                let written: Int
                if self.flushedCount == 1 {
                    written = self.queued[self.queued.startIndex].withUnsafeReadableBytes { bytes in
                        Glibc.send(self.descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
                    }
                } else {
                    written = self.writeVector()
                }
                if written < 0 {
                    if errno == EAGAIN || errno == EWOULDBLOCK {
                        self.wantWrites(true)
                        return
                    }
                    if errno == EINTR { continue }
                    self.fail(SocketError.system("write", errno))
                    return
                }
                self.consume(written)
            }
            self.wantWrites(false)
            if self.closeWhenFlushed {
                self.close()
            } else if self.shutdownWhenFlushed, self.queued.isEmpty {
                self.shutDownOutputNow()
            }
        }

        /// One `writev` of up to 64 flushed buffers; the count written.
        private func writeVector() -> Int {
            let count = min(self.flushedCount, 64)
            return withUnsafeTemporaryAllocation(of: iovec.self, capacity: count) { vectors in
                // The buffers' storage stays alive while the queue holds them.
                var index = self.queued.startIndex
                for slot in 0..<count {
                    self.queued[index].withUnsafeReadableBytes { bytes in
                        vectors[slot] = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
                    }
                    index = self.queued.index(after: index)
                }
                var message = msghdr()
                message.msg_iov = vectors.baseAddress
                message.msg_iovlen = count
                return Glibc.sendmsg(self.descriptor, &message, Int32(MSG_NOSIGNAL))
            }
        }

        /// Drops `written` bytes from the front of the queue.
        private func consume(_ written: Int) {
            var left = written
            self.queuedBytes -= written
            while left > 0 {
                let first = self.queued.first!.readableBytes
                if first <= left {
                    left -= first
                    self.queued.removeFirst()
                    self.flushedCount -= 1
                } else {
                    self.queued[self.queued.startIndex].moveReaderIndex(forwardBy: left)
                    left = 0
                }
            }
            if !self.isWritable, self.queuedBytes < Self.lowWatermark {
                self.isWritable = true
                self.delegate?.connectionWritabilityChanged(self)
            }
        }

        private func wantWrites(_ wanted: Bool) {
            guard wanted != self.writesWanted else { return }
            self.writesWanted = wanted
            self.updateWatch()
        }

        private func updateWatch() {
            guard self.isOpen else { return }
            var events: UInt32 = 0
            if self.readsWanted, !self.inputEnded, case .open = self.state {
                events |= EPOLLIN.rawValue | EPOLLRDHUP.rawValue
            }
            if self.writesWanted { events |= EPOLLOUT.rawValue }
            if self.parked {
                guard events & EPOLLIN.rawValue != 0 else { return }
                self.parked = false
                self.loop.rewatch(self.descriptor, events: events, add: true)
                return
            }
            self.loop.rewatch(self.descriptor, events: events)
        }

        // MARK: - Events

        func epollReady(_ events: UInt32) {
            if case .connecting = self.state {
                self.finishConnecting()
                return
            }
            if events & EPOLLOUT.rawValue != 0, self.writesWanted {
                self.writeFlushed()
            }
            guard case .open = self.state else { return }
            let hangUp = EPOLLHUP.rawValue | EPOLLERR.rawValue
            if events & hangUp != 0, !self.readsWanted || self.inputEnded {
                if events & EPOLLERR.rawValue != 0 {
                    var error: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    _ = getsockopt(self.descriptor, SOL_SOCKET, SO_ERROR, &error, &length)
                    self.fail(SocketError.system("socket", error == 0 ? ECONNRESET : error))
                } else {
                    self.parked = true
                    self.loop.park(self.descriptor)
                }
                return
            }
            if events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | hangUp) != 0 {
                self.readOnce()
            }
        }

        private func finishConnecting() {
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(self.descriptor, SOL_SOCKET, SO_ERROR, &error, &length)
            guard error == 0 else {
                self.fail(SocketError.system("connect", error))
                return
            }
            self.state = .open
            self.writesWanted = false
            self.updateWatch()
            self.delegate?.connectionEstablished(self)
            // Written (or closed) while connecting: out now.
            if case .open = self.state { self.writeFlushed() }
        }

        private func readOnce() {
            guard self.readsWanted, !self.inputEnded else { return }
            var buffer = self.loop.readBuffer.take() ?? self.loop.allocator.buffer(capacity: Self.initialReadSize)
            buffer.clear()
            let capacity = buffer.capacity
            var result = 0
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 0) { bytes in
                result = Glibc.recv(self.descriptor, bytes.baseAddress, bytes.count, 0)
                return max(result, 0)
            }
            let error = errno
            if result > 0 {
                self.delegate?.connectionRead(self, buffer)
                // A read that filled the buffer: the next gets twice the room.
                if result == capacity, capacity < Self.maximumReadSize {
                    buffer.clear(minimumCapacity: capacity * 2)
                }
                self.loop.readBuffer = buffer
                return
            }
            self.loop.readBuffer = buffer
            if result < 0 {
                if error == EAGAIN || error == EWOULDBLOCK || error == EINTR { return }
                self.fail(SocketError.system("read", error))
                return
            }
            self.inputEnded = true
            self.updateWatch()
            self.delegate?.connectionInputEnded(self)
        }

        // MARK: - Closing

        /// Calls `callback` on the loop once the connection has closed (after its delegate heard).
        func whenClosed(_ callback: @escaping () -> Void) {
            if self.isOpen {
                self.closeCallbacks.append(callback)
            } else {
                self.loop.executeLocally(callback)
            }
        }

        /// Closes the socket; what is queued and not written is dropped.
        func close() {
            self.closeNow(error: nil)
        }

        private func fail(_ error: SocketError) {
            self.closeNow(error: error)
        }

        private func closeNow(error: SocketError?) {
            guard self.isOpen else { return }
            self.state = .closed
            self.loop.unwatch(self.descriptor)
            Glibc.close(self.descriptor)
            self.descriptor = -1
            self.queued.removeAll()
            self.queuedBytes = 0
            self.flushedCount = 0
            self.loop.executeLocally { [self] in
                let delegate = self.delegate
                self.delegate = nil
                delegate?.connectionClosed(self, error: error)
                let callbacks = self.closeCallbacks
                self.closeCallbacks = []
                for callback in callbacks { callback() }
            }
        }
    }
#endif
