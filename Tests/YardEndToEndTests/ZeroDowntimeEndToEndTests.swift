import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
import YardClient
import YardCore

/// Issue 5's and issue 12's acceptance: redeploys under load drop nothing, with default
/// settings (no overlapSeconds, default drainingSeconds) and an app that exits at once on
/// SIGTERM: the old replicas are drained before they are stopped.
@Suite("zero-downtime deploys end to end", .serialized)
struct ZeroDowntimeEndToEndTests {
    static let scope = YardAPIClient.Scope(project: "steady", environment: "production", service: "steady")
    static let host = "steady-steady.localhost"

    /// The app's image: Node from Debian's packages, run as a non-root user.
    static let dockerfile = """
        FROM debian:bookworm-slim
        RUN apt-get update && apt-get install -y --no-install-recommends nodejs && rm -rf /var/lib/apt/lists/*
        WORKDIR /app
        COPY package.json server.js ./
        USER 1000
        CMD ["node", "server.js"]

        """

    /// What the load generator saw.
    final class Tally: Sendable {
        private let state = Mutex<(ok: Int, failures: [String])>((0, []))
        func succeeded() { state.withLock { $0.ok += 1 } }
        func fail(_ text: String) { state.withLock { $0.failures.append(text) } }
        var okCount: Int { state.withLock { $0.ok } }
        var failures: [String] { state.withLock { $0.failures } }
    }

    /// The same app built by Railpack (a folder artifact) and from a Dockerfile (an image
    /// artifact whose replicas each run on a writable layer of their own).
    enum Artifact: String, CaseIterable, Sendable {
        case folder, image
    }

    @Test("20 redeploys of a two-replica service on default settings under load, with 2-second requests and a WebSocket held across a deploy: no failed request",
          .timeLimit(.minutes(15)), arguments: Artifact.allCases)
    func redeploysUnderLoadDropNothing(artifact: Artifact) async throws {
        try await YardServer.with { server in
            let folder = try await server.prepareApp("zero-downtime", project: "steady")
            if artifact == .image {
                let base = try await server.yard(["image", "import", "debian:bookworm-slim", "--debootstrap", "bookworm", "--data-dir", server.dataDirectory.path], in: folder)
                try #require(base.status == 0, "\(base.output)")
                // A root Dockerfile selects the Dockerfile builder, as on Railway.
                try Self.dockerfile.write(to: folder.appendingPathComponent("Dockerfile"), atomically: true, encoding: .utf8)
            }
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.output)")
            let client = try server.client()
            let quick = Tally()
            let slow = Tally()
            let stop = Box(false)

            // A WebSocket to the first deployment, held across the first redeploy.
            let socket = try await WebSocketProbe.open(port: server.routerPort, host: Self.host)
            #expect(socket.greeting.hasPrefix("hello from"), "\(socket.greeting)")

            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    let tally = worker < 6 ? quick : slow
                    let path = worker < 6 ? "/" : "/slow"
                    group.addTask {
                        while !stop.value {
                            let started = Date()
                            do {
                                let answer = try await server.getOnce(host: Self.host, path: path)
                                if answer.status == 200 { tally.succeeded() } else { tally.fail("\(path) \(answer.status): \(answer.body)") }
                            } catch {
                                tally.fail("\(path) error at \(started.timeIntervalSince1970) after \(Date().timeIntervalSince(started)) s: \(error)")
                            }
                        }
                    }
                }
                group.addTask {
                    defer { stop.value = true }
                    for round in 1...20 {
                        let deployment = try await client.redeploy(Self.scope)
                        let final = try await client.watch(deploymentID: deployment.id) { _ in }
                        #expect(final.status == .success, "redeploy \(round) ended \(final.status): \(final.reason ?? "")")
                        if round == 1 {
                            // The first deployment's replicas are drained and stopped: the
                            // WebSocket gets a close frame (1001), not a reset.
                            let closing = try await socket.waitForClose(timeout: .seconds(20))
                            #expect(closing == .closeFrame(1001), "\(closing)")
                        }
                    }
                    // Let the last drain and stop pass under load too.
                    try await Task.sleep(for: .seconds(4))
                }
                try await group.waitForAll()
            }
            print("zero-downtime on default settings (\(artifact.rawValue) artifact): \(quick.okCount) quick and \(slow.okCount) 2-second requests answered 200, "
                + "\(quick.failures.count + slow.failures.count) failed, over 20 redeploys")
            let serverWarnings = server.serveLog.split(separator: "\n").filter { $0.contains("warning") || $0.contains("error") }
            #expect(quick.failures.isEmpty,
                    "\(quick.failures.count) failed quick requests: \(quick.failures.prefix(5)); server warnings: \(serverWarnings.suffix(15))")
            #expect(slow.failures.isEmpty, "\(slow.failures.count) failed 2-second requests: \(slow.failures.prefix(5))")
            #expect(quick.okCount > 100, "the load generator ran: \(quick.okCount) quick requests")
            #expect(slow.okCount > 10, "\(slow.okCount) slow requests")
        }
    }
}

