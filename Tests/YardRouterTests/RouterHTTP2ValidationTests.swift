import NIOCore
import NIOHPACK
import NIOHTTP2
import Testing
import YardRouter

/// Malformed HTTP/2 requests (RFC 9113 §8.2, §8.3, §8.1.1): each is refused with a stream
/// reset (or a 4xx) and never reaches a replica. swift-nio-http2 checked these before the
/// router's stream codec did; the client here sends them as they are.
extension RouterHTTP2Tests {
    /// A request block for `path` with `extra` fields after the pseudo-headers.
    static func block(_ path: String, _ extra: [(String, String)] = []) -> [(String, String)] {
        [(":method", "GET"), (":scheme", "https"), (":authority", Self.host), (":path", path)] + extra
    }

    /// One bad request header block per rule, each with its own path.
    static let malformedRequestBlocks: [(rule: String, block: [(String, String)])] = [
        ("upper-case name", block("/bad/upper", [("X-Upper", "1")])),
        ("space in a name", block("/bad/space-name", [("bad name", "1")])),
        ("colon inside a name", block("/bad/colon-name", [("x:y", "1")])),
        ("connection", block("/bad/connection", [("connection", "keep-alive")])),
        ("transfer-encoding", block("/bad/transfer-encoding", [("transfer-encoding", "chunked")])),
        ("proxy-connection", block("/bad/proxy-connection", [("proxy-connection", "keep-alive")])),
        ("keep-alive", block("/bad/keep-alive", [("keep-alive", "timeout=5")])),
        ("upgrade", block("/bad/upgrade", [("upgrade", "websocket")])),
        ("te other than trailers", block("/bad/te", [("te", "gzip")])),
        ("CR in a value", block("/bad/cr", [("x-a", "a\rb")])),
        ("LF in a value", block("/bad/lf", [("x-a", "a\nx-injected: 1")])),
        ("NUL in a value", block("/bad/nul", [("x-a", "a\u{0}b")])),
        (
            "pseudo-header after a regular field",
            [(":method", "GET"), (":scheme", "https"), (":authority", Self.host), ("accept", "*/*"), (":path", "/bad/late")]
        ),
        ("unknown pseudo-header", [(":foo", "x")] + block("/bad/unknown-pseudo")),
        ("response pseudo-header in a request", [(":status", "200")] + block("/bad/status")),
        ("extended CONNECT's :protocol", [(":protocol", "websocket")] + block("/bad/protocol")),
        ("duplicate :path", block("/bad/duplicate") + [(":path", "/bad/duplicate-2")]),
        ("empty :path", [(":method", "GET"), (":scheme", "https"), (":authority", Self.host), (":path", "")]),
        ("missing :scheme", [(":method", "GET"), (":authority", Self.host), (":path", "/bad/no-scheme")]),
        ("missing :method", [(":scheme", "https"), (":authority", Self.host), (":path", "/bad/no-method")]),
        ("space in :path", block("/bad/a b")),
        ("CONNECT", [(":method", "CONNECT"), (":authority", Self.host)]),
        ("CONNECT with a path", [(":method", "CONNECT"), (":scheme", "https"), (":authority", Self.host), (":path", "/bad/connect")]),
    ]

    /// Refused: the stream was reset, answered with a 4xx, or the connection ended with a GOAWAY.
    private func refused(_ client: H2FrameClient, stream: Int) async throws -> Bool {
        try await eventually {
            client.resetCodes[stream] != nil || client.responseStatuses[stream]?.hasPrefix("4") == true || client.goAwayCode != nil
        }
    }

