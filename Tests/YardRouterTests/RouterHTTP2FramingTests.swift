import NIOCore
import NIOHPACK
import NIOHTTP2
import Testing
import YardRouter

/// The router's own HTTP/2 framing (`HTTP2ServerConnection`) against a client that writes
/// frames as bytes: what breaks the protocol ends the connection with the code RFC 9113 names
/// and reaches no replica; what a server may ignore is ignored; what it must honour (the
/// client's window and frame size, large header blocks) is.
extension RouterHTTP2Tests {
    /// One setting as the 6 bytes of a SETTINGS payload.
    static func setting(_ identifier: UInt16, _ value: UInt32) -> [UInt8] {
        [UInt8(identifier >> 8), UInt8(identifier & 0xFF)] + (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) }
    }

    /// A 32-bit value as 4 bytes, most significant first.
    static func word(_ value: UInt32) -> [UInt8] {
        (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) }
    }

    @Test func framesThatBreakTheProtocolEndTheConnectionWithTheirCode() async throws {
        typealias Frame = H2ByteClient
        // Each: what the client sends after its handshake, and the GOAWAY code it must get.
        let cases: [(rule: String, code: UInt32, bytes: (H2ByteClient) -> [UInt8])] = [
            ("a frame over the router's frame size", 0x6, { _ in Frame.frame(type: 0x0, flags: 0, stream: 1, [UInt8](repeating: 0, count: 16_385)) }),
            ("HEADERS on an even stream", 0x1, { $0.request(stream: 2, path: "/even") }),
            ("HEADERS on stream 0", 0x1, { Frame.frame(type: 0x1, flags: 0x5, stream: 0, $0.headerBlock(path: "/zero")) }),
            ("PUSH_PROMISE from a client", 0x1, { _ in Frame.frame(type: 0x5, flags: 0x4, stream: 1, Self.word(2)) }),
            ("CONTINUATION without a header block", 0x1, { $0.continuation(stream: 1, $0.headerBlock(path: "/alone")) }),
            (
                "a PING inside a header block", 0x1,
                { Frame.frame(type: 0x1, flags: 0x1, stream: 1, $0.headerBlock(path: "/split")) + Frame.frame(type: 0x6, flags: 0, stream: 0, [UInt8](repeating: 1, count: 8)) }
            ),
            ("a header block that does not decode", 0x9, { _ in Frame.frame(type: 0x1, flags: 0x5, stream: 1, [0x80]) }),
            ("padding longer than its frame", 0x1, { _ in Frame.frame(type: 0x1, flags: 0x5 | 0x8, stream: 1, [200, 0x82]) }),
            ("DATA on a stream never opened", 0x1, { _ in Frame.frame(type: 0x0, flags: 0x1, stream: 7, [1, 2, 3]) }),
            ("RST_STREAM on a stream never opened", 0x1, { _ in Frame.frame(type: 0x3, flags: 0, stream: 9, Self.word(8)) }),
            ("a WINDOW_UPDATE of 0 for the connection", 0x1, { _ in Frame.frame(type: 0x8, flags: 0, stream: 0, Self.word(0)) }),
            (
                "a window past 2^31-1", 0x3,
                { _ in Frame.frame(type: 0x8, flags: 0, stream: 0, Self.word(0x7FFF_FFFF)) }
            ),
            ("INITIAL_WINDOW_SIZE past 2^31-1", 0x3, { _ in Frame.frame(type: 0x4, flags: 0, stream: 0, Self.setting(0x4, 0x8000_0000)) }),
            ("MAX_FRAME_SIZE under 16,384", 0x1, { _ in Frame.frame(type: 0x4, flags: 0, stream: 0, Self.setting(0x5, 100)) }),
            ("ENABLE_PUSH of 2", 0x1, { _ in Frame.frame(type: 0x4, flags: 0, stream: 0, Self.setting(0x2, 2)) }),
            ("SETTINGS of 5 bytes", 0x6, { _ in Frame.frame(type: 0x4, flags: 0, stream: 0, [0, 4, 0, 0, 1]) }),
            ("a PING of 7 bytes", 0x6, { _ in Frame.frame(type: 0x6, flags: 0, stream: 0, [UInt8](repeating: 0, count: 7)) }),
            ("RST_STREAM of 3 bytes", 0x6, { $0.request(stream: 1, path: "/slow?ms=2000") + Frame.frame(type: 0x3, flags: 0, stream: 1, [0, 0, 8]) }),
        ]
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(upstreams: [upstreams[0].upstream]) { _, port, authority in
                for (rule, code, bytes) in cases {
                    try await H2ByteClient.with(port: port, authority: authority) { client in
                        _ = try await client.handshake()
                        try await client.send(bytes(client))
                        let outcome = try await client.collect(until: { $0.closed })
                        #expect(outcome.goAway == code, "\(rule): \(outcome)")
                        #expect(outcome.closed, "\(rule): \(outcome)")
                    }
                }
                // Only the one case that sent a whole request first may have reached the replica.
                #expect(upstreams[0].requests.allSatisfy { $0.uri == "/slow?ms=2000" }, "\(upstreams[0].requests.map(\.uri))")
            }
        }
    }

    /// A stream past `SETTINGS_MAX_CONCURRENT_STREAMS` is refused on its own (`REFUSED_STREAM`,
    /// which a client may retry): the streams before it are served and the connection stays.
    @Test func aStreamPastTheConcurrencyLimitIsRefusedAndTheOthersAreServed() async throws {
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(
                upstreams: [upstreams[0].upstream], configure: { $0.http2.maxConcurrentStreams = 2 }
            ) { _, port, authority in
                try await H2ByteClient.with(port: port, authority: authority) { client in
                    let settings = try await client.handshake()
                    #expect(settings[.maxConcurrentStreams] == 2)
                    try await client.send(
                        client.request(stream: 1, path: "/slow?ms=500") + client.request(stream: 3, path: "/slow?ms=500")
                            + client.request(stream: 5, path: "/over"))
                    let outcome = try await client.collect(until: { ($0.finished.contains(1) && $0.finished.contains(3)) || $0.closed })
                    #expect(outcome.reset[5] == 0x7, "\(outcome)")
                    #expect(outcome.statuses[1] == "200" && outcome.statuses[3] == "200", "\(outcome)")
                    // Once they are done, a new stream is served on the same connection.
                    try await client.send(client.request(stream: 7, path: "/after"))
                    let after = try await client.collect(until: { $0.finished.contains(7) || $0.closed })
                    #expect(after.statuses[7] == "200" && after.goAway == nil && !after.closed, "\(after)")
                }
                #expect(upstreams[0].requests.map(\.uri).sorted() == ["/after", "/slow?ms=500", "/slow?ms=500"])
            }
        }
    }

    /// A client's GOAWAY lets the streams it opened finish: the router closes the connection
    /// once the last response has gone out whole, not before.
    @Test func aClientThatGoesAwayGetsItsLastResponseWhole() async throws {
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(upstreams: [upstreams[0].upstream]) { _, port, authority in
                try await H2ByteClient.with(port: port, authority: authority) { client in
                    _ = try await client.handshake()
                    // GOAWAY: last stream 0 (the client accepts none of the server's), NO_ERROR.
                    try await client.send(
                        client.request(stream: 1, path: "/slow?ms=300") + client.request(stream: 3, path: "/large?bytes=50000")
                            + H2ByteClient.frame(type: 0x7, flags: 0, stream: 0, Self.word(0) + Self.word(0)))
                    let outcome = try await client.collect(until: { $0.closed })
                    #expect(outcome.finished.contains(1) && outcome.finished.contains(3), "\(outcome)")
                    #expect(outcome.bodies[3] == (0..<50_000).map { UInt8(truncatingIfNeeded: $0) }, "\(outcome.bodies[3]?.count ?? 0) bytes")
                    #expect(outcome.goAway == nil, "\(outcome)")
                }
            }
        }
    }

    /// MadeYouReset (CVE-2025-8671): streams the client gets the router to reset, by breaking
    /// their rules after their request went upstream, count against the rapid-reset limit as
    /// the client's own resets do.
    @Test func resetsTheClientProvokesCountAgainstTheRapidResetLimit() async throws {
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(
                upstreams: [upstreams[0].upstream], configure: { $0.http2.maxResetStreams = 10 }
            ) { _, port, authority in
                try await H2ByteClient.with(port: port, authority: authority) { client in
                    _ = try await client.handshake()
                    var bytes: [UInt8] = []
                    for index in 0..<20 {
                        let stream = HTTP2StreamID(2 * index + 1)
                        // A request, then a WINDOW_UPDATE of 0 on its stream: a stream error.
                        bytes += client.request(stream: stream, path: "/slow?ms=3000")
                        bytes += H2ByteClient.frame(type: 0x8, flags: 0, stream: stream, Self.word(0))
                    }
                    try await client.send(bytes)
                    let outcome = try await client.collect(until: { $0.closed })
                    #expect(outcome.goAway == 0xB, "\(outcome)")
                    #expect(outcome.reset.values.allSatisfy { $0 == 0x1 } && outcome.reset.count == 10, "\(outcome)")
                }
            }
        }
    }

    /// CONTINUATION flood (CVE-2024-27316's kind): a header block that never ends is cut off
    /// once it is past what the header list limit allows, long before the head timeout,
    /// and nothing reaches a replica.
    @Test func aHeaderBlockContinuedPastTheLimitEndsTheConnectionBeforeItEnds() async throws {
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(
                upstreams: [upstreams[0].upstream], configure: { $0.requestHeadTimeout = .seconds(60) }
            ) { _, port, authority in
                try await H2ByteClient.with(port: port, authority: authority) { client in
                    let settings = try await client.handshake()
                    let limit = try #require(settings[.maxHeaderListSize])
                    let started = ContinuousClock.now
                    try await client.send(H2ByteClient.frame(type: 0x1, flags: 0x1, stream: 1, client.headerBlock(path: "/flood")))
                    // Literal fields (0x00, name length 1, "x", value length 127+, junk), 16 KiB a frame.
                    let junk = [UInt8](repeating: 0x61, count: 16_384)
                    var sent = 0
                    while sent < 8 * limit {
                        do {
                            try await client.send(client.continuation(stream: 1, junk, ends: false))
                        } catch {
                            break  // the router closed first
                        }
                        sent += junk.count
                    }
                    let outcome = try await client.collect(until: { $0.closed })
                    #expect(outcome.goAway == 0x1, "\(outcome)")
                    #expect(ContinuousClock.now - started < .seconds(10))
                }
                #expect(upstreams[0].requests.isEmpty)
            }
        }
    }

    /// Empty-frame flood (CVE-2019-9518): frames that carry nothing and end nothing cost the
    /// client 9 bytes and the router a frame's work each; past a few in a row the client is
    /// cut off, a DATA flood as a CONTINUATION one, and frames of other types between them
    /// do not start the count again. An empty frame now and then, or one that ends the
    /// body, is fine.
    @Test func aFloodOfEmptyFramesEndsTheConnection() async throws {
        typealias Frame = H2ByteClient
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(
                upstreams: [upstreams[0].upstream], configure: { $0.requestHeadTimeout = .seconds(60) }
            ) { _, port, authority in
                try await H2ByteClient.with(port: port, authority: authority) { client in
                    _ = try await client.handshake()
                    var bytes = Frame.frame(type: 0x1, flags: 0x4, stream: 1, client.headerBlock(path: "/echo", method: "POST"))
                    for part in ["a", "", "b", "", "", "c"] {
                        bytes += Frame.frame(type: 0x0, flags: 0, stream: 1, Array(part.utf8))
                    }
                    bytes += Frame.frame(type: 0x0, flags: 0x1, stream: 1, [])
                    try await client.send(bytes)
                    let outcome = try await client.collect(until: { $0.finished.contains(1) || $0.closed })
                    #expect(outcome.bodies[1] == Array("abc".utf8) && outcome.goAway == nil, "\(outcome)")
                }
                let ping = Frame.frame(type: 0x6, flags: 0, stream: 0, [UInt8](repeating: 7, count: 8))
                let floods: [(name: String, opening: (H2ByteClient) -> [UInt8], empty: [UInt8])] = [
                    (
                        "DATA, with empty SETTINGS between",
                        { Frame.frame(type: 0x1, flags: 0x4, stream: 1, $0.headerBlock(path: "/echo", method: "POST")) },
                        Frame.frame(type: 0x0, flags: 0, stream: 1, []) + Frame.frame(type: 0x4, flags: 0, stream: 0, [])
                    ),
                    (
                        "CONTINUATION",
                        { Frame.frame(type: 0x1, flags: 0x1, stream: 1, $0.headerBlock(path: "/continued")) },
                        Frame.frame(type: 0x9, flags: 0, stream: 1, [])
                    ),
                ]
                for flood in floods {
                    try await H2ByteClient.with(port: port, authority: authority) { client in
                        _ = try await client.handshake()
                        var bytes = flood.opening(client)
                        for _ in 0..<1_000 { bytes += flood.empty }
                        do {
                            try await client.send(bytes + ping)
                        } catch {
                            // The router closed first.
                        }
                        // Without the limit the PING after a DATA flood is answered and the
                        // connection stays; inside a header block it breaks the protocol (0x1).
                        let outcome = try await client.collect(until: { $0.closed || !$0.pingAcks.isEmpty })
                        #expect(outcome.goAway == 0xB && outcome.closed, "\(flood.name): \(outcome)")
                        #expect(outcome.pingAcks.isEmpty, "\(flood.name): \(outcome)")
                    }
                }
                #expect(!upstreams[0].requests.contains { $0.uri == "/continued" })
            }
        }
    }

    /// Padding, priorities, PRIORITY frames and frame types the router does not know are
    /// taken in stride; a PING is answered with its own payload.
    @Test func framesTheRouterMayIgnoreAreIgnoredAndAPingIsAnswered() async throws {
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(upstreams: [upstreams[0].upstream]) { _, port, authority in
                try await H2ByteClient.with(port: port, authority: authority) { client in
                    _ = try await client.handshake()
                    let block = client.headerBlock(path: "/echo", method: "POST", extra: [("content-length", "5")])
                    // HEADERS padded (3 bytes) and with a priority (depends on stream 0, weight 16).
                    let headers = H2ByteClient.frame(type: 0x1, flags: 0x4 | 0x8 | 0x20, stream: 1, [3] + Self.word(0) + [15] + block + [0, 0, 0])
                    let priority = H2ByteClient.frame(type: 0x2, flags: 0, stream: 3, Self.word(1) + [200])
                    let unknown = H2ByteClient.frame(type: 0xFA, flags: 0xFF, stream: 1, [9, 9, 9])
                    let ping: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
                    // DATA padded with 10 bytes: the padding is not part of the body.
                    let data = H2ByteClient.frame(type: 0x0, flags: 0x1 | 0x8, stream: 1, [10] + Array("hello".utf8) + [UInt8](repeating: 0, count: 10))
                    try await client.send(
                        headers + priority + unknown + H2ByteClient.frame(type: 0x6, flags: 0, stream: 0, ping) + data)
                    let outcome = try await client.collect(until: { $0.finished.contains(1) || $0.closed })
                    #expect(outcome.statuses[1] == "200", "\(outcome)")
                    #expect(outcome.bodies[1] == Array("hello".utf8), "\(outcome)")
                    #expect(outcome.pingAcks == [ping], "\(outcome)")
                    #expect(outcome.goAway == nil && !outcome.closed, "\(outcome)")
                }
                #expect(upstreams[0].requests.map(\.uri) == ["/echo"])
            }
        }
    }

    /// A response head larger than a frame goes out as HEADERS and CONTINUATION frames; a
    /// client's smaller window and its frame size are kept to, and the rest of the body
    /// follows its WINDOW_UPDATEs.
    @Test func theRouterKeepsToTheClientsFrameSizeAndWindow() async throws {
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(upstreams: [upstreams[0].upstream]) { _, port, authority in
                try await H2ByteClient.with(port: port, authority: authority) { client in
                    _ = try await client.handshake()
                    try await client.send(client.request(stream: 1, path: "/bigheader?bytes=40000"))
                    let big = try await client.collect(until: { $0.finished.contains(1) || $0.closed })
                    #expect(big.statuses[1] == "200", "\(big)")
                    let value = big.heads[1]?.first(name: "x-big") ?? ""
                    #expect(value.utf8.count == 40_000 && value.hasPrefix("abcdefghijklmnopqrstuvwxyza"), "\(value.utf8.count) bytes")
                    #expect((big.frameCounts[0x9] ?? 0) >= 1, "no CONTINUATION: \(big.frameCounts)")
                }
                try await H2ByteClient.with(port: port, authority: authority) { client in
                    // A window of 1,000 bytes per stream.
                    _ = try await client.handshake(settings: [(0x4, 1000)])
                    try await client.send(client.request(stream: 1, path: "/large?bytes=5000"))
                    _ = try await client.collect(until: { ($0.bodies[1]?.count ?? 0) >= 1000 || $0.closed })
                    // The PING's answer comes after whatever the router wrote before it.
                    try await Task.sleep(for: .milliseconds(300))
                    try await client.send(H2ByteClient.frame(type: 0x6, flags: 0, stream: 0, [UInt8](repeating: 7, count: 8)))
                    let first = try await client.collect(until: { !$0.pingAcks.isEmpty || $0.closed })
                    #expect(first.bodies[1]?.count == 1000, "more than the window: \(first.bodies[1]?.count ?? 0)")
                    try await client.send(H2ByteClient.frame(type: 0x8, flags: 0, stream: 1, Self.word(4000)))
                    let all = try await client.collect(until: { $0.finished.contains(1) || $0.closed })
                    #expect(all.bodies[1] == (0..<5000).map { UInt8(truncatingIfNeeded: $0) }, "\(all)")
                    #expect(all.largestData <= 4000, "a DATA frame larger than the window: \(all.largestData)")
                }
            }
        }
    }
}

extension H2ByteClient {
    /// A CONTINUATION frame; `ends` sets END_HEADERS.
    func continuation(stream: HTTP2StreamID, _ fragment: [UInt8], ends: Bool = true) -> [UInt8] {
        Self.frame(type: 0x9, flags: ends ? 0x4 : 0, stream: stream, fragment)
    }
}
