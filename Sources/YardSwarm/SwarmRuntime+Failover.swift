import Foundation
import YardCore
import YardRouter
import YardRuntime

/// A lost node, seen from the edge: its replicas leave routing at the first refused
/// connection, long before swarm marks the node down and reschedules its tasks.
///
/// When a node's dockerd dies, its port proxies die with it, so the relay's connection to a
/// task's published port is refused at once; swarm notices the node only after its heartbeat
/// timeout (seconds). The first refusal takes the replica out of routing (an `exited` event
/// with a restart decision, as when swarm moves a task), so the router sends the next requests
/// to the other replicas; the replica comes back when its task answers again (the watcher
/// probes it) or when swarm's replacement runs (`route(replicaID:to:)`).
extension SwarmRuntime {
    /// Where each replica's relay points now, by replica id.
    func recordRoute(_ upstream: Upstream) {
        relayTargets[upstream.replicaID] = upstream
        unreachable.remove(upstream.replicaID)
    }

    /// The relay of `port` could not connect to `upstream`: out of routing now.
    func relayFailed(port: Int, upstream: Upstream) {
        let replicaID = upstream.replicaID
        guard placed[replicaID]?.request.port == port, relayTargets[replicaID] == upstream, !unreachable.contains(replicaID)
        else { return }
        unreachable.insert(replicaID)
        logger.warning(
            "swarm task unreachable; out of routing",
            metadata: ["replica.id": "\(replicaID)", "task.address": "\(upstream.host):\(upstream.port)"])
        continuation.yield(
            .output(
                replicaID: replicaID, stream: .stderr,
                line: "swarm: \(upstream.host):\(upstream.port) refused the connection (its node or task is gone); "
                    + "out of routing until it answers or swarm runs it elsewhere"))
        continuation.yield(.exited(replicaID: replicaID, reason: .exited(code: 0), decision: .restart(after: .zero, attempt: 1)))
    }

    /// For a replica taken out by `relayFailed` whose task swarm still calls running: whether
    /// its port answers again (a network blip rather than a lost node); clears the mark if so.
    func answersAgain(replicaID: String) async -> Bool {
        guard unreachable.contains(replicaID), let upstream = relayTargets[replicaID] else { return false }
        let result = await HealthChecker.waitForPort(host: upstream.host, port: upstream.port, timeout: .milliseconds(300))
        guard result.passed, unreachable.contains(replicaID), relayTargets[replicaID] == upstream else { return false }
        unreachable.remove(replicaID)
        continuation.yield(.output(replicaID: replicaID, stream: .stdout, line: "swarm: \(upstream.host):\(upstream.port) answers again"))
        return true
    }

    /// Wires the relay's refusals to `relayFailed` (once, at init).
    nonisolated func watchRelayFailures() {
        relay.onConnectFailure { [weak self] port, upstream in
            guard let self else { return }
            Task { await self.relayFailed(port: port, upstream: upstream) }
        }
    }
}
