import NIOCore
import NIOPosix
import Testing
@testable import YardRouter

/// WebSocket through the router, against NIO's WebSocket server as the replica.
@Suite("Router WebSockets", .timeLimit(.minutes(2)))
struct RouterWebSocketTests {
    static let handshake =
        "GET /ws HTTP/1.1\r\nHost: ws.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

    @Test func anUpgradePassesThroughAndFramesFlowBothWays() async throws {
        let replica = try await TestWebSocketUpstream.start()
        defer { Task { await replica.stop() } }
        try await withRouter(routes: ["ws.localhost": [replica.upstream("ws-1")]]) { router, port in
            try await RawStream.with(port: port) { stream in
                try await stream.send(Self.handshake)
                let head = try await stream.readHead()
                #expect(head.hasPrefix("HTTP/1.1 101 "), "\(head)")
                #expect(head.lowercased().contains("upgrade: websocket"), "\(head)")
                // The accept value for the RFC 6455 sample key: the replica saw the key.
                #expect(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "\(head)")
                let greeting = try #require(try await stream.readFrame())
                #expect(greeting.opcode == 0x1)
                #expect(String(decoding: greeting.payload, as: UTF8.self) == "hello")
                for message in ["ping", String(repeating: "x", count: 120)] {
                    try await stream.send(RawStream.clientFrame(opcode: 0x1, Array(message.utf8)))
                    let echo = try #require(try await stream.readFrame())
                    #expect(String(decoding: echo.payload, as: UTF8.self) == message)
                }
                #expect(router.tunnelCount == 1)
            }
            #expect(try await eventually { router.tunnelCount == 0 })
        }
    }

    @Test func aDrainingReplicasWebSocketsGetACloseFrameNotAReset() async throws {
        let replica = try await TestWebSocketUpstream.start()
        defer { Task { await replica.stop() } }
        try await withRouter(routes: ["ws.localhost": [replica.upstream("ws-old")]]) { router, port in
            try await RawStream.with(port: port) { stream in
                try await stream.send(Self.handshake)
                _ = try await stream.readHead()
                _ = try await stream.readFrame()
                #expect(router.tunnelCount == 1)

                // Tunnels to other replicas are left alone.
                #expect(await router.closeTunnels(toReplicas: ["someone-else"]) == 0)
                let closing = Task { await router.closeTunnels(toReplicas: ["ws-old"]) }
                let frame = try #require(try await stream.readFrame())
                #expect(frame.opcode == 0x8, "a close frame")
                #expect(frame.payload == [0x03, 0xE9], "status 1001, going away")
                try await stream.send(RawStream.clientFrame(opcode: 0x8, [0x03, 0xE9]))
                #expect(try await stream.waitForClose(timeout: .seconds(5)), "the router closes after the close frames")
                #expect(await closing.value == 1)
            }
            #expect(try await eventually { router.tunnelCount == 0 })
        }
    }

    @Test func anOpenWebSocketDoesNotCountAgainstTheConnectionLimit() async throws {
        let replica = try await TestWebSocketUpstream.start()
        defer { Task { await replica.stop() } }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
        configuration.maxConnectionsPerUpstream = 1
        configuration.upstreamQueueTimeout = .milliseconds(300)
        try await withRouter(
            routes: ["ws.localhost": [replica.upstream("ws-1")]],
            configuration: configuration,
            eventLoopGroup: group
        ) { router, port in
            try await RawStream.with(port: port) { first in
                try await first.send(Self.handshake)
                #expect(try await first.readHead().hasPrefix("HTTP/1.1 101 "))
                #expect(try await eventually { router.tunnelCount == 1 })
                // The tunnel holds its upstream connection, but not a place under the limit.
                try await RawStream.with(port: port) { second in
                    try await second.send(Self.handshake)
                    let head = try await second.readHead()
                    #expect(head.hasPrefix("HTTP/1.1 101 "), "\(head)")
                }
            }
        }
        try await group.shutdownGracefully()
    }

    @Test func framesAreTrackedAcrossReadsAndSizes() {
        var tracker = WebSocketFrameTracker()
        func feed(_ bytes: [UInt8]) -> Bool {
            let buffer = ByteBuffer(bytes: bytes)
            #expect(tracker.consume(buffer.readableBytesView, stopAtBoundary: false) == bytes.count)
            return tracker.atBoundary
        }
        // A 300-byte frame (16-bit length) split over three reads, then an empty ping.
        var frame: [UInt8] = [0x82, 126, 0x01, 0x2C] + Array(repeating: 0x61, count: 300)
        frame += [0x89, 0x00]
        #expect(feed(Array(frame[0..<3])) == false)
        #expect(feed(Array(frame[3..<100])) == false)
        #expect(feed(Array(frame[100..<304])) == true)
        #expect(feed(Array(frame[304...])) == true)

        // Stopping at a boundary leaves the next frame unread.
        var stopping = WebSocketFrameTracker()
        let two = ByteBuffer(bytes: [0x81, 0x02, 0x68, 0x69, 0x81, 0x01, 0x21])
        #expect(stopping.consume(two.readableBytesView, stopAtBoundary: true) == 4)
        #expect(stopping.atBoundary)
    }
}
