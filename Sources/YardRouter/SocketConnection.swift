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
    /// in a queue until `flush()`, and go out at the end of the loop's round (one `writev` for
    /// all of them); whatever the socket cannot take yet is written when epoll says it can.
    /// All of it runs on the loop's thread.
    ///
    /// Reads use the loop's one read buffer: after a read is handed on, the same storage is
    /// read into again unless the delegate kept it. A connection thus allocates nothing per
    /// read while its delegate consumes what it is given.
    ///
    /// The socket is watched edge-triggered, for reading, writing and hang-ups at once and for
    /// its whole life, as nginx watches its connections: pausing reads or waiting to write
    /// changes nothing in epoll, and epoll does not poll the socket again at every wait, as it
    /// does a level-triggered one that was ready (together about 3 % of a proxied request's
    /// time). The connection therefore remembers what the edges said (`readable`), and reads
    /// until the socket is empty: a read that filled the buffer reads again after the loop's
    /// other ready sockets, so one busy socket does not hold the others up.
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
        /// Whether the socket is read; `readsEnabled` sets it.
        private var readsWanted = true
        /// Waiting for `EPOLLOUT`: a write found the socket full, or a connect is pending.
        private var writesWanted = false
        private var inputEnded = false
        /// Bytes, the end of input or an error may wait in the socket: an edge said so and no
        /// read has found it empty since.
        private var readable = false
        /// The peer's end of input (or an error) has arrived: a read that does not fill the
        /// buffer does not empty the socket of it, so reads go on until one returns it.
        private var peerClosed = false
        /// A read is queued on the loop (`readLater`).
        private var readQueued = false
        /// Waiting for the end of the loop's round to write (`flush`).
        private var flushQueued = false
        private var closeWhenFlushed = false
        private var closeCallbacks: [() -> Void] = []
        private var shutdownWhenFlushed = false
        private var outputShut = false

        /// Small writes (up to `gatheredWriteLimit`) are copied into this buffer, taken from the
        /// loop and given back once written. The buffer they came in (the loop's read buffer, a
        /// spare write buffer) is then free for the next read or request at once, though the
        /// write waits for the end of the round: holding those until then allocated a new one
        /// for every read and request. Its bytes go out before `queued`'s: small writes join it
        /// only while `queued` is empty.
        private var gathered: ByteBuffer?
        /// How many of `gathered`'s bytes were flushed.
        private var gatheredFlushed = 0
        static let gatheredWriteLimit = 4 * 1024

        /// Larger writes, and any while one waits, as they came; the first `flushedCount`
        /// were flushed.
        private var queued = CircularBuffer<ByteBuffer>(initialCapacity: 4)
        private var flushedCount = 0
        /// Bytes written and not yet sent, gathered or queued.
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

        /// What the socket is watched for, all its life.
        private static let watchedEvents = EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue

        /// Takes over `descriptor`, a connected non-blocking socket, and starts reading it unless
        /// `reading` is false (then `readsEnabled` starts it).
        init(descriptor: Int32, loop: EpollEventLoop, delegate: (any SocketConnectionDelegate)?, reading: Bool = true) throws {
            self.loop = loop
            self.descriptor = descriptor
            self.delegate = delegate
            self.state = .open
            self.readsWanted = reading
            // Bytes already waiting raise an edge at once.
            try loop.watch(descriptor, events: Self.watchedEvents, watcher: self)
        }

        private init(connecting descriptor: Int32, loop: EpollEventLoop, delegate: (any SocketConnectionDelegate)?) throws {
            self.loop = loop
            self.descriptor = descriptor
            self.delegate = delegate
            self.state = .connecting
            self.writesWanted = true
            try loop.watch(descriptor, events: Self.watchedEvents, watcher: self)
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
                // What arrived while paused raised no new edge: read it (after the caller).
                if newValue, self.readable { self.readLater() }
            }
        }

        // MARK: - Writing

        /// Queues `bytes`; they go out with the next `flush()`.
        func write(_ bytes: ByteBuffer) {
            guard self.isOpen, !self.closeWhenFlushed, !self.shutdownWhenFlushed, !self.outputShut, bytes.readableBytes > 0
            else { return }
            let count = bytes.readableBytes
            if count <= Self.gatheredWriteLimit, self.queued.isEmpty {
                if self.gathered == nil { self.gathered = self.loop.takeWriteBuffer(minimumCapacity: count) }
                // A copy by hand: `writeImmutableBuffer` takes its generic path, 400 instructions.
                bytes.withUnsafeReadableBytes { source in
                    _ = self.gathered!.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
                        target.copyMemory(from: source)
                        return count
                    }
                }
            } else {
                self.queued.append(bytes)
            }
            self.queuedBytes += count
            if self.isWritable, self.queuedBytes > Self.highWatermark {
                self.isWritable = false
                self.delegate?.connectionWritabilityChanged(self)
            }
        }

        /// `write(bytes)` and `flush()`; large bytes with nothing queued go to the socket at once
        /// (a large write is not a small request or response whose peer a round's batch saves
        /// wake-ups), and only what it does not take is queued.
        func writeAndFlush(_ bytes: ByteBuffer) {
            let count = bytes.readableBytes
            guard count > Self.gatheredWriteLimit, self.queued.isEmpty, self.gathered == nil, case .open = self.state,
                !self.closeWhenFlushed,
                !self.shutdownWhenFlushed, !self.outputShut
            else {
                self.write(bytes)
                self.flush()
                return
            }
            let written = bytes.withUnsafeReadableBytes { pointer in
                cepoll_send(self.descriptor, pointer.baseAddress, pointer.count)
            }
            if written == count { return }
            if written < 0, errno != EAGAIN, errno != EWOULDBLOCK, errno != EINTR {
                self.fail(SocketError.system("write", errno))
                return
            }
            var rest = bytes
            rest.moveReaderIndex(forwardBy: max(written, 0))
            self.write(rest)
            // Only a write that found the socket full (EAGAIN) is sure to raise an EPOLLOUT
            // edge: after a short one, writing on finds out.
            self.flush()
        }

        /// Writes what is queued at the end of the loop's round, as far as the socket takes it
        /// then; the rest goes when it can.
        ///
        /// A round's writes go out together after its events, as Redis writes its replies
        /// before it sleeps: the peers (a replica, a client) then find several requests or
        /// responses at their next wake-up rather than being woken for each. Sent as each was
        /// ready, in `run.sh` the upstream and the load generator spent about 1 µs more a
        /// request between them, on context switches, and the router did 0.93× nginx's
        /// requests a second instead of 1.02× (docs/performance.md). A response waits at most
        /// for the rest of its round's events to be handled.
        func flush() {
            self.flushedCount = self.queued.count
            self.gatheredFlushed = self.gathered?.readableBytes ?? 0
            guard case .open = self.state, !self.writesWanted, !self.flushQueued else { return }
            self.flushQueued = true
            self.loop.flushAtEndOfRound(self)
        }

        /// The end of the round `flush()` was called in.
        func writeAtEndOfRound() {
            self.flushQueued = false
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
            if self.flushedCount == 0, self.gatheredFlushed == 0, case .open = self.state { self.close() }
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
            while self.gatheredFlushed > 0 || self.flushedCount > 0 {
                let written: Int
                let fromGathered = self.gatheredFlushed > 0
                if fromGathered {
                    written = self.gathered!.withUnsafeReadableBytes { bytes in
                        cepoll_send(self.descriptor, bytes.baseAddress, self.gatheredFlushed)
                    }
                } else if self.flushedCount == 1 {
                    written = self.queued[self.queued.startIndex].withUnsafeReadableBytes { bytes in
                        cepoll_send(self.descriptor, bytes.baseAddress, bytes.count)
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
                if fromGathered {
                    self.consumeGathered(written)
                } else {
                    self.consume(written)
                }
            }
            self.wantWrites(false)
            if self.closeWhenFlushed {
                self.close()
            } else if self.shutdownWhenFlushed, self.queued.isEmpty, self.gathered == nil {
                self.shutDownOutputNow()
            }
        }

        /// Drops `written` bytes from the front of `gathered`, and gives it back once empty.
        private func consumeGathered(_ written: Int) {
            self.gatheredFlushed -= written
            self.queuedBytes -= written
            self.gathered!.moveReaderIndex(forwardBy: written)
            if self.gathered!.readableBytes == 0 {
                self.loop.giveBackWriteBuffer(self.gathered.take()!)
            }
            self.updateWritability()
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
                return cepoll_sendmsg(self.descriptor, &message)
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
            self.updateWritability()
        }

        private func updateWritability() {
            if !self.isWritable, self.queuedBytes < Self.lowWatermark {
                self.isWritable = true
                self.delegate?.connectionWritabilityChanged(self)
            }
        }

        /// Sets whether an `EPOLLOUT` edge writes what is queued.
        private func wantWrites(_ wanted: Bool) {
            self.writesWanted = wanted
        }

        // MARK: - Events

        func epollReady(_ events: UInt32) {
            let closedOrFailed = EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue
            if events & (EPOLLIN.rawValue | closedOrFailed) != 0 {
                self.readable = true
                if events & closedOrFailed != 0 { self.peerClosed = true }
            }
            if case .connecting = self.state {
                // A server that speaks first (a database's greeting) may have sent its bytes
                // by this edge too: they are read below, once open.
                guard events & (EPOLLOUT.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 else { return }
                self.finishConnecting()
            } else if events & EPOLLOUT.rawValue != 0, self.writesWanted {
                self.writeFlushed()
            }
            guard case .open = self.state else { return }
            if events & EPOLLERR.rawValue != 0, !self.readsWanted || self.inputEnded {
                // An error no read is going to find: the connection fails now.
                var error: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                _ = getsockopt(self.descriptor, SOL_SOCKET, SO_ERROR, &error, &length)
                self.fail(SocketError.system("socket", error == 0 ? ECONNRESET : error))
                return
            }
            self.readOnce()
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
            self.delegate?.connectionEstablished(self)
            // Written (or closed) while connecting: out now.
            if case .open = self.state { self.writeFlushed() }
        }

        /// `readOnce` on the loop after the current call: a read that filled the buffer, or reads
        /// turned back on while the socket holds bytes.
        private func readLater() {
            guard !self.readQueued else { return }
            self.readQueued = true
            self.loop.executeLocally { [self] in
                self.readQueued = false
                self.readOnce()
            }
        }

        /// Reads once if the socket may hold something and reads are on.
        private func readOnce() {
            guard self.readable, self.readsWanted, !self.inputEnded, case .open = self.state else { return }
            var buffer = self.loop.readBuffer.take() ?? self.loop.allocator.buffer(capacity: Self.initialReadSize)
            buffer.clear()
            let capacity = buffer.capacity
            var result = 0
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 0) { bytes in
                result = cepoll_recv(self.descriptor, bytes.baseAddress, bytes.count)
                return max(result, 0)
            }
            let error = errno
            if result > 0 {
                // Less than the buffer holds: the socket is empty, and its next bytes raise a
                // new edge; unless the end of input already came, which a read must still find.
                let full = result == capacity
                if !full, !self.peerClosed { self.readable = false }
                self.delegate?.connectionRead(self, buffer)
                // A read that filled the buffer: the next gets twice the room.
                if full, capacity < Self.maximumReadSize {
                    buffer.clear(minimumCapacity: capacity * 2)
                }
                self.loop.readBuffer = buffer
                if self.readable { self.readLater() }
                return
            }
            self.loop.readBuffer = buffer
            if result < 0 {
                if error == EINTR {
                    self.readLater()
                    return
                }
                if error == EAGAIN || error == EWOULDBLOCK {
                    self.readable = false
                    return
                }
                self.fail(SocketError.system("read", error))
                return
            }
            self.readable = false
            self.inputEnded = true
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
            self.gathered = nil
            self.gatheredFlushed = 0
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
