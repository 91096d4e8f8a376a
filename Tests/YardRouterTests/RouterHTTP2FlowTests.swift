import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP2
import ServiceLifecycle
import Testing
import YardRouter

/// What serving streams without child channels makes the router's own job: returning the
/// client's flow-control windows, holding a response back for a client that does not return
/// them, and the connection's idle close and graceful drain.
extension RouterHTTP2Tests {
    /// Uploads far beyond the 64 KiB windows only arrive if the router returns them
    /// (WINDOW_UPDATE for the connection and for each stream); else curl stalls and times out.
    @Test func requestBodiesBeyondTheWindowArriveWhole() async throws {
        try requireTool("/usr/bin/curl", package: "curl")
        let payload = Data((0..<(1024 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("yard-h2-upload-\(UUID().uuidString)")
        try payload.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(upstreams: [upstreams[0].upstream]) { _, port, authority in
                // One 1 MiB upload, then four at once on one connection; each comes back echoed.
                for streams in [1, 4] {
                    let outputs = (0..<streams).map { _ in
                        FileManager.default.temporaryDirectory.appendingPathComponent("yard-h2-echo-\(UUID().uuidString)")
                    }
                    defer { for output in outputs { try? FileManager.default.removeItem(at: output) } }
                    let targets = outputs.enumerated().flatMap { index, output in
                        ["-o", output.path, "https://\(Self.host):\(port)/echo?n=\(index)"]
                    }
                    let result = try await runTool(
                        "/usr/bin/curl",
                        [
                            "-sS", "--http2", "--max-time", "20", "--cacert", authority.certificateFile.path,
                            "--resolve", "\(Self.host):\(port):127.0.0.1", "--parallel",
                            "--data-binary", "@\(file.path)", "-w", "%{http_version} %{response_code} %{num_connects}\\n",
                        ] + targets)
                    #expect(result.status == 0, "\(result.stderr)")
                    // All on the one connection the first opened.
                    let lines = result.stdout.split(separator: "\n")
                    #expect(lines.count == streams && lines.allSatisfy { $0.hasPrefix("2 200 ") }, "\(result.output)")
                    #expect(lines.filter { $0.hasSuffix(" 1") }.count == 1, "\(result.output)")
                    for output in outputs {
                        #expect(try Data(contentsOf: output) == payload)
                    }
                }
                #expect(upstreams[0].requests.count == 5)
                #expect(upstreams[0].requests.allSatisfy { $0.headers["content-length"] == ["\(1024 * 1024)"] })
            }
        }
    }

    @Test func aResponseFarBeyondTheWindowReachesTheClientWhole() async throws {
        try requireTool("/usr/bin/curl", package: "curl")
        let size = 4 * 1024 * 1024
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(upstreams: [upstreams[0].upstream]) { _, port, authority in
                let file = FileManager.default.temporaryDirectory.appendingPathComponent("yard-h2-large-\(UUID().uuidString)")
                defer { try? FileManager.default.removeItem(at: file) }
                let result = try await runTool(
                    "/usr/bin/curl",
                    [
                        "-sS", "--http2", "--max-time", "30", "--cacert", authority.certificateFile.path,
                        "--resolve", "\(Self.host):\(port):127.0.0.1", "-o", file.path, "-w", "%{http_version} %{response_code}",
                        "https://\(Self.host):\(port)/large?bytes=\(size)",
                    ])
                #expect(result.stdout == "2 200", "\(result.stderr)")
                let body = try Data(contentsOf: file)
                #expect(body.count == size)
                #expect(body.enumerated().allSatisfy { index, byte in byte == UInt8(truncatingIfNeeded: index) })
            }
        }
    }

    /// A client that returns no window gets 64 KiB; the router must not read the rest of a
    /// 200 MB body from the replica into its HTTP/2 buffers. What the replica gets to write stays
    /// within the loopback socket buffers (several MB) and the router's watermark. Windows
    /// returned later let the body flow again.
    @Test func aClientThatReturnsNoWindowStopsTheReplica() async throws {
        let size = 200 * 1024 * 1024
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(upstreams: [upstreams[0].upstream]) { _, port, authority in
                let client = try await H2FrameClient.connect(port: port, serverName: Self.host, trusting: try authority.certificate)
                defer { client.close() }
                client.write(
                    HTTP2Frame(streamID: HTTP2StreamID(1), payload: .headers(.init(headers: Self.request("/stream?bytes=\(size)"), endStream: true))))
                client.flush()
                #expect(try await eventually { client.responseStatuses[1] == "200" })
                let stalledAt = try await settledValue { upstreams[0].streamedBytes }
                #expect(stalledAt > 0, "the replica never started streaming")
                #expect(stalledAt < 32 * 1024 * 1024, "the router read \(stalledAt) bytes for a client that returns no window")
                // Window for 16 MiB more, on the stream and the connection: the replica streams again.
                let more = 16 * 1024 * 1024
                client.write(HTTP2Frame(streamID: HTTP2StreamID(1), payload: .windowUpdate(windowSizeIncrement: more)))
                client.write(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: more)))
                client.flush()
                #expect(try await eventually(seconds: 30) { upstreams[0].streamedBytes >= stalledAt + 8 * 1024 * 1024 })
                #expect(client.resetCodes[1] == nil && !client.isClosed)
            }
        }
    }

    /// A drain (`triggerGracefulShutdown`) lets the stream in flight finish on its connection,
    /// tells the client with GOAWAY (`NO_ERROR`), then closes the connection. The GOAWAY comes
    /// twice (RFC 9113 §6.8): first naming the highest stream ID, then, after a PING's round
    /// trip, the last stream the client opened.
    @Test func aDrainFinishesTheStreamInFlightAndSaysGoAway() async throws {
        try await withUpstreams(["h2-1"]) { upstreams in
            var logger = Logger(label: "yard.router.test")
            logger.logLevel = .critical
            let authority = try TestCertificateAuthority.make()
            defer { authority.remove() }
            var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
            configuration.https = .init(
                port: 0, certificates: StaticCertificateSource([Self.host: try authority.loaded([Self.host], file: "h2")]))
            let router = Router(configuration: configuration, logger: logger)
            router.updateRoutes(RouteTable(routes: [Self.host: [upstreams[0].upstream]]))
            let group = ServiceGroup(services: [router], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let port = try #require(try await router.boundHTTPSPort())
                let client = try await H2FrameClient.connect(port: port, serverName: Self.host, trusting: try authority.certificate)
                defer { client.close() }
                client.write(HTTP2Frame(streamID: HTTP2StreamID(1), payload: .headers(.init(headers: Self.request("/slow?ms=1500"), endStream: true))))
                client.flush()
                #expect(try await eventually { upstreams[0].requests.count == 1 })
                await group.triggerGracefulShutdown()
                #expect(try await eventually { client.goAwayCode == .noError })
                #expect(client.responseStatuses[1] == nil, "the response came before the drain began")
                #expect(try await eventually { client.responseStatuses[1] == "200" && client.isClosed })
                #expect(client.resetCodes[1] == nil)
                #expect(client.goAwayLastStreamIDs == [Int(Int32.max), 1])
                try await tasks.next()
            }
        }
    }

    /// The streams' deadlines share one timer per connection: each stream still gets its own
    /// response-head timeout, while the other streams carry on.
    @Test func eachStreamKeepsItsOwnResponseHeadTimeout() async throws {
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(
                upstreams: [upstreams[0].upstream], configure: { $0.responseHeadTimeout = .seconds(1) }
            ) { _, port, authority in
                let client = try await H2FrameClient.connect(port: port, serverName: Self.host, trusting: try authority.certificate)
                defer { client.close() }
                client.write(HTTP2Frame(streamID: HTTP2StreamID(1), payload: .headers(.init(headers: Self.request("/silent"), endStream: true))))
                client.flush()
                #expect(try await eventually { client.responseStatuses[1] == "502" })
                client.write(HTTP2Frame(streamID: HTTP2StreamID(3), payload: .headers(.init(headers: Self.request("/plain"), endStream: true))))
                client.write(HTTP2Frame(streamID: HTTP2StreamID(5), payload: .headers(.init(headers: Self.request("/silent"), endStream: true))))
                client.flush()
                #expect(try await eventually { client.responseStatuses[3] == "200" && client.responseStatuses[5] == "502" })
                #expect(!client.isClosed && client.goAwayCode == nil)
            }
        }
    }

    /// The idle limit counts from the last stream's end: a response slower than the limit
    /// still comes, and the connection closes only after it.
    @Test func aStreamLongerThanTheIdleTimeoutIsServed() async throws {
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(
                upstreams: [upstreams[0].upstream], configure: { $0.clientIdleTimeout = .milliseconds(400) }
            ) { _, port, authority in
                let client = try await H2FrameClient.connect(port: port, serverName: Self.host, trusting: try authority.certificate)
                defer { client.close() }
                client.write(HTTP2Frame(streamID: HTTP2StreamID(1), payload: .headers(.init(headers: Self.request("/slow?ms=1200"), endStream: true))))
                client.flush()
                #expect(try await eventually { client.responseStatuses[1] == "200" })
                // Before the response, no GOAWAY (after it, the idle close may already have begun).
                #expect(client.goAwaysBeforeResponse[1] == 0 && client.resetCodes[1] == nil)
                #expect(try await eventually { client.isClosed })
                #expect(client.goAwayLastStreamIDs == [Int(Int32.max), 1])
            }
        }
    }

    @Test func anIdleConnectionIsClosedAfterTheIdleTimeout() async throws {
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(
                upstreams: [upstreams[0].upstream], configure: { $0.clientIdleTimeout = .milliseconds(500) }
            ) { _, port, authority in
                let client = try await H2FrameClient.connect(port: port, serverName: Self.host, trusting: try authority.certificate)
                defer { client.close() }
                client.write(HTTP2Frame(streamID: HTTP2StreamID(1), payload: .headers(.init(headers: Self.request("/plain"), endStream: true))))
                client.flush()
                #expect(try await eventually { client.responseStatuses[1] == "200" })
                #expect(!client.isClosed)
                #expect(try await eventually { client.isClosed })
                #expect(client.goAwayCode == .noError)
                #expect(client.goAwayLastStreamIDs == [Int(Int32.max), 1])
            }
        }
    }
}
