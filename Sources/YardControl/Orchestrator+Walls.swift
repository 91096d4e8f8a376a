import Foundation
import YardCore
import YardNetwork
import YardRuntime
import YardStore

/// The walls the orchestrator puts around every box it starts: default resource limits and
/// the build network.
extension Orchestrator {
    /// A service's limits over the server's defaults (`yard serve --replica-memory` …): what a
    /// replica, pre-deploy command or cron run of it gets. A limit the service sets wins; a
    /// service cannot go without one.
    nonisolated func replicaLimits(of service: ServiceRecord) -> ResourceLimits {
        service.resourceLimits.over(configuration.replicaLimits)
    }

    /// Creates the network namespace a build's steps run in (egress only), nil without the
    /// sandbox runtime. `detachBuildNetwork` removes it.
    func attachBuildNetwork(deploymentID: String) async throws -> String? {
        guard let network else { return nil }
        let attachment = try await network.attachBuild(
            buildID: Self.buildNetworkID(deploymentID), base: configuration.privateNetworkBase)
        return attachment.namespace
    }

    func detachBuildNetwork(deploymentID: String) async {
        await network?.detach(replicaID: Self.buildNetworkID(deploymentID))
    }

    static func buildNetworkID(_ deploymentID: String) -> String { "build-" + deploymentID }
}

extension ResourceLimits {
    /// These limits, with each one that is unset taken from `defaults`.
    public func over(_ defaults: ResourceLimits) -> ResourceLimits {
        ResourceLimits(
            memoryBytes: memoryBytes ?? defaults.memoryBytes, cpus: cpus ?? defaults.cpus,
            maxProcesses: maxProcesses ?? defaults.maxProcesses)
    }
}
