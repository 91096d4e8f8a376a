// A byte relay on its own epoll loop, for bench/proxy/instructions.sh's `swift-epoll` target:
// what moving an HTTP/1.1 request's bytes costs a Swift program that reads and writes the
// sockets itself, against the same relay through SwiftNIO's channels (`switchyard-tcp`) and
// nginx's stream module (`nginx-stream`). An experiment, not a part of the router: it
// relays, like nginx's stream module, one upstream connection per client connection, one
// `read` per readiness event and a `write` of what it read, and nothing else.
#if canImport(Glibc)
import CEpoll
import Glibc

/// Made on the main thread and then used only by the thread that runs it.
final class EpollRelay: @unchecked Sendable {
    private let listener: Int32
    private let epoll: Int32
    private var upstream: sockaddr_in
    /// Each descriptor's other end, -1 when it is not a relayed connection.
    private var peers: [Int32]
    /// Bytes a descriptor could not take yet; its peer is not read until they are written.
    private var pending: [Int32: [UInt8]] = [:]
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)

    /// Listens on 127.0.0.1:`port` and relays each connection to `upstreamHost`:`upstreamPort`.
    init(port: Int, upstreamHost: String, upstreamPort: Int) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { throw RelayError.system("socket", errno) }
        var on: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.address("127.0.0.1", port: port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw RelayError.system("bind", errno) }
        guard listen(listener, 4096) == 0 else { throw RelayError.system("listen", errno) }
        self.listener = listener
        self.upstream = Self.address(upstreamHost, port: upstreamPort)
        self.epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard self.epoll >= 0 else { throw RelayError.system("epoll_create1", errno) }
        self.peers = [Int32](repeating: -1, count: 1 << 16)
        self.watch(self.listener, EPOLLIN.rawValue, op: EPOLL_CTL_ADD)
    }

    enum RelayError: Error {
        case system(String, Int32)
    }

    private static func address(_ host: String, port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        return address
    }

    private func watch(_ fd: Int32, _ events: UInt32, op: Int32) {
        var event = epoll_event()
        event.events = events
        event.data.fd = fd
        epoll_ctl(self.epoll, op, fd, &event)
    }

    /// Serves until the process ends.
    func run() -> Never {
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        while true {
            let count = epoll_wait(self.epoll, &events, Int32(events.count), -1)
            guard count > 0 else { continue }
            for index in 0..<Int(count) {
                let fd = events[index].data.fd
                let flags = events[index].events
                if fd == self.listener {
                    self.acceptAll()
                    continue
                }
                if flags & EPOLLOUT.rawValue != 0 { self.writePending(fd) }
                if flags & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 { self.relay(from: fd) }
            }
        }
    }

    private func acceptAll() {
        while true {
            let client = cepoll_accept4(self.listener, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
            guard client >= 0 else { return }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard server >= 0, Int(max(client, server)) < self.peers.count else {
                close(client)
                if server >= 0 { close(server) }
                continue
            }
            var on: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(server, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
            let connected = withUnsafePointer(to: &self.upstream) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 || errno == EINPROGRESS else {
                close(client)
                close(server)
                continue
            }
            self.peers[Int(client)] = server
            self.peers[Int(server)] = client
            self.watch(client, EPOLLIN.rawValue, op: EPOLL_CTL_ADD)
            self.watch(server, EPOLLIN.rawValue, op: EPOLL_CTL_ADD)
        }
    }

    private func relay(from fd: Int32) {
        let peer = self.peers[Int(fd)]
        guard peer >= 0 else { return }
        let count = read(fd, self.buffer.baseAddress, self.buffer.count)
        if count < 0, errno == EAGAIN || errno == EINTR { return }
        guard count > 0 else {
            self.closePair(fd)
            return
        }
        let written = write(peer, self.buffer.baseAddress, count)
        if written == count { return }
        if written < 0, errno != EAGAIN {
            self.closePair(fd)
            return
        }
        // The peer is full (or still connecting): keep the rest, stop reading this side.
        let sent = max(written, 0)
        self.pending[peer] = Array(UnsafeRawBufferPointer(rebasing: self.buffer[sent..<count]))
        self.watch(peer, EPOLLIN.rawValue | EPOLLOUT.rawValue, op: EPOLL_CTL_MOD)
        self.watch(fd, 0, op: EPOLL_CTL_MOD)
    }

    private func writePending(_ fd: Int32) {
        guard let bytes = self.pending[fd] else { return }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if written < 0 {
            if errno != EAGAIN { self.closePair(fd) }
            return
        }
        if written < bytes.count {
            self.pending[fd] = Array(bytes[written...])
            return
        }
        self.pending[fd] = nil
        self.watch(fd, EPOLLIN.rawValue, op: EPOLL_CTL_MOD)
        let peer = self.peers[Int(fd)]
        if peer >= 0 { self.watch(peer, EPOLLIN.rawValue, op: EPOLL_CTL_MOD) }
    }

    private func closePair(_ fd: Int32) {
        let peer = self.peers[Int(fd)]
        for end in [fd, peer] where end >= 0 {
            self.peers[Int(end)] = -1
            self.pending[end] = nil
            close(end)
        }
    }
}
#endif
