import Foundation
import Hummingbird
import NIOCore
import OpenAPIRuntime
import YardControl
import YardCore
import YardStore

/// What the web dashboard (YardDashboard) reads and does, through the very operations the
/// `/v1` handlers run: a page shows what the API would answer, an action does what the API
/// call would do, with the same checks and errors.
public struct DashboardBackend: Sendable {
    let routes: APIRoutes

    init(routes: APIRoutes) {
        self.routes = routes
    }

    public var orchestrator: Orchestrator { routes.orchestrator }

    /// Whether `token` is one the API accepts (the bearer middleware's check). The store is
    /// asked for the token's SHA-256, and that digest is compared again in constant time, so
    /// the time taken says nothing about the token.
    public func acceptsToken(_ token: String) throws -> Bool {
        let digest = ContentHash.sha256(token)
        guard let record = try routes.store.token(hash: digest) else { return false }
        return ConstantTime.equal(record.tokenHash, digest)
    }

    // MARK: Reading

    public func projects() async throws -> [ProjectView] {
        try await routes.listProjects(.init()).ok.body.json
    }

    public func project(_ project: String) async throws -> ProjectView {
        try await routes.getProject(.init(path: .init(project: project))).ok.body.json
    }

    public func status(project: String, environment: String) async throws -> StatusView {
        try await routes.environmentStatus(.init(path: .init(project: project, environment: environment))).ok.body.json
    }

    public func deployments(project: String, environment: String, service: String) async throws -> [DeploymentView] {
        try await routes.listDeployments(.init(path: .init(project: project, environment: environment, service: service))).ok.body.json
    }

    /// Sealed values and build secrets come back without their value.
    public func variables(project: String, environment: String, service: String) async throws -> [VariableView] {
        try await routes.listVariables(.init(path: .init(project: project, environment: environment, service: service))).ok.body.json
    }

    public func settings(project: String, environment: String, service: String) async throws -> ServiceSettingsView {
        try await routes.getSettings(.init(path: .init(project: project, environment: environment, service: service))).ok.body.json
    }

    public func deployment(_ id: String) async throws -> DeploymentView {
        try await routes.getDeployment(.init(path: .init(deployment: id))).ok.body.json
    }

    /// A deployment's log as newline-delimited JSON (`GET /v1/deployments/{id}/logs`); with
    /// `follow`, it streams until the log closes.
    /// `filter` is Railway's log filter syntax (`LogFilter`); a bad one is an `invalidInput` error.
    public func logs(deployment: String, kind: LogKind, follow: Bool, filter: String? = nil) async throws -> ResponseBody {
        let output = try await routes.deploymentLogs(
            .init(path: .init(deployment: deployment), query: .init(kind: .init(rawValue: kind.rawValue), follow: follow, filter: filter)))
        let body = try output.ok.body.applicationXNdjson
        return ResponseBody { writer in
            for try await chunk in body { try await writer.write(ByteBuffer(bytes: chunk)) }
            try await writer.finish(nil)
        }
    }

    // MARK: Actions

    public func createProject(name: String) async throws -> ProjectView {
        try await routes.createProject(.init(body: .json(.init(name: name)))).created.body.json
    }

    public func createService(project: String, name: String) async throws -> ServiceView {
        try await routes.createService(.init(path: .init(project: project), body: .json(.init(name: name, configPath: nil))))
            .created.body.json
    }

    public func addDatabase(project: String, environment: String, kind: String) async throws -> DatabaseView {
        try await routes.addDatabase(
            .init(path: .init(project: project, environment: environment), body: .json(.init(database: kind, name: nil)))
        ).created.body.json
    }

    public func redeploy(project: String, environment: String, service: String, noCache: Bool) async throws -> DeploymentView {
        try await routes.redeployService(
            .init(path: .init(project: project, environment: environment, service: service), query: .init(noCache: noCache))
        ).created.body.json
    }

    public func restart(project: String, environment: String, service: String) async throws -> DeploymentView {
        try await routes.restartService(.init(path: .init(project: project, environment: environment, service: service))).ok.body.json
    }

    public func rollback(deployment: String) async throws -> DeploymentView {
        try await routes.rollbackDeployment(.init(path: .init(deployment: deployment))).created.body.json
    }

    public func cancel(deployment: String) async throws -> DeploymentView {
        try await routes.cancelDeployment(.init(path: .init(deployment: deployment))).ok.body.json
    }

    public func remove(deployment: String) async throws -> DeploymentView {
        try await routes.removeDeployment(.init(path: .init(deployment: deployment))).ok.body.json
    }

    public func changeVariables(project: String, environment: String, service: String, change: VariableChange) async throws {
        _ = try await routes.changeVariables(
            .init(path: .init(project: project, environment: environment, service: service), body: .json(change))
        ).ok
    }

    public func addDomain(project: String, environment: String, service: String, hostname: String) async throws {
        _ = try await routes.addDomain(
            .init(
                path: .init(project: project, environment: environment, service: service),
                body: .json(DomainRequest(hostname: hostname, targetPort: nil)))
        ).created
    }
}

/// Comparisons whose time does not depend on where two strings first differ.
public enum ConstantTime {
    public static func equal(_ a: String, _ b: String) -> Bool {
        let a = Array(a.utf8), b = Array(b.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}
