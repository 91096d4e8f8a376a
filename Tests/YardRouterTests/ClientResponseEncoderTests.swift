import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import YardRouter

/// `ClientResponseEncoder` against NIO's `HTTPResponseEncoder` as `configureHTTPServerPipeline`
/// sets it up (the client pipeline before the router encoded its own responses): the same
/// exchanges must give the same bytes.
@Suite("Client response encoder")
struct ClientResponseEncoderTests {
    typealias Exchange = (method: HTTPMethod, parts: [HTTPServerResponsePart])

    static func head(
        _ status: HTTPResponseStatus, _ headers: HTTPHeaders = [:], version: HTTPVersion = .http1_1
    ) -> HTTPServerResponsePart {
        .head(HTTPResponseHead(version: version, status: status, headers: headers))
    }

    static func body(_ text: String) -> HTTPServerResponsePart {
        .body(.byteBuffer(ByteBuffer(string: text)))
    }

    static let cases: [(String, [Exchange])] = [
        ("a length", [(.GET, [head(.ok, ["Content-Length": "5", "X-A": "a"]), body("hello"), .end(nil)])]),
        (
            "chunked with an empty part and trailers",
            [(.GET, [head(.ok), body("hello"), body(""), body(" world"), .end(["X-Checksum": "abc"])])]
        ),
        ("HTTP/1.0 without a length", [(.GET, [head(.ok, version: .http1_0), body("hello"), .end(nil)])]),
        ("HEAD without a length", [(.HEAD, [head(.ok, ["X-A": "a"]), .end(nil)])]),
        ("HEAD with a length", [(.HEAD, [head(.ok, ["Content-Length": "1234"]), .end(nil)])]),
        ("HEAD after 100 Continue", [(.HEAD, [head(.continue), head(.ok), .end(nil)])]),
        ("204 with framing headers", [(.DELETE, [head(.noContent, ["Content-Length": "0", "Transfer-Encoding": "chunked"]), .end(nil)])]),
        ("304 with a length", [(.GET, [head(.notModified, ["ETag": "\"v1\"", "Content-Length": "5"]), .end(nil)])]),
        (
            "100 Continue, then the final response",
            [(.PUT, [head(.continue), head(.created, ["Content-Length": "2"]), body("ok"), .end(nil)])]
        ),
        ("CONNECT", [(.CONNECT, [head(.ok, ["Transfer-Encoding": "chunked"]), .end(nil)])]),
        ("another transfer coding", [(.GET, [head(.ok, ["Transfer-Encoding": "gzip", "X-A": "a"]), body("zz"), .end(nil)])]),
        (
            "a length and a transfer coding",
            [(.GET, [head(.ok, ["Transfer-Encoding": "chunked", "Content-Length": "2"]), body("ok"), .end(nil)])]
        ),
        ("101", [(.GET, [head(.switchingProtocols, ["Upgrade": "websocket", "Connection": "Upgrade"]), .end(nil)])]),
        ("a custom status", [(.GET, [head(.custom(code: 599, reasonPhrase: "Odd"), ["Content-Length": "0"]), .end(nil)])]),
        (
            "HEAD, then GET on the same connection",
            [(.HEAD, [head(.ok), .end(nil)]), (.GET, [head(.ok), body("hi"), .end(nil)])]
        ),
    ]

    @Test(arguments: cases)
    func framesLikeNIO(_ name: String, _ exchanges: [Exchange]) throws {
        #expect(Self.ownBytes(exchanges) == (try Self.nioBytes(exchanges)), "\(name)")
    }

    @Test func everyStatusLineIsNIOs() throws {
        for version in [HTTPVersion.http1_1, .http1_0] {
            for code in 100..<600 {
                let exchange: [Exchange] = [
                    (.GET, [Self.head(HTTPResponseStatus(statusCode: code), ["Content-Length": "0"], version: version), .end(nil)])
                ]
                let own = Self.ownBytes(exchange)
                let nio = try Self.nioBytes(exchange)
                #expect(own == nio)
                if own != nio { return }
            }
        }
    }

