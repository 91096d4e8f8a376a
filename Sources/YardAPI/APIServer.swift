import Foundation
import Hummingbird
import Logging
import NIOCore
import OpenAPIHummingbird
import OpenAPIRuntime
import YardControl
import YardCore
import YardStore

/// Builds the API application: routes, auth and error mapping.
public enum APIServer {
    public static func makeApplication(
        orchestrator: Orchestrator,
        host: String,
        port: Int,
        info: @escaping @Sendable () async -> ServerInfoView,
        onBound: @escaping @Sendable (Int) async -> Void,
        logger: Logger,
        mount: (Router<BasicRequestContext>, DashboardBackend) -> Void = { _, _ in }
    ) -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        router.addMiddleware {
            ErrorMappingMiddleware<BasicRequestContext>()
            BearerAuthMiddleware<BasicRequestContext>(
                store: orchestrator.store,
                publicPaths: ["/v1/health", "/v1/openapi.json", "/v1/openapi.yaml"],
                ownAuthPrefixes: ["/git/"],
                ownAuthPostSuffixes: ["/webhooks/github"],
                // Outside /v1 and /git is the dashboard, which signs people in itself.
                guardedPrefixes: ["/v1", "/git"]
            )
            JSONBodyLimitMiddleware<BasicRequestContext>(ownLimitPostSuffixes: ["/webhooks/github"])
        }
        let routes = APIRoutes(orchestrator: orchestrator, info: info, logger: logger)
        routes.registerPlainRoutes(on: router)
        // The generated operations (openapi/openapi.yaml): the paths carry their /v1. It
        // throws only for a server URL whose path cannot be parsed, which "/" is not.
        try! routes.registerHandlers(on: router, serverURL: URL(string: "/")!, configuration: APIRoutes.wireFormat)
        let git = GitHTTPBackend(orchestrator: orchestrator, apiHost: host)
        git.register(on: router)
        mount(router, DashboardBackend(routes: routes))
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "switchyard"),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                git.setBoundPort(bound)
                await onBound(bound)
            },
            logger: logger
        )
    }
}

/// The admin token: created on first start, kept in the store only as a hash, and written
/// to `<data-dir>/admin.token` (mode 0600) for the operator and the CLI.
public enum AdminToken {
    public static func fileURL(dataDirectory: URL) -> URL {
        dataDirectory.appendingPathComponent("admin.token")
    }

    /// Returns the admin token, creating it on first start.
    public static func ensure(store: SQLiteStore, dataDirectory: URL) throws -> String {
        let file = fileURL(dataDirectory: dataDirectory)
        if let existing = try? String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
           !existing.isEmpty, try store.token(hash: ContentHash.sha256(existing)) != nil
        {
            return existing
        }
        let token = "yard_" + ContentHash.randomToken()
        try store.insertToken(APITokenRecord(id: Identifier.make("tok"), name: "admin",
                                             tokenHash: ContentHash.sha256(token), createdAt: Date()))
        FileManager.default.createFile(atPath: file.path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
        return token
    }
}

/// The static file server the platform ships for the staticfile provider
/// (`yard static-serve --root DIR --port N`).
public enum StaticFileServer {
    public static func makeApplication(root: String, host: String, port: Int, logger: Logger) -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        router.addMiddleware {
            FileMiddleware(root, searchForIndexHtml: true, logger: logger)
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "switchyard-static"),
            logger: logger
        )
    }
}
