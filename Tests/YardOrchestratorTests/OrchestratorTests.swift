import Foundation
import Testing
import YardCore
import YardStore
import YardTestSupport

@testable import YardControl

/// The deployment core on the fake runtime: queueing, cutover, volumes, crashes, sleep,
/// cancel and recovery, with a real orchestrator, store, builder, health checker and
/// router, and no root.
@Suite("Orchestrator core", .serialized)
struct OrchestratorTests {
    /// A build that runs long enough to be caught in BUILDING.
    static let slowBuild = ["railway.json": #"{"build": {"buildCommand": "sleep 30"}}"#]

    @Test("a newer deployment supersedes the ones still queued")
    func supersede() async throws {
        try await OrchestratorHarness.with { yard in
            let archives = try (0..<3).map { _ in try yard.pack() }
            let first = try await yard.deploy(archive: archives[0])
            let second = try await yard.deploy(archive: archives[1])
            let third = try await yard.deploy(archive: archives[2])
            try await yard.waitFor(third, .success)
            #expect(try yard.status(second) == .skipped)
            #expect(try yard.data.store.deployment(id: second).reason?.contains(third) == true)
            try await yard.waitFor(first, .removed)
        }
    }

    @Test("cutover: new replicas healthy, routes swapped, then the old ones drained and stopped")
    func cutoverOrder() async throws {
        try await OrchestratorHarness.with { yard in
            let old = try await yard.deploy()
            try await yard.waitFor(old, .success)
            let oldReplica = try #require(try yard.replicaIDs(of: old).first)
            let host = try yard.hostname
            #expect(await yard.orchestrator.routedReplicaIDs(forHost: host) == [oldReplica])
            // What the router and the store say at the moment the old replica is stopped.
            let seen = SeenAtStop()
            let orchestrator = yard.orchestrator
            let store = yard.data.store
            await yard.runtime.setOnStop { id in
                guard id == oldReplica else { return }
                let routed = await orchestrator.routedReplicaIDs(forHost: host)
                let running = (try? store.deployments(withStatus: [.success]).flatMap { try store.replicas(deploymentID: $0.id) }
                    .filter { $0.status == .running }.map(\.id)) ?? []
                seen.record(routed: routed, running: running)
            }
            let new = try await yard.deploy()
            try await yard.waitFor(new, .success)
            try await yard.waitFor(old, .removed)
            let newReplica = try #require(try yard.replicaIDs(of: new).first)
            let log = await yard.runtime.log
            let started = try #require(log.firstIndex(of: "start \(newReplica)"))
            let stopped = try #require(log.firstIndex(of: "stop \(oldReplica)"), "the old replica was never stopped: \(log)")
            #expect(started < stopped, "the new replica must start before the old one stops: \(log)")
            #expect(seen.routed == [newReplica], "at the old replica's stop the route goes to the new replica only")
            #expect(seen.running == [newReplica], "at the old replica's stop the new replica has passed its health check")
            #expect(await orchestrator.routedReplicaIDs(forHost: host) == [newReplica])
        }
    }

    @Test("with a volume the old replica stops before the new one starts")
    func volumeStopFirst() async throws {
        try await OrchestratorHarness.with { yard in
            try yard.data.store.addVolume(VolumeRecord(
                id: Identifier.make("vol"), serviceID: yard.serviceID, environmentID: yard.environmentID, name: "data",
                mountPath: "/data", createdAt: Date()))
            let old = try await yard.deploy()
            try await yard.waitFor(old, .success)
            let oldReplica = try #require(try yard.replicaIDs(of: old).first)
            let new = try await yard.deploy()
            try await yard.waitFor(new, .success)
            let newReplica = try #require(try yard.replicaIDs(of: new).first)
            let log = await yard.runtime.log
            let stopped = try #require(log.firstIndex(of: "stop \(oldReplica)"))
            let placed = try #require(log.firstIndex(of: "place \(newReplica)"))
            #expect(stopped < placed, "the old replica must stop before the new one is even placed: \(log)")
            let volume = try #require(await yard.runtime.request(of: newReplica)?.volume)
            #expect(volume.mountPath == "/data")
        }
    }

    @Test("a replica that keeps crashing is restarted by its policy, then the deployment is CRASHED")
    func crashThenCrashed() async throws {
        try await OrchestratorHarness.with { yard in
            let id = try await yard.deploy(
                files: ["railway.json": #"{"deploy": {"restartPolicyType": "ON_FAILURE", "restartPolicyMaxRetries": 2}}"#])
            try await yard.waitFor(id, .success)
            let replica = try #require(try yard.replicaIDs(of: id).first)
            #expect(Self.attempt(of: await yard.runtime.crash(replica)) == 1)
            try await yard.waitUntil("the restarted replica runs") {
                try yard.data.store.replicas(deploymentID: id).first?.restarts == 1
            }
            #expect(try yard.status(id) == .success)
            #expect(Self.attempt(of: await yard.runtime.crash(replica)) == 2)
            #expect(await yard.runtime.crash(replica) == .giveUp(attempts: 2))
            try await yard.waitFor(id, .crashed)
            #expect(try yard.data.store.replicas(deploymentID: id).first?.status == .crashed)
        }
    }

    @Test("a restarted replica is routed again only once it answers: its port, or its health check path's 200")
    func aRestartedReplicaIsRoutedOnceItAnswers() async throws {
        // Without a health check path its port must accept; with one, the path must answer
        // 200 (swarm's port proxy accepts before the app listens, so a port is not enough).
        for (files, restartsAs) in [
            (#"{"deploy": {"numReplicas": 2}}"#, FakeRuntime.ReplicaScript.neverListens),
            (#"{"deploy": {"numReplicas": 2, "healthcheckPath": "/health"}}"#, .listens),
        ] {
            try await OrchestratorHarness.with { yard in
                await yard.runtime.setScript(.answers)
                let id = try await yard.deploy(files: ["railway.json": files])
                try await yard.waitFor(id, .success)
                let replicas = try yard.replicaIDs(of: id).sorted()
                try #require(replicas.count == 2)
                let (host, orchestrator) = (try yard.hostname, yard.orchestrator)
                #expect(await orchestrator.routedReplicaIDs(forHost: host).sorted() == replicas)

                let (restarted, other) = (replicas[0], replicas[1])
                await yard.runtime.setScript(restartsAs, for: restarted)
                #expect(Self.attempt(of: await yard.runtime.crash(restarted)) == 1)
                try await yard.waitUntil("the restart is recorded") {
                    try yard.data.store.replicas(deploymentID: id).first { $0.id == restarted }?.restarts == 1
                }
                try await Task.sleep(for: .milliseconds(300))
                #expect(await orchestrator.routedReplicaIDs(forHost: host) == [other], "\(files)")
                #expect(try yard.data.store.replicas(deploymentID: id).first { $0.id == restarted }?.status == .running)

                if case .neverListens = restartsAs { try await yard.runtime.openPort(restarted) }
                try await yard.runtime.answer(restarted)
                try await yard.waitUntil("the restarted replica is routed again") {
                    await orchestrator.routedReplicaIDs(forHost: host).sorted() == replicas
                }
            }
        }
    }

    /// The restart attempt a decision starts, nil when it restarts nothing.
    static func attempt(of decision: RestartPolicy.Decision?) -> Int? {
        if case .restart(_, let attempt) = decision { return attempt }
        return nil
    }

    @Test("an idle service sleeps, and a request wakes it on a fresh replica")
    func sleepAndWake() async throws {
        try await OrchestratorHarness.with(sleepAfter: .seconds(60)) { yard in
            var service = try yard.data.store.service(id: yard.serviceID)
            service.sleepApplication = true
            try yard.data.store.updateService(service)
            let id = try await yard.deploy()
            try await yard.waitFor(id, .success)
            let first = try #require(try yard.replicaIDs(of: id).first)
            // The idle check skips a service while a job of it runs (its deploy ends just
            // after SUCCESS).
            try await yard.waitUntil("the deploy job is done") {
                await !yard.orchestrator.hasJob(serviceID: yard.serviceID, environmentID: yard.environmentID)
            }
            // Not idle long enough: awake.
            await yard.orchestrator.sleepIdleServices(now: Date().addingTimeInterval(30))
            #expect(try yard.status(id) == .success)
            await yard.orchestrator.sleepIdleServices(now: Date().addingTimeInterval(120))
            try await yard.waitFor(id, .sleeping)
            try await yard.waitUntil("the sleeping replica is stopped") { await yard.runtime.log.contains("stop \(first)") }
            #expect(await yard.runtime.running.isEmpty)
            await yard.orchestrator.wake(host: try yard.hostname)
            try await yard.waitFor(id, .success)
            let running = await yard.runtime.running
            #expect(running.count == 1 && running.first != first, "woken on a new replica: \(running)")
        }
    }

    @Test("cancel during the build stops it; nothing is started")
    func cancelDuringBuild() async throws {
        try await OrchestratorHarness.with { yard in
            let id = try await yard.deploy(files: Self.slowBuild)
            try await yard.waitFor(id, .building)
            let started = ContinuousClock.now
            _ = try await yard.orchestrator.cancel(deploymentID: id)
            let record = try await yard.waitFor(id, .removed)
            #expect(ContinuousClock.now - started < .seconds(3))
            #expect(record.reason?.contains("cancelled") == true)
            #expect(await !yard.runtime.log.contains { $0.hasPrefix("place ") })
        }
    }

    @Test("after a restart of the server: live deployments start again, interrupted builds are FAILED")
    func recoveryAfterRestart() async throws {
        let before = try await OrchestratorHarness()
        let live = try await before.deploy()
        try await before.waitFor(live, .success)
        let building = try await before.deploy(files: Self.slowBuild)
        try await before.waitFor(building, .building)
        await before.stop()
        #expect(try before.status(live) == .success)

        let after = try await OrchestratorHarness(reusing: before)
        try await after.waitFor(building, .failed)
        #expect(try after.data.store.deployment(id: building).reason?.contains("interrupted") == true)
        try await after.waitUntil("the live deployment runs again") { await after.runtime.running.count == 1 }
        try await after.waitFor(live, .success)
        let replica = try #require(await after.runtime.running.first)
        #expect(await after.orchestrator.routedReplicaIDs(forHost: try after.hostname) == [replica])
        await after.finish()
    }

    @Test("a deploy accepted after recovery but before the orchestrator runs is built, not failed as a leftover")
    func deployBeforeRunIsKept() async throws {
        let before = try await OrchestratorHarness()
        let archive = try before.pack()
        await before.stop()
        let queued = QueuedID()
        // What `yard serve` does: recover, then open the API, whose first deploy may land
        // before the orchestrator's run() has started.
        let after = try await OrchestratorHarness(reusing: before) { orchestrator, serviceID, environmentID in
            try await orchestrator.recoverPreviousRun()
            let deployment = try await orchestrator.deploy(
                serviceID: serviceID, environmentID: environmentID, archive: archive, trigger: "test")
            await queued.set(deployment.id)
        }
        let id = try #require(await queued.id)
        try await after.waitFor(id, .success)
        await after.finish()
    }
}

private actor QueuedID {
    var id: String?
    func set(_ id: String) { self.id = id }
}

/// What a stop hook saw, read after the test's deployments settled.
final class SeenAtStop: @unchecked Sendable {
    private let lock = NSLock()
    private var _routed: [String] = []
    private var _running: [String] = []

    func record(routed: [String], running: [String]) {
        lock.withLock { (_routed, _running) = (routed, running) }
    }

    var routed: [String] { lock.withLock { _routed } }
    var running: [String] { lock.withLock { _running } }
}