/// A WebSocket opened through the router with raw bytes, read until the server closes it.
final class WebSocketProbe: Sendable {
    enum Ending: Equatable, Sendable {
        case closeFrame(UInt16)
        case closedWithoutFrame
        case reset(String)
        case stillOpen
    }

    let greeting: String
    private let ending: Box<Ending?>
    private let task: Task<Void, Never>

    private init(greeting: String, ending: Box<Ending?>, task: Task<Void, Never>) {
        self.greeting = greeting
        self.ending = ending
        self.task = task
    }

    static func open(port: Int, host: String) async throws -> WebSocketProbe {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let (greetingStream, greetingContinuation) = AsyncStream.makeStream(of: String.self)
        let ending = Box<Ending?>(nil)
        let task = Task {
            do {
                try await channel.executeThenClose { inbound, outbound in
                    try await outbound.write(ByteBuffer(string:
                        "GET /ws HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
                    var buffer = ByteBuffer()
                    var sawHead = false
                    for try await var part in inbound {
                        buffer.writeBuffer(&part)
                        if !sawHead {
                            let text = String(buffer: buffer)
                            guard let end = text.range(of: "\r\n\r\n") else { continue }
                            sawHead = true
                            buffer.moveReaderIndex(forwardBy: text.utf8.distance(from: text.startIndex, to: end.upperBound))
                        }
                        while let frame = Self.takeFrame(&buffer) {
                            if frame.opcode == 0x8 {
                                let code = frame.payload.count >= 2 ? UInt16(frame.payload[0]) << 8 | UInt16(frame.payload[1]) : 0
                                ending.value = .closeFrame(code)
                                // Answer with a (masked) close frame, as a client does.
                                try await outbound.write(ByteBuffer(bytes: [0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xE9 ^ 2]))
                            } else {
                                greetingContinuation.yield(String(decoding: frame.payload, as: UTF8.self))
                            }
                        }
                    }
                }
                ending.setIfEmpty(.closedWithoutFrame)
            } catch {
                ending.setIfEmpty(.reset("\(error)"))
            }
            greetingContinuation.finish()
        }
        var iterator = greetingStream.makeAsyncIterator()
        let greeting = await iterator.next() ?? ""
        return WebSocketProbe(greeting: greeting, ending: ending, task: task)
    }

    /// Waits for the connection to end; how it ended.
    func waitForClose(timeout: Duration) async throws -> Ending {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let ending = ending.value { return ending }
            try await Task.sleep(for: .milliseconds(50))
        }
        return .stillOpen
    }

    private static func takeFrame(_ buffer: inout ByteBuffer) -> (opcode: UInt8, payload: [UInt8])? {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            let second = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self)
        else { return nil }
        let length = Int(second & 0x7F)
        guard length < 126, buffer.readableBytes >= 2 + length else { return nil }
        buffer.moveReaderIndex(forwardBy: 2)
        let payload = buffer.readBytes(length: length) ?? []
        return (first & 0x0F, payload)
    }
}

/// A value shared between tasks.
final class Box<Value: Sendable>: Sendable {
    private let state: Mutex<Value>

    init(_ value: Value) {
        self.state = Mutex(value)
    }

    var value: Value {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}

extension Box {
    func setIfEmpty<Wrapped>(_ newValue: Wrapped) where Value == Wrapped? {
        state.withLock { if $0 == nil { $0 = newValue } }
    }
}
