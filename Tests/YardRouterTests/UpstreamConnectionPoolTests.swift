import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import YardRouter

@Suite("Upstream connection pool")
struct UpstreamConnectionPoolTests {
    /// Waits for nothing: the tests below never queue.
    private final class NoWaiter: UpstreamLeaseWaiter, Sendable {
        func leaseGranted(_ grant: UpstreamConnectionPool.Grant) {}
    }

    /// A connection the pool opens, held for its loop, and its channel.
    private static func opened(
        _ future: EventLoopFuture<UpstreamConnection>, on loop: any EventLoop
    ) async throws -> (connection: NIOLoopBound<UpstreamConnection>, channel: any Channel) {
        try await future.map { connection in
            (NIOLoopBound(connection, eventLoop: loop), (connection as! ChannelUpstreamConnection).channel)
        }.get()
    }

    private static func makePool(on loop: any EventLoop, maxIdle: Int = 4) -> UpstreamConnectionPool {
        UpstreamConnectionPool(
            eventLoop: loop,
            configuration: .init(connectTimeout: .seconds(2), idleTimeout: .seconds(30), maxIdleConnectionsPerUpstream: maxIdle),
            logger: Logger(label: "yard.router.test.pool"))
    }

    /// A client connection keeps the entry of its last lease as a hint. When the upstream's
    /// entry went away meanwhile (its last connection closed), the next lease must count its
    /// new connection in the entry the pool lists, not in the one the hint still holds.
    @Test func aLeaseHintToAnEntryThatWentAwayIsNotUsed() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            let upstream = upstreams[0].upstream
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let pool = Self.makePool(on: loop)
            let waiter = NoWaiter()
            let hint = NIOLoopBoundBox<UpstreamConnectionPool.LeaseHint?>.makeEmptyBox(eventLoop: loop)

            // Connects with the hint and hands the connection back to the pool as idle.
            func leaseNewAndRelease() async throws -> any Channel {
                let future = try await loop.submit {
                    guard case .connecting(let future) = pool.lease(upstream, allowIdle: true, waiter: waiter, hint: &hint.value)
                    else { throw TestFailure("the lease did not open a connection") }
                    return future
                }.get()
                let (connection, channel) = try await Self.opened(future, on: loop)
                try await loop.submit { pool.release(connection.value, reusable: true) }.get()
                return channel
            }

            let first = try await leaseNewAndRelease()
            #expect(try await loop.submit { pool.openCount(for: upstream) }.get() == 1)
            // The idle connection closes (as when the replica hangs up): the entry goes.
            try await first.close()
            try await first.closeFuture.get()
            #expect(try await loop.submit { pool.openCount(for: upstream) }.get() == 0)

