import Foundation
import YardCore

extension YardAPIClient {
    /// The route table for an edge on another node of the swarm.
    public func edgeRoutes() async throws -> EdgeRouteTableView {
        try await call { try await $0.edgeRoutes().ok.body.json }
    }
}
