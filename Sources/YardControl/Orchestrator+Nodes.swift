import YardCore
import YardRuntime

extension Orchestrator {
    /// The runtime's machines; an error on a runtime of one machine.
    public nonisolated func clusterNodes() throws -> any ClusterNodes {
        guard let nodes = runtime as? any ClusterNodes else {
            throw YardError(.conflict, "this server runs replicas on one machine: nodes exist only with yard serve --runtime swarm")
        }
        return nodes
    }
}
