import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOSSL
import Testing
import YardRouter

/// HTTP/2 limits seen from a client that writes frames as bytes, so it can break the rules a
/// client library keeps for it: more streams than `SETTINGS_MAX_CONCURRENT_STREAMS` allows,
/// and a header block left open (HEADERS without END_HEADERS, no CONTINUATION).
@Suite("Router HTTP/2 limits", .timeLimit(.minutes(2)))
struct RouterHTTP2LimitsTests {
    @Test func aClientThatKeepsTheLimitQueuesItsStreamsAndAllAreServed() async throws {
        try requireTool("/usr/bin/h2load", package: "nghttp2-client")
        try await withUpstreams(["h2-1"]) { upstreams in
            try await RouterHTTP2Tests().withH2Router(upstreams: [upstreams[0].upstream]) { _, port, _ in
                // One connection asking for 150 streams at once: h2load keeps to the router's 100
                // and queues the rest. (Connected by name: no certificate is for 127.0.0.1.)
                let named = try await runTool(
                    "/usr/bin/h2load",
                    [
                        "-n", "150", "-c", "1", "-m", "150", "--connect-to=127.0.0.1:\(port)",
                        "https://\(RouterHTTP2Tests.host):\(port)/slow?ms=500",
                    ])
                #expect(named.stdout.contains("150 succeeded"), "\(named.output)")
                #expect(named.stdout.contains("status codes: 150 2xx"), "\(named.output)")
                #expect(upstreams[0].peakSlowInFlight <= 100)
                #expect(upstreams[0].peakSlowInFlight >= 2)
            }
        }
    }

    /// A stream error resets that stream only (RFC 9113 §5.4.2): `NIOHTTP2Handler` sends the
    /// RST_STREAM and passes the error on, which once closed the whole connection and cut the
    /// other streams on it.
    @Test func aStreamErrorResetsItsStreamAndTheOthersCarryOn() async throws {
        try await withUpstreams(["h2-1"]) { upstreams in
            try await RouterHTTP2Tests().withH2Router(upstreams: [upstreams[0].upstream]) { _, port, authority in
                try await H2ByteClient.with(port: port, authority: authority) { client in
                    _ = try await client.handshake()
                    try await client.send(client.request(stream: 1, path: "/slow?ms=600"))
                    try await client.send(client.request(stream: 3, path: "/slow?ms=600"))
                    // DATA on stream 3, which the client closed with END_STREAM: a stream
                    // error of type STREAM_CLOSED (§5.1, half-closed (remote)).
                    try await client.send(H2ByteClient.frame(type: 0x0, flags: 0x1, stream: 3, Array("x".utf8)))
                    let outcome = try await client.collect(until: { $0.finished.contains(1) || $0.closed })
                    #expect(outcome.reset[3] == 0x5, "\(outcome)")
                    #expect(outcome.statuses[1] == "200" && !outcome.closed && outcome.goAway == nil, "\(outcome)")
                    // The connection still takes new streams.
                    try await client.send(client.request(stream: 5, path: "/after"))
                    let after = try await client.collect(until: { $0.finished.contains(5) || $0.closed })
                    #expect(after.statuses[5] == "200", "\(after)")
                }
            }
        }
    }

    @Test func aHeaderBlockLeftOpenPastTheHeadTimeoutEndsTheConnection() async throws {
        try await withUpstreams(["h2-1"]) { upstreams in
            try await RouterHTTP2Tests().withH2Router(
                upstreams: [upstreams[0].upstream],
                configure: { $0.requestHeadTimeout = .milliseconds(1500) }
            ) { _, port, authority in
                // Completed within the timeout (HEADERS, then CONTINUATION 200 ms later): served,
                // and a connection idle between requests for longer than the timeout stays open.
                try await H2ByteClient.with(port: port, authority: authority) { client in
                    _ = try await client.handshake()
                    let block = client.headerBlock(path: "/split")
                    let half = block.count / 2
                    try await client.send(H2ByteClient.frame(type: 0x1, flags: 0x1, stream: 1, Array(block[..<half])))
                    try await Task.sleep(for: .milliseconds(200))
                    try await client.send(H2ByteClient.frame(type: 0x9, flags: 0x4, stream: 1, Array(block[half...])))
                    let first = try await client.collect(until: { $0.finished.contains(1) || $0.closed })
                    #expect(first.statuses[1] == "200", "\(first)")
                    try await Task.sleep(for: .milliseconds(1800))
                    try await client.send(client.request(stream: 3, path: "/after-idle"))
                    let second = try await client.collect(until: { $0.finished.contains(3) || $0.closed })
                    #expect(second.statuses[3] == "200", "\(second)")
                }
                // Never completed: a GOAWAY naming the timeout, then the connection closes.
                try await H2ByteClient.with(port: port, authority: authority) { client in
                    _ = try await client.handshake()
                    let started = ContinuousClock.now
                    try await client.send(H2ByteClient.frame(type: 0x1, flags: 0x1, stream: 1, client.headerBlock(path: "/never")))
                    let outcome = try await client.collect(until: { $0.closed })
                    #expect(outcome.goAway == 0xB, "\(outcome)")
                    #expect(outcome.goAwayDebug.contains("did not arrive within 1500ms"), "\(outcome)")
                    #expect(ContinuousClock.now - started < .seconds(5))
                }
                #expect(upstreams[0].requests.map(\.uri) == ["/split", "/after-idle"])
            }
        }
    }
}

