/// The route table an edge on another node serves (`GET /v1/edge/routes`, `yard edge`): the
/// manager's routes with each replica's address as seen from any node (its node's address and
/// the port its task published there), not the manager's local relay.
public struct EdgeRouteTableView: Codable, Sendable, Hashable {
    public var routes: [EdgeRouteView]

    public init(routes: [EdgeRouteView]) {
        self.routes = routes
    }
}

public struct EdgeRouteView: Codable, Sendable, Hashable {
    /// The hostname.
    public var host: String
    /// A path prefix under it (`/api`), or nil for the whole host.
    public var pathPrefix: String?
    /// The replicas ready to serve it now (health-checked, not draining, reachable).
    public var upstreams: [EdgeUpstreamView]
    /// With no upstream: whether one is on its way, so a request is worth holding.
    public var waitsForReplicas: Bool

    public init(host: String, pathPrefix: String? = nil, upstreams: [EdgeUpstreamView], waitsForReplicas: Bool) {
        self.host = host
        self.pathPrefix = pathPrefix
        self.upstreams = upstreams
        self.waitsForReplicas = waitsForReplicas
    }
}

/// A replica as any node reaches it.
public struct EdgeUpstreamView: Codable, Sendable, Hashable {
    /// Its node's address.
    public var host: String
    /// The port its task published on that node.
    public var port: Int
    public var replica: String

    public init(host: String, port: Int, replica: String) {
        self.host = host
        self.port = port
        self.replica = replica
    }
}
