import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL
import Testing
import YardRouter
import YardRuntime

/// HTTP/2 at the HTTPS edge, with real clients: curl (libcurl with nghttp2) for requests
/// multiplexed on one connection, and a frame-level client of our own (swift-nio-http2
/// without stream channels) for what a hostile client sends: a rapid-reset loop and a
/// header list over the limit.
@Suite("Router HTTP/2", .timeLimit(.minutes(2)))
struct RouterHTTP2Tests {
    static let host = "h2.localhost"

    /// A router with HTTPS on port 0 for `host` → `upstreams`, a certificate from a throwaway authority.
    func withH2Router(
        upstreams: [Upstream],
        configure: (inout Router.Configuration) -> Void = { _ in },
        logger: Logger? = nil,
        _ body: (Router, _ httpsPort: Int, TestCertificateAuthority) async throws -> Void
    ) async throws {
        let authority = try TestCertificateAuthority.make()
        defer { authority.remove() }
        let source = StaticCertificateSource([Self.host: try authority.loaded([Self.host], file: "h2")])
        var configuration = Router.Configuration(host: "127.0.0.1", port: 0)
        configuration.https = .init(port: 0, certificates: source)
        configure(&configuration)
        try await withRouter(routes: [Self.host: upstreams], configuration: configuration, logger: logger) { router, _ in
            let httpsPort = try #require(try await router.boundHTTPSPort())
            try await body(router, httpsPort, authority)
        }
    }

