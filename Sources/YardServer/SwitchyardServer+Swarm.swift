import Foundation
import Logging
import YardRuntime
import YardSwarm

extension SwitchyardServer {
    /// `--runtime swarm`: replicas on the Docker swarm the socket's engine manages; builds
    /// in the sandbox of this machine (which must be able to isolate).
    static func swarmRuntime(_ configuration: Configuration, logger: Logger) async throws -> any ReplicaRuntime {
        let managerAddress = try await SwarmRuntime.check(socketPath: configuration.dockerSocket)
        if let warning = await SwarmRuntime.usernsWarning(socketPath: configuration.dockerSocket) { logger.warning("\(warning)") }
        let builds = try await chooseRuntime(.sandbox, orchestrator: configuration.orchestrator, logger: logger)
        let orchestrator = configuration.orchestrator
        // The registry every node pulls from: the operator's, or ours on the manager's address.
        let registry =
            if let host = configuration.swarmRegistry {
                SwarmRegistry(external: host)
            } else {
                try await SwarmRegistry(
                    address: managerAddress, directory: orchestrator.dataDirectory.appendingPathComponent("swarm-registry"))
            }
        // Tasks on this node reach neither each other nor the node, but for the router's ports
        // (a public URL through this node); port 0 (tests) is not known yet and stays closed.
        let edgePorts = [configuration.router.port, configuration.httpsPort ?? 0].filter { $0 > 0 }
        return SwarmRuntime(
            configuration: .init(
                socketPath: configuration.dockerSocket, namePrefix: orchestrator.networkPrefix, host: orchestrator.replicaHost,
                imageStore: orchestrator.imageStore,
                scratchDirectory: orchestrator.dataDirectory.appendingPathComponent("swarm"), registry: registry,
                isolation: SwarmIsolation(prefix: orchestrator.networkPrefix, edgePorts: edgePorts)),
            builds: builds, logger: logger)
    }
}
