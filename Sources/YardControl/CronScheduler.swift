import Foundation
import YardCore
import YardRuntime
import YardStore

#if canImport(Glibc)
    import Glibc
#endif

/// What a deployment's settings say about cron, as the scheduler reads them.
enum CronScheduleLookup: Sendable {
    /// Not a successful deployment (yet): ask again later.
    case notReady
    /// A successful deployment: its schedule, nil when it is no cron service.
    case ready(CronSchedule?)
}

/// A cron run's process, started by the host, and how to give back what it held.
struct LaunchedCronRun: Sendable {
    var process: any LaunchedProcess
    /// Removes the run's sandbox and scratch files; called once, after it ended.
    var release: @Sendable () async -> Void
}

/// What the cron scheduler needs from the platform. The orchestrator implements it;
/// unit tests fake it.
protocol CronHost: Sendable {
    /// The live deployment of every service.
    func liveDeployments() async -> [Orchestrator.ServiceKey: String]
    func cronScheduleLookup(ofDeployment id: String) async -> CronScheduleLookup
    func saveCronRun(_ record: CronRunRecord) async
    /// A system line in the deployment's deploy log (`runID` labels it when given).
    func appendCronLog(deploymentID: String, runID: String?, message: String) async
    /// Saves `record` (running), prepares the run's sandbox and starts the deployment's
    /// start command in it. On failure it has already released what it set up.
    func launchCronRun(_ record: CronRunRecord, key: Orchestrator.ServiceKey, label: String) async throws -> LaunchedCronRun
}

