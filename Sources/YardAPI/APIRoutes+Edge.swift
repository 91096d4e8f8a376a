import YardControl
import YardCore

/// The route table `yard edge` serves on another node of the swarm.
extension APIRoutes {
    func edgeRoutes(_ input: Operations.EdgeRoutes.Input) async throws -> Operations.EdgeRoutes.Output {
        .ok(.init(body: .json(try await orchestrator.edgeRoutes())))
    }
}
