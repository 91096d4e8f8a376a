import Foundation
import YardCore

/// `yard alerts`: channels and rules.
extension YardAPIClient {
    public func alertChannels(project: String) async throws -> [AlertChannelView] {
        try await call { try await $0.listAlertChannels(path: .init(project: project)).ok.body.json.channels }
    }

    /// Adds a channel; a webhook's answer holds its signing secret, shown this once.
    public func createAlertChannel(project: String, request: CreateAlertChannelRequest) async throws -> AlertChannelView {
        try await call { try await $0.createAlertChannel(path: .init(project: project), body: .json(request)).created.body.json }
    }

    public func deleteAlertChannel(project: String, channel: String) async throws {
        try await call { _ = try await $0.deleteAlertChannel(path: .init(project: project, channel: channel)).noContent }
    }

    public func testAlertChannel(project: String, channel: String) async throws -> AlertTestResultView {
        try await call { try await $0.testAlertChannel(path: .init(project: project, channel: channel)).ok.body.json }
    }

    public func alertRules(project: String) async throws -> [AlertRuleView] {
        try await call { try await $0.listAlertRules(path: .init(project: project)).ok.body.json.rules }
    }

    public func createAlertRule(_ scope: Scope, request: CreateAlertRuleRequest) async throws -> AlertRuleView {
        try await call {
            try await $0.createAlertRule(
                path: .init(project: scope.project, environment: scope.environment, service: scope.service), body: .json(request)
            ).created.body.json
        }
    }

    public func deleteAlertRule(project: String, rule: String) async throws {
        try await call { _ = try await $0.deleteAlertRule(path: .init(project: project, rule: rule)).noContent }
    }
}
