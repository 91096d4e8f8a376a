import Foundation
import NIOCore
import NIOHTTP1
import YardClient
import YardCore

/// The Docker Engine API on its unix socket, at a fixed API version (`/v1.41`, Docker 20.10):
/// JSON in and out, errors carrying the engine's own message. Never the CLI.
public struct DockerEngine: Sendable {
    public static let apiVersion = "v1.41"
    public let socketPath: String

    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    /// The engine's answer: its status and body.
    public struct Response: Sendable {
        public var status: Int
        public var body: Data

        public var succeeded: Bool { (200..<300).contains(status) }
    }

    /// Sends `method path` (path below the version, with its query) with an optional JSON body.
    public func send(_ method: HTTPMethod, _ path: String, json: Data? = nil, file: URL? = nil, contentType: String? = nil) async throws
        -> Response
    {
        guard let url = URL(string: "http://docker/\(Self.apiVersion)\(path)") else {
            throw YardError(.internal, "\(path) is not a Docker API path")
        }
        var headers: [(String, String)] = []
        if json != nil { headers.append(("Content-Type", "application/json")) }
        if let contentType { headers.append(("Content-Type", contentType)) }
        let request = HTTPConnection.Request(
            url: url, method: method, headers: headers, body: json, bodyFile: file, unixSocketPath: socketPath)
        let (head, body) = try await HTTPConnection.fetch(request)
        return Response(status: head.status, body: body)
    }

    /// Sends and checks the answer; a failure names what was asked and the engine's message.
    @discardableResult
    public func call(_ method: HTTPMethod, _ path: String, json: Data? = nil, file: URL? = nil, contentType: String? = nil) async throws
        -> Data
    {
        let response = try await send(method, path, json: json, file: file, contentType: contentType)
        guard response.succeeded else { throw Self.failure(method, path, response) }
        return response.body
    }

    /// Sends `value` as JSON and decodes the answer as `T`.
    public func call<Body: Encodable, T: Decodable>(_ method: HTTPMethod, _ path: String, body: Body, as: T.Type) async throws -> T {
        let data = try await call(method, path, json: JSONEncoder().encode(body))
        return try JSONDecoder().decode(T.self, from: data)
    }

    /// GETs `path` and decodes the answer as `T`.
    public func get<T: Decodable>(_ path: String, as: T.Type) async throws -> T {
        try JSONDecoder().decode(T.self, from: try await call(.GET, path))
    }

    /// Follows a multiplexed log stream (`/services/{id}/logs?follow=1`): `line` gets each
    /// line with whether it came from stderr. Returns when the engine ends the stream.
    public func followLogs(_ path: String, line: @escaping @Sendable (_ text: String, _ isError: Bool) -> Void) async throws {
        guard let url = URL(string: "http://docker/\(Self.apiVersion)\(path)") else { return }
        let demultiplexer = LogDemultiplexer(line: line)
        try await HTTPConnection.send(HTTPConnection.Request(url: url, unixSocketPath: socketPath)) { buffer in
            await demultiplexer.append(buffer)
        }
    }

    /// Whether the engine answers (`/_ping`).
    public func ping() async -> Bool {
        (try? await send(.GET, "/_ping").succeeded) ?? false
    }

    static func failure(_ method: HTTPMethod, _ path: String, _ response: Response) -> YardError {
        struct Message: Decodable { var message: String }
        let message =
            (try? JSONDecoder().decode(Message.self, from: response.body).message)
            ?? String(decoding: response.body.prefix(300), as: UTF8.self)
        let code: YardError.Code = response.status == 404 ? .notFound : response.status == 409 ? .conflict : .unavailable
        return YardError(code, "the Docker engine refused \(method.rawValue) \(path.split(separator: "?").first ?? ""): \(message)")
    }
}

/// Splits Docker's multiplexed stream (8-byte frame headers: stream, 0, 0, 0, big-endian
/// length) into lines per stream.
actor LogDemultiplexer {
    private var pending: [UInt8] = []
    private var partial: [Bool: [UInt8]] = [:]
    private let line: @Sendable (String, Bool) -> Void

    init(line: @escaping @Sendable (String, Bool) -> Void) {
        self.line = line
    }

    func append(_ buffer: ByteBuffer) {
        pending.append(contentsOf: buffer.readableBytesView)
        while pending.count >= 8 {
            let length = pending[4..<8].reduce(0) { $0 << 8 | Int($1) }
            guard pending.count >= 8 + length else { return }
            let isError = pending[0] == 2
            var text = partial[isError] ?? []
            text.append(contentsOf: pending[8..<(8 + length)])
            pending.removeFirst(8 + length)
            while let newline = text.firstIndex(of: 10) {
                line(String(decoding: text[..<newline], as: UTF8.self), isError)
                text.removeSubrange(...newline)
            }
            partial[isError] = text
        }
    }
}
