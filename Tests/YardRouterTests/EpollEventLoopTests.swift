import CEpoll
import Glibc
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import YardRouter

/// The router's own event loop: tasks, timers and futures as on NIO's loops, and sockets
/// it reads and writes itself (issue 17's HTTP/1.1 path).
@Suite("Epoll event loop")
struct EpollEventLoopTests {
    @Test func tasksFromOtherThreadsRunOnTheLoopInOrder() async throws {
        let loop = try EpollEventLoop()
        defer { loop.shutdownGracefully { _ in } }
        let seen = NIOLockedValueBox<[Int]>([])
        let onLoop = NIOLockedValueBox(true)
        for index in 0..<100 {
            loop.execute {
                if !loop.inEventLoop { onLoop.withLockedValue { $0 = false } }
                seen.withLockedValue { $0.append(index) }
            }
        }
        try await loop.submit {}.get()
        #expect(seen.withLockedValue { $0 } == Array(0..<100))
        #expect(onLoop.withLockedValue { $0 })
        #expect(!loop.inEventLoop)
    }

    @Test func aTimerRunsAtItsDeadlineAndACancelledOneNever() async throws {
        let loop = try EpollEventLoop()
        defer { loop.shutdownGracefully { _ in } }
        let start = NIODeadline.now()
        let ran = NIOLockedValueBox<[String]>([])
        let cancelled = loop.scheduleTask(in: .milliseconds(20)) { ran.withLockedValue { $0.append("cancelled") } }
        let late = loop.scheduleTask(in: .milliseconds(60)) { ran.withLockedValue { $0.append("late") } }
        let early = loop.scheduleTask(in: .milliseconds(30)) { ran.withLockedValue { $0.append("early") } }
        cancelled.cancel()
        try await early.futureResult.get()
        #expect(NIODeadline.now() - start >= .milliseconds(30))
        try await late.futureResult.get()
        #expect(NIODeadline.now() - start >= .milliseconds(60))
        await #expect(throws: EventLoopError.cancelled) { try await cancelled.futureResult.get() }
        #expect(ran.withLockedValue { $0 } == ["early", "late"])
    }

    @Test func timersOnTheLoopKeepTheirOrderThroughCancellations() async throws {
        let loop = try EpollEventLoop()
        defer { loop.shutdownGracefully { _ in } }
        // Enough cancellations to make the heap drop them all at once, in between live timers.
        let order = try await loop.submit { () -> EventLoopFuture<[Int]> in
            let ran = NIOLoopBoundBox<[Int]>([], eventLoop: loop)
            var futures: [EventLoopFuture<Void>] = []
            let base = NIODeadline.now() + .milliseconds(10)
            for index in (0..<200).reversed() {
                let scheduled = loop.scheduleTask(deadline: base + .microseconds(Int64(index) * 10)) {
                    ran.value.append(index)
                }
                if index % 3 == 0 {
                    futures.append(scheduled.futureResult)
                } else {
                    scheduled.cancel()
                }
            }
            return EventLoopFuture.andAllSucceed(futures, on: loop).map { ran.value }
        }.get().get()
        #expect(order == Array(stride(from: 0, to: 200, by: 3)))
    }

    @Test func shuttingDownFailsTimersNotYetDue() async throws {
        let loop = try EpollEventLoop()
        let pending = loop.scheduleTask(in: .hours(1)) {}
        let failure = NIOLockedValueBox<(any Error)?>(nil)
        // Listened to before the shutdown: a stopped loop runs no callbacks.
        pending.futureResult.whenFailure { error in failure.withLockedValue { $0 = error } }
        try await loop.shutdownGracefully()
        #expect(failure.withLockedValue { $0 } as? EventLoopError == .shutdown)
    }

    @Test func anEchoMovesAMegabyteThroughPartialWritesAndBackpressure() async throws {
        let loop = try EpollEventLoop()
        defer { loop.shutdownGracefully { _ in } }
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let (echoed, listener) = try await loop.submit { () -> (EventLoopFuture<[UInt8]>, NIOLoopBound<SocketListener>) in
            let server = EchoServer(loop: loop)
            let listener = try SocketListener(address: try SocketAddress(ipAddress: "127.0.0.1", port: 0), loop: loop) {
                server.accept($0)
            }
            try listener.start()
            let client = Collector(loop: loop, expecting: payload.count)
            let connection = try SocketConnection.connect(to: listener.localAddress, loop: loop, delegate: client)
            client.connection = connection
            // Written before the connect completes: it goes out once it has.
            connection.write(loop.allocator.buffer(bytes: payload))
            connection.flush()
            #expect(!connection.isWritable)
            return (client.done.futureResult, NIOLoopBound(listener, eventLoop: loop))
        }.get()
        let received = try await echoed.get()
        #expect(received.count == payload.count)
        #expect(received == payload)
        try await loop.submit { listener.value.close() }.get()
    }