/// An HTTP/2 client over TLS (ALPN h2) that writes frames as bytes (`RawStream`) and reads
/// what comes back frame by frame.
final class H2ByteClient {
    struct Outcome: CustomStringConvertible {
        var statuses: [HTTP2StreamID: String] = [:]
        /// Streams whose response ended (END_STREAM).
        var finished: Set<HTTP2StreamID> = []
        var reset: [HTTP2StreamID: UInt32] = [:]
        var goAway: UInt32?
        var goAwayDebug = ""
        var closed = false
        /// Each stream's response head, and the DATA bytes that came for it.
        var heads: [HTTP2StreamID: HPACKHeaders] = [:]
        var bodies: [HTTP2StreamID: [UInt8]] = [:]
        /// The payload of each PING acknowledgement.
        var pingAcks: [[UInt8]] = []
        /// How many frames of each type came.
        var frameCounts: [UInt8: Int] = [:]
        /// The largest DATA payload in one frame.
        var largestData = 0

        var description: String {
            "\(self.statuses.count) statuses, \(self.finished.count) finished, resets \(self.reset), GOAWAY \(self.goAway.map { "\($0)" } ?? "none") \(self.goAwayDebug), closed \(self.closed)"
        }
    }

    private let stream: RawStream
    private var encoder = HPACKEncoder(allocator: ByteBufferAllocator())
    private var decoder = HPACKDecoder(
        allocator: ByteBufferAllocator(), maxDynamicTableSize: HPACKDecoder.maxDynamicTableSize, maxHeaderListSize: 1 << 20)
    private var outcome = Outcome()
    private var openBlock: (stream: HTTP2StreamID, endStream: Bool, bytes: [UInt8])?

    private init(stream: RawStream) {
        self.stream = stream
    }

    static func with(port: Int, authority: TestCertificateAuthority, _ body: (H2ByteClient) async throws -> Void) async throws {
        var tls = NIOSSL.TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates([try authority.certificate])
        tls.applicationProtocols = ["h2"]
        let context = try NIOSSLContext(configuration: tls)
        try await RawStream.with(port: port, tls: context, serverName: RouterHTTP2Tests.host) { stream in
            try await body(H2ByteClient(stream: stream))
        }
    }

