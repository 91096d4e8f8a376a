import Foundation
import Logging
import Synchronization
import Testing
import YardCore
import YardRuntime
import YardStore
import YardTestSupport

@testable import YardControl

/// A cluster whose nodes the test sets (the swarm runtime will implement the protocol).
final class ScriptedNodes: ClusterNodeSource {
    private let states = Mutex<[ClusterNodeState]?>(nil)

    func set(_ nodes: [ClusterNodeState]?) { states.withLock { $0 = nodes } }
    func nodeStates() async -> [ClusterNodeState]? { states.withLock { $0 } }
}

/// `node-down` rules through the real engine, store and webhook receiver, fed by a scripted
/// node source.
/// A runtime's cluster as the test sets it.
final class FixedCluster: ClusterNodes {
    let views: [NodeView]
    init(_ views: [NodeView]) { self.views = views }
    func clusterNodes() async throws -> [NodeView] { views }
    func setAvailability(_ availability: String, node: String) async throws -> NodeView { views[0] }
    func replicaIDs(onNode node: String) async throws -> [String] { [] }
    func joinInstructions() async throws -> NodeJoinView { throw YardError(.unavailable, "not in this test") }
    func removeNode(_ node: String) async throws -> NodeView { views[0] }
}

@Suite("Node-down alerts")
struct AlertNodeDownTests {
    @Test("the swarm runtime's node states feed the rules: down and disconnected are down")
    func runtimeNodes() async throws {
        func node(_ name: String, _ state: String) -> NodeView {
            NodeView(id: "id-" + name, name: name, role: "worker", state: state, availability: "active", address: "10.0.0.1", tasks: 0, leader: false)
        }
        let source = RuntimeNodeSource(nodes: FixedCluster([node("a", "ready"), node("b", "down"), node("c", "unknown"), node("d", "disconnected")]))
        let states = try #require(await source.nodeStates())
        #expect(states.map(\.isUp) == [true, false, true, false])
        let (firing, summary) = await ClusterNodeCheck.evaluate(source)
        #expect(firing == true && summary == "nodes b, d are down (2 of 4 up)")
    }

    @Test("a node going down fires once, staying down sends nothing more, coming back resolves; unknown changes nothing")
    func nodeDownFiresOnceAndResolves() async throws {
        let temporary = try TemporaryStore()
        defer { temporary.remove() }
        let receivers = try await AlertReceivers()
        defer { receivers.stop() }
        let store = temporary.store
        let (project, production) = try store.createProject(name: "fleet")
        let web = try store.createService(projectID: project.id, name: "web")
        try store.createAlertChannel(
            AlertChannelRecord(
                id: "alc_hook", projectID: project.id, name: "hook", kind: .webhook, target: receivers.webhookURL,
                secret: ContentHash.randomToken()))
        let ruleID = Identifier.make("alr")
        try store.createAlertRule(
            AlertRuleRecord(
                id: ruleID, projectID: project.id, serviceID: web.id, environmentID: production.id, channelID: "alc_hook", kind: .nodeDown,
                threshold: nil, overSeconds: 60, repeatSeconds: 3600))
        let nodes = ScriptedNodes()
        var configuration = AlertEngine.Configuration()
        configuration.nodes = nodes
        configuration.backoff = .milliseconds(50)
        let engine = AlertEngine(configuration: configuration, store: store, logger: Logger(label: "node-down-test"))
        func state() throws -> AlertState? { try store.alertRule(id: ruleID)?.state }
        func pass() async {
            await engine.evaluate()
            await engine.settle()
        }

        // Nothing known (no cluster answer): pending, nothing sent.
        await pass()
        #expect(try state() == .pending)
        let up = [ClusterNodeState(id: "n1", name: "node-a", isUp: true), ClusterNodeState(id: "n2", name: "node-b", isUp: true)]
        nodes.set(up)
        await pass()
        #expect(try state() == .ok)

        nodes.set([up[0], ClusterNodeState(id: "n2", name: "node-b", isUp: false)])
        await pass()
        await pass()
        #expect(try state() == .firing)
        #expect(receivers.deliveries().count == 1)
        let fired = try #require(receivers.deliveries().first)
        let text = String(decoding: fired.bodyData, as: UTF8.self)
        #expect(text.contains("node node-b is down") && text.contains("Alert.triggered") && text.contains("node-down"), "\(text)")

        // The source stops answering: unknown, still firing, nothing sent.
        nodes.set(nil)
        await pass()
        #expect(try state() == .firing && receivers.deliveries().count == 1)

        nodes.set(up)
        await pass()
        #expect(try state() == .resolved)
        #expect(receivers.deliveries().count == 2)
        let resolved = String(decoding: try #require(receivers.deliveries().last).bodyData, as: UTF8.self)
        #expect(resolved.contains("Alert.resolved") && resolved.contains("every node is up"), "\(resolved)")
    }

    @Test("the node check's words name every node down")
    func words() async {
        let nodes = ScriptedNodes()
        nodes.set([
            ClusterNodeState(id: "1", name: "c", isUp: false), ClusterNodeState(id: "2", name: "a", isUp: false),
            ClusterNodeState(id: "3", name: "b", isUp: true),
        ])
        let (holds, detail) = await ClusterNodeCheck.evaluate(nodes)
        #expect(holds == true && detail == "nodes a, c are down (1 of 3 up)", "\(detail ?? "")")
        let (unknown, _) = await ClusterNodeCheck.evaluate(nil)
        #expect(unknown == nil)
        nodes.set([])
        #expect(await ClusterNodeCheck.evaluate(nodes).0 == nil)
    }
}
