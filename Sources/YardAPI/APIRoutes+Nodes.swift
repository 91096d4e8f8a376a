import YardControl
import YardCore

/// The swarm runtime's machines: `yard node list|drain|activate`.
extension APIRoutes {
    func listNodes(_ input: Operations.ListNodes.Input) async throws -> Operations.ListNodes.Output {
        .ok(.init(body: .json(NodeListView(nodes: try await orchestrator.clusterNodes().clusterNodes()))))
    }

    func setNodeAvailability(_ input: Operations.SetNodeAvailability.Input) async throws -> Operations.SetNodeAvailability.Output {
        guard case .json(let body) = input.body else { throw Self.unexpectedBody }
        let node = try await orchestrator.setNodeAvailability(body.availability, node: input.path.node)
        return .ok(.init(body: .json(node)))
    }

    func getNodeJoin(_ input: Operations.GetNodeJoin.Input) async throws -> Operations.GetNodeJoin.Output {
        .ok(.init(body: .json(try await orchestrator.clusterNodes().joinInstructions())))
    }

    func removeNode(_ input: Operations.RemoveNode.Input) async throws -> Operations.RemoveNode.Output {
        .ok(.init(body: .json(try await orchestrator.clusterNodes().removeNode(input.path.node))))
    }
}