    static func frame(type: UInt8, flags: UInt8, stream: HTTP2StreamID, _ payload: [UInt8]) -> [UInt8] {
        let length = payload.count
        let id = UInt32(Int(stream))
        return [
            UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), type, flags,
            UInt8(id >> 24 & 0x7F), UInt8(id >> 16 & 0xFF), UInt8(id >> 8 & 0xFF), UInt8(id & 0xFF),
        ] + payload
    }

    /// Sends the preface and SETTINGS (`settings`, identifier and value, none by default),
    /// acknowledges the server's, and returns them.
    func handshake(settings: [(UInt16, UInt32)] = []) async throws -> [HTTP2SettingsParameter: Int] {
        let payload = settings.flatMap { identifier, value in
            [UInt8(identifier >> 8), UInt8(identifier & 0xFF)] + (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) }
        }
        try await self.stream.send(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + Self.frame(type: 0x4, flags: 0, stream: 0, payload))
        while true {
            guard let frame = try await self.readFrame() else {
                throw TestClientError(description: "the router closed the connection before its SETTINGS")
            }
            let payload = frame.payload
            guard frame.type == 0x4, frame.flags & 0x1 == 0 else { continue }
            var settings: [HTTP2SettingsParameter: Int] = [:]
            for offset in stride(from: 0, to: payload.count - 5, by: 6) {
                let parameter = Int(payload[offset]) << 8 | Int(payload[offset + 1])
                let value = payload[(offset + 2)...(offset + 5)].reduce(0) { $0 << 8 | Int($1) }
                settings[HTTP2SettingsParameter(extensionSetting: parameter)] = value
            }
            try await self.stream.send(Self.frame(type: 0x4, flags: 0x1, stream: 0, []))
            return settings
        }
    }

    func headerBlock(path: String, method: String = "GET", extra: [(String, String)] = []) -> [UInt8] {
        var buffer = ByteBuffer()
        try! self.encoder.encode(
            headers: HPACKHeaders(
                [(":method", method), (":scheme", "https"), (":authority", RouterHTTP2Tests.host), (":path", path)] + extra),
            to: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// A complete GET request on `stream` (HEADERS with END_HEADERS and END_STREAM).
    func request(stream: HTTP2StreamID, path: String) -> [UInt8] {
        Self.frame(type: 0x1, flags: 0x5, stream: stream, self.headerBlock(path: path))
    }

    func send(_ bytes: [UInt8]) async throws {
        try await self.stream.send(bytes)
    }

    /// Reads frames until `done` holds for what arrived so far (or the connection closed).
    func collect(until done: (Outcome) -> Bool) async throws -> Outcome {
        while !done(self.outcome) {
            guard let frame = try await self.readFrame() else {
                self.outcome.closed = true
                break
            }
            let (type, flags, payload) = (frame.type, frame.flags, frame.payload)
            let stream = HTTP2StreamID(Int(frame.stream))
            self.outcome.frameCounts[type, default: 0] += 1
            switch type {
            case 0x0:  // DATA
                self.outcome.bodies[stream, default: []] += payload
                self.outcome.largestData = max(self.outcome.largestData, payload.count)
                if flags & 0x1 != 0 { self.outcome.finished.insert(stream) }
            case 0x6 where flags & 0x1 != 0:  // PING acknowledgement
                self.outcome.pingAcks.append(payload)
            case 0x1:  // HEADERS
                var block = payload
                if flags & 0x8 != 0 { block = Array(block.dropFirst(1).dropLast(Int(payload[0]))) }
                if flags & 0x20 != 0 { block = Array(block.dropFirst(5)) }
                self.openBlock = (stream, flags & 0x1 != 0, block)
                if flags & 0x4 != 0 { try self.endBlock() }
            case 0x9:  // CONTINUATION
                self.openBlock?.bytes += payload
                if flags & 0x4 != 0 { try self.endBlock() }
            case 0x3:  // RST_STREAM
                self.outcome.reset[stream] = payload.prefix(4).reduce(0) { $0 << 8 | UInt32($1) }
            case 0x7:  // GOAWAY
                self.outcome.goAway = payload.dropFirst(4).prefix(4).reduce(0) { $0 << 8 | UInt32($1) }
                self.outcome.goAwayDebug = String(decoding: payload.dropFirst(8), as: UTF8.self)
            default:
                break
            }
        }
        return self.outcome
    }

    private func endBlock() throws {
        guard let block = self.openBlock else { return }
        self.openBlock = nil
        var buffer = ByteBuffer(bytes: block.bytes)
        let headers = try self.decoder.decodeHeaders(from: &buffer)
        if let status = headers.first(name: ":status"), self.outcome.statuses[block.stream] == nil {
            self.outcome.statuses[block.stream] = status
            self.outcome.heads[block.stream] = headers
        }
        if block.endStream { self.outcome.finished.insert(block.stream) }
    }

    func waitForClose(timeout: Duration) async throws -> Bool {
        if self.outcome.closed { return true }
        return try await self.stream.waitForClose(timeout: timeout)
    }

    private func readFrame() async throws -> (type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8])? {
        let header = try await self.stream.read(9)
        guard header.count == 9 else { return nil }
        let length = Int(header[0]) << 16 | Int(header[1]) << 8 | Int(header[2])
        let stream = header[5...8].reduce(UInt32(0)) { $0 << 8 | UInt32($1) } & 0x7FFF_FFFF
        let payload = try await self.stream.read(length)
        guard payload.count == length else { return nil }
        return (header[3], header[4], stream, payload)
    }
}
