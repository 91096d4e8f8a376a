import Foundation
import YardCore
import YardRuntime

/// One node of a cluster as `node-down` rules see it.
public struct ClusterNodeState: Sendable, Equatable {
    public var id: String
    public var name: String
    /// False once the cluster counts the node as down (e.g. its heartbeat timed out).
    public var isUp: Bool

    public init(id: String, name: String, isUp: Bool) {
        self.id = id
        self.name = name
        self.isUp = isUp
    }
}

/// The seam between a cluster runtime (which implements it; the swarm runtime can, from the
/// engine's node list) and `node-down` rules, polled at every evaluation. Nil means nothing
/// is known (no cluster, or it did not answer), which never changes a rule's state.
public protocol ClusterNodeSource: Sendable {
    func nodeStates() async -> [ClusterNodeState]?
}

/// A `node-down` rule's condition: true while any node is down.
enum ClusterNodeCheck {
    static func evaluate(_ source: (any ClusterNodeSource)?) async -> (Bool?, String?) {
        guard let source, let nodes = await source.nodeStates(), !nodes.isEmpty else { return (nil, nil) }
        let down = nodes.filter { !$0.isUp }.map(\.name).sorted()
        if down.isEmpty { return (false, "every node is up (\(nodes.count))") }
        let names = down.count == 1 ? "node \(down[0]) is" : "nodes \(down.joined(separator: ", ")) are"
        return (true, "\(names) down (\(nodes.count - down.count) of \(nodes.count) up)")
    }
}

/// A cluster runtime's nodes (the swarm runtime's `yard node list`) as `node-down` rules see
/// them: `down` and `disconnected` are down; `ready` and `unknown` (a node coming up) are not.
struct RuntimeNodeSource: ClusterNodeSource {
    let nodes: any ClusterNodes

    func nodeStates() async -> [ClusterNodeState]? {
        guard let views = try? await nodes.clusterNodes() else { return nil }
        return views.map { ClusterNodeState(id: $0.id, name: $0.name, isUp: !["down", "disconnected"].contains($0.state)) }
    }
}
