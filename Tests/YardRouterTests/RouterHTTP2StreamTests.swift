import Foundation
import NIOCore
import NIOHTTP2
import Testing
import YardRouter

/// A stream's life at the HTTPS edge: what a reset does to the exchange it started, and how
/// each kind of response ends its stream (the last frame carries END_STREAM).
extension RouterHTTP2Tests {
    @Test func aResetStreamEndsItsUpstreamExchangeAndTheConnectionGoesOn() async throws {
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(upstreams: [upstreams[0].upstream]) { router, port, authority in
                let client = try await H2FrameClient.connect(port: port, serverName: Self.host, trusting: try authority.certificate)
                defer { client.close() }
                // A request the replica never answers, then the client gives up on it.
                client.write(HTTP2Frame(streamID: HTTP2StreamID(1), payload: .headers(.init(headers: Self.request("/silent"), endStream: true))))
                client.flush()
                #expect(try await eventually { upstreams[0].requests.map(\.uri) == ["/silent"] })
                client.write(HTTP2Frame(streamID: HTTP2StreamID(1), payload: .rstStream(.cancel)))
                client.flush()
                // The exchange can never finish: its upstream connection is closed, not pooled
                // (where the next request would read the silent request's late answer).
                #expect(try await eventually { upstreams[0].closedConnections == 1 })
                // The connection itself goes on serving.
                client.write(HTTP2Frame(streamID: HTTP2StreamID(3), payload: .headers(.init(headers: Self.request("/after"), endStream: true))))
                client.flush()
                #expect(try await eventually { client.responseStatuses[3] == "200" })
                #expect(client.responseStatuses[1] == nil)
                #expect(!client.isClosed && client.goAwayCode == nil)
                #expect(upstreams[0].requests.map(\.uri) == ["/silent", "/after"])
                #expect(router.queuedRequestCount == 0)
            }
        }
    }

    @Test func everyKindOfResponseEndsItsStream() async throws {
        try requireTool("/usr/bin/curl", package: "curl")
        try await withUpstreams(["h2-1"]) { upstreams in
            try await withH2Router(upstreams: [upstreams[0].upstream]) { _, port, authority in
                func curl(_ path: String, _ options: [String], format: String = "%{http_version} %{response_code}") async throws -> ToolResult {
                    try await runTool(
                        "/usr/bin/curl",
                        [
                            "-sS", "--http2", "--max-time", "10", "--cacert", authority.certificateFile.path,
                            "--resolve", "\(Self.host):\(port):127.0.0.1", "-w", format,
                        ] + options + ["https://\(Self.host):\(port)\(path)"])
                }
                // A request body, streamed back as the replica's chunked answer.
                let payload = String(repeating: "0123456789", count: 5_000)
                let echo = try await curl("/echo", ["--data-binary", payload], format: "\\n%{http_version} %{response_code}")
                #expect(echo.status == 0 && echo.stdout == payload + "\n2 200", "\(echo.stderr)")
                let request = try #require(upstreams[0].requests.first)
                #expect(request.method == .POST && request.headers["content-length"] == ["50000"])
                // A large body (many DATA frames, passed on without copies), byte for byte.
                let file = FileManager.default.temporaryDirectory.appendingPathComponent("yard-h2-large-\(UUID().uuidString)")
                defer { try? FileManager.default.removeItem(at: file) }
                let large = try await curl("/large?bytes=300000", ["-o", file.path], format: "%{http_version} %{response_code}")
                #expect(large.stdout == "2 200", "\(large.stderr)")
                let body = try Data(contentsOf: file)
                #expect(body.count == 300_000)
                #expect(body.enumerated().allSatisfy { index, byte in byte == UInt8(truncatingIfNeeded: index) })
                // Responses without a body end with their HEADERS frame.
                let head = try await curl("/plain", ["-I", "-o", "/dev/null"])
                #expect(head.status == 0 && head.stdout == "2 200", "\(head.stderr)")
                let noContent = try await curl("/status?code=204", ["-o", "/dev/null"])
                #expect(noContent.status == 0 && noContent.stdout == "2 204", "\(noContent.stderr)")
                // A response the router makes itself (no route for that authority).
                let unrouted = try await curl("/", ["-H", "Host: other.localhost", "-o", "/dev/null"])
                #expect(unrouted.status == 0 && unrouted.stdout.hasPrefix("2 4"), "\(unrouted.output)")
                #expect(upstreams[0].requests.map(\.uri) == ["/echo", "/large?bytes=300000", "/plain", "/status?code=204"])
            }
        }
    }
}