    @Test func curlMultiplexesRequestsOnOneConnectionThroughTheUpstreamPool() async throws {
        try requireTool("/usr/bin/curl", package: "curl")
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(upstreams: [upstreams[0].upstream]) { router, port, authority in
                let entries = NIOLockedValueBox([AccessLogEntry]())
                router.onAccessLog { entry in entries.withLockedValue { $0.append(entry) } }
                // Six requests the upstream holds for 300 ms each, sent in parallel by one curl.
                let urls = (1...6).map { "https://\(Self.host):\(port)/slow?ms=300&n=\($0)" }
                let result = try await runTool(
                    "/usr/bin/curl",
                    [
                        "-sS", "--http2", "--parallel", "--parallel-max", "6", "--max-time", "20",
                        "--cacert", authority.certificateFile.path, "--resolve", "\(Self.host):\(port):127.0.0.1",
                        "-w", "%{http_version} %{response_code} %{num_connects}\\n",
                    ] + urls.flatMap { ["-o", "/dev/null", $0] })
                #expect(result.status == 0, "\(result.output)")
                let lines = result.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
                #expect(lines.count == 6, "\(result.output)")
                #expect(lines.allSatisfy { $0.count == 3 && $0[0] == "2" && $0[1] == "200" }, "\(result.output)")
                // One TLS connection carried all six: only one transfer had to connect.
                #expect(lines.compactMap { Int($0.last ?? "") }.reduce(0, +) == 1, "\(result.output)")
                // They were in flight together, each over its own pooled HTTP/1.1 connection.
                #expect(upstreams[0].peakSlowInFlight >= 2)
                let requests = upstreams[0].requests
                #expect(requests.count == 6)
                for request in requests {
                    #expect(request.version == .http1_1)
                    // `:authority` as the client sent it, port included, like an HTTP/1.1 `Host`.
                    #expect(request.headers["host"] == ["\(Self.host):\(port)"])
                    #expect(request.headers["x-forwarded-proto"] == ["https"])
                    #expect(request.headers["x-forwarded-for"] == ["127.0.0.1"])
                    #expect(request.headers["x-forwarded-yard-tls"].isEmpty)
                }
                #expect(try await eventually { entries.withLockedValue { $0.count } == 6 })
                for entry in entries.withLockedValue({ $0 }) {
                    #expect(entry.host == Self.host && entry.status == 200 && entry.replicaID == "h2-1")
                    #expect(entry.path == "/slow")
                }
            }
        }
    }

    @Test func aWebSocketOverHTTP1KeepsWorkingBesideHTTP2Traffic() async throws {
        try requireTool("/usr/bin/curl", package: "curl")
        let replica = try await TestWebSocketUpstream.start()
        defer { Task { await replica.stop() } }
        let plain = try await TestUpstream.start(name: "h2-1")
        defer { Task { await plain.stop() } }
        try await withH2Router(upstreams: [plain.upstream]) { router, port, authority in
            router.updateRoutes(RouteTable(routes: [
                .init(host: Self.host, upstreams: [plain.upstream]),
                .init(host: Self.host, pathPrefix: "/ws", upstreams: [replica.upstream("ws-1")]),
            ]))
            var tls = NIOSSL.TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates([try authority.certificate])
            // What browsers offer for a WebSocket: HTTP/1.1 only.
            tls.applicationProtocols = ["http/1.1"]
            let context = try NIOSSLContext(configuration: tls)
            try await RawStream.with(port: port, tls: context, serverName: Self.host) { stream in
                try await stream.send(
                    "GET /ws HTTP/1.1\r\nHost: \(Self.host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                )
                let head = try await stream.readHead()
                #expect(head.hasPrefix("HTTP/1.1 101 "), "\(head)")
                _ = try await stream.readFrame()
                // HTTP/2 requests to the same host while the WebSocket is open.
                let h2 = try await runTool(
                    "/usr/bin/curl",
                    [
                        "-sS", "--http2", "--max-time", "10", "--cacert", authority.certificateFile.path,
                        "--resolve", "\(Self.host):\(port):127.0.0.1", "-o", "/dev/null", "-w", "%{http_version}",
                        "https://\(Self.host):\(port)/plain",
                    ])
                #expect(h2.status == 0 && h2.stdout == "2", "\(h2.output)")
                #expect(plain.requests.map(\.uri) == ["/plain"])
                try await stream.send(RawStream.clientFrame(opcode: 0x1, Array("beside h2".utf8)))
                let echo = try #require(try await stream.readFrame())
                #expect(String(decoding: echo.payload, as: UTF8.self) == "beside h2")
                #expect(router.tunnelCount == 1)
            }
        }
    }

    @Test func theServerAnnouncesItsStreamAndHeaderLimits() async throws {
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(
                upstreams: [upstreams[0].upstream],
                configure: { $0.http2.maxConcurrentStreams = 32 }
            ) { _, port, authority in
                let client = try await H2FrameClient.connect(port: port, serverName: Self.host, trusting: try authority.certificate)
                defer { client.close() }
                let settings = try await client.serverSettings()
                #expect(settings[.maxConcurrentStreams] == 32)
                #expect(settings[.maxHeaderListSize] == 64 * 1024)
            }
        }
    }

    @Test func aRapidResetLoopIsCutOffAndOthersAreStillServed() async throws {
        try requireTool("/usr/bin/curl", package: "curl")
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(upstreams: [upstreams[0].upstream]) { router, port, authority in
                let client = try await H2FrameClient.connect(port: port, serverName: Self.host, trusting: try authority.certificate)
                defer { client.close() }
                // CVE-2023-44487: open a stream and reset it at once, over and over.
                let attempts = 2_000
                for stream in 0..<attempts {
                    let id = HTTP2StreamID(2 * stream + 1)
                    client.write(HTTP2Frame(streamID: id, payload: .headers(.init(headers: Self.request("/slow?ms=500"), endStream: true))))
                    client.write(HTTP2Frame(streamID: id, payload: .rstStream(.cancel)))
                    if stream % 50 == 49 { client.flush() }
                    if client.isClosed { break }
                }
                client.flush()
                #expect(try await eventually(seconds: 10) { client.isClosed }, "the router kept the connection: \(client.writeErrors.prefix(3))")
                #expect(client.goAwayCode == .enhanceYourCalm)
                // Cut off after the default limit (200 resets in 30 s), far from all of them.
                #expect(upstreams[0].requests.count <= 250)
                // Everyone else is still served, and no request is left queued.
                let ok = try await runTool(
                    "/usr/bin/curl",
                    [
                        "-sS", "--http2", "--max-time", "10", "--cacert", authority.certificateFile.path,
                        "--resolve", "\(Self.host):\(port):127.0.0.1", "-o", "/dev/null", "-w", "%{http_version} %{response_code}",
                        "https://\(Self.host):\(port)/after",
                    ])
                #expect(ok.stdout == "2 200", "\(ok.output)")
                #expect(router.queuedRequestCount == 0)
            }
        }
    }

    @Test func aHeaderListOverTheLimitEndsTheConnectionBeforeAnythingIsForwarded() async throws {
        try requireTool("/usr/bin/curl", package: "curl")
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(upstreams: [upstreams[0].upstream]) { _, port, authority in
                func get(_ path: String, headerBytes: Int, verbose: Bool = false) async throws -> ToolResult {
                    // curl splits a large header block into HEADERS and CONTINUATION frames.
                    let headers = stride(from: 0, to: headerBytes, by: 7_000).enumerated().flatMap { index, _ in
                        ["-H", "x-large-\(index): " + String(repeating: "a", count: 7_000)]
                    }
                    return try await runTool(
                        "/usr/bin/curl",
                        [
                            "-sS", "--http2", "--max-time", "10", "--cacert", authority.certificateFile.path,
                            "--resolve", "\(Self.host):\(port):127.0.0.1", "-o", "/dev/null", "-w", "%{http_version} %{response_code}",
                        ] + (verbose ? ["-v"] : []) + headers + ["https://\(Self.host):\(port)\(path)"])
                }
                // Under the limit: forwarded. (64 KiB like HTTP/1.1's head once the client has
                // acknowledged the settings; curl sends at once, while swift-nio-http2's 16 KiB holds.)
                let fine = try await get("/fine", headerBytes: 14_000)
                #expect(fine.stdout == "2 200", "\(fine.output)")
                // Over it: the connection ends with a PROTOCOL_ERROR GOAWAY, nothing forwarded.
                let oversized = try await get("/oversized", headerBytes: 100_000, verbose: true)
                #expect(oversized.status != 0)
                // The GOAWAY names no stream as processed, which curl reads as a refused stream:
                // it retries on new connections, each ended the same way, then gives up.
                let said = oversized.stderr.split(separator: "\n").filter { !$0.contains("h2h3") && !$0.hasPrefix(">") }
                #expect(said.contains { $0.contains("REFUSED_STREAM") }, "\(said.suffix(8))")
                #expect(upstreams[0].requests.map(\.uri) == ["/fine"])
            }
        }
    }

    static func request(_ path: String) -> HPACKHeaders {
        HPACKHeaders([(":method", "GET"), (":scheme", "https"), (":authority", Self.host), (":path", path)])
    }
}

