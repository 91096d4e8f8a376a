import YardCore

/// A runtime that spans machines (the swarm runtime): its nodes, and draining one for
/// maintenance (its tasks move to the others) or making it take tasks again.
public protocol ClusterNodes: Sendable {
    func clusterNodes() async throws -> [NodeView]
    /// `availability` is `active`, `pause` or `drain`; `node` an id, an id prefix or a hostname.
    func setAvailability(_ availability: String, node: String) async throws -> NodeView
    /// The replicas whose task runs on `node` now (an id, an id prefix or a hostname): what a
    /// drain of it moves.
    func replicaIDs(onNode node: String) async throws -> [String]
    /// What a new machine runs to join as a worker (`yard node add`).
    func joinInstructions() async throws -> NodeJoinView
    /// Takes a drained worker out of the cluster (`yard node remove`); answers it as it was.
    func removeNode(_ node: String) async throws -> NodeView
}
