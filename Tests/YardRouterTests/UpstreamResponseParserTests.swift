import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import YardRouter

/// The router reads replicas' responses with a parser of its own (`UpstreamResponseParser`,
/// inside `UpstreamConnectionHandler`) instead of NIO's `HTTPResponseDecoder`. Each case here
/// goes through both, whole, a byte at a time and in pseudo-random pieces, and the parts must
/// be the same: the same heads, the same body bytes, the same ends and trailers, and a
/// failure where NIO's decoder failed, after the same parts.
@Suite struct UpstreamResponseParserTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let methods: [HTTPMethod]
        let bytes: [UInt8]
        /// The connection closes after the bytes (a body may end with the close).
        let closes: Bool

        init(_ name: String, _ text: String, methods: [HTTPMethod] = [.GET], closes: Bool = false) {
            self.init(name, bytes: Array(text.utf8), methods: methods, closes: closes)
        }

        init(_ name: String, bytes: [UInt8], methods: [HTTPMethod] = [.GET], closes: Bool = false) {
            self.name = name
            self.methods = methods
            self.bytes = bytes
            self.closes = closes
        }

        var testDescription: String { self.name }
    }

    static let accepted: [Case] = [
        Case("a length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"),
        Case("no reason phrase", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"),
        Case("an empty reason phrase", "HTTP/1.1 404 \r\nContent-Length: 2\r\n\r\nno"),
        Case("HTTP/1.0 delimited by the close", "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nuntil the end", closes: true),
        Case("HTTP/1.1 without a length, delimited by the close", "HTTP/1.1 200 OK\r\n\r\nsome bytes", closes: true),
        Case(
            "chunked, with extensions and trailers",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Checksum: abc\r\nX-Other: d\r\n\r\n"),
        Case("chunked, upper-case hex, no trailers", "HTTP/1.1 200 OK\r\ntransfer-encoding: CHUNKED\r\n\r\n1F\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n0\r\n\r\n"),
        Case("chunked after gzip", "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        Case("a coding other than chunked last: until the close", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzz", closes: true),
        Case("HEAD keeps its length and has no body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", methods: [.HEAD]),
        Case("HEAD and chunked: no body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", methods: [.HEAD]),
        Case("204 has no body", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"),
        Case("304 has no body despite its length", "HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\nContent-Length: 42\r\n\r\n"),
        Case("100 Continue, then the response", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", methods: [.POST]),
        Case("103 Early Hints with fields", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        Case(
            "two responses on one connection",
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\noneHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n",
            methods: [.GET, .GET]),
        Case("a 101 and the tunnel's first bytes", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\u{81}\u{02}hi"),
        Case("values: empty, tabs, spaces around, repeated names", "HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Tab:\tvalue\t with\ttabs \t\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n"),
        Case("a value with bytes beyond ASCII", bytes: Array("HTTP/1.1 200 OK\r\nX-Name: caf".utf8) + [0xC3, 0xA9] + Array("\r\nContent-Length: 0\r\n\r\n".utf8)),
        Case("Content-Length: 0 on a 200", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        Case("a 500 with a body", "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops"),
        Case("connection: keep-alive alone", "HTTP/1.1 200 OK\r\nconnection: KEEP-ALIVE\r\nContent-Length: 0\r\n\r\n"),
        Case(
            "hop-by-hop and forwarding fields",
            "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Forwarded-For: 1.2.3.4\r\nforwarded: for=x\r\nX-Real-IP: 1.2.3.4\r\nTE: trailers\r\nTrailer: X-A\r\nProxy-Connection: close\r\nContent-Length: 0\r\n\r\n"),
    ]

    static let refused: [Case] = [
        Case("two Content-Length fields", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
        Case("Content-Length and Transfer-Encoding", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        Case("Content-Length that is not a number", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nx"),
        Case("a folded field line", "HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 0\r\n\r\n"),
        Case("whitespace before the colon", "HTTP/1.1 200 OK\r\nX-A : one\r\nContent-Length: 0\r\n\r\n"),
        Case("HTTP/2.0 in the status line", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
        Case("not HTTP", "SSH-2.0-OpenSSH\r\n\r\n"),
        Case("a two-digit status", "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n"),
        Case("a bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
        Case("chunk data longer than its size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n"),
        Case("a NUL in a value", bytes: Array("HTTP/1.1 200 OK\r\nX-A: a".utf8) + [0] + Array("b\r\nContent-Length: 0\r\n\r\n".utf8)),
        Case("a response nobody asked for", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", methods: []),
        Case("closed in the middle of a body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", closes: true),
        Case("closed in the middle of a head", "HTTP/1.1 200 OK\r\nContent-Le", closes: true),
        Case("closed in the middle of chunks", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", closes: true),
        Case("a bare LF ending a field line", "HTTP/1.1 200 OK\r\nX-A: b\nContent-Length: 0\r\n\r\n"),
    ]

    @Test(arguments: accepted)
    func acceptedResponsesGiveNIOsParts(_ example: Case) throws {
        let expected = try Self.nioTranscript(example)
        #expect(!expected.contains { $0.hasPrefix("error") }, "NIO refused it: \(expected)")
        for split in Self.splits(of: example.bytes.count) {
            let recorder = PartRecorder()
            let actual = try Self.ourTranscript(example, split: split, recorder: recorder)
            #expect(actual == expected, "pieces \(split)")
            // The scan found while reading each final head is the one its fields give.
            let finalHeads = expected.filter { $0.hasPrefix("head") && !$0.hasPrefix("head 1.1 1") }.count
            #expect(recorder.scansChecked == finalHeads && recorder.scansDiffering.isEmpty, "\(recorder.scansDiffering)")
            #expect(recorder.headsWithFields == 0)
        }
    }

    @Test(arguments: refused)
    func refusedResponsesFailAsNIOsDid(_ example: Case) throws {
        let expected = try Self.nioTranscript(example)
        #expect(expected.last?.hasPrefix("error") == true, "NIO accepted it: \(expected)")
        for split in Self.splits(of: example.bytes.count) {
            let actual = try Self.ourTranscript(example, split: split)
            #expect(actual.last?.hasPrefix("error") == true, "accepted in pieces \(split): \(actual)")
            // What went out before the failure is what NIO passed on before its own.
            #expect(actual.dropLast() == expected.dropLast(), "pieces \(split)")
        }
    }

    /// A head past 80 KiB is refused before its end arrives; one just under it is read.
    @Test func aHeadLargerThan80KiBIsRefused() throws {
        let filler = "X-Filler: " + String(repeating: "f", count: 1000) + "\r\n"
        let large = Case("large", "HTTP/1.1 200 OK\r\n" + String(repeating: filler, count: 85))
        let actual = try Self.ourTranscript(large, split: [4096])
        #expect(actual.last?.hasPrefix("error") == true && actual.last!.contains("80 KiB"), "\(actual)")
        let fits = Case("fits", "HTTP/1.1 200 OK\r\n" + String(repeating: filler, count: 78) + "Content-Length: 0\r\n\r\n")
        #expect(try Self.ourTranscript(fits, split: [4096]) == Self.nioTranscript(fits))
    }

    /// The bit sets of token bytes hold exactly RFC 9110's tchar.
    @Test func tokenBytesAreTchar() {
        let tchar = Set(Array("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8))
        for byte in 0...255 {
            #expect(HTTP1Syntax.isTokenByte(UInt8(byte)) == tchar.contains(UInt8(byte)), "byte \(byte)")
        }
    }

    /// After a 101 the bytes that followed it go to the next handler when the parser's
    /// handler leaves the pipeline (the tunnel's), and nothing after the 101 is parsed.
    @Test func theBytesAfterA101GoToTheTunnel() throws {
        let channel = EmbeddedChannel()
        let handler = UpstreamConnectionHandler()
        let recorder = PartRecorder()
        handler.receiver = recorder
        try channel.pipeline.syncOperations.addHandler(handler)
        _ = handler.write(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/ws")))
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nfirst"))
        try channel.writeInbound(ByteBuffer(string: " second"))
        #expect(recorder.transcript == ["head 1.1 101 Upgrade=websocket", "end"])
        _ = channel.pipeline.syncOperations.removeHandler(handler)
        channel.embeddedEventLoop.run()
        let forwarded = try channel.readInbound(as: ByteBuffer.self)
        #expect(forwarded.map { String(buffer: $0) } == "first second")
        _ = try channel.finish()
    }

    /// An HTTP/2 client's HEADERS block made straight from a head's bytes is the one made
    /// from the head with its fields: names lowercased, connection-specific fields and those
    /// `Connection` names left out.
    @Test(arguments: [
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n",
        "HTTP/1.1 404 Not Found\r\nconnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-A: 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nConnection: X-Secret, close\r\nX-Secret: s\r\nX-Kept: k\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 201 Created\r\nUpgrade: h2c\r\nProxy-Connection: x\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nX-Empty:\r\n\r\n",
        "HTTP/1.1 204 No Content\r\n\r\n",
    ])
    func anHTTP2BlockFromTheBytesIsTheBlockFromTheFields(_ text: String) throws {
        var parser = UpstreamResponseParser()
        parser.expectResponse(to: .GET)
        var buffer = ByteBuffer(string: text)
        guard case .head(let head) = try parser.next(&buffer), let received = parser.takeReceivedHead() else {
            Issue.record("no final head in \(text.debugDescription)")
            return
        }
        let fromBytes = HTTP2StreamCodec.responseBlock(status: head.status, fieldsOf: received)
        let fromFields = HTTP2StreamCodec.responseBlock(received.completing(head))
        #expect(fromBytes.map { "\($0.name)=\($0.value)" } == fromFields.map { "\($0.name)=\($0.value)" })
        #expect(fromBytes.count > 0 && head.headers.isEmpty)
    }

    // MARK: transcripts

    /// The parts NIO's decoder passes on (bodies joined), "error ..." when it fails.
    static func nioTranscript(_ example: Case) throws -> [String] {
        let decoder = HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes, informationalResponseStrategy: .forward)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(decoder))
        for method in example.methods {
            decoder.write(data: .head(HTTPRequestHead(version: .http1_1, method: method, uri: "/")))
        }
        var transcript = Transcript()
        do {
            try channel.writeInbound(ByteBuffer(bytes: example.bytes))
            while let part = try channel.readInbound(as: HTTPClientResponsePart.self) { transcript.append(part) }
            if example.closes {
                _ = try channel.finish(acceptAlreadyClosed: true)
                while let part = try channel.readInbound(as: HTTPClientResponsePart.self) { transcript.append(part) }
            }
        } catch {
            while let part = try? channel.readInbound(as: HTTPClientResponsePart.self) { transcript.append(part) }
            transcript.lines.append("error \(error)")
        }
        _ = try? channel.finish(acceptAlreadyClosed: true)
        return transcript.lines
    }

    /// The parts `UpstreamConnectionHandler` passes to its receiver when the bytes arrive in
    /// pieces of the lengths in `split` (repeated), "error ..." when it fails.
    static func ourTranscript(_ example: Case, split: [Int], recorder: PartRecorder = PartRecorder()) throws -> [String] {
        let channel = EmbeddedChannel()
        let handler = UpstreamConnectionHandler()
        handler.receiver = recorder
        recorder.handler = handler
        try channel.pipeline.syncOperations.addHandler(handler)
        for method in example.methods {
            _ = handler.write(.head(HTTPRequestHead(version: .http1_1, method: method, uri: "/")))
        }
        var offset = 0
        var piece = 0
        while offset < example.bytes.count, recorder.closeReason == nil {
            let length = min(split[piece % split.count], example.bytes.count - offset)
            try channel.writeInbound(ByteBuffer(bytes: example.bytes[offset..<(offset + length)]))
            offset += length
            piece += 1
        }
        if example.closes, recorder.closeReason == nil {
            _ = try channel.finish(acceptAlreadyClosed: true)
        }
        var lines = recorder.transcript
        if let reason = recorder.closeReason, !reason.contains("the upstream closed the connection") || reason.contains("middle") {
            lines.append("error \(reason)")
        }
        _ = try? channel.finish(acceptAlreadyClosed: true)
        return lines
    }

    /// Whole, a byte at a time, and three pseudo-random patterns of pieces.
    static func splits(of count: Int) -> [[Int]] {
        var generator = SplitMix(seed: UInt64(count))
        var splits = [[max(count, 1)], [1]]
        for _ in 0..<3 {
            splits.append((0..<7).map { _ in Int(generator.next() % 23) + 1 })
        }
        return splits
    }
}

/// Records the parts an upstream connection passes on, as `Transcript` lines.
final class PartRecorder: UpstreamResponseReceiver {
    private var parts = Transcript()
    private(set) var closeReason: String?
    var transcript: [String] { self.parts.lines }
    /// Set to compare the handler's scan of each final head with `HeaderScan(head.headers)`.
    weak var handler: UpstreamConnectionHandler?
    private(set) var scansChecked = 0
    /// Final heads that came with fields of their own (none should).
    private(set) var headsWithFields = 0
    private(set) var scansDiffering: [String] = []

    func upstreamReceived(_ part: HTTPClientResponsePart) {
        guard case .head(let head) = part, let received = self.handler?.receivedHead else {
            self.parts.append(part)
            return
        }
        // A final head comes without its fields: they are in the bytes kept beside it.
        if !head.headers.isEmpty { self.headsWithFields += 1 }
        let complete = received.completing(head)
        self.scansChecked += 1
        let scan = HeaderScan(complete.headers)
        if received.scan != scan {
            self.scansDiffering.append("\(complete.headers): \(received.scan.rawValue) against \(scan.rawValue)")
        }
        self.parts.append(.head(complete))
    }
    func upstreamReadComplete() {}
    func upstreamWritabilityChanged(isWritable: Bool) {}
    func upstreamClosed(reason: String) { self.closeReason = reason }
}

/// Response parts as lines, consecutive bodies joined (the two parsers cut bodies differently).
struct Transcript {
    var lines: [String] = []

    mutating func append(_ part: HTTPClientResponsePart) {
        switch part {
        case .head(let head):
            self.lines.append("head \(head.version.major).\(head.version.minor) \(head.status.code) \(Self.line(head.headers))")
        case .body(let buffer):
            self.appendBody(buffer)
        case .end(let trailers):
            self.appendEnd(trailers)
        }
    }

    /// Fields as `name=value`, space-separated.
    static func line(_ fields: HTTPHeaders) -> String {
        fields.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
    }

    /// Body bytes, joined to the body line before them.
    mutating func appendBody(_ buffer: ByteBuffer) {
        let text = String(decoding: buffer.readableBytesView, as: UTF8.self)
        if let last = self.lines.last, last.hasPrefix("body ") {
            self.lines[self.lines.count - 1] = last + text
        } else {
            self.lines.append("body " + text)
        }
    }

    mutating func appendEnd(_ trailers: HTTPHeaders?) {
        self.lines.append("end" + (trailers.map { " " + Self.line($0) } ?? ""))
    }
}

/// A small seeded generator, so the pieces are the same in every run.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
