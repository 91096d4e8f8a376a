import Foundation
import YardBuild
import YardCore
import YardRuntime
import YardStore

/// Cron services' schedule state, kept by the orchestrator.
struct CronState {
    /// The next due minute per service, for the deployment it was computed for.
    var next: [Orchestrator.ServiceKey: (deploymentID: String, at: Date)] = [:]
    /// Runs whose process is running, by service.
    var active: [Orchestrator.ServiceKey: ActiveCronRun] = [:]
    /// Parsed schedules by deployment (nil: not a cron deployment).
    var schedules: [String: CronSchedule?] = [:]
}

struct ActiveCronRun {
    var record: CronRunRecord
    var process: any LaunchedProcess
    var label: String
    var isAttached: Bool
}

extension Orchestrator {
    /// Every quarter second: each live cron deployment whose next minute has come starts
    /// its start command, or records a skipped run when the previous one still runs (as
    /// Railway does). Deployments replaced or removed drop out with their schedule.
    func watchCronServices() async {
        while true {
            do {
                try await Task.sleep(for: .milliseconds(250))
            } catch {
                return
            }
            let now = configuration.cronClock()
            for (key, id) in live {
                guard let schedule = cronSchedule(ofDeployment: id) else {
                    cron.next[key] = nil
                    continue
                }
                guard let due = cron.next[key], due.deploymentID == id else {
                    if let first = schedule.next(after: now) {
                        cron.next[key] = (id, first)
                        logs.append(deploymentID: id, kind: .deploy, stream: .system,
                                    message: "next cron run: \(Self.cronTime(first))")
                    }
                    continue
                }
                guard now >= due.at else { continue }
                cron.next[key] = schedule.next(after: now).map { (id, $0) }
                if let running = cron.active[key] {
                    skipCronRun(deploymentID: id, key: key, scheduledAt: due.at, running: running.record)
                } else {
                    await startCronRun(deploymentID: id, key: key, scheduledAt: due.at)
                }
            }
        }
    }

    func cronSchedule(ofDeployment id: String) -> CronSchedule? {
        if let known = cron.schedules[id] { return known }
        guard let deployment = try? store.deployment(id: id), deployment.status == .success else { return nil }
        var schedule: CronSchedule?
        if let json = deployment.deploySettings, let settings = try? YardJSON.decode(DeploySettings.self, from: json),
            let expression = settings.cronSchedule
        {
            schedule = try? CronSchedule(expression)
        }
        cron.schedules[id] = .some(schedule)
        return schedule
    }

    private func skipCronRun(deploymentID id: String, key: ServiceKey, scheduledAt: Date, running: CronRunRecord) {
        let reason = "the run \(running.id) due at \(Self.cronTime(running.scheduledAt)) is still running"
        let record = CronRunRecord(
            id: Identifier.make("run"), deploymentID: id, serviceID: key.serviceID, environmentID: key.environmentID,
            scheduledAt: scheduledAt, endedAt: Date(), status: .skipped, reason: reason)
        try? store.saveCronRun(record)
        logs.append(deploymentID: id, kind: .deploy, stream: .system, replica: record.id,
                    message: "cron run due at \(Self.cronTime(scheduledAt)) skipped: \(reason)")
    }