/// Fails with the install command when a tool the test drives is missing.
func requireTool(_ path: String, package: String) throws {
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw TestClientError(description: "this test needs \(path): apt-get install \(package)")
    }
}

struct ToolResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var output: String { self.stdout + self.stderr }
}

/// Runs a tool to completion with its output captured. Async, off the cooperative threads:
/// the router under test finishes TLS handshakes in tasks (the certificate look-up), which a
/// test blocked in `waitUntilExit` would starve.
func runTool(_ path: String, _ arguments: [String]) async throws -> ToolResult {
    let directory = FileManager.default.temporaryDirectory
    let outFile = directory.appendingPathComponent("yard-tool-\(UUID().uuidString).out")
    let errFile = directory.appendingPathComponent("yard-tool-\(UUID().uuidString).err")
    FileManager.default.createFile(atPath: outFile.path, contents: nil)
    FileManager.default.createFile(atPath: errFile.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: outFile)
        try? FileManager.default.removeItem(at: errFile)
    }
    let out = try FileHandle(forWritingTo: outFile)
    defer { try? out.close() }
    let err = try FileHandle(forWritingTo: errFile)
    defer { try? err.close() }
    let process = ChildProcess()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        process.terminationHandler = { _ in continuation.resume() }
        do {
            try process.run()
        } catch {
            process.terminationHandler = nil
            continuation.resume(throwing: error)
        }
    }
    return ToolResult(
        status: process.terminationStatus,
        stdout: (try? String(contentsOf: outFile, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOf: errFile, encoding: .utf8)) ?? "")
}

/// An HTTP/2 client over TLS (ALPN h2) that writes whatever frames it is given, on the
/// connection itself (no stream channels), and records what the server sends back.
final class H2FrameClient: Sendable {
    private let channel: any Channel
    private let recorder: H2FrameRecorder