    @Test func aRefusedConnectIsReportedAsTheConnectionClosing() async throws {
        let loop = try EpollEventLoop()
        defer { loop.shutdownGracefully { _ in } }
        let port = try Self.unusedPort()
        let error = try await loop.submit { () -> EventLoopFuture<SocketError?> in
            let client = Collector(loop: loop, expecting: 1)
            client.connection = try SocketConnection.connect(
                to: try SocketAddress(ipAddress: "127.0.0.1", port: port), loop: loop, delegate: client)
            return client.closed.futureResult
        }.get().get()
        #expect(error?.code == ECONNREFUSED)
        #expect(error?.description == "connect failed: Connection refused")
    }

    @Test func closeAfterFlushSendsEverythingThenTheEndOfInput() async throws {
        let loop = try EpollEventLoop()
        defer { loop.shutdownGracefully { _ in } }
        let bytes = try await Self.bytesAServerWrites(on: loop) { server in
            // The server writes 300 KB and closes at once: nothing may be lost.
            for _ in 0..<300 { server.write(loop.allocator.buffer(repeating: 0x61, count: 1024)) }
            server.closeAfterFlush()
        }
        #expect(bytes.count == 300 * 1024)
    }

    /// Edge-triggered: bytes and the end of input that came while reads were off raise no new
    /// edge once they are back on; the connection must read them anyway, over several reads
    /// when they are more than one fills (200 KiB against reads of at most 64 KiB).
    @Test(.timeLimit(.minutes(1))) func whatArrivedWhileReadsWereOffIsReadWhenTheyResume() async throws {
        let loop = try EpollEventLoop()
        defer { loop.shutdownGracefully { _ in } }
        let payload = (0..<(200 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let paused = try await loop.submit { () -> (EventLoopFuture<[UInt8]>, NIOLoopBound<Box>, NIOLoopBound<SocketListener>) in
            let received = Collector(loop: loop, expecting: .max)
            let server = Box()
            let listener = try SocketListener(address: try SocketAddress(ipAddress: "127.0.0.1", port: 0), loop: loop) {
                server.connection = try! SocketConnection(descriptor: $0, loop: loop, delegate: received, reading: false)
            }
            try listener.start()
            let client = try SocketConnection.connect(
                to: listener.localAddress, loop: loop, delegate: Collector(loop: loop, expecting: .max))
            client.write(loop.allocator.buffer(bytes: payload))
            client.shutdownOutput()
            server.client = client
            return (received.ended.futureResult, NIOLoopBound(server, eventLoop: loop), NIOLoopBound(listener, eventLoop: loop))
        }.get()
        // Everything is in the server's socket (its receive buffer holds 200 KiB on loopback)
        // before reads go on, and nothing more comes after.
        try await Task.sleep(for: .milliseconds(300))
        try await loop.submit {
            #expect(paused.1.value.connection != nil)
            paused.1.value.connection?.readsEnabled = true
        }.get()
        let bytes = try await paused.0.get()
        #expect(bytes.count == payload.count)
        #expect(bytes == payload)
        try await loop.submit {
            paused.1.value.connection?.close()
            paused.1.value.client?.close()
            paused.2.value.close()
        }.get()
    }

    /// Small writes are copied into one buffer, larger ones queued as they are, and all of a
    /// round's go out at its end: the peer gets them in the order they were written, and a
    /// source buffer changed after its write changes nothing sent.
    @Test func smallAndLargeWritesArriveInTheOrderWritten() async throws {
        let loop = try EpollEventLoop()
        defer { loop.shutdownGracefully { _ in } }
        let large = [UInt8](repeating: 0x4C, count: SocketConnection.gatheredWriteLimit + 1)
        let expected = Array("one".utf8) + large + Array("two".utf8) + Array("three".utf8) + large + Array("four".utf8)
        let bytes = try await Self.bytesAServerWrites(on: loop) { server in
            var reused = loop.allocator.buffer(string: "one")
            server.write(reused)
            // The same storage, rewritten after its write: a copy was taken.
            reused.clear()
            reused.writeString("xxx")
            server.write(loop.allocator.buffer(bytes: large))
            server.write(loop.allocator.buffer(string: "two"))
            server.flush()
            server.write(loop.allocator.buffer(string: "three"))
            server.writeAndFlush(loop.allocator.buffer(bytes: large))
            server.write(loop.allocator.buffer(string: "four"))
            server.closeAfterFlush()
        }
        #expect(bytes.count == expected.count)
        #expect(bytes == expected)
    }

    @Test func listenersOnSeveralLoopsShareOnePortWithReusePort() async throws {
        let loops = try (0..<2).map { _ in try EpollEventLoop() }
        defer { for loop in loops { loop.shutdownGracefully { _ in } } }
        let first = try await loops[0].submit {
            NIOLoopBound(
                try SocketListener(
                    address: try SocketAddress(ipAddress: "127.0.0.1", port: 0), reusePort: true, loop: loops[0]
                ) { Glibc.close($0) },
                eventLoop: loops[0])
        }.get()
        let address = try await loops[0].submit { first.value.localAddress }.get()
        let secondPort = try await loops[1].submit {
            let second = try SocketListener(address: address, reusePort: true, loop: loops[1]) { Glibc.close($0) }
            defer { second.close() }
            // Without SO_REUSEPORT the same address is refused.
            #expect(throws: SocketError.self) {
                try SocketListener(address: address, loop: loops[1]) { Glibc.close($0) }
            }
            return second.localAddress.port
        }.get()
        #expect(secondPort == address.port)
        try await loops[0].submit { first.value.close() }.get()
    }

    /// What a client reads up to its end of input from a server connection that `serve` writes
    /// to (on the loop, as it is accepted).
    private static func bytesAServerWrites(
        on loop: EpollEventLoop, _ serve: @escaping (SocketConnection) -> Void
    ) async throws -> [UInt8] {
        let (collected, listener) = try await loop.submit { () -> (EventLoopFuture<[UInt8]>, NIOLoopBound<SocketListener>) in
            let client = Collector(loop: loop, expecting: .max)
            let listener = try SocketListener(address: try SocketAddress(ipAddress: "127.0.0.1", port: 0), loop: loop) {
                serve(try! SocketConnection(descriptor: $0, loop: loop, delegate: nil))
            }
            try listener.start()
            client.connection = try SocketConnection.connect(to: listener.localAddress, loop: loop, delegate: client)
            return (client.ended.futureResult, NIOLoopBound(listener, eventLoop: loop))
        }.get()
        let bytes = try await collected.get()
        try await loop.submit { listener.value.close() }.get()
        return bytes
    }

    private static func unusedPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length)
                return getsockname(descriptor, pointer, &length)
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Holds a test's connections on the loop.
private final class Box {
    var connection: SocketConnection?
    var client: SocketConnection?
}

/// Writes back what it reads; stops reading while its peer does not keep up.
private final class EchoServer: SocketConnectionDelegate {
    let loop: EpollEventLoop
    private var connections: [ObjectIdentifier: SocketConnection] = [:]