    private func startCronRun(deploymentID id: String, key: ServiceKey, scheduledAt: Date) async {
        var record = CronRunRecord(
            id: Identifier.make("run"), deploymentID: id, serviceID: key.serviceID, environmentID: key.environmentID,
            scheduledAt: scheduledAt, startedAt: Date(), status: .running)
        let label = "cron-\(record.id.replacingOccurrences(of: "run_", with: ""))"
        var attached = false
        do {
            let deployment = try store.deployment(id: id)
            guard let resultJSON = deployment.buildResult else {
                throw YardError(.internal, "deployment \(id) has no build result to run")
            }
            let result = try YardJSON.decode(BuildResult.self, from: resultJSON)
            let variables = try store.openSnapshot(deployment.variables, deploymentID: id)
            maskSealedValues(deploymentID: id, environmentID: key.environmentID, variables: variables)
            let service = try store.service(id: key.serviceID)
            let limits = replicaLimits(of: service)
            let volume = try store.volume(serviceID: key.serviceID, environmentID: key.environmentID)
            var environment = configuration.hostEnvironment
            environment.merge(result.environment) { _, plan in plan }
            environment.merge(variables) { _, user in user }
            environment["RAILWAY_CRON_RUN_ID"] = record.id
            try store.saveCronRun(record)
            logs.append(deploymentID: id, kind: .deploy, stream: .system, replica: record.id,
                        message: "cron run due at \(Self.cronTime(scheduledAt)): \(result.startCommand)")
            let request = try runtimeRequest(
                id: label, deployment: deployment, service: service, command: result.startCommand, environment: environment,
                limits: limits, volume: volume)
            attached = true
            let logs = self.logs
            let runID = record.id
            let process = try await runtime.startTask(request) { stream, line in
                logs.append(deploymentID: id, kind: .deploy, stream: stream, replica: runID, message: line)
            }
            cron.active[key] = ActiveCronRun(record: record, process: process, label: label, isAttached: attached)
            Task {
                let reason = await process.wait()
                await self.finishCronRun(key: key, runID: runID, reason: reason)
            }
        } catch {
            record.status = .failed
            record.endedAt = Date()
            record.reason = "could not start: \(Self.describe(error))"
            try? store.saveCronRun(record)
            logs.append(deploymentID: id, kind: .deploy, stream: .system, replica: record.id,
                        message: "cron run failed to start: \(Self.describe(error))")
            await releaseCronSandbox(label: label, attached: attached)
        }
    }

    private func finishCronRun(key: ServiceKey, runID: String, reason: ExitReason) async {
        guard let active = cron.active[key], active.record.id == runID else { return }
        cron.active[key] = nil
        var record = active.record
        record.endedAt = Date()
        if case .exited(let code) = reason {
            record.exitCode = Int(code)
            record.status = code == 0 ? .succeeded : .failed
        } else {
            record.status = .failed
        }
        if record.status == .failed { record.reason = "the start command \(Self.describe(reason))" }
        try? store.saveCronRun(record)
        let seconds = record.startedAt.map { String(format: "%.1f", Date().timeIntervalSince($0)) } ?? "?"
        logs.append(deploymentID: record.deploymentID, kind: .deploy, stream: .system, replica: runID,
                    message: "cron run \(record.status.rawValue): \(Self.describe(reason)) after \(seconds) s")
        await releaseCronSandbox(label: active.label, attached: active.isAttached)
    }

    private func releaseCronSandbox(label: String, attached: Bool) async {
        if attached { await runtime.endTask(id: label) }
    }

    /// At shutdown: running cron commands get SIGTERM, then SIGKILL after `gracePeriod`;
    /// their runs end as their processes do.
    func stopCronRuns(gracePeriod: Duration) async {
        let running = Array(cron.active)
        guard !running.isEmpty else { return }
        for (_, run) in running { run.process.signal(SIGTERM) }
        let deadline = ContinuousClock.now + gracePeriod
        while ContinuousClock.now < deadline, !cron.active.isEmpty {
            try? await Task.sleep(for: .milliseconds(50))
        }
        for (_, run) in cron.active { run.process.signal(SIGKILL) }
        let killed = ContinuousClock.now + .seconds(2)
        while ContinuousClock.now < killed, !cron.active.isEmpty {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// A service's recent cron runs, newest first.
    public func cronRuns(serviceID: String, environmentID: String) throws -> [CronRunRecord] {
        try store.cronRuns(serviceID: serviceID, environmentID: environmentID)
    }

    static func cronTime(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
