import Foundation
import YardCore

extension YardAPIClient {
    /// The swarm's machines.
    public func nodes() async throws -> [NodeView] {
        try await call { try await $0.listNodes().ok.body.json.nodes }
    }

    /// Drains (`drain`), pauses or activates a node; answers it as it is now.
    public func setNodeAvailability(_ availability: String, node: String) async throws -> NodeView {
        try await call {
            try await $0.setNodeAvailability(path: .init(node: node), body: .json(NodeAvailabilityRequest(availability: availability))).ok.body.json
        }
    }

    /// What a new machine runs to join as a worker.
    public func nodeJoin() async throws -> NodeJoinView {
        try await call { try await $0.getNodeJoin().ok.body.json }
    }

    /// Removes a drained worker; answers it as it was.
    public func removeNode(_ node: String) async throws -> NodeView {
        try await call { try await $0.removeNode(path: .init(node: node)).ok.body.json }
    }
}
