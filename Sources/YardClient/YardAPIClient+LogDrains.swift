import Foundation
import YardCore

/// `yard drain`.
extension YardAPIClient {
    public func logDrains(_ scope: Scope) async throws -> [LogDrainView] {
        try await call {
            try await $0.listLogDrains(path: .init(project: scope.project, environment: scope.environment, service: scope.service)).ok.body.json.drains
        }
    }

    public func createLogDrain(_ scope: Scope, request: CreateLogDrainRequest) async throws -> LogDrainView {
        try await call {
            try await $0.createLogDrain(
                path: .init(project: scope.project, environment: scope.environment, service: scope.service), body: .json(request)
            ).created.body.json
        }
    }

    public func deleteLogDrain(project: String, drain: String) async throws {
        try await call { _ = try await $0.deleteLogDrain(path: .init(project: project, drain: drain)).noContent }
    }
}
