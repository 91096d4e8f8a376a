import Foundation
import Hummingbird
import Logging
import NIOCore
import OpenAPIRuntime
import YardCore
import YardStore

/// Requires `Authorization: Bearer <token>` on every route except the public ones; tokens
/// are compared by their SHA-256, the only form the store keeps.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let store: SQLiteStore
    let publicPaths: Set<String>
    /// Paths that check credentials themselves (git's smart HTTP uses Basic auth).
    var ownAuthPrefixes: [String] = []
    /// POST routes `/v1/projects/{project}/<suffix>` that check a signature themselves
    /// (webhooks): matched as that whole route, one project segment, never as a path suffix.
    var ownAuthPostSuffixes: [String] = []
    /// When not empty, only paths starting with one of these need a bearer token (the rest
    /// are the dashboard's, with its own sign-in).
    var guardedPrefixes: [String] = []

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if !guardedPrefixes.isEmpty, !guardedPrefixes.contains(where: path.hasPrefix) {
            return try await next(request, context)
        }
        let signedPost = request.method == .post && Self.isSignedRoute(path, suffixes: ownAuthPostSuffixes)
        if publicPaths.contains(path) || ownAuthPrefixes.contains(where: path.hasPrefix) || signedPost {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw YardError(.unauthorized, "missing bearer token: run `yard login` or set YARD_TOKEN")
        }
        let token = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard try store.token(hash: ContentHash.sha256(token)) != nil else {
            throw YardError(.unauthorized, "the bearer token is not valid: run `yard login` with a token from the server's admin.token")
        }
        return try await next(request, context)
    }
}

extension BearerAuthMiddleware {
    /// Whether `path` is exactly `/v1/projects/<one segment>` followed by one of `suffixes`.
    static func isSignedRoute(_ path: String, suffixes: [String]) -> Bool {
        let prefix = "/v1/projects/"
        guard path.hasPrefix(prefix) else { return false }
        let rest = path.dropFirst(prefix.count)
        guard let slash = rest.firstIndex(of: "/") else { return false }
        let project = rest[..<slash]
        guard !project.isEmpty, project != ".", project != "..", !project.contains("%") else { return false }
        return suffixes.contains(String(rest[slash...]))
    }
}

/// Turns every error into a JSON `ErrorView` with the HTTP status for its code: the one
/// place codes map to statuses.
struct ErrorMappingMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return Self.response(for: error, logger: context.logger)
        }
    }

    static func response(for error: any Error, logger: Logger) -> Response {
        switch error {
        case let error as YardError:
            return response(status: status(for: error.code), code: error.code.description, message: error.message)
        case let error as ServerError:
            // A generated operation wraps what its handler threw, and what it found wrong with
            // the request (a missing parameter, a body that is not JSON): the cause decides.
            switch error.underlyingError {
            case is YardError, is HTTPError, is NIOTooManyBytesError, is DecodingError, is CancellationError:
                return response(for: error.underlyingError, logger: logger)
            default:
                guard error.httpStatus.code < 500 else {
                    return response(for: error.underlyingError, logger: logger)
                }
                return response(status: error.httpStatus, code: YardError.Code.invalidInput.description,
                                message: "the request does not match the API (see /v1/openapi.json): \(error.causeDescription)")
            }
        case let error as HTTPError:
            return response(status: error.status, code: "http_error", message: error.body ?? error.status.reasonPhrase)
        case is NIOTooManyBytesError:
            // JSON bodies are collected up to the context's maxUploadSize (JSONBodyLimitMiddleware).
            return response(status: .contentTooLarge, code: YardError.Code.tooLarge.description,
                            message: "the request body is larger than \(jsonBodyLimitText), the most a JSON request may be; "
                                + "send less (source goes to the upload endpoints as a .tar.gz)")
        case is DecodingError:
            return response(status: .badRequest, code: YardError.Code.invalidInput.description,
                            message: "the request body is not the JSON this endpoint expects (see /v1/openapi.json)")
        default:
            logger.error("request failed", metadata: ["error": "\(error)"])
            return response(status: .internalServerError, code: YardError.Code.internal.description,
                            message: "internal error; the server log has details")
        }
    }

    static func status(for code: YardError.Code) -> HTTPResponse.Status {
        switch code {
        case .invalidInput, .invalidConfig: .badRequest
        case .notFound: .notFound
        case .conflict: .conflict
        case .unauthorized: .unauthorized
        case .unavailable: .serviceUnavailable
        case .tooLarge: .contentTooLarge
        case .buildFailed, .deployFailed: .unprocessableContent
        default: .internalServerError
        }
    }

    /// Hummingbird's default `maxUploadSize` for collected bodies, as people read it.
    static var jsonBodyLimitText: String { "2 MiB" }

    static func response(status: HTTPResponse.Status, code: String, message: String) -> Response {
        let body = (try? YardJSON.encoder().encode(ErrorView(code: code, message: message))) ?? Data()
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body))
        )
    }
}

/// Collects a JSON request body up to the context's `maxUploadSize` (2 MiB) before a
/// generated operation reads it (which would read any size), so a larger one is a 413.
/// Routes that read their own bodies with their own limit (webhooks) are left alone.
struct JSONBodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    var ownLimitPostSuffixes: [String] = []

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true,
              !(request.method == .post && BearerAuthMiddleware<Context>.isSignedRoute(request.uri.path, suffixes: ownLimitPostSuffixes))
        else {
            return try await next(request, context)
        }
        var request = request
        _ = try await request.collectBody(upTo: context.maxUploadSize)
        return try await next(request, context)
    }
}

extension APIRoutes {
    /// The wire format both sides share (`YardJSON`): dates with fractional seconds, sorted keys.
    static let wireFormat = OpenAPIRuntime.Configuration(
        dateTranscoder: .iso8601WithFractionalSeconds, jsonEncodingOptions: [.sortedKeys, .withoutEscapingSlashes])
}
