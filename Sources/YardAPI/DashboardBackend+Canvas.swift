import Foundation
import YardControl
import YardCore
import YardStore

/// The canvas's data for a whole environment in a few store queries (the services, their
/// variables, each one's newest deployment, running replicas, domains), where
/// `environmentStatus` plus one `listVariables` per service asks several times per service.
/// The values are the ones those operations answer: sealed values and build secrets come
/// back without their value.
extension DashboardBackend {
    public struct CanvasService: Sendable {
        public var service: ServiceView
        /// The newest deployment's status (else the live one's); `NONE` before the first.
        public var status: String
        /// Running replicas of the live deployment (else the newest).
        public var replicas: Int
        /// Its newest deployment runs on a cron schedule (`cronSchedule`).
        public var cron: Bool
        /// The first domain, as `environmentStatus` orders them.
        public var domainURL: String?
        public var domainName: String?
        public var variables: [VariableView]
    }

    public struct CanvasData: Sendable {
        public var environments: [String]
        public var services: [CanvasService]
    }

    public func canvas(project projectName: String, environment environmentName: String) async throws -> CanvasData {
        let (project, environment) = try routes.scope(projectName, environmentName)
        let store = routes.store
        let services = try store.services(projectID: project.id)
        let variables = Dictionary(grouping: try store.variables(environmentID: environment.id), by: \.serviceID)
        let domains = Dictionary(grouping: try store.domains(environmentID: environment.id), by: \.serviceID)
        let latest = Dictionary(
            try store.latestDeployments(environmentID: environment.id).map { ($0.serviceID, $0) }, uniquingKeysWith: { a, _ in a })
        var liveIDs: [String: String] = [:]
        for service in services {
            liveIDs[service.id] = await orchestrator.liveDeploymentID(serviceID: service.id, environmentID: environment.id)
        }
        // A live deployment that is not the newest (a failed redeploy after it): one more query for all of them.
        let older = liveIDs.filter { latest[$0.key]?.id != $0.value }.map(\.value)
        let live = Dictionary(try store.deployments(ids: older).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let counted = services.compactMap { liveIDs[$0.id] ?? latest[$0.id]?.id }
        let running = try store.runningReplicaCounts(deploymentIDs: counted)
        var cards: [CanvasService] = []
        for service in services {
            let newest = latest[service.id]
            let liveRecord = liveIDs[service.id].flatMap { id in newest?.id == id ? newest : live[id] }
            let domain = domains[service.id]?.first
            cards.append(
                CanvasService(
                    service: APIRoutes.serviceView(service),
                    status: (newest ?? liveRecord)?.status.rawValue ?? "NONE",
                    replicas: (liveRecord ?? newest).flatMap { running[$0.id] } ?? 0,
                    cron: newest?.deploySettings?.cronSchedule != nil,
                    domainURL: await domain.asyncMap { await orchestrator.url(forHostname: $0.hostname) + $0.pathPrefix },
                    domainName: domain.map { $0.hostname + $0.pathPrefix },
                    variables: (variables[service.id] ?? []).map(APIRoutes.variableView)))
        }
        return CanvasData(environments: try store.environments(projectID: project.id).map(\.name), services: cards)
    }

    /// One service's status (`environmentStatus`'s entry for it, without the others'), and
    /// whether its newest deployment runs on a cron schedule.
    public func serviceStatus(project: String, environment: String, service: String) async throws -> (ServiceStatusView, cron: Bool) {
        let (_, environmentRecord, serviceRecord) = try routes.serviceScope(project, environment, service)
        let newest = try routes.store.deployments(serviceID: serviceRecord.id, environmentID: environmentRecord.id, limit: 1).first
        return (
            try await routes.serviceStatus(serviceRecord, environment: environmentRecord),
            newest?.deploySettings?.cronSchedule != nil
        )
    }
}
