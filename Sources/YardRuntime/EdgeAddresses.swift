/// A runtime whose replicas every node of a cluster reaches at an address of their own (their
/// node's address and a published port), so an edge on any node can route to them
/// (`GET /v1/edge/routes`). Only the swarm runtime has it.
public protocol EdgeAddresses: Sendable {
    /// Each routable replica's address from any node, by replica id; a replica whose task is
    /// not running or not reachable now is absent.
    func edgeAddresses() async -> [String: EdgeAddress]
}

public struct EdgeAddress: Sendable, Hashable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}