    /// An operator sees why a stream was reset: the rule and the field's name, with the
    /// client's address, at debug level (as an HTTP/1.1 refusal). Each request here carries a
    /// credential in a field, in the bad value or in the path; none of it may reach the log.
    @Test func aRefusedRequestIsLoggedWithItsRuleAndNeverAValue() async throws {
        let secret = "s3cret-\(UInt64.random(in: 1...UInt64.max))"
        let credential = ("authorization", "Bearer \(secret)")
        let cases: [(expected: String, block: [(String, String)])] = [
            ("CR, LF or NUL in the value of \"x-a\"", Self.block("/bad/lf", [credential, ("x-a", "\(secret)\nx-injected: 1")])),
            ("pseudo-header after a regular field: \":path\"",
             [(":method", "GET"), (":scheme", "https"), (":authority", Self.host), credential, (":path", "/bad/late")]),
            ("space or control character in the value of \":path\"", Self.block("/bad/a b?token=\(secret)", [credential])),
            ("CONNECT (the router proxies no tunnels)", [(":method", "CONNECT"), (":authority", Self.host), credential]),
            ("field name that is not a lowercase token: \"X-Upper\\n\"", Self.block("/bad/upper", [credential, ("X-Upper\n", secret)])),
            ("te other than trailers", Self.block("/bad/te", [credential, ("te", secret)])),
        ]
        let recorder = LogRecorder()
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(upstreams: [upstreams[0].upstream], logger: recorder.logger) { _, port, authority in
                let client = try await H2FrameClient.connect(
                    port: port, serverName: Self.host, trusting: try authority.certificate, validating: false)
                defer { client.close() }
                for (index, request) in cases.enumerated() {
                    let stream = 2 * index + 1
                    client.write(
                        HTTP2Frame(
                            streamID: HTTP2StreamID(stream), payload: .headers(.init(headers: HPACKHeaders(request.block), endStream: true))))
                    client.flush()
                    #expect(try await eventually { client.resetCodes[stream] == .protocolError }, "\(request.expected): not reset")
                }
                #expect(upstreams[0].requests.isEmpty)
            }
        }
        let refusals = recorder.logged.filter { $0.message.contains("malformed HTTP/2 request") }
        #expect(refusals.map { $0.metadata["reason"] ?? "" } == cases.map(\.expected))
        #expect(refusals.map { $0.metadata["http2.stream"] ?? "" } == cases.indices.map { "HTTP2StreamID(\(2 * $0 + 1))" })
        #expect(refusals.allSatisfy { $0.level == .debug && $0.metadata["client.address"]?.contains("127.0.0.1") == true })
        let leaks = recorder.logged.filter { $0.text.contains(secret) }
        #expect(leaks.isEmpty, "the credential is in the log: \(leaks.map(\.text))")
    }

    @Test func malformedRequestHeaderBlocksAreRefusedAndNeverForwarded() async throws {
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(upstreams: [upstreams[0].upstream]) { _, port, authority in
                for (rule, fields) in Self.malformedRequestBlocks {
                    let client = try await H2FrameClient.connect(
                        port: port, serverName: Self.host, trusting: try authority.certificate, validating: false)
                    defer { client.close() }
                    client.write(
                        HTTP2Frame(streamID: HTTP2StreamID(1), payload: .headers(.init(headers: HPACKHeaders(fields), endStream: true))))
                    client.flush()
                    #expect(try await self.refused(client, stream: 1), "\(rule): not refused")
                    // A malformed request is a stream error of type PROTOCOL_ERROR (RFC 9113 §8.1.1).
                    #expect(client.resetCodes[1] == .protocolError, "\(rule): reset with \(String(describing: client.resetCodes[1]))")
                    #expect(client.responseStatuses[1] == nil, "\(rule): answered \(client.responseStatuses)")
                }
                // The rules refuse only what they name: `te: trailers` and lowercase names of every token character pass.
                let client = try await H2FrameClient.connect(
                    port: port, serverName: Self.host, trusting: try authority.certificate, validating: false)
                defer { client.close() }
                let good = Self.block("/good", [("te", "trailers"), ("x-token!#$%&'*+-.^_`|~09", "a b\tc")])
                client.write(HTTP2Frame(streamID: HTTP2StreamID(1), payload: .headers(.init(headers: HPACKHeaders(good), endStream: true))))
                client.flush()
                #expect(try await eventually { client.responseStatuses[1] == "200" })
                #expect(upstreams[0].requests.map(\.uri) == ["/good"])
                #expect(upstreams[0].requests.first?.headers["x-token!#$%&'*+-.^_`|~09"] == ["a b\tc"])
            }
        }
    }

    @Test func aBodyThatDisagreesWithItsContentLengthResetsTheStream() async throws {
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(upstreams: [upstreams[0].upstream]) { _, port, authority in
                // Too long, too short at END_STREAM on DATA, too short when trailers end the stream.
                for (declared, sent, trailers) in [(5, 10, false), (10, 5, false), (10, 3, true)] {
                    let client = try await H2FrameClient.connect(
                        port: port, serverName: Self.host, trusting: try authority.certificate, validating: false)
                    defer { client.close() }
                    let head = [
                        (":method", "POST"), (":scheme", "https"), (":authority", Self.host), (":path", "/collect"),
                        ("content-length", "\(declared)"),
                    ]
                    client.write(HTTP2Frame(streamID: HTTP2StreamID(1), payload: .headers(.init(headers: HPACKHeaders(head)))))
                    let body = ByteBuffer(repeating: UInt8(ascii: "x"), count: sent)
                    client.write(
                        HTTP2Frame(streamID: HTTP2StreamID(1), payload: .data(.init(data: .byteBuffer(body), endStream: !trailers))))
                    if trailers {
                        client.write(
                            HTTP2Frame(
                                streamID: HTTP2StreamID(1), payload: .headers(.init(headers: HPACKHeaders([("x-t", "1")]), endStream: true))
                            ))
                    }
                    client.flush()
                    #expect(try await self.refused(client, stream: 1), "content-length \(declared), \(sent) bytes sent")
                    #expect(client.resetCodes[1] == .protocolError, "content-length \(declared), \(sent) bytes sent")
                    #expect(client.responseStatuses[1] == nil)
                    // A stream error, not a connection error: the connection serves the next stream.
                    client.write(
                        HTTP2Frame(streamID: HTTP2StreamID(3), payload: .headers(.init(headers: Self.request("/next"), endStream: true))))
                    client.flush()
                    #expect(try await eventually { client.responseStatuses[3] == "200" }, "content-length \(declared), \(sent) bytes sent")
                }
            }
        }
    }

    @Test func malformedTrailersResetTheStream() async throws {
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(upstreams: [upstreams[0].upstream]) { _, port, authority in
                for trailers in [[(":path", "/x")], [("X-Upper", "1")], [("connection", "close")], [("x-a", "a\r\nb")]] {
                    let client = try await H2FrameClient.connect(
                        port: port, serverName: Self.host, trusting: try authority.certificate, validating: false)
                    defer { client.close() }
                    let head = [(":method", "POST"), (":scheme", "https"), (":authority", Self.host), (":path", "/collect")]
                    client.write(HTTP2Frame(streamID: HTTP2StreamID(1), payload: .headers(.init(headers: HPACKHeaders(head)))))
                    client.write(
                        HTTP2Frame(streamID: HTTP2StreamID(1), payload: .data(.init(data: .byteBuffer(ByteBuffer(string: "abc"))))))
                    client.write(
                        HTTP2Frame(streamID: HTTP2StreamID(1), payload: .headers(.init(headers: HPACKHeaders(trailers), endStream: true))))
                    client.flush()
                    #expect(try await self.refused(client, stream: 1), "trailers \(trailers)")
                    #expect(client.resetCodes[1] == .protocolError, "trailers \(trailers)")
                    #expect(client.responseStatuses[1] == nil, "trailers \(trailers)")
                }
            }
        }
    }

    /// A first request block whose `content-length` is malformed, or declares a body that the
    /// block's END_STREAM says is not coming.
    static let malformedContentLengths: [(rule: String, lengths: [String], endStream: Bool)] = [
        ("not a number", ["five"], false),
        ("negative", ["-1"], false),
        ("a sign", ["+5"], false),
        ("a list", ["5, 5"], false),
        ("white space", [" 5"], false),
        ("empty", [""], false),
        ("more than an Int holds", ["99999999999999999999"], false),
        ("two different values", ["5", "6"], false),
        ("a body declared, END_STREAM on the head", ["5"], true),
    ]

    /// Each as the first stream of its connection, where a refusal must wait until the stream
    /// is counted open. swift-nio-http2's own refusal closed the whole connection (and took
    /// `+5` and `5, 5`); the router's is a reset of that stream, and the connection serves on.
    @Test func aMalformedContentLengthOnAConnectionsFirstStreamIsResetAndTheNextIsServed() async throws {
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(upstreams: [upstreams[0].upstream]) { _, port, authority in
                for (rule, lengths, endStream) in Self.malformedContentLengths {
                    let client = try await H2FrameClient.connect(
                        port: port, serverName: Self.host, trusting: try authority.certificate, validating: false)
                    defer { client.close() }
                    let head =
                        [(":method", "POST"), (":scheme", "https"), (":authority", Self.host), (":path", "/bad/length")]
                        + lengths.map { ("content-length", $0) }
                    client.write(
                        HTTP2Frame(streamID: HTTP2StreamID(1), payload: .headers(.init(headers: HPACKHeaders(head), endStream: endStream))))
                    client.flush()
                    #expect(try await eventually { client.resetCodes[1] != nil }, "\(rule): not reset")
                    #expect(client.resetCodes[1] == .protocolError, "\(rule): reset with \(String(describing: client.resetCodes[1]))")
                    client.write(
                        HTTP2Frame(streamID: HTTP2StreamID(3), payload: .headers(.init(headers: Self.request("/next"), endStream: true))))
                    client.flush()
                    #expect(try await eventually { client.responseStatuses[3] == "200" }, "\(rule): next stream \(client.responseStatuses)")
                    #expect(client.goAwayCode == nil && !client.isClosed, "\(rule)")
                }
                #expect(upstreams[0].requests.map(\.uri) == Array(repeating: "/next", count: Self.malformedContentLengths.count))
            }
        }
    }

    /// Agreeing `content-length` fields are one length (as swift-nio-http2 had it): forwarded as
    /// one field, since HTTP/1.1 parsers refuse a repeated `Content-Length`.
    @Test func repeatedAgreeingContentLengthsGoUpstreamAsOneField() async throws {
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(upstreams: [upstreams[0].upstream]) { _, port, authority in
                let client = try await H2FrameClient.connect(
                    port: port, serverName: Self.host, trusting: try authority.certificate, validating: false)
                defer { client.close() }
                let head = [
                    (":method", "POST"), (":scheme", "https"), (":authority", Self.host), (":path", "/twice"),
                    ("content-length", "5"), ("content-length", "5"),
                ]
                client.write(HTTP2Frame(streamID: HTTP2StreamID(1), payload: .headers(.init(headers: HPACKHeaders(head)))))
                client.write(
                    HTTP2Frame(
                        streamID: HTTP2StreamID(1), payload: .data(.init(data: .byteBuffer(ByteBuffer(string: "hello")), endStream: true))))
                client.flush()
                #expect(try await eventually { client.responseStatuses[1] != nil || client.resetCodes[1] != nil })
                #expect(client.responseStatuses[1] == "200", "reset with \(String(describing: client.resetCodes[1]))")
                #expect(upstreams[0].requests.first?.headers["content-length"] == ["5"])
            }
        }
    }
}