/// Runs cron services' start commands on their schedules: each live cron deployment whose
/// next minute has come starts its run, or records a skipped run when the previous one
/// still runs (as Railway does). Schedules are read on `clock`; a run missed while the
/// server was down is not caught up (the first due minute is after the start).
actor CronScheduler {
    private struct ActiveRun {
        var record: CronRunRecord
        var process: any LaunchedProcess
        var release: @Sendable () async -> Void
    }

    private let clock: any YardClock
    private let pollInterval: Duration
    /// The next due minute per service, for the deployment it was computed for.
    private var next: [Orchestrator.ServiceKey: (deploymentID: String, at: Date)] = [:]
    /// Runs whose process is running, by service.
    private var active: [Orchestrator.ServiceKey: ActiveRun] = [:]
    /// Parsed schedules by deployment (inner nil: not a cron deployment).
    private var schedules: [String: CronSchedule?] = [:]

    init(clock: any YardClock, pollInterval: Duration = .milliseconds(250)) {
        self.clock = clock
        self.pollInterval = pollInterval
    }

    /// Looks every `pollInterval` (of the clock) until cancelled.
    func run(host: any CronHost) async {
        await clock.repeating(every: pollInterval) { await tick(host: host) }
    }

    /// One look at every live deployment: starts or skips the runs that are due.
    func tick(host: any CronHost) async {
        let now = clock.now
        for (key, id) in await host.liveDeployments() {
            guard let schedule = await schedule(ofDeployment: id, host: host) else {
                next[key] = nil
                continue
            }
            guard let due = next[key], due.deploymentID == id else {
                if let first = schedule.next(after: now) {
                    next[key] = (id, first)
                    await host.appendCronLog(deploymentID: id, runID: nil, message: "next cron run: \(Self.time(first))")
                }
                continue
            }
            guard now >= due.at else { continue }
            next[key] = schedule.next(after: now).map { (id, $0) }
            if let running = active[key] {
                await skip(deploymentID: id, key: key, scheduledAt: due.at, running: running.record, host: host)
            } else {
                await start(deploymentID: id, key: key, scheduledAt: due.at, host: host)
            }
        }
    }

    /// A deployment's cron schedule; nil when it is not a (successful) cron deployment.
    func schedule(ofDeployment id: String, host: any CronHost) async -> CronSchedule? {
        if let known = schedules[id] { return known }
        guard case .ready(let schedule) = await host.cronScheduleLookup(ofDeployment: id) else { return nil }
        schedules[id] = .some(schedule)
        return schedule
    }

    /// When the service's next run is due, if one is scheduled.
    func nextRun(of key: Orchestrator.ServiceKey) -> Date? { next[key]?.at }

    /// Whether a run of the service is running.
    func isRunning(_ key: Orchestrator.ServiceKey) -> Bool { active[key] != nil }

    private func skip(
        deploymentID id: String, key: Orchestrator.ServiceKey, scheduledAt: Date, running: CronRunRecord, host: any CronHost
    ) async {
        let reason = "the run \(running.id) due at \(Self.time(running.scheduledAt)) is still running"
        let record = CronRunRecord(
            id: Identifier.make("run"), deploymentID: id, serviceID: key.serviceID, environmentID: key.environmentID,
            scheduledAt: scheduledAt, endedAt: Date(), status: .skipped, reason: reason)
        await host.saveCronRun(record)
        await host.appendCronLog(deploymentID: id, runID: record.id,
                                 message: "cron run due at \(Self.time(scheduledAt)) skipped: \(reason)")
    }

    private func start(deploymentID id: String, key: Orchestrator.ServiceKey, scheduledAt: Date, host: any CronHost) async {
        var record = CronRunRecord(
            id: Identifier.make("run"), deploymentID: id, serviceID: key.serviceID, environmentID: key.environmentID,
            scheduledAt: scheduledAt, startedAt: Date(), status: .running)
        let label = "cron-\(record.id.replacingOccurrences(of: "run_", with: ""))"
        do {
            let launched = try await host.launchCronRun(record, key: key, label: label)
            active[key] = ActiveRun(record: record, process: launched.process, release: launched.release)
            let runID = record.id
            Task {
                let reason = await launched.process.wait()
                await self.finish(key: key, runID: runID, reason: reason, host: host)
            }
        } catch {
            record.status = .failed
            record.endedAt = Date()
            record.reason = "could not start: \(Orchestrator.describe(error))"
            await host.saveCronRun(record)
            await host.appendCronLog(deploymentID: id, runID: record.id,
                                     message: "cron run failed to start: \(Orchestrator.describe(error))")
        }
    }

    private func finish(key: Orchestrator.ServiceKey, runID: String, reason: ExitReason, host: any CronHost) async {
        guard let run = active[key], run.record.id == runID else { return }
        active[key] = nil
        var record = run.record
        record.endedAt = Date()
        if case .exited(let code) = reason {
            record.exitCode = Int(code)
            record.status = code == 0 ? .succeeded : .failed
        } else {
            record.status = .failed
        }
        if record.status == .failed { record.reason = "the start command \(Orchestrator.describe(reason))" }
        await host.saveCronRun(record)
        let seconds = record.startedAt.map { String(format: "%.1f", Date().timeIntervalSince($0)) } ?? "?"
        await host.appendCronLog(deploymentID: record.deploymentID, runID: runID,
                                 message: "cron run \(record.status.rawValue): \(Orchestrator.describe(reason)) after \(seconds) s")
        await run.release()
    }

    /// At shutdown: running commands get SIGTERM, then SIGKILL after `gracePeriod`; their
    /// runs end as their processes do.
    func stopAll(gracePeriod: Duration) async {
        guard !active.isEmpty else { return }
        for run in active.values { run.process.signal(SIGTERM) }
        await waitForRuns(where: { _ in true }, within: gracePeriod)
        for run in active.values { run.process.signal(SIGKILL) }
        await waitForRuns(where: { _ in true }, within: .seconds(2))
    }

    /// When an environment is deleted: its running commands are killed (waiting at most
    /// `timeout` for them to end) and its schedules forgotten.
    func stopRuns(environmentID: String, timeout: Duration) async {
        let inEnvironment: (Orchestrator.ServiceKey) -> Bool = { $0.environmentID == environmentID }
        for (key, run) in active where inEnvironment(key) { run.process.signal(SIGKILL) }
        await waitForRuns(where: inEnvironment, within: timeout)
        for key in next.keys where inEnvironment(key) { next[key] = nil }
    }

    private func waitForRuns(where matches: (Orchestrator.ServiceKey) -> Bool, within timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, active.keys.contains(where: matches) {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    static func time(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
