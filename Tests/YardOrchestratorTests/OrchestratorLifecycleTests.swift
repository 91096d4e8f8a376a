import Foundation
import Testing
import YardCore
import YardStore
import YardTestSupport

@testable import YardControl

/// Railway's lifecycle where apps meet it: a job that exits 0 is COMPLETED, a worker that
/// opens no port is live (SUCCESS, Railway's "Active"), and a web service is routed only
/// once its port accepts. Nested in the core suite, so its serialization covers these too:
/// two orchestrators building at once on a two-core machine starve each other's waits.
extension OrchestratorTests {
    @Suite("lifecycle")
    struct Lifecycle {
        static func policy(_ type: String) -> [String: String] {
            ["railway.json": #"{"deploy": {"restartPolicyType": "\#(type)", "restartPolicyMaxRetries": 3}}"#]
        }

        @Test("exit 0 ends COMPLETED, replaces the live deployment, and ON_FAILURE does not restart it")
        func exitZeroCompletes() async throws {
            try await OrchestratorHarness.with { yard in
                let old = try await yard.deploy()
                try await yard.waitFor(old, .success)
                await yard.runtime.setScript(.exitsAfterStart(.exited(code: 0)))
                let job = try await yard.deploy(files: Self.policy("ON_FAILURE"))
                let record = try await yard.waitFor(job, .completed)
                #expect(record.reason?.contains("exited 0") == true, "reason: \(record.reason ?? "none")")
                let replica = try #require(try yard.data.store.replicas(deploymentID: job).first)
                #expect(replica.status == .exited)
                #expect(replica.restarts == 0)
                let log = await yard.runtime.log
                #expect(!log.contains("restart \(replica.id)"), "ON_FAILURE must not restart a clean exit: \(log)")
                try await yard.waitFor(old, .removed)
                #expect(await yard.orchestrator.liveDeploymentID(serviceID: yard.serviceID, environmentID: yard.environmentID) == job)
                #expect(await yard.orchestrator.routedReplicaIDs(forHost: try yard.hostname).isEmpty)
            }
        }

        @Test("NEVER leaves a clean exit COMPLETED too; ALWAYS restarts it and the deployment stays live")
        func exitZeroByPolicy() async throws {
            try await OrchestratorHarness.with { yard in
                await yard.runtime.setScript(.exitsAfterStart(.exited(code: 0)))
                let never = try await yard.deploy(files: Self.policy("NEVER"))
                try await yard.waitFor(never, .completed)
                let always = try await yard.deploy(files: Self.policy("ALWAYS"))
                try await yard.waitFor(always, .success)
                let replica = try #require(try yard.replicaIDs(of: always).first)
                #expect(await yard.runtime.log.contains("restart \(replica)"), "ALWAYS restarts a clean exit")
                #expect(try yard.data.store.replicas(deploymentID: always).first?.status == .running)
            }
        }

        @Test("a job that exits 0 after it went live turns the deployment COMPLETED")
        func exitZeroWhileLive() async throws {
            try await OrchestratorHarness.with { yard in
                let id = try await yard.deploy()
                try await yard.waitFor(id, .success)
                let replica = try #require(try yard.replicaIDs(of: id).first)
                #expect(await yard.runtime.crash(replica, reason: .exited(code: 0)) == .stop)
                try await yard.waitFor(id, .completed)
            }
        }

        @Test("a worker that never opens its port is live (ACTIVE) after the grace period and retires the previous deployment")
        func workerWithoutPort() async throws {
            try await OrchestratorHarness.with { yard in
                // The previous deployment is a worker too (a web service's next deployment
                // waits for its port: `webServiceWaitsForItsPort`).
                await yard.runtime.setScript(.neverListens)
                let old = try await yard.deploy()
                try await yard.waitFor(old, .success)
                let host = try yard.hostname
                let worker = try await yard.deploy()
                try await yard.waitFor(worker, .success)
                try await yard.waitFor(old, .removed)
                let replica = try #require(try yard.data.store.replicas(deploymentID: worker).first)
                #expect(replica.status == .running)
                #expect(await yard.runtime.running == [replica.id])
                #expect(await yard.orchestrator.routedReplicaIDs(forHost: host).isEmpty, "nothing is routed to a closed port")
                // It opens its port later: routed from then on.
                try await yard.runtime.openPort(replica.id)
                try await yard.waitUntil("the worker's port is routed") {
                    await yard.orchestrator.routedReplicaIDs(forHost: host) == [replica.id]
                }
                #expect(try yard.status(worker) == .success)
            }
        }

        @Test("a web service whose port opens late, after the grace period, is routed and replaces the old one only once it accepts")
        func lateWebPort() async throws {
            try await OrchestratorHarness.with(portGracePeriod: .milliseconds(300)) { yard in
                let old = try await yard.deploy()
                try await yard.waitFor(old, .success)
                let oldReplica = try #require(try yard.replicaIDs(of: old).first)
                let host = try yard.hostname
                await yard.runtime.setScript(.neverListens)
                let new = try await yard.deploy()
                try await yard.waitUntil("the new replica started") { try !yard.replicaIDs(of: new).isEmpty }
                let newReplica = try #require(try yard.replicaIDs(of: new).first)
                try await yard.waitUntil("the new replica runs") { await yard.runtime.running.contains(newReplica) }
                // Three times the grace period: the live deployment answers on its port, so
                // this one waits for its own (a worker's would be live by now).
                try await Task.sleep(for: .milliseconds(900))
                #expect(try yard.status(new) == .deploying, "no cutover before the port accepts")
                #expect(await yard.orchestrator.routedReplicaIDs(forHost: host) == [oldReplica], "the old replica keeps serving")
                let opened = ContinuousClock.now
                try await yard.runtime.openPort(newReplica)
                try await yard.waitFor(new, .success)
                #expect(ContinuousClock.now - opened < .seconds(5), "live as soon as the port accepts, not after the grace period")
                #expect(await yard.orchestrator.routedReplicaIDs(forHost: host) == [newReplica])
                try await yard.waitFor(old, .removed)
            }
        }

        @Test("a web service's deployment that never opens its port fails at its health check timeout; the old one keeps serving")
        func webServiceWaitsForItsPort() async throws {
            try await OrchestratorHarness.with(portGracePeriod: .milliseconds(300)) { yard in
                let old = try await yard.deploy()
                try await yard.waitFor(old, .success)
                let oldReplica = try #require(try yard.replicaIDs(of: old).first)
                await yard.runtime.setScript(.neverListens)
                let wrongPort = try await yard.deploy(files: ["railway.json": #"{"deploy": {"healthcheckTimeout": 2}}"#])
                let record = try await yard.waitFor(wrongPort, .failed)
                #expect(record.reason?.contains("did not open within 2s") == true, "reason: \(record.reason ?? "none")")
                #expect(try yard.status(old) == .success)
                #expect(await yard.orchestrator.routedReplicaIDs(forHost: try yard.hostname) == [oldReplica])
            }
        }

        @Test("a web service that fails at start and restarts without a port does not replace the live deployment")
        func crashLoopKeepsOldLive() async throws {
            try await OrchestratorHarness.with { yard in
                let old = try await yard.deploy()
                try await yard.waitFor(old, .success)
                let oldReplica = try #require(try yard.replicaIDs(of: old).first)
                await yard.runtime.setScript(.exitsAfterStart(.exited(code: 1)))
                let broken = try await yard.deploy(
                    files: ["railway.json": #"{"deploy": {"restartPolicyType": "ON_FAILURE", "healthcheckTimeout": 1}}"#])
                let record = try await yard.waitFor(broken, .failed)
                #expect(record.reason?.contains("did not become healthy") == true, "reason: \(record.reason ?? "none")")
                #expect(try yard.status(old) == .success)
                #expect(await yard.orchestrator.routedReplicaIDs(forHost: try yard.hostname) == [oldReplica])
            }
        }
    }
}
