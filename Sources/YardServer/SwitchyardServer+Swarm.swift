import Foundation
import Logging
import YardRuntime
import YardSwarm

extension SwitchyardServer {
    /// `--runtime swarm`: replicas on the Docker swarm the socket's engine manages; builds
    /// in the sandbox of this machine (which must be able to isolate).
    static func swarmRuntime(_ configuration: Configuration, logger: Logger) async throws -> any ReplicaRuntime {
        try await SwarmRuntime.check(socketPath: configuration.dockerSocket)
        let builds = try await chooseRuntime(.sandbox, orchestrator: configuration.orchestrator, logger: logger)
        let orchestrator = configuration.orchestrator
        return SwarmRuntime(
            configuration: .init(
                socketPath: configuration.dockerSocket, namePrefix: orchestrator.networkPrefix, host: orchestrator.replicaHost,
                imageStore: orchestrator.imageStore,
                scratchDirectory: orchestrator.dataDirectory.appendingPathComponent("swarm")),
            builds: builds, logger: logger)
    }
}
