import Foundation
import Logging
import Synchronization
import Testing
import YardCore

@testable import YardRuntime

#if canImport(Glibc)
import Glibc
#endif

/// Records supervisor events and lets a test await the one it expects.
final class EventLog: Sendable {
    private let events = Mutex<[SupervisorEvent]>([])

    var handler: @Sendable (SupervisorEvent) -> Void {
        { event in self.events.withLock { $0.append(event) } }
    }

    var all: [SupervisorEvent] { events.withLock { $0 } }

    /// Lifecycle events as short strings, without output lines (pids vary).
    var lifecycle: [String] {
        all.compactMap { event in
            switch event {
            case .output: nil
            case .started(_, _, let attempt): "started \(attempt)"
            case .exited(_, let reason, let decision): "exited \(reason) → \(decision)"
            case .stopped: "stopped"
            case .launchFailed: "launchFailed"
            }
        }
    }

    func waitFor(timeout: Duration = .seconds(10), _ predicate: (SupervisorEvent) -> Bool) async -> Bool {
        await eventually(timeout: timeout) { all.contains(where: predicate) }
    }
}

func isGiveUp(_ event: SupervisorEvent) -> Bool {
    if case .exited(_, _, .giveUp) = event { return true }
    return false
}

func isFinalExit(_ event: SupervisorEvent) -> Bool {
    if case .exited(_, _, let decision) = event, decision == .stop || isGiveUp(event) { return true }
    return false
}

@Suite struct SupervisorTests {
    let events = EventLog()
    let supervisor: Supervisor

    init() {
        supervisor = Supervisor(
            launcher: PlainProcessLauncher(), logger: Logger(label: "test.supervisor"), onEvent: events.handler)
    }

    func replica(_ command: String, _ type: RestartPolicyType, maxRetries: Int = 2, backoff: Duration = .milliseconds(10))
        -> ReplicaSpec
    {
        ReplicaSpec(
            id: "r1", deploymentID: "d1", launch: .sh(command),
            restartPolicy: RestartPolicy(type: type, maxRetries: maxRetries, baseBackoff: backoff))
    }

