import Foundation
import Testing
import YardCore
import YardRuntime
import YardStore

@testable import YardControl

/// A process that runs until the test ends it.
final class ScriptedProcess: LaunchedProcess, @unchecked Sendable {
    private let lock = NSLock()
    private var exit: ExitReason?
    private var waiters: [CheckedContinuation<ExitReason, Never>] = []
    private var received: [Int32] = []
    var signals: [Int32] { lock.withLock { received } }

    var pid: Int32 { 4242 }

    func signal(_ signal: Int32) {
        lock.withLock { received.append(signal) }
        if signal == SIGKILL || signal == SIGTERM { end(.signaled(signal: signal)) }
    }

    func end(_ reason: ExitReason) {
        let waiting: [CheckedContinuation<ExitReason, Never>] = lock.withLock {
            guard exit == nil else { return [] }
            exit = reason
            defer { waiters = [] }
            return waiters
        }
        for waiter in waiting { waiter.resume(returning: reason) }
    }

    func wait() async -> ExitReason {
        await withCheckedContinuation { continuation in
            let done: ExitReason? = lock.withLock {
                if let exit { return exit }
                waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }
}

/// The platform as the cron scheduler sees it: live deployments with schedules, a store of
/// runs, launches it records.
actor FakeCronHost: CronHost {
    var live: [Orchestrator.ServiceKey: String] = [:]
    var schedules: [String: CronScheduleLookup] = [:]
    var runs: [String: CronRunRecord] = [:]
    var launches: [CronRunRecord] = []
    var processes: [ScriptedProcess] = []
    var released: [String] = []
    var logLines: [String] = []
    var launchError: YardError?

    func setLive(_ key: Orchestrator.ServiceKey, _ deploymentID: String, schedule: String?) throws {
        live[key] = deploymentID
        schedules[deploymentID] = .ready(try schedule.map { try CronSchedule($0) })
    }

    func failLaunches(_ error: YardError) { launchError = error }

    func liveDeployments() -> [Orchestrator.ServiceKey: String] { live }

    func cronScheduleLookup(ofDeployment id: String) -> CronScheduleLookup { schedules[id] ?? .notReady }

    func saveCronRun(_ record: CronRunRecord) { runs[record.id] = record }

    func appendCronLog(deploymentID: String, runID: String?, message: String) { logLines.append(message) }

    func launchCronRun(_ record: CronRunRecord, key: Orchestrator.ServiceKey, label: String) throws -> LaunchedCronRun {
        if let launchError { throw launchError }
        runs[record.id] = record
        launches.append(record)
        let process = ScriptedProcess()
        processes.append(process)
        return LaunchedCronRun(process: process) { await self.release(label) }
    }

    private func release(_ label: String) { released.append(label) }

    func runs(withStatus status: CronRunStatus) -> [CronRunRecord] {
        runs.values.filter { $0.status == status }.sorted { $0.scheduledAt < $1.scheduledAt }
    }
}

@Suite("cron scheduler on a manual clock")
struct CronSchedulerTests {
    let key = Orchestrator.ServiceKey(serviceID: "svc_report", environmentID: "env_production")

    /// Runs the scheduler's loop for the test's body, then cancels it.
    func withScheduler(
        clock: ManualClock, host: FakeCronHost, _ body: (CronScheduler) async throws -> Void
    ) async throws {
        let scheduler = CronScheduler(clock: clock, pollInterval: .milliseconds(250))
        let loop = Task { await scheduler.run(host: host) }
        defer { loop.cancel() }
        try await clock.waitForSleepers()
        try await body(scheduler)
        for process in await host.processes { process.end(.exited(code: 0)) }
        loop.cancel()
        await loop.value
    }

    /// Advances the clock and waits for the scheduler's pass to finish.
    func advance(_ clock: ManualClock, by duration: Duration) async throws {
        clock.advance(by: duration)
        try await clock.waitForSleepers()
    }

    @Test("a schedule fires exactly at its minute, not a poll earlier")
    func firesAtTheMinute() async throws {
        let clock = ManualClock(hour: 12, minute: 0, second: 30)
        let host = FakeCronHost()
        try await host.setLive(key, "dep_1", schedule: "* * * * *")
        try await withScheduler(clock: clock, host: host) { scheduler in
            try await advance(clock, by: .milliseconds(250))
            #expect(await scheduler.nextRun(of: key) == ManualClock.date(hour: 12, minute: 1))
            #expect(await host.logLines == ["next cron run: 2026-12-05T12:01:00Z"])
            // 12:00:59.75: one poll before the minute.
            try await advance(clock, by: .milliseconds(29_500))
            #expect(await host.launches.isEmpty)
            try await advance(clock, by: .milliseconds(250))
            let launches = await host.launches
            #expect(launches.map(\.scheduledAt) == [ManualClock.date(hour: 12, minute: 1)])
            #expect(launches.first?.status == .running)
            #expect(await scheduler.nextRun(of: key) == ManualClock.date(hour: 12, minute: 2))
        }
    }

    @Test("a run still running at the next minute makes that minute a skipped run; the first ends and is released")
    func skipsWhileRunning() async throws {
        let clock = ManualClock(hour: 12, minute: 0, second: 59.5)
        let host = FakeCronHost()
        try await host.setLive(key, "dep_1", schedule: "* * * * *")
        try await withScheduler(clock: clock, host: host) { scheduler in
            try await advance(clock, by: .milliseconds(250))
            try await advance(clock, by: .milliseconds(250))
            #expect(await host.launches.count == 1)
            try await advance(clock, by: .seconds(60))
            #expect(await host.launches.count == 1, "no second process while the first runs")
            let skipped = await host.runs(withStatus: .skipped)
            #expect(skipped.map(\.scheduledAt) == [ManualClock.date(hour: 12, minute: 2)])
            #expect(skipped.first?.reason?.contains("is still running") == true)

            await host.processes[0].end(.exited(code: 0))
            #expect(await eventually { await !scheduler.isRunning(key) })
            #expect(await host.runs(withStatus: .succeeded).map(\.exitCode) == [0])
            #expect(await host.released.count == 1)
            try await advance(clock, by: .seconds(60))
            #expect(await host.launches.map(\.scheduledAt).last == ManualClock.date(hour: 12, minute: 3))
        }
    }

    @Test("runs missed while the server was down or stalled are not caught up, and none runs twice")
    func missedRunsAreNotCaughtUp() async throws {
        let clock = ManualClock(hour: 12, minute: 0, second: 30)
        let host = FakeCronHost()
        try await host.setLive(key, "dep_1", schedule: "*/5 * * * *")
        try await withScheduler(clock: clock, host: host) { scheduler in
            try await advance(clock, by: .milliseconds(250))
            #expect(await scheduler.nextRun(of: key) == ManualClock.date(hour: 12, minute: 5))
            // The loop stalls for 17 minutes: 12:05, 12:10 and 12:15 were due.
            try await advance(clock, by: .seconds(17 * 60))
            #expect(await host.launches.map(\.scheduledAt) == [ManualClock.date(hour: 12, minute: 5)])
            #expect(await scheduler.nextRun(of: key) == ManualClock.date(hour: 12, minute: 20))
            // The next passes neither run nor skip 12:10 or 12:15.
            try await advance(clock, by: .milliseconds(250))
            try await advance(clock, by: .milliseconds(250))
            let runs = await host.runs.values.map(\.status)
            #expect(runs == [.running], "12:05 runs; nothing more was started or skipped")
        }
        // The server restarts at 12:30:30: a new scheduler does not run 12:20, 12:25 or 12:30.
        clock.advance(by: .seconds(13 * 60))
        let restarted = FakeCronHost()
        try await restarted.setLive(key, "dep_1", schedule: "*/5 * * * *")
        try await withScheduler(clock: clock, host: restarted) { scheduler in
            try await advance(clock, by: .milliseconds(250))
            #expect(await restarted.launches.isEmpty)
            #expect(await scheduler.nextRun(of: key) == ManualClock.date(hour: 12, minute: 35))
            try await advance(clock, by: .seconds(5 * 60))
            #expect(await restarted.launches.map(\.scheduledAt) == [ManualClock.date(hour: 12, minute: 35)])
        }
    }

    @Test("a run that cannot start is recorded as failed with the reason")
    func launchFailure() async throws {
        let clock = ManualClock(hour: 12, minute: 0, second: 59.5)
        let host = FakeCronHost()
        try await host.setLive(key, "dep_1", schedule: "* * * * *")
        await host.failLaunches(YardError(.invalidConfig, "no start command"))
        try await withScheduler(clock: clock, host: host) { scheduler in
            try await advance(clock, by: .milliseconds(250))
            #expect(await host.runs.isEmpty)
            try await advance(clock, by: .milliseconds(250))
            let failed = await host.runs(withStatus: .failed)
            #expect(failed.count == 1)
            #expect(failed.first?.reason?.contains("no start command") == true)
            #expect(await !scheduler.isRunning(key))
        }
    }

    @Test("a deployment replaced by one without a schedule drops out; one not yet successful waits")
    func replacedDeployment() async throws {
        let clock = ManualClock(hour: 12, minute: 0, second: 30)
        let host = FakeCronHost()
        try await host.setLive(key, "dep_1", schedule: "* * * * *")
        try await withScheduler(clock: clock, host: host) { scheduler in
            try await advance(clock, by: .milliseconds(250))
            #expect(await scheduler.nextRun(of: key) != nil)
            try await host.setLive(key, "dep_2", schedule: nil)
            try await advance(clock, by: .seconds(120))
            #expect(await host.launches.isEmpty)
            #expect(await scheduler.nextRun(of: key) == nil)
            #expect(await scheduler.schedule(ofDeployment: "dep_3", host: host) == nil, "not ready: not cached")
        }
    }

    @Test("deleting an environment kills its runs and forgets its schedules")
    func environmentDeletion() async throws {
        let clock = ManualClock(hour: 12, minute: 0, second: 59.5)
        let host = FakeCronHost()
        try await host.setLive(key, "dep_1", schedule: "* * * * *")
        try await withScheduler(clock: clock, host: host) { scheduler in
            try await advance(clock, by: .milliseconds(250))
            try await advance(clock, by: .milliseconds(250))
            #expect(await scheduler.isRunning(key))
            await scheduler.stopRuns(environmentID: key.environmentID, timeout: .seconds(3))
            #expect(await !scheduler.isRunning(key))
            #expect(await host.processes[0].signals == [SIGKILL])
            #expect(await scheduler.nextRun(of: key) == nil)
        }
    }
}
