import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import OpenAPIRuntime
import YardCore

/// The generated client's transport: each request on its own `HTTPConnection`. Request
/// bodies are written as they are produced (an upload streams from its file); the response
/// is returned at its head, its body delivered as it arrives (log and event streams).
struct HTTPConnectionTransport: ClientTransport {
    func send(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var text = baseURL.absoluteString
        if text.hasSuffix("/") { text.removeLast() }
        guard let url = URL(string: text + (request.path ?? "/")) else {
            throw YardError(.invalidInput, "\(text)\(request.path ?? "") is not a valid URL")
        }
        var outgoing = HTTPConnection.Request(
            url: url, method: HTTPMethod(rawValue: request.method.rawValue),
            // The connection frames the body itself (Content-Length when known, else chunked).
            headers: request.headerFields.filter { $0.name != .contentLength && $0.name != .transferEncoding }
                .map { ($0.name.rawName, $0.value) })
        if let body {
            let length: Int? =
                switch body.length {
                case .known(let count): Int(count)
                case .unknown: nil
                }
            outgoing.bodyStream = HTTPConnection.BodyStream(length: length) { write in
                for try await chunk in body { try await write(ByteBuffer(bytes: chunk)) }
            }
        }

        let prepared = outgoing
        let (chunks, chunkContinuation) = AsyncThrowingStream.makeStream(of: ArraySlice<UInt8>.self)
        let (heads, headContinuation) = AsyncThrowingStream.makeStream(of: HTTPHead.self)
        let exchange = Task {
            do {
                try await HTTPConnection.send(
                    prepared,
                    onHead: { head in
                        headContinuation.yield(head)
                        headContinuation.finish()
                    }
                ) { buffer in
                    // The reader stopped (it dropped the body): stop reading the response.
                    if case .terminated = chunkContinuation.yield(ArraySlice(buffer.readableBytesView)) { throw CancellationError() }
                }
                headContinuation.finish()
                chunkContinuation.finish()
            } catch {
                headContinuation.finish(throwing: error)
                chunkContinuation.finish(throwing: error)
            }
        }
        chunkContinuation.onTermination = { termination in
            if case .cancelled = termination { exchange.cancel() }
        }
        let head: HTTPHead
        do {
            var iterator = heads.makeAsyncIterator()
            guard let first = try await iterator.next() else {
                throw YardError(.unavailable, "\(url.host ?? text) closed the connection without answering")
            }
            head = first
        } catch {
            exchange.cancel()
            throw error
        }

        var fields = HTTPFields()
        for (name, value) in head.headers {
            if let field = HTTPField.Name(name) { fields.append(HTTPField(name: field, value: value)) }
        }
        let response = HTTPResponse(status: .init(code: head.status), headerFields: fields)
        let length: HTTPBody.Length = head.header("Content-Length").flatMap { Int64($0) }.map { .known($0) } ?? .unknown
        return (response, HTTPBody(chunks, length: length, iterationBehavior: .single))
    }
}

/// Adds the bearer token to every request, and turns an error answer (any status outside
/// 2xx) into the `YardError` its `ErrorView` body names, as the server mapped it.
struct YardClientMiddleware: ClientMiddleware {
    let token: String

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        request.headerFields[.authorization] = "Bearer \(token)"
        let (response, responseBody) = try await next(request, body, baseURL)
        guard !(200..<300).contains(response.status.code) else { return (response, responseBody) }
        var data = Data()
        if let responseBody { data = try await Data(collecting: responseBody, upTo: 1 << 20) }
        if let error = try? YardJSON.decoder().decode(ErrorView.self, from: data) {
            throw YardError(YardError.Code(rawValue: error.code) ?? .internal, error.message)
        }
        throw YardError(.internal, "the server answered HTTP \(response.status.code): \(String(decoding: data.prefix(500), as: UTF8.self))")
    }
}