    @Test func headSmallBodyAndEndLeaveAsOneWrite() throws {
        let (channel, connection) = try Self.connection()
        connection.requestReceived(method: .GET)
        connection.writeHead(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "5"]))
        connection.writeBody(ByteBuffer(string: "hello"))
        connection.writeEnd(nil, thenClose: false)
        #expect(try Self.writes(channel) == ["HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"])
    }

    @Test func aLargeBodyIsWrittenAsItIsNotCopied() throws {
        let (channel, connection) = try Self.connection()
        let large = String(repeating: "x", count: 4096)
        connection.requestReceived(method: .GET)
        connection.writeHead(HTTPResponseHead(version: .http1_1, status: .ok))
        connection.writeBody(ByteBuffer(string: large))
        connection.writeEnd(nil, thenClose: false)
        #expect(
            try Self.writes(channel) == [
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1000\r\n", large, "\r\n0\r\n\r\n",
            ])
    }

    /// The end of an upstream read burst asks for a flush; right after a response's end
    /// was flushed there is nothing to send, and the flush does not reach the channel.
    @Test func aFlushWithNothingWrittenStaysOffTheChannel() throws {
        let channel = EmbeddedChannel()
        let counter = FlushCounter()
        let holder = ContextHolder()
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.pipeline.syncOperations.addHandler(holder)
        let connection = HTTP1ClientSide(context: try #require(holder.context))
        connection.requestReceived(method: .GET)
        connection.writeHead(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "5"]))
        connection.writeBody(ByteBuffer(string: "hello"))
        connection.writeEnd(nil, thenClose: false)
        #expect(counter.flushes == 1)
        connection.flush()
        #expect(counter.flushes == 1)
        // A body written straight through (nothing pending, nothing to add) still gets its flush.
        connection.requestReceived(method: .GET)
        connection.writeHead(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "4096"]))
        connection.flush()
        connection.writeBody(ByteBuffer(repeating: 0x78, count: 4096))
        connection.flush()
        #expect(counter.flushes == 3)
        #expect(
            try Self.writes(channel) == [
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n",
                String(repeating: "x", count: 4096),
            ])
    }

    @Test func aFlushWritesTheHeadThatWaits() throws {
        let (channel, connection) = try Self.connection()
        connection.requestReceived(method: .GET)
        connection.writeHead(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "5"]))
        #expect(try Self.writes(channel) == [])
        connection.flush()
        #expect(try Self.writes(channel) == ["HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"])
        connection.writeBody(ByteBuffer(string: "hello"))
        connection.flush()
        #expect(try Self.writes(channel) == ["hello"])
    }

    // MARK: - Helpers

    /// The bytes of the exchanges' responses through NIO's server pipeline, the requests
    /// (just heads) pipelined ahead of them.
    static func nioBytes(_ exchanges: [Exchange]) throws -> String {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false)
        for exchange in exchanges {
            try channel.writeInbound(ByteBuffer(string: "\(exchange.method.rawValue) / HTTP/1.1\r\nHost: x\r\n\r\n"))
        }
        while try channel.readInbound(as: HTTPServerRequestPart.self) != nil {}
        for part in exchanges.flatMap(\.parts) {
            channel.write(part, promise: nil)
        }
        channel.flush()
        return try Self.writes(channel).joined()
    }

    static func ownBytes(_ exchanges: [Exchange]) -> String {
        var encoder = ClientResponseEncoder()
        var buffer = ByteBuffer()
        for exchange in exchanges {
            encoder.requestReceived(method: exchange.method)
            for part in exchange.parts {
                switch part {
                case .head(let head):
                    encoder.writeHead(head, into: &buffer)
                case .body(.byteBuffer(let body)):
                    guard encoder.writesBody(length: body.readableBytes) else { continue }
                    encoder.writeBodyPrefix(length: body.readableBytes, into: &buffer)
                    buffer.writeImmutableBuffer(body)
                    if let suffix = encoder.bodySuffix { buffer.writeStaticString(suffix) }
                case .body(.fileRegion):
                    Issue.record("no file regions here")
                case .end(let trailers):
                    encoder.writeEnd(trailers, into: &buffer)
                }
            }
        }
        return String(buffer: buffer)
    }

    /// An HTTP/1.1 client side on an embedded channel.
    static func connection() throws -> (EmbeddedChannel, HTTP1ClientSide) {
        let channel = EmbeddedChannel()
        let holder = ContextHolder()
        try channel.pipeline.syncOperations.addHandler(holder)
        return (channel, HTTP1ClientSide(context: try #require(holder.context)))
    }

    /// What reached the socket, one string per write.
    static func writes(_ channel: EmbeddedChannel) throws -> [String] {
        var writes: [String] = []
        while let data = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = data else {
                Issue.record("a file region")
                continue
            }
            writes.append(String(buffer: buffer))
        }
        return writes
    }
}

private final class ContextHolder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }
}
