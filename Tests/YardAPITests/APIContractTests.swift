import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenAPIRuntime
import Testing
import YardCore

@testable import YardAPI

@Suite("the API contract and its one error mapping")
struct APIContractTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test("the served YAML is openapi/openapi.yaml, and the JSON has the same operations")
    func servedDocumentIsTheContract() throws {
        let contract = try String(contentsOf: Self.packageRoot.appendingPathComponent("openapi/openapi.yaml"), encoding: .utf8)
        #expect(
            OpenAPIDocument.yaml == contract.trimmingCharacters(in: .newlines),
            "the embedded document is stale: run scripts/generate-openapi.sh")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
        let paths = try #require(json["paths"] as? [String: [String: Any]])
        let served = paths.values.flatMap { $0.values.compactMap { ($0 as? [String: Any])?["operationId"] as? String } }
        let written = contract.split(separator: "\n").compactMap { line -> String? in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return trimmed.hasPrefix("operationId: ") ? String(trimmed.dropFirst("operationId: ".count)) : nil
        }
        #expect(served.count == written.count && Set(served) == Set(written))
    }

    static func serverError(_ underlying: any Error) -> ServerError {
        ServerError(
            operationID: "getProject", request: HTTPRequest(method: .get, scheme: nil, authority: nil, path: "/v1/projects/x"),
            requestBody: nil, requestMetadata: .init(), causeDescription: "test", underlyingError: underlying)
    }

    static func answer(_ error: any Error) async throws -> (status: HTTPResponse.Status, error: ErrorView) {
        let response = ErrorMappingMiddleware<BasicRequestContext>.response(for: error, logger: Logger(label: "test"))
        let body = response.body
        let collector = Collector()
        try await body.write(collector)
        return (response.status, try YardJSON.decoder().decode(ErrorView.self, from: Data(buffer: collector.buffer)))
    }

    @Test("a YardError a generated operation wraps keeps its status and message")
    func wrappedYardError() async throws {
        let (status, error) = try await Self.answer(Self.serverError(YardError(.notFound, "no project 'x'")))
        #expect(status == .notFound && error.code == "not_found" && error.message == "no project 'x'")
        let (conflict, _) = try await Self.answer(Self.serverError(YardError(.conflict, "taken")))
        #expect(conflict == .conflict)
    }

    @Test("a body the generated code cannot decode is a 400, a too large one a 413, anything else a redacted 500")
    func wrappedDecodingAndInternal() async throws {
        let decoding = DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "bad"))
        let (bad, badError) = try await Self.answer(Self.serverError(decoding))
        #expect(bad == .badRequest && badError.code == "invalid_input")
        let (large, largeError) = try await Self.answer(NIOTooManyBytesError(maxBytes: 2 << 20))
        #expect(large == .contentTooLarge && largeError.message.contains("larger than 2 MiB"))
        struct Secret: Error {}
        let (internalStatus, internalError) = try await Self.answer(Self.serverError(Secret()))
        #expect(internalStatus == .internalServerError && internalError.message == "internal error; the server log has details")
    }
}

/// Collects a response body in memory.
private final class Collector: ResponseBodyWriter, @unchecked Sendable {
    var buffer = ByteBuffer()
    func write(_ buffer: ByteBuffer) async throws {
        var buffer = buffer
        self.buffer.writeBuffer(&buffer)
    }
    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
