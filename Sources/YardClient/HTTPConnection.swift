import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import YardCore

/// A response's status line and headers.
public struct HTTPHead: Sendable {
    public var status: Int
    public var headers: [(String, String)]

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// A minimal HTTP/1.1 client over SwiftNIO: one connection per request, the response
/// body delivered as it arrives (for log and event streams).
public enum HTTPConnection {
    public struct Request: Sendable {
        public var url: URL
        public var method: HTTPMethod
        public var headers: [(String, String)]
        public var body: Data?
        /// A file streamed as the body (uploads), instead of `body`.
        public var bodyFile: URL?
        /// A body written chunk by chunk as it is produced (the generated client's request
        /// bodies), instead of `body`; sent with its length when known, chunked when not.
        public var bodyStream: BodyStream?
        /// A unix socket to connect to instead of the URL's host and port (the Docker Engine API).
        public var unixSocketPath: String?

        public init(
            url: URL, method: HTTPMethod = .GET, headers: [(String, String)] = [], body: Data? = nil, bodyFile: URL? = nil,
            bodyStream: BodyStream? = nil, unixSocketPath: String? = nil
        ) {
            self.url = url
            self.method = method
            self.headers = headers
            self.body = body
            self.bodyFile = bodyFile
            self.bodyStream = bodyStream
            self.unixSocketPath = unixSocketPath
        }
    }

    /// A request body produced while it is sent: `write` passes each chunk to the connection.
    public struct BodyStream: Sendable {
        public var length: Int?
        public var produce: @Sendable (_ write: (ByteBuffer) async throws -> Void) async throws -> Void

        public init(length: Int?, produce: @escaping @Sendable (_ write: (ByteBuffer) async throws -> Void) async throws -> Void) {
            self.length = length
            self.produce = produce
        }
    }

    /// Sends the request; `onBody` receives each chunk of the body as it arrives.
    /// Returns the head once the whole response has been read.
    @discardableResult
    public static func send(
        _ request: Request,
        onHead: @Sendable (HTTPHead) async throws -> Void = { _ in },
        onBody: @Sendable (ByteBuffer) async throws -> Void
    ) async throws -> HTTPHead {
        guard let host = request.url.host, request.url.scheme == "http" else {
            throw YardError(.invalidInput, "\(request.url) is not an http:// URL")
        }
        let port = request.url.port ?? 80
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connectTimeout(.seconds(10))
        let initializer: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>> = {
            channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
            }
        }
        do {
            if let socket = request.unixSocketPath {
                channel = try await bootstrap.connect(unixDomainSocketPath: socket, channelInitializer: initializer)
            } else {
                channel = try await bootstrap.connect(host: host, port: port, channelInitializer: initializer)
            }
        } catch {
            if let socket = request.unixSocketPath {
                throw YardError(.unavailable, "cannot reach \(socket): \(error)", cause: error)
            }
            throw YardError(.unavailable, "cannot reach \(host):\(port): \(error); is `yard serve` running?", cause: error)
        }
        return try await channel.executeThenClose { inbound, outbound in
            var path = request.url.path.isEmpty ? "/" : request.url.path
            if let query = request.url.query { path += "?\(query)" }
            var head = HTTPRequestHead(version: .http1_1, method: request.method, uri: path)
            if !request.headers.contains(where: { $0.0.lowercased() == "host" }) {
                head.headers.add(name: "Host", value: port == 80 ? host : "\(host):\(port)")
            }
            head.headers.add(name: "Connection", value: "close")
            for (name, value) in request.headers { head.headers.add(name: name, value: value) }
            if let file = request.bodyFile {
                let size = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int ?? 0
                head.headers.add(name: "Content-Length", value: String(size))
                try await outbound.write(.head(head))
                let handle = try FileHandle(forReadingFrom: file)
                defer { try? handle.close() }
                // The last chunk goes out with the end, as for a stream (below).
                var pending: ByteBuffer?
                while let chunk = try handle.read(upToCount: 256 * 1024), !chunk.isEmpty {
                    if let previous = pending { try await outbound.write(.body(.byteBuffer(previous))) }
                    pending = ByteBuffer(bytes: chunk)
                }
                try await outbound.write(contentsOf: (pending.map { [.body(.byteBuffer($0))] } ?? []) + [.end(nil)])
            } else if let stream = request.bodyStream {
                if let length = stream.length {
                    head.headers.add(name: "Content-Length", value: String(length))
                } else {
                    head.headers.add(name: "Transfer-Encoding", value: "chunked")
                }
                try await outbound.write(.head(head))
                // The last chunk goes out in one write with the end: a server that answers and
                // closes once it has the whole body must not find the end still to be written.
                var pending: ByteBuffer?
                try await stream.produce { chunk in
                    if let previous = pending { try await outbound.write(.body(.byteBuffer(previous))) }
                    pending = chunk
                }
                try await outbound.write(contentsOf: (pending.map { [.body(.byteBuffer($0))] } ?? []) + [.end(nil)])
            } else if let body = request.body {
                head.headers.add(name: "Content-Length", value: String(body.count))
                // In one write: a server that answers and closes once it has the body (dockerd
                // does, to `Connection: close`) must not find the end still to be written, or
                // the request fails with "I/O on closed channel" although it was served.
                try await outbound.write(contentsOf: [.head(head), .body(.byteBuffer(ByteBuffer(bytes: body))), .end(nil)])
            } else {
                // In one write: a bodiless request is complete at its head, so the server may
                // answer and close (we ask for close) before a separate end could be written.
                try await outbound.write(contentsOf: [.head(head), .end(nil)])
            }

            var responseHead: HTTPHead?
            for try await part in inbound {
                switch part {
                case .head(let head):
                    let converted = HTTPHead(status: Int(head.status.code), headers: head.headers.map { ($0.name, $0.value) })
                    responseHead = converted
                    try await onHead(converted)
                case .body(let buffer):
                    try await onBody(buffer)
                case .end:
                    if let responseHead { return responseHead }
                }
            }
            guard let responseHead else {
                throw YardError(.unavailable, "\(host):\(port) closed the connection without answering")
            }
            return responseHead
        }
    }

    /// Sends the request and collects the whole body.
    public static func fetch(_ request: Request) async throws -> (HTTPHead, Data) {
        let collected = BodyCollector()
        let head = try await send(request) { buffer in await collected.append(buffer) }
        return (head, await collected.data)
    }
}

private actor BodyCollector {
    var data = Data()

    func append(_ buffer: ByteBuffer) {
        data.append(contentsOf: buffer.readableBytesView)
    }
}