    init(loop: EpollEventLoop) {
        self.loop = loop
    }

    func accept(_ descriptor: Int32) {
        let connection = try! SocketConnection(descriptor: descriptor, loop: self.loop, delegate: self)
        self.connections[ObjectIdentifier(connection)] = connection
    }

    func connectionRead(_ connection: SocketConnection, _ bytes: ByteBuffer) {
        connection.write(bytes)
        connection.flush()
        if !connection.isWritable { connection.readsEnabled = false }
    }

    func connectionWritabilityChanged(_ connection: SocketConnection) {
        connection.readsEnabled = connection.isWritable
    }

    func connectionInputEnded(_ connection: SocketConnection) {
        connection.closeAfterFlush()
    }

    func connectionClosed(_ connection: SocketConnection, error: SocketError?) {
        self.connections[ObjectIdentifier(connection)] = nil
    }
}

/// Collects what a connection reads, and says when `expecting` bytes came, the input ended
/// or the connection closed.
private final class Collector: SocketConnectionDelegate {
    var connection: SocketConnection?
    private var bytes: [UInt8] = []
    private let expecting: Int
    let done: EventLoopPromise<[UInt8]>
    let ended: EventLoopPromise<[UInt8]>
    let closed: EventLoopPromise<SocketError?>

    init(loop: EpollEventLoop, expecting: Int) {
        self.expecting = expecting
        self.done = loop.makePromise()
        self.ended = loop.makePromise()
        self.closed = loop.makePromise()
    }

    func connectionRead(_ connection: SocketConnection, _ buffer: ByteBuffer) {
        self.bytes += buffer.readableBytesView
        if self.bytes.count >= self.expecting {
            self.done.succeed(self.bytes)
            connection.close()
        }
    }

    func connectionInputEnded(_ connection: SocketConnection) {
        self.ended.succeed(self.bytes)
        connection.close()
    }

    func connectionClosed(_ connection: SocketConnection, error: SocketError?) {
        self.done.succeed(self.bytes)
        self.ended.succeed(self.bytes)
        self.closed.succeed(error)
        self.connection = nil
    }
}