    private init(channel: any Channel, recorder: H2FrameRecorder) {
        self.channel = channel
        self.recorder = recorder
    }

    /// `validating` false sends header blocks and DATA as they are given, malformed or not
    /// (swift-nio-http2 checks what it sends by default).
    static func connect(
        port: Int, serverName: String, trusting authority: NIOSSLCertificate, validating: Bool = true
    ) async throws -> H2FrameClient {
        var tls = NIOSSL.TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates([authority])
        tls.applicationProtocols = ["h2"]
        let context = try NIOSSLContext(configuration: tls)
        let recorder = H2FrameRecorder()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverName))
                    let validation: NIOHTTP2Handler.ValidationState = validating ? .enabled : .disabled
                    try pipeline.addHandler(
                        NIOHTTP2Handler(mode: .client, headerBlockValidation: validation, contentLengthValidation: validation))
                    try pipeline.addHandler(recorder)
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        return H2FrameClient(channel: channel, recorder: recorder)
    }

    func write(_ frame: HTTP2Frame) {
        let recorder = self.recorder
        self.channel.write(frame).whenFailure { error in
            recorder.state.withLockedValue { $0.writeErrors.append("\(error)") }
        }
    }

    /// Why writes failed (after the server closed, say).
    var writeErrors: [String] { self.recorder.state.withLockedValue { $0.writeErrors } }

    func flush() {
        self.channel.flush()
    }

    func close() {
        self.channel.close(promise: nil)
    }

    var isClosed: Bool { self.recorder.state.withLockedValue { $0.closed } }
    var goAwayCode: HTTP2ErrorCode? { self.recorder.state.withLockedValue { $0.goAway } }
    /// The last stream ID of each GOAWAY the server sent, in order.
    var goAwayLastStreamIDs: [Int] { self.recorder.state.withLockedValue { $0.goAwayLastStreamIDs } }
    /// `:status` of each stream's response head, by stream id.
    var responseStatuses: [Int: String] { self.recorder.state.withLockedValue { $0.statuses } }
    /// The RST_STREAM code of each stream the server reset, by stream id.
    var resetCodes: [Int: HTTP2ErrorCode] { self.recorder.state.withLockedValue { $0.resets } }
    /// How many GOAWAYs had come when each stream's response head came, by stream id: the
    /// order of the two, whenever the test looks.
    var goAwaysBeforeResponse: [Int: Int] { self.recorder.state.withLockedValue { $0.goAwaysBeforeStatus } }

    /// The server's first SETTINGS frame, once it arrived.
    func serverSettings() async throws -> [HTTP2SettingsParameter: Int] {
        #expect(try await eventually { self.recorder.state.withLockedValue { $0.settings != nil } })
        return self.recorder.state.withLockedValue { $0.settings ?? [:] }
    }
}

private final class H2FrameRecorder: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTP2Frame

    struct State {
        var settings: [HTTP2SettingsParameter: Int]?
        var goAway: HTTP2ErrorCode?
        var goAwayLastStreamIDs: [Int] = []
        var statuses: [Int: String] = [:]
        var goAwaysBeforeStatus: [Int: Int] = [:]
        var resets: [Int: HTTP2ErrorCode] = [:]
        var closed = false
        var writeErrors: [String] = []
    }

    let state = NIOLockedValueBox(State())

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        self.state.withLockedValue { state in
            switch frame.payload {
            case .settings(.settings(let settings)) where state.settings == nil:
                state.settings = Dictionary(settings.map { ($0.parameter, $0.value) }, uniquingKeysWith: { $1 })
            case .goAway(let lastStreamID, let code, _):
                state.goAway = code
                state.goAwayLastStreamIDs.append(Int(lastStreamID))
            case .rstStream(let code):
                state.resets[Int(frame.streamID)] = code
            case .headers(let headers):
                if let status = headers.headers.first(name: ":status") {
                    state.statuses[Int(frame.streamID)] = status
                    state.goAwaysBeforeStatus[Int(frame.streamID)] = state.goAwayLastStreamIDs.count
                }
            default:
                break
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.state.withLockedValue { $0.closed = true }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Protocol errors of our own client (writing after the GOAWAY) are expected here.
    }
}
