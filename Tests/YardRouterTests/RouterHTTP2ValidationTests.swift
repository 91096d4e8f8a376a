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
                    #expect(client.responseStatuses[1].map { $0.hasPrefix("4") } ?? true, "\(rule): answered \(client.responseStatuses)")
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
                for (declared, sent) in [(5, 10), (10, 5)] {
                    let client = try await H2FrameClient.connect(
                        port: port, serverName: Self.host, trusting: try authority.certificate, validating: false)
                    defer { client.close() }
                    let head = [
                        (":method", "POST"), (":scheme", "https"), (":authority", Self.host), (":path", "/collect"),
                        ("content-length", "\(declared)"),
                    ]
                    client.write(HTTP2Frame(streamID: HTTP2StreamID(1), payload: .headers(.init(headers: HPACKHeaders(head)))))
                    let body = ByteBuffer(repeating: UInt8(ascii: "x"), count: sent)
                    client.write(HTTP2Frame(streamID: HTTP2StreamID(1), payload: .data(.init(data: .byteBuffer(body), endStream: true))))
                    client.flush()
                    #expect(try await self.refused(client, stream: 1), "content-length \(declared), \(sent) bytes sent")
                    #expect(client.responseStatuses[1] == nil || client.responseStatuses[1]?.hasPrefix("4") == true)
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
                    #expect(client.responseStatuses[1] == nil || client.responseStatuses[1]?.hasPrefix("4") == true, "trailers \(trailers)")
                }
            }
        }
    }
}
