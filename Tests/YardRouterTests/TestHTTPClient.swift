import NIOCore
import NIOHTTP1
import NIOPosix

/// A response as the test client received it.
struct TestResponse: Sendable {
    var head: HTTPResponseHead
    var body: ByteBuffer

    var status: HTTPResponseStatus { self.head.status }
    var text: String { String(buffer: self.body) }
    /// The replica that answered (from the test upstream's `X-Upstream` header).
    var upstreamName: String? { self.head.headers.first(name: "x-upstream") }

    /// The value of a request header as the test upstream reported receiving it.
    func receivedHeader(_ name: String) -> [String] {
        let prefix = "header: \(name.lowercased()): "
        return self.text.split(separator: "\n").filter { $0.hasPrefix(prefix) }.map {
            String($0.dropFirst(prefix.count))
        }
    }
}

struct TestClientError: Error, CustomStringConvertible {
    var description: String
}

/// One HTTP/1.1 client connection to 127.0.0.1, used request after request (keep-alive).
struct TestConnection {
    private var inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>

    /// Opens a connection to `port`, runs `body`, then closes the connection.
    static func with<Result>(
        port: Int,
        _ body: (inout TestConnection) async throws -> Result
    ) async throws -> Result {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel
                    )
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var connection = TestConnection(inbound: inbound.makeAsyncIterator(), outbound: outbound)
            return try await body(&connection)
        }
    }

    /// Sends a whole request and reads the whole response.
    mutating func request(
        _ method: HTTPMethod = .GET,
        _ uri: String = "/",
        host: String?,
        version: HTTPVersion = .http1_1,
        headers: [(String, String)] = [],
        body: String? = nil
    ) async throws -> TestResponse {
        var requestHeaders = HTTPHeaders(headers)
        if let host { requestHeaders.add(name: "Host", value: host) }
        if let body { requestHeaders.add(name: "Content-Length", value: String(body.utf8.count)) }
        try await self.send(.head(HTTPRequestHead(version: version, method: method, uri: uri, headers: requestHeaders)))
        if let body { try await self.send(.body(.byteBuffer(ByteBuffer(string: body)))) }
        try await self.send(.end(nil))
        return try await self.readResponse()
    }

    mutating func send(_ part: HTTPClientRequestPart) async throws {
        try await self.outbound.write(part)
    }

    /// Reads a complete response (skipping nothing: interim responses are dropped by the decoder).
    mutating func readResponse() async throws -> TestResponse {
        let head = try await self.readHead()
        var body = ByteBuffer()
        while var part = try await self.readBodyPart() {
            body.writeBuffer(&part)
        }
        return TestResponse(head: head, body: body)
    }

    mutating func readHead() async throws -> HTTPResponseHead {
        switch try await self.inbound.next() {
        case .head(let head): return head
        case let other: throw TestClientError(description: "expected a response head, got \(String(describing: other))")
        }
    }

    /// The next body part, or nil at the end of the response.
    mutating func readBodyPart() async throws -> ByteBuffer? {
        switch try await self.inbound.next() {
        case .body(let buffer): return buffer
        case .end: return nil
        case let other: throw TestClientError(description: "expected a body part, got \(String(describing: other))")
        }
    }

    /// True once the server has closed the connection (nothing more to read).
    mutating func serverClosed() async -> Bool {
        do {
            return try await self.inbound.next() == nil
        } catch {
            return true
        }
    }
}

/// Runs `operation`, failing if it takes longer than `seconds` (a hang is a failure, not a stuck test run).
func withTimeout<T: Sendable>(
    seconds: Double = 10,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TestClientError(description: "timed out after \(seconds) seconds")
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
