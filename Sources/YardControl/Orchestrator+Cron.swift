import Foundation
import YardBuild
import YardCore
import YardRuntime
import YardStore

/// The orchestrator's side of cron (`CronScheduler` keeps the schedules and running runs):
/// what is live, what a deployment's settings say, and how a run is placed and launched.
extension Orchestrator: CronHost {
    func liveDeployments() -> [ServiceKey: String] { live }

    func cronScheduleLookup(ofDeployment id: String) -> CronScheduleLookup {
        guard let deployment = try? store.deployment(id: id), deployment.status == .success else { return .notReady }
        var schedule: CronSchedule?
        if let expression = deployment.deploySettings?.cronSchedule {
            schedule = try? CronSchedule(expression)
        }
        return .ready(schedule)
    }

    func cronSchedule(ofDeployment id: String) async -> CronSchedule? {
        await cronScheduler.schedule(ofDeployment: id, host: self)
    }

    func saveCronRun(_ record: CronRunRecord) {
        try? store.saveCronRun(record)
    }

    func appendCronLog(deploymentID: String, runID: String?, message: String) {
        logs.append(deploymentID: deploymentID, kind: .deploy, stream: .system, replica: runID, message: message)
    }

    func launchCronRun(_ record: CronRunRecord, key: ServiceKey, label: String) async throws -> LaunchedCronRun {
        let id = record.deploymentID
        let scheduledAt = record.scheduledAt
        var attached = false
        do {
            let deployment = try store.deployment(id: id)
            guard let result = deployment.buildResult else {
                throw YardError(.internal, "deployment \(id) has no build result to run")
            }
            let variables = try store.openSnapshot(deployment.variables, deploymentID: id)
            maskSealedValues(deploymentID: id, environmentID: key.environmentID, variables: variables)
            let service = try store.service(id: key.serviceID)
            let limits = replicaLimits(of: service)
            let volume = try store.volume(serviceID: key.serviceID, environmentID: key.environmentID)
            var environment = launchEnvironment(of: result, variables: variables)
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
            let isAttached = attached
            return LaunchedCronRun(process: process) { await self.releaseCronSandbox(label: label, attached: isAttached) }
        } catch {
            await releaseCronSandbox(label: label, attached: attached)
            throw error
        }
    }

    private func releaseCronSandbox(label: String, attached: Bool) async {
        if attached { await runtime.endTask(id: label) }
    }

    /// A service's recent cron runs, newest first.
    public func cronRuns(serviceID: String, environmentID: String) throws -> [CronRunRecord] {
        try store.cronRuns(serviceID: serviceID, environmentID: environmentID)
    }

    static func cronTime(_ date: Date) -> String { CronScheduler.time(date) }
}
