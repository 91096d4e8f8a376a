import Foundation
import YardCore

extension YardAPIClient {
    /// A service's metrics points from `since` on (default: the last hour), at `step` seconds
    /// (default: the finest kept that long).
    public func metrics(_ scope: Scope, since: Date?, step: Int?) async throws -> MetricsSeriesView {
        try await call {
            try await $0.getServiceMetrics(
                path: .init(project: scope.project, environment: scope.environment, service: scope.service),
                query: .init(since: since, step: step)
            ).ok.body.json
        }
    }
}
