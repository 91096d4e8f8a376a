import Foundation
import Testing
import YardCore
import YardStore
import YardTestSupport

@testable import YardControl

/// The orchestrator's own events drive alert rules: a restart loop and an OOM kill of a
/// live replica (scripted by the fake runtime), to a real webhook receiver.
@Suite("Alerts from the orchestrator")
struct AlertOrchestratorTests {
    @Test("a crash loop raises one alert, not one per restart; an OOM kill raises its own")
    func crashLoopAndOOM() async throws {
        let receivers = try await AlertReceivers()
        defer { receivers.stop() }
        try await OrchestratorHarness.with { yard in
            let store = yard.data.store
            let service = try store.service(id: yard.serviceID)
            try store.createAlertChannel(
                AlertChannelRecord(
                    id: "alc_hook", projectID: service.projectID, name: "hook", kind: .webhook, target: receivers.webhookURL, secret: "s"))
            for (id, kind) in [("alr_loop", AlertKind.crashLoop), ("alr_oom", .oom)] {
                try store.createAlertRule(
                    AlertRuleRecord(
                        id: id, projectID: service.projectID, serviceID: yard.serviceID, environmentID: yard.environmentID,
                        channelID: "alc_hook", kind: kind, threshold: nil, overSeconds: 600, repeatSeconds: 3600))
            }
            let deployment = try await yard.deploy(
                files: ["railway.json": #"{"deploy": {"restartPolicyType": "ON_FAILURE", "restartPolicyMaxRetries": 20}}"#])
            try await yard.waitFor(deployment, .success, timeout: .seconds(30))
            let replica = try #require(try yard.replicaIDs(of: deployment).first)
            for restart in 1...8 {
                await yard.runtime.crash(replica)
                try await yard.waitUntil("restart \(restart) is recorded", timeout: .seconds(20)) {
                    try store.replicas(deploymentID: deployment).first?.restarts == restart
                }
            }
            #expect(await receivers.wait { receivers.deliveries().count == 1 })
            try await Task.sleep(for: .milliseconds(500))
            let loop = receivers.deliveries()
            #expect(loop.count == 1, "one alert for eight restarts, not \(loop.count)")
            #expect(try store.alertRule(id: "alr_loop")?.state == .firing)

            await yard.runtime.crash(replica, reason: .oomKilled)
            #expect(await receivers.wait { receivers.deliveries().count == 2 })
            let oom = try #require(try JSONSerialization.jsonObject(with: receivers.deliveries()[1].bodyData) as? [String: Any])
            #expect((oom["details"] as? [String: Any])?["kind"] as? String == "oom", "\(oom)")
            #expect(try store.alertRule(id: "alr_oom")?.state == .firing)
        }
    }
}
