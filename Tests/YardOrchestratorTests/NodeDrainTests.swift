import Foundation
import Synchronization
import Testing
@testable import YardControl
import YardCore
import YardRuntime
import YardTestSupport

/// The fake runtime as a cluster of nodes: the test says which replicas run on which node
/// and whether the engine takes a node update; each update records what was routed at
/// that moment (`routedAtUpdate`, set by the test). Everything else is the `FakeRuntime`'s.
final class FakeClusterRuntime: ReplicaRuntime, ClusterNodes {
    struct State {
        var nodes: [String: [String]] = [:]
        var refuseUpdates = false
        var updates: [String] = []
        var routedAtUpdates: [[String]] = []
        var routedAtUpdate: (@Sendable () async -> [String])?
    }

    let inner: FakeRuntime
    let state = Mutex(State())

    init(_ inner: FakeRuntime) { self.inner = inner }

    func place(_ replicaID: String, on node: String) { state.withLock { $0.nodes[node, default: []].append(replicaID) } }
    func refuseUpdates(_ refuse: Bool) { state.withLock { $0.refuseUpdates = refuse } }
    var updates: [String] { state.withLock { $0.updates } }
    var routedAtUpdates: [[String]] { state.withLock { $0.routedAtUpdates } }

    // MARK: ClusterNodes

    func replicaIDs(onNode node: String) async throws -> [String] {
        try state.withLock { state in
            guard let replicas = state.nodes[node] else { throw YardError(.notFound, "no node \(node)") }
            return replicas
        }
    }

    func setAvailability(_ availability: String, node: String) async throws -> NodeView {
        let observe = state.withLock { $0.routedAtUpdate }
        let routed = await observe?() ?? []
        let refused = state.withLock { state in
            state.updates.append("\(availability) \(node)")
            state.routedAtUpdates.append(routed.sorted())
            return state.refuseUpdates
        }
        if refused { throw YardError(.conflict, "the engine refused the update of \(node)") }
        return NodeView(id: node, name: node, role: "worker", state: "ready", availability: availability, address: "10.0.0.2", tasks: 0, leader: false)
    }

    func clusterNodes() async throws -> [NodeView] { [] }
    func joinInstructions() async throws -> NodeJoinView { throw YardError(.unavailable, "not in this test") }
    func removeNode(_ node: String) async throws -> NodeView { throw YardError(.unavailable, "not in this test") }

    // MARK: ReplicaRuntime, by the fake runtime

    var isolation: RuntimeIsolation { inner.isolation }
    var addressing: ReplicaAddressing { inner.addressing }
    var summary: String { inner.summary }
    var events: AsyncStream<ReplicaEvent> { inner.events }
    var appMountPath: String? { inner.appMountPath }
    var buildLauncher: any ProcessLauncher { inner.buildLauncher }
    var platformExecutable: String? { inner.platformExecutable }
    func cleanUpLeftovers() async { await inner.cleanUpLeftovers() }
    func closeEvents() { inner.closeEvents() }
    func shutdown() async { await inner.shutdown() }
    func prepareNetwork(environmentID: String, subnetIndex: Int) async throws {
        try await inner.prepareNetwork(environmentID: environmentID, subnetIndex: subnetIndex)
    }
    func removeNetwork(environmentID: String) async { await inner.removeNetwork(environmentID: environmentID) }
    func placeReplica(_ request: ReplicaRequest) async throws -> ReplicaPlacement { try await inner.placeReplica(request) }
    func startReplica(id: String) async throws { try await inner.startReplica(id: id) }
    func stopReplica(id: String, grace: Duration) async { await inner.stopReplica(id: id, grace: grace) }
    func stopAll(grace: Duration) async { await inner.stopAll(grace: grace) }
    func usage(of replicaID: String) async -> ResourceUsage? { await inner.usage(of: replicaID) }
    func startTask(_ request: ReplicaRequest, output: @escaping OutputHandler) async throws -> any LaunchedProcess {
        try await inner.startTask(request, output: output)
    }
    func endTask(id: String) async { await inner.endTask(id: id) }
    func buildEnvironment() -> [String: String] { inner.buildEnvironment() }
    func prepareBuild(_ request: BuildBoxRequest) async throws -> BuildBox { try await inner.prepareBuild(request) }
    func finishBuild(deploymentID: String) async { await inner.finishBuild(deploymentID: deploymentID) }
    func confineTool(serviceID: String, environmentID: String, scratch: String) throws -> ConfinedTool {
        try inner.confineTool(serviceID: serviceID, environmentID: environmentID, scratch: scratch)
    }
    func publishDirectory(environmentID: String, services: [String: [String]]) async {
        await inner.publishDirectory(environmentID: environmentID, services: services)
    }
}

@Suite("Draining a swarm node")
struct NodeDrainTests {
    @Test("a drained node's replicas leave routing before the node is handed over, come back when they run again, and at once when the update fails")
    func drainTakesTheNodesReplicasOutFirst() async throws {
        try await OrchestratorHarness.with(wrap: { FakeClusterRuntime($0) }) { yard in
            let nodes = try #require(yard.replicaRuntime as? FakeClusterRuntime)
            let deployment = try await yard.deploy(files: ["railway.json": #"{"deploy": {"numReplicas": 2}}"#])
            try await yard.waitFor(deployment, .success)
            let replicas = try yard.replicaIDs(of: deployment).sorted()
            try #require(replicas.count == 2)
            let host = try yard.hostname
            let orchestrator = yard.orchestrator
            #expect(await orchestrator.routedReplicaIDs(forHost: host).sorted() == replicas)
            let (leaving, staying) = (replicas[0], replicas[1])
            nodes.place(leaving, on: "worker")
            nodes.state.withLock { $0.routedAtUpdate = { await orchestrator.routedReplicaIDs(forHost: host) } }

            // The engine refuses the update: the replica is back in routing at once.
            nodes.refuseUpdates(true)
            await #expect(throws: YardError.self) { _ = try await orchestrator.setNodeAvailability("drain", node: "worker") }
            #expect(nodes.routedAtUpdates == [[staying]], "out of routing before the node is handed over")
            #expect(await orchestrator.routedReplicaIDs(forHost: host).sorted() == replicas)

            // The engine takes it: out until its task runs elsewhere, which is its next start
            // (the fake runtime's restart after a crash stands for swarm's replacement).
            nodes.refuseUpdates(false)
            _ = try await orchestrator.setNodeAvailability("drain", node: "worker")
            #expect(nodes.routedAtUpdates.last == [staying])
            #expect(await orchestrator.routedReplicaIDs(forHost: host) == [staying])
            _ = await yard.runtime.crash(leaving)
            try await yard.waitUntil("the moved replica is routed again") {
                await orchestrator.routedReplicaIDs(forHost: host).sorted() == replicas
            }

            // Other availabilities go straight to the runtime; an unknown node changes nothing.
            _ = try await orchestrator.setNodeAvailability("active", node: "worker")
            await #expect(throws: YardError.self) { _ = try await orchestrator.setNodeAvailability("drain", node: "nowhere") }
            #expect(nodes.updates == ["drain worker", "drain worker", "active worker"])
            #expect(await orchestrator.routedReplicaIDs(forHost: host).sorted() == replicas)
        }
    }
}
