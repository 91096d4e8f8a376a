import Foundation
import YardControl
import YardCore

extension APIRoutes {
    func getServiceMetrics(_ input: Operations.GetServiceMetrics.Input) async throws -> Operations.GetServiceMetrics.Output {
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        let series = try orchestrator.metricsSeries(
            serviceID: service.id, environmentID: environment.id, since: input.query.since, step: input.query.step)
        return .ok(.init(body: .json(series)))
    }
}