            let second = try await leaseNewAndRelease()
            #expect(try await loop.submit { (pool.openCount(for: upstream), pool.idleCount(for: upstream)) }.get() == (1, 1))
            // A lease with the hint of the live entry takes the idle connection.
            let reused = try await loop.submit {
                if case .idle(let connection) = pool.lease(upstream, allowIdle: true, waiter: waiter, hint: &hint.value) {
                    return (connection as! ChannelUpstreamConnection).channel === second
                }
                return false
            }.get()
            #expect(reused)
            try await second.close()
        }
    }

    /// Replies and new requests arrive in the same batches. A connection handed back to a
    /// full idle pool stays until the loop tick ends, so a request read in that tick takes it
    /// instead of a new connection; then the pool is trimmed to its limit, least recently
    /// used first.
    @Test func aConnectionOverTheIdleLimitServesALeaseInTheSameTick() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            let upstream = upstreams[0].upstream
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let pool = Self.makePool(on: loop, maxIdle: 1)
            let waiter = NoWaiter()
            var channels: [any Channel] = []
            var connections: [NIOLoopBound<UpstreamConnection>] = []
            for _ in 0..<3 {
                let future = try await loop.submit {
                    guard case .connecting(let future) = pool.lease(upstream, allowIdle: false, waiter: waiter)
                    else { throw TestFailure("the lease did not open a connection") }
                    return future
                }.get()
                let (connection, channel) = try await Self.opened(future, on: loop)
                connections.append(connection)
                channels.append(channel)
            }
            let (oldest, middle, newest) = (channels[0], channels[1], channels[2])

            let (leased, idleInTick) = try await loop.submit {
                for connection in connections {
                    pool.release(connection.value, reusable: true)
                }
                guard case .idle(let connection) = pool.lease(upstream, allowIdle: true, waiter: waiter)
                else { throw TestFailure("the lease found no idle connection") }
                return ((connection as! ChannelUpstreamConnection).channel, pool.idleCount(for: upstream))
            }.get()
            #expect(leased === newest)
            #expect(idleInTick == 2)

            // After the tick: one idle connection (the more recently used), the other closed.
            try await oldest.closeFuture.get()
            let (idle, open) = try await loop.submit { (pool.idleCount(for: upstream), pool.openCount(for: upstream)) }.get()
            #expect(idle == 1 && open == 2)
            #expect(middle.isActive && newest.isActive)
            try await middle.close()
            try await newest.close()
        }
    }

    /// An upstream given by IP address (a replica's always is) is connected to directly. Only
    /// a name goes through NIO's resolver: getaddrinfo on another thread and a happy-eyeballs
    /// race, a thread hop and a dozen futures for every new connection (with 160 h2 streams
    /// in flight and 64 connections kept idle, that was most of an h2 request's cost).
    @Test func anIPAddressIsConnectedToWithoutResolvingIt() async throws {
        let stopped = try await TestUpstream.start(name: "gone")
        let refused = stopped.upstream
        await stopped.stop()
        try await withUpstreams(["app-1"]) { upstreams in
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let pool = Self.makePool(on: loop)
            let waiter = NoWaiter()
            func connect(_ upstream: Upstream) async throws -> any Channel {
                let future = try await loop.submit {
                    guard case .connecting(let future) = pool.lease(upstream, allowIdle: false, waiter: waiter)
                    else { throw TestFailure("the lease did not open a connection") }
                    return future
                }.get()
                return try await Self.opened(future, on: loop).channel
            }

            // A name is still resolved and connected to.
            let named = Upstream(host: "localhost", port: upstreams[0].port, replicaID: "app-1")
            try await connect(named).close()

            // An address refused fails with the socket's own error. Through the resolver it
            // would be `NIOConnectionError`, the race's summary, even for an IP address.
            do {
                let channel = try await connect(refused)
                try await channel.close()
                Issue.record("a connect to a stopped upstream succeeded")
            } catch let error as IOError {
                #expect(error.errnoCode == ECONNREFUSED)
                #expect(UpstreamConnectionPool.describeConnectError(error) == "connection refused")
            } catch {
                Issue.record("the connect failed with \(type(of: error)), not the socket's IOError: \(error)")
            }
        }
    }
}

private struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The pool on the router's own event loop: its connections are sockets of that loop, and
/// requests and responses go through them as through a channel.
@Suite("Upstream connection pool on the router's own event loop")
struct EpollUpstreamConnectionPoolTests {
    /// Collects one response's parts and says when it has ended.
    private final class Collector: UpstreamResponseReceiver {
        var parts: [HTTPClientResponsePart] = []
        let ended: EventLoopPromise<Void>

        init(loop: any EventLoop) {
            self.ended = loop.makePromise()
        }

        func upstreamReceived(_ part: HTTPClientResponsePart) {
            self.parts.append(part)
            if case .end = part { self.ended.succeed() }
        }

        func upstreamReadComplete() {}
        func upstreamWritabilityChanged(isWritable: Bool) {}
        func upstreamClosed(reason: String) { self.ended.fail(TestFailure("closed: \(reason)")) }
    }

    private final class NoWaiter: UpstreamLeaseWaiter {
        func leaseGranted(_ grant: UpstreamConnectionPool.Grant) {}
    }

