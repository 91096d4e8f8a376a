import Logging
import NIOCore
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
