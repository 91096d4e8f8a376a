import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import YardRouter

/// The bytes a request goes upstream as, now that the upstream handler serializes it itself
/// instead of NIO's `HTTPRequestEncoder`: the same framing rules, checked byte for byte.
@Suite("Upstream request encoding")
struct UpstreamRequestEncoderTests {
    /// Encodes `parts` the way `UpstreamConnectionHandler` does, into one string.
    private func encode(_ parts: [HTTPClientRequestPart]) -> String {
        var encoder = UpstreamRequestEncoder()
        var out = ByteBuffer()
        for part in parts {
            switch part {
            case .head(let head):
                encoder.writeHead(head, into: &out)
            case .body(.byteBuffer(var body)):
                if encoder.writeBodyPrefix(length: body.readableBytes, into: &out) {
                    out.writeBuffer(&body)
                    encoder.writeBodySuffix(into: &out)
                }
            case .body(.fileRegion):
                Issue.record("the proxy never sends file regions")
            case .end(let trailers):
                encoder.writeEnd(trailers, into: &out)
            }
        }
        return String(buffer: out)
    }

    private func head(_ method: HTTPMethod, _ headers: HTTPHeaders) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: "/a?b=c", headers: headers)
    }

    /// A request the parser passed on without its fields goes upstream with the client's
    /// field lines as they came: byte for byte what the same head with its fields makes, for
    /// the usual request and for each that needs its fields after all.
    @Test(arguments: [
        "GET /a?b=c HTTP/1.1\r\nHost: app.example\r\nAccept: */*\r\nUser-Agent: t\r\n\r\n",
        "POST /up HTTP/1.1\r\nHost: app.example\r\nContent-Length: 3\r\n\r\nabc",
        "POST /up HTTP/1.1\r\nHost: app.example\r\nContent-Type: text/plain\r\n\r\n",
        "TRACE / HTTP/1.1\r\nHost: app.example\r\nContent-Length: 0\r\n\r\n",
        "GET / HTTP/1.0\r\nHost: app.example\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: app.example\r\nConnection: keep-alive\r\nX-Forwarded-For: 198.51.100.7\r\n\r\n",
        "PUT /c HTTP/1.1\r\nHost: app.example\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ])
    func fieldLinesGoUpstreamAsTheFieldsWould(_ request: String) throws {
        var parser = ClientRequestParser(maximumHeadSize: 64 * 1024)
        var buffer = ByteBuffer(string: request)
        guard case .head(let head) = try parser.next(&buffer), let scan = parser.takeScan() else {
            Issue.record("no head in \(request.debugDescription)")
            return
        }
        #expect(scan.fieldLines != nil && head.headers.isEmpty)
        let peer = ForwardingPeer(address: "192.0.2.1", localPort: 80)
        func encoded(_ head: HTTPRequestHead, _ scan: RequestHeadScan) -> String {
            let parts = head.forwardedUpstreamParts(peer: peer, scanned: scan)
            var encoder = UpstreamRequestEncoder()
            var out = ByteBuffer()
            encoder.writeHead(parts.head, forwarding: parts.appended, framing: parts.framing, into: &out)
            return String(buffer: out)
        }
        var complete = scan
        complete.fieldLines = nil
        let expected = encoded(scan.completing(head), complete)
        #expect(encoded(head, scan) == expected)
        #expect(expected.contains("Host: app.example\r\n") && expected.hasSuffix("\r\n\r\n"))
    }

    @Test func getWithoutBodyIsTheHeadAloneWithHeadersInOrder() {
        let bytes = self.encode([
            .head(self.head(.GET, ["Host": "app.example", "X-Forwarded-For": "192.0.2.1", "Accept": "*/*"])),
            .end(nil),
        ])
        #expect(bytes == "GET /a?b=c HTTP/1.1\r\nHost: app.example\r\nX-Forwarded-For: 192.0.2.1\r\nAccept: */*\r\n\r\n")
    }

    @Test func fieldsThatOutgrowTheBuffersRoomAreWrittenWhole() {
        // Some fields fit in what the buffer has, the rest after it grows; any split point.
        for count in [0, 1, 5, 12, 40] {
            let fields = (0..<count).map { ("X-Field-\($0)", String(repeating: "v", count: 10 + $0 * 7)) }
            var encoder = UpstreamRequestEncoder()
            var out = ByteBufferAllocator().buffer(capacity: 256)
            encoder.writeHead(self.head(.GET, HTTPHeaders(fields)), into: &out)
            let expected = "GET /a?b=c HTTP/1.1\r\n" + fields.map { "\($0.0): \($0.1)\r\n" }.joined() + "\r\n"
            #expect(String(buffer: out) == expected, "\(count) fields")
        }
    }

    @Test func postWithoutLengthIsSentChunkedWithEmptyChunksLeftOut() {
        let bytes = self.encode([
            .head(self.head(.POST, ["Host": "h"])),
            .body(.byteBuffer(ByteBuffer(string: "hello world, 26 bytes long"))),
            .body(.byteBuffer(ByteBuffer())),
            .body(.byteBuffer(ByteBuffer(string: "!"))),
            .end(nil),
        ])
        #expect(
            bytes
                == "POST /a?b=c HTTP/1.1\r\nHost: h\r\ntransfer-encoding: chunked\r\n\r\n1a\r\nhello world, 26 bytes long\r\n1\r\n!\r\n0\r\n\r\n"
        )
    }

    @Test func aLengthWinsOverTransferEncodingAndTheBodyIsRaw() {
        let bytes = self.encode([
            .head(self.head(.PUT, ["Host": "h", "Transfer-Encoding": "chunked", "Content-Length": "3"])),
            .body(.byteBuffer(ByteBuffer(string: "abc"))),
            .end(nil),
        ])
        #expect(bytes == "PUT /a?b=c HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc")
    }

    @Test func chunkedGetKeepsItsFramingAndTrailers() {
        let bytes = self.encode([
            .head(self.head(.GET, ["Host": "h", "Transfer-Encoding": "chunked"])),
            .body(.byteBuffer(ByteBuffer(string: "xy"))),
            .end(["X-Checksum": "1"]),
        ])
        #expect(bytes == "GET /a?b=c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\nX-Checksum: 1\r\n\r\n")
    }

    @Test func traceNeverDeclaresABodyAndAPlainDeleteHasNone() {
        let trace = self.encode([.head(self.head(.TRACE, ["Host": "h", "Content-Length": "4"])), .end(nil)])
        #expect(trace == "TRACE /a?b=c HTTP/1.1\r\nHost: h\r\n\r\n")
        let delete = self.encode([.head(self.head(.DELETE, ["Host": "h"])), .end(["X-Ignored": "1"])])
        // Without chunked framing there is nowhere to put trailers: nothing follows the head.
        #expect(delete == "DELETE /a?b=c HTTP/1.1\r\nHost: h\r\n\r\n")
    }

    @Test func theEncoderIsReadyForTheNextRequestOnTheConnection() {
        var encoder = UpstreamRequestEncoder()
        var out = ByteBuffer()
        encoder.writeHead(self.head(.POST, ["Host": "h"]), into: &out)
        encoder.writeEnd(nil, into: &out)
        #expect(!encoder.isChunked)
        out.clear()
        encoder.writeHead(self.head(.GET, ["Host": "h"]), into: &out)
        encoder.writeEnd(nil, into: &out)
        #expect(String(buffer: out) == "GET /a?b=c HTTP/1.1\r\nHost: h\r\n\r\n")
    }

    /// The edge's forwarding fields, kept apart from a head and written by the encoder after
    /// its fields (with the framing the scan found), make the same bytes as the head with the
    /// fields added; a plain HTTP/1.1 head goes up as it came.
    @Test func forwardingFieldsWrittenApartMakeTheForwardedHeadsBytes() {
        let peers: [ForwardingPeer?] = [
            nil, ForwardingPeer(address: "10.1.2.3", localPort: 8080), ForwardingPeer(address: "::1"),
            ForwardingPeer(address: "10.9.9.9", localPort: 443, isTrustedProxy: true),
        ]
        let long = String(repeating: "v", count: 3000)
        let heads: [HTTPRequestHead] = [
            self.head(.GET, ["Host": "app.localhost", "User-Agent": "curl"]),
            HTTPRequestHead(version: .http1_0, method: .GET, uri: "/", headers: ["Host": "h"]),
            HTTPRequestHead(version: HTTPVersion(major: 2, minor: 0), method: .GET, uri: "/", headers: ["host": "h"]),
            self.head(.POST, ["Host": "h", "Transfer-Encoding": "chunked"]),
            self.head(.GET, ["Host": "h", "X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6", "Forwarded": "for=x"]),
            self.head(.GET, ["Host": "h", "Connection": "keep-alive, X-Private", "X-Private": "1", "Keep-Alive": "timeout=5"]),
            self.head(.GET, ["Host": "h", "Connection": "Upgrade", "Upgrade": "websocket"]),
            self.head(.GET, ["Host": long, "X-Long": long]),
            self.head(.GET, ["User-Agent": "no host"]),
            self.head(.POST, ["Host": "h", "Content-Length": "3"]),
            self.head(.POST, ["Host": "h"]),
            self.head(.PATCH, ["Host": "h", "Content-Length": "3", "Transfer-Encoding": "chunked"]),
            self.head(.GET, ["Host": "h", "content-length": "0"]),
            self.head(.TRACE, ["Host": "h", "Content-Length": "2"]),
        ]
        for head in heads {
            for peer in peers {
                for overTLS in [false, true] {
                    let parts = head.forwardedUpstreamParts(peer: peer, overTLS: overTLS)
                    var apart = UpstreamRequestEncoder()
                    var apartBytes = ByteBuffer()
                    apart.writeHead(parts.head, forwarding: parts.appended, framing: parts.framing, into: &apartBytes)
                    var whole = UpstreamRequestEncoder()
                    var wholeBytes = ByteBuffer()
                    whole.writeHead(head.forwardedUpstream(peer: peer, overTLS: overTLS), into: &wholeBytes)
                    // The same request line and fields; a `Transfer-Encoding` the encoder adds
                    // comes before the forwarding fields instead of after them (field order
                    // between different names carries no meaning).
                    let apartLines = String(buffer: apartBytes).components(separatedBy: "\r\n")
                    let wholeLines = String(buffer: wholeBytes).components(separatedBy: "\r\n")
                    #expect(apartLines.first == wholeLines.first, "\(head) from \(String(describing: peer))")
                    #expect(apartLines.sorted() == wholeLines.sorted(), "\(head) from \(String(describing: peer))")
                    #expect(apartLines.suffix(2) == ["", ""], "the head ends with an empty line")
                    #expect(apart.isChunked == whole.isChunked)
                }
            }
        }
        let plain = self.head(.GET, ["Host": "app.localhost"])
        let parts = plain.forwardedUpstreamParts(peer: ForwardingPeer(address: "10.1.2.3"))
        #expect(parts.head == plain)
        #expect(parts.appended == ForwardingFields(peer: ForwardingPeer(address: "10.1.2.3"), originalHost: "app.localhost", overTLS: false))
        var encoder = UpstreamRequestEncoder()
        var bytes = ByteBuffer()
        encoder.writeHead(parts.head, forwarding: parts.appended, into: &bytes)
        #expect(
            String(buffer: bytes)
                == "GET /a?b=c HTTP/1.1\r\nHost: app.localhost\r\nX-Forwarded-For: 10.1.2.3\r\nX-Real-IP: 10.1.2.3\r\n"
                + "X-Forwarded-Proto: http\r\nX-Forwarded-Host: app.localhost\r\n\r\n")
    }

    /// The end of a request with a length writes nothing, so the proxy does not flush the
    /// upstream connection for it (an empty flush walks the pipeline and the write queue);
    /// a chunked request's end is the last chunk, and is written.
    /// A request in flight for `head`, as the state machine keeps it.
    private func request(_ head: HTTPRequestHead) -> ProxyConnectionStateMachine.Request {
        ProxyConnectionStateMachine.Request(
            head: head, forwarding: nil, framing: nil, client: ClientRequestInfo(head), host: "h",
            upstream: Upstream(host: "127.0.0.1", port: 1, replicaID: "r"), alternatives: [], hasBody: false)
    }

    @Test func anEndThatWritesNothingSaysSo() throws {
        let channel = EmbeddedChannel()
        let counter = FlushCounter()
        let handler = UpstreamConnectionHandler()
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.pipeline.syncOperations.addHandler(handler)
        handler.send(.init(request: self.request(self.head(.GET, ["Host": "h"])), body: [], end: false))
        #expect(counter.flushes == 1)
        #expect(!handler.write(.end(nil)))

        handler.send(.init(request: self.request(self.head(.POST, ["Host": "h"])), body: [], end: false))
        #expect(handler.write(.body(.byteBuffer(ByteBuffer(string: "abc")))))
        #expect(handler.write(.end(nil)))
        handler.flush()
        var written = ""
        while let data = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = data else { continue }
            written += String(buffer: buffer)
        }
        #expect(written.hasSuffix("transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), "\(written)")
        #expect(counter.flushes == 3)
    }
}

/// Counts the flushes that pass it on their way to the socket.
final class FlushCounter: ChannelOutboundHandler {
    typealias OutboundIn = Any
    private(set) var flushes = 0

    func flush(context: ChannelHandlerContext) {
        self.flushes += 1
        context.flush()
    }
}
