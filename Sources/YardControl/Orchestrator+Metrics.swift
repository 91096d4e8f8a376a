import Foundation
import YardCore
import YardRouter
import YardRuntime
import YardStore

extension Orchestrator: MetricsHost {
    /// Each live service's running replicas (usage, traffic, restarts), limit and volume.
    func metricsSamples() async -> [ServiceMetricsSample] {
        var samples: [ServiceMetricsSample] = []
        for (key, replicaIDs) in runningReplicaIDs() {
            guard let service = try? store.service(id: key.serviceID),
                let labels = metricLabels(serviceID: key.serviceID, environmentID: key.environmentID)
            else { continue }
            let deploymentID = live[key]
            let restarts =
                deploymentID.flatMap { try? store.replicas(deploymentID: $0) }.map {
                    Dictionary($0.map { ($0.id, $0.restarts) }, uniquingKeysWith: { $1 })
                } ?? [:]
            var replicas: [ServiceMetricsSample.Replica] = []
            for id in replicaIDs {
                replicas.append(
                    .init(
                        id: id, usage: await runtime.usage(of: id), traffic: (runtime as? any ReplicaTrafficCounting)?.traffic(of: id),
                        restarts: restarts[id] ?? 0))
            }
            let volume = try? store.volume(serviceID: key.serviceID, environmentID: key.environmentID)
            samples.append(
                ServiceMetricsSample(
                    serviceID: key.serviceID, environmentID: key.environmentID, labels: labels, replicas: replicas,
                    memoryLimitBytes: replicaLimits(of: service).memoryBytes.map { Int64($0) },
                    volumeDirectory: volume.map {
                        configuration.dataDirectory.appendingPathComponent("volumes").appendingPathComponent($0.id).path
                    },
                    isDatabase: service.database != nil))
        }
        return samples
    }

    /// The names that label a service's series.
    nonisolated func metricLabels(serviceID: String, environmentID: String) -> MetricLabels? {
        guard let service = try? store.service(id: serviceID), let environment = try? store.environment(id: environmentID),
            let project = try? store.project(service.projectID)
        else { return nil }
        return MetricLabels(project: project.name, environment: environment.name, service: service.name)
    }

    /// A service's stored points from `since` (default: an hour ago) on, at the finest step
    /// kept that long (or `step`).
    public nonisolated func metricsSeries(serviceID: String, environmentID: String, since: Date?, step: Int?) throws -> MetricsSeriesView {
        let service = try store.service(id: serviceID)
        let environment = try store.environment(id: environmentID)
        let now = configuration.clock.now
        let since = since ?? now.addingTimeInterval(-3600)
        let age = now.timeIntervalSince(since)
        let chosen =
            step ?? SQLiteStore.metricsRetention.first { $0.keep >= age }?.step ?? SQLiteStore.metricsRetention.last!.step
        guard SQLiteStore.metricsRetention.contains(where: { $0.step == chosen }) else {
            throw YardError(.invalidInput, "step \(chosen) is not one of 10, 60, 600 (seconds)")
        }
        let points = try store.metricsPoints(serviceID: serviceID, environmentID: environmentID, step: chosen, since: since)
        return MetricsSeriesView(service: service.name, environment: environment.name, step: chosen, points: points)
    }
}
