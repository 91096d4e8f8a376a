import Foundation
import YardCore

/// Machines joining and leaving: `yard node add` (what the new machine runs) and
/// `yard node remove` (a drained worker leaves the swarm).
extension SwarmRuntime {
    /// The worker join token and the managers' addresses, with the daemon settings a node
    /// needs: the registry as an insecure registry, userns-remap, the ulimits.
    public func joinInstructions() async throws -> NodeJoinView {
        let swarm = try await engine.get("/swarm", as: SwarmObject.self)
        let info = try await engine.get("/info", as: EngineInfo.self)
        var managers = (info.Swarm.RemoteManagers ?? []).map(\.Addr)
        if managers.isEmpty, let address = info.Swarm.NodeAddr { managers = ["\(address):2377"] }
        guard !managers.isEmpty else { throw YardError(.internal, "the Docker engine names no swarm manager address") }
        let registry = configuration.registry?.host
        var daemon: [String: Any] = [
            "userns-remap": "default",
            "default-ulimits": ["nofile": ["Name": "nofile", "Soft": 20000, "Hard": 20000]],
        ]
        if let registry { daemon["insecure-registries"] = [registry] }
        let join: [String: Any] = [
            "JoinToken": swarm.JoinTokens.Worker, "RemoteAddrs": managers, "ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": "ADDRESS",
        ]
        func text(_ object: [String: Any]) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self)
        }
        return NodeJoinView(
            managerAddresses: managers, joinToken: swarm.JoinTokens.Worker, registry: registry,
            daemonConfiguration: try text(daemon), joinRequest: try text(join))
    }

    /// Removes a worker that no longer runs tasks: drained (or down) first, so no replica is
    /// cut off; managers are refused (demoting one changes the swarm's quorum).
    public func removeNode(_ node: String) async throws -> NodeView {
        let found = try await self.node(named: node)
        if found.ManagerStatus != nil {
            throw YardError(.conflict, "\(found.name) is a manager: demote it with docker node demote on a manager first")
        }
        let tasks = try await runningTaskCounts()[found.ID, default: 0]
        let isDown = found.Status.State == "down"
        guard isDown || found.Spec.Availability == "drain" else {
            throw YardError(.conflict, "\(found.name) still takes replicas: drain it first (yard node drain \(found.name)), then remove it")
        }
        guard isDown || tasks == 0 else {
            throw YardError(.conflict, "\(found.name) still runs \(tasks) task(s) while they move: wait until yard node list shows 0")
        }
        // Force: a worker that is still up has not left; it is told to leave by the operator.
        try await engine.call(.DELETE, "/nodes/\(found.ID)?force=true")
        nodeAddresses[found.ID] = nil
        return found.view(tasks: tasks)
    }
}

/// `GET /swarm`: the join tokens.
struct SwarmObject: Decodable {
    struct Tokens: Decodable {
        var Worker: String
    }
    var JoinTokens: Tokens
}

/// `GET /info`: the swarm addresses.
struct EngineInfo: Decodable {
    struct Manager: Decodable {
        var Addr: String
    }
    struct Swarm: Decodable {
        var NodeAddr: String?
        var RemoteManagers: [Manager]?
    }
    var Swarm: Swarm
}