    private static func makePool(on loop: EpollEventLoop) -> UpstreamConnectionPool {
        UpstreamConnectionPool(
            eventLoop: loop,
            configuration: .init(connectTimeout: .seconds(2), idleTimeout: .seconds(30), maxIdleConnectionsPerUpstream: 4),
            logger: Logger(label: "yard.router.test.pool"))
    }

    /// Sends `GET path` on `connection` and returns the status and body of its response.
    private static func exchange(
        _ connection: UpstreamConnection, path: String, loop: EpollEventLoop
    ) -> EventLoopFuture<(UInt, String)> {
        let collector = Collector(loop: loop)
        connection.receiver = collector
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
        head.headers.add(name: "host", value: "app.test")
        connection.write(.head(head))
        connection.write(.end(nil))
        connection.flush()
        return collector.ended.futureResult.assumeIsolated().map {
            var status: UInt = 0
            var body = ""
            for part in collector.parts {
                if case .head(let head) = part { status = head.status.code }
                if case .body(let bytes) = part { body += String(buffer: bytes) }
            }
            return (status, body)
        }.nonisolated()
    }

    @Test func aSocketConnectionCarriesRequestsAndIsKeptForTheNext() async throws {
        let loop = try EpollEventLoop()
        defer { loop.shutdownGracefully { _ in } }
        try await withUpstreams(["app-1"]) { upstreams in
            let upstream = upstreams[0].upstream
            let pool = Self.makePool(on: loop)
            let waiter = NoWaiter()
            let first = try await loop.submit { () -> EventLoopFuture<NIOLoopBound<UpstreamConnection>> in
                guard case .connecting(let future) = pool.lease(upstream, allowIdle: true, waiter: waiter)
                else { throw TestFailure("the lease did not open a connection") }
                return future.map { NIOLoopBound($0, eventLoop: loop) }
            }.get().get()
            let (status, body) = try await loop.submit { Self.exchange(first.value, path: "/first", loop: loop) }.get().get()
            let (kind, idle, second) = try await loop.submit {
                pool.release(first.value, reusable: true)
                let idle = pool.idleCount(for: upstream)
                guard case .idle(let again) = pool.lease(upstream, allowIdle: true, waiter: waiter)
                else { throw TestFailure("the connection was not kept") }
                return ("\(type(of: first.value))", idle, NIOLoopBound(again, eventLoop: loop))
            }.get()
            let (_, secondBody) = try await loop.submit { Self.exchange(second.value, path: "/second", loop: loop) }.get().get()
            let reused = try await loop.submit {
                pool.release(second.value, reusable: true)
                return second.value === first.value
            }.get()
            #expect(secondBody.hasPrefix("upstream: app-1"))
            #expect(status == 200)
            #expect(body.hasPrefix("upstream: app-1"))
            #expect(kind == "SocketUpstreamConnection")
            #expect(idle == 1)
            #expect(reused)
            #expect(upstreams[0].acceptedConnections == 1)
            #expect(upstreams[0].requests.map(\.uri) == ["/first", "/second"])
            try await loop.submit { pool.close() }.get()
        }
    }

    @Test func aRefusedConnectFailsTheLeaseAndFreesItsSlot() async throws {
        let loop = try EpollEventLoop()
        defer { loop.shutdownGracefully { _ in } }
        let stopped = try await TestUpstream.start(name: "gone")
        let refused = stopped.upstream
        await stopped.stop()
        let pool = Self.makePool(on: loop)
        let waiter = NoWaiter()
        let future = try await loop.submit {
            guard case .connecting(let future) = pool.lease(refused, allowIdle: true, waiter: waiter)
            else { throw TestFailure("the lease did not open a connection") }
            return future.map { _ in "connected" }.recover { UpstreamConnectionPool.describeConnectError($0) }
        }.get()
        #expect(try await future.get() == "connection refused")
        #expect(try await loop.submit { pool.openCount(for: refused) }.get() == 0)
    }
}
