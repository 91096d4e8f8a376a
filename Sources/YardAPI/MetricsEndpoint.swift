import Foundation
import Hummingbird
import Logging
import NIOCore
import Prometheus
import YardCore

/// `/metrics` in Prometheus text format on a listener of its own (`yard serve
/// --metrics-address`), so scrapers never hold the admin token; with `token` set, a scrape
/// must send `Authorization: Bearer <token>` (`--metrics-token-file`).
public enum MetricsEndpoint {
    public struct Configuration: Sendable {
        public var host: String
        /// 0 picks a free one.
        public var port: Int
        /// Never logged; nil: no token asked for.
        public var token: String?

        public init(host: String, port: Int, token: String? = nil) {
            self.host = host
            self.port = port
            self.token = token
        }
    }

    public static func makeApplication(
        registry: PrometheusCollectorRegistry, configuration: Configuration, onBound: @escaping @Sendable (Int) async -> Void = { _ in },
        logger: Logger
    ) -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        let expected = configuration.token.map { ContentHash.sha256("Bearer \($0)") }
        router.get("/metrics") { request, _ -> Response in
            if let expected {
                // Compared as digests, so the time taken says nothing about the token.
                let given = ContentHash.sha256(request.headers[.authorization] ?? "")
                guard given == expected else {
                    return Response(
                        status: .unauthorized, headers: [.contentType: "text/plain", .wwwAuthenticate: "Bearer"],
                        body: .init(byteBuffer: ByteBuffer(string: "this /metrics needs the token of --metrics-token-file\n")))
                }
            }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "switchyard-metrics"),
            onServerRunning: { channel in await onBound(channel.localAddress?.port ?? configuration.port) },
            logger: logger
        )
    }
}
