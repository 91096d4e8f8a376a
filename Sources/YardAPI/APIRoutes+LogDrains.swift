import Foundation
import YardControl
import YardCore
import YardStore

/// `yard drain`: a service's log lines forwarded to syslog or HTTP.
extension APIRoutes {
    func listLogDrains(_ input: Operations.ListLogDrains.Input) async throws -> Operations.ListLogDrains.Output {
        let (project, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        let drains = try store.logDrains(projectID: project.id)
            .filter { $0.serviceID == service.id && $0.environmentID == environment.id }
            .map { drainView($0, service: service.name, environment: environment.name) }
        return .ok(.init(body: .json(LogDrainListView(drains: drains))))
    }

    func createLogDrain(_ input: Operations.CreateLogDrain.Input) async throws -> Operations.CreateLogDrain.Output {
        guard case .json(let request) = input.body else { throw Self.unexpectedBody }
        let (project, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        guard let kind = LogDrainTarget.Kind(rawValue: request.kind) else {
            throw YardError(.invalidInput, "a drain is --syslog tcp://host:port or --http URL, not '\(request.kind)'")
        }
        try LogDrainTarget.validate(kind: kind, url: request.url)
        let record = LogDrainRecord(
            id: Identifier.make("drn"), projectID: project.id, serviceID: service.id, environmentID: environment.id, kind: kind.rawValue,
            url: request.url)
        try store.createLogDrain(record)
        orchestrator.drains.reload(try store.logDrains())
        return .created(.init(body: .json(drainView(record, service: service.name, environment: environment.name))))
    }

    func deleteLogDrain(_ input: Operations.DeleteLogDrain.Input) async throws -> Operations.DeleteLogDrain.Output {
        let project = try store.project(input.path.project)
        guard try store.logDrains(projectID: project.id).contains(where: { $0.id == input.path.drain }) else {
            throw YardError(.notFound, "no log drain '\(input.path.drain)' in project \(project.name); `yard drain ls` lists them")
        }
        try store.deleteLogDrain(id: input.path.drain)
        orchestrator.drains.reload(try store.logDrains())
        return .noContent(.init())
    }

    private func drainView(_ record: LogDrainRecord, service: String, environment: String) -> LogDrainView {
        let counts = orchestrator.drains.counts(record.id) ?? (0, 0, 0)
        return LogDrainView(
            id: record.id, service: service, environment: environment, kind: record.kind, target: AlertDelivery.shownURL(record.url),
            sent: counts.sent,
            dropped: counts.dropped, queued: counts.queued)
    }
}
