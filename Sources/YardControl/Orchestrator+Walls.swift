import Foundation
import YardCore
import YardRuntime
import YardStore

/// The default resource limits around every replica and task the orchestrator starts.
extension Orchestrator {
    /// A service's limits over the server's defaults (`yard serve --replica-memory` …): what a
    /// replica, pre-deploy command or cron run of it gets. A limit the service sets wins; a
    /// service cannot go without one.
    nonisolated func replicaLimits(of service: ServiceRecord) -> ResourceLimits {
        service.resourceLimits.over(configuration.replicaLimits)
    }
}

extension ResourceLimits {
    /// These limits, with each one that is unset taken from `defaults`.
    public func over(_ defaults: ResourceLimits) -> ResourceLimits {
        ResourceLimits(
            memoryBytes: memoryBytes ?? defaults.memoryBytes, cpus: cpus ?? defaults.cpus,
            maxProcesses: maxProcesses ?? defaults.maxProcesses)
    }
}