    @Test func onFailureRestartsUntilRetriesRunOutThenGivesUp() async throws {
        try await supervisor.start(replica("echo run; exit 1", .onFailure, maxRetries: 2))
        #expect(await events.waitFor(isGiveUp))
        #expect(
            events.lifecycle == [
                "started 0", "exited exited with code 1 → restart(after: 0.01 seconds, attempt: 1)",
                "started 1", "exited exited with code 1 → restart(after: 0.02 seconds, attempt: 2)",
                "started 2", "exited exited with code 1 → giveUp(attempts: 2)",
            ])
        let runs = events.all.filter {
            if case .output("r1", .stdout, "run") = $0 { return true }
            return false
        }
        #expect(runs.count == 3)
        #expect(await supervisor.replicaIDs.isEmpty)
    }

    @Test func onFailureDoesNotRestartACleanExit() async throws {
        try await supervisor.start(replica("exit 0", .onFailure))
        #expect(await events.waitFor(isFinalExit))
        #expect(events.lifecycle == ["started 0", "exited exited with code 0 → stop"])
    }

    @Test func neverRestartsAndAFailureIsACrash() async throws {
        try await supervisor.start(replica("exit 2", .never))
        #expect(await events.waitFor(isFinalExit))
        #expect(events.lifecycle == ["started 0", "exited exited with code 2 → giveUp(attempts: 0)"])
    }

    @Test func alwaysRestartsACleanExit() async throws {
        try await supervisor.start(replica("exit 0", .always, maxRetries: 1))
        #expect(await events.waitFor(isGiveUp))
        #expect(
            events.lifecycle == [
                "started 0", "exited exited with code 0 → restart(after: 0.01 seconds, attempt: 1)",
                "started 1", "exited exited with code 0 → giveUp(attempts: 1)",
            ])
    }

    @Test func stopDuringBackoffCancelsThePendingRestart() async throws {
        try await supervisor.start(replica("exit 1", .onFailure, maxRetries: 5, backoff: .seconds(30)))
        #expect(
            await events.waitFor {
                if case .exited(_, _, .restart) = $0 { return true }
                return false
            })
        let started = ContinuousClock.now
        await supervisor.stop(replicaID: "r1", gracePeriod: .seconds(5))
        // Far below the 30 s backoff, with room for a loaded machine.
        #expect(ContinuousClock.now - started < .seconds(15))
        #expect(events.lifecycle.last == "stopped")
        #expect(await supervisor.replicaIDs.isEmpty)
        try await Task.sleep(for: .milliseconds(200))
        #expect(events.lifecycle.filter { $0.hasPrefix("started") } == ["started 0"])
    }

    @Test func stopTerminatesTheWholeTreeAndDoesNotRestart() async throws {
        try await supervisor.start(replica("sleep 1000 & echo $!; wait", .always, maxRetries: 5))
        let pid = try #require(await supervisor.pid(of: "r1"))
        #expect(await events.waitFor { if case .output = $0 { return true }; return false })
        let grandchild = try #require(
            events.all.compactMap { event -> Int32? in
                if case .output(_, .stdout, let line) = event { return Int32(line) }
                return nil
            }.first)

        await supervisor.stop(replicaID: "r1", gracePeriod: .seconds(5))
        #expect(events.lifecycle == ["started 0", "stopped"])
        #expect(isDead(pid))
        #expect(await eventually { isDead(grandchild) })
        #expect(await supervisor.pid(of: "r1") == nil)
    }

    @Test func stopKillsAfterTheGracePeriodWhenSIGTERMIsIgnored() async throws {
        // An ignored signal stays ignored across exec, so the sleep ignores SIGTERM too.
        try await supervisor.start(replica("trap '' TERM; sleep 1000", .always))
        try await Task.sleep(for: .milliseconds(100))  // let the shell install its trap
        let started = ContinuousClock.now
        await supervisor.stop(replicaID: "r1", gracePeriod: .milliseconds(300))
        let took = ContinuousClock.now - started
        #expect(took >= .milliseconds(300))
        #expect(took < .seconds(10), "killed after the grace, not after the sleep")
        #expect(events.lifecycle == ["started 0", "stopped"])
    }

    @Test func stopAllStopsEveryReplica() async throws {
        for id in ["a", "b", "c"] {
            var spec = replica("sleep 1000", .always)
            spec.id = id
            try await supervisor.start(spec)
        }
        #expect(await supervisor.replicaIDs == ["a", "b", "c"])
        await supervisor.stopAll(gracePeriod: .seconds(5))
        #expect(await supervisor.replicaIDs.isEmpty)
        #expect(events.lifecycle.filter { $0 == "stopped" }.count == 3)
    }

    @Test func startThrowsWhenTheFirstLaunchFails() async throws {
        var spec = replica("true", .always)
        spec.launch = LaunchSpec(
            arguments: ["no-such-command-yard"], environment: TestEnvironment.minimal, workingDirectory: "/",
            label: "r1")
        await #expect(throws: YardError.self) { try await supervisor.start(spec) }
        #expect(await supervisor.replicaIDs.isEmpty)
        #expect(events.lifecycle.isEmpty)
    }

    @Test func startingARunningReplicaAgainIsAConflict() async throws {
        try await supervisor.start(replica("sleep 1000", .always))
        let error = try await #require(throws: YardError.self) {
            try await supervisor.start(replica("sleep 1000", .always))
        }
        #expect(error.code == .conflict)
        await supervisor.stopAll(gracePeriod: .seconds(5))
    }

    @Test func aFailedRestartCountsAsAFailedRun() async throws {
        let directory = try TestEnvironment.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The first run deletes its own working directory, so every restart fails to launch.
        var spec = replica("rmdir '\(directory)'; exit 1", .onFailure, maxRetries: 2)
        spec.launch.workingDirectory = directory
        try await supervisor.start(spec)
        #expect(await events.waitFor(isGiveUp))
        #expect(
            events.lifecycle == [
                "started 0", "exited exited with code 1 → restart(after: 0.01 seconds, attempt: 1)",
                "launchFailed", "exited exited with code 127 → restart(after: 0.02 seconds, attempt: 2)",
                "launchFailed", "exited exited with code 127 → giveUp(attempts: 2)",
            ])
    }
}

/// Serialized: becoming a subreaper changes the whole test process.
@Suite(.serialized) struct SubreaperTests {
    @Test func orphansOfAnExitedReplicaAreReaped() async throws {
        #expect(Supervisor.becomeSubreaper())
        #expect(OrphanReaper.isSubreaper)
        let output = OutputRecorder()
        // The background sleep outlives its shell and is reparented to us; the group kill
        // at the leader's exit ends it, and the session sweep reaps its zombie.
        let process = try await PlainProcessLauncher().launch(
            .sh("sleep 1000 & echo $!"), output: output.handler)
        #expect(await process.wait() == .exited(code: 0))
        let orphan = try #require(Int32(output.lines(.stdout).first ?? ""))
        #expect(await eventually { OrphanReaper.readStat(pid: orphan) == nil })
    }
}
