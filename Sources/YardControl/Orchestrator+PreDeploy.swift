import Foundation
import YardBuild
import YardCore
import YardRuntime
import YardStore

extension Orchestrator {
    /// Runs the deploy's `preDeployCommand` (database migrations, typically) after the build
    /// and before any new replica starts. Each command runs in turn by `/bin/sh -c`, in a
    /// sandbox of its own on the environment's private network, with the replicas'
    /// variables but not the service's volume; its output goes to the deploy log. The first
    /// command that fails fails the deployment, the live deployment keeps serving, and
    /// nothing is retried. A command still running after the build timeout is killed.
    func runPreDeploy(
        _ commands: [String], deployment: DeploymentRecord, result: BuildResult, variables: [String: String]
    ) async throws {
        let commands = commands.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard !commands.isEmpty else { return }
        maskSealedValues(deploymentID: deployment.id, environmentID: deployment.environmentID, variables: variables)
        let logs = self.logs
        let id = deployment.id
        let label = "pre-\(id.replacingOccurrences(of: "dep_", with: ""))"
        let service = try store.service(id: deployment.serviceID)
        let limits = replicaLimits(of: service)
        let environment = launchEnvironment(of: result, variables: variables)
        for (index, command) in commands.enumerated() {
            let position = commands.count > 1 ? " (\(index + 1) of \(commands.count))" : ""
            logs.append(deploymentID: id, kind: .deploy, stream: .system, message: "pre-deploy command\(position): \(command)")
            let request = try runtimeRequest(
                id: label, deployment: deployment, service: service, command: command, environment: environment,
                limits: limits, volume: nil)
            let reason = try await runOnce(request, timeout: configuration.buildTimeout) { stream, line in
                logs.append(deploymentID: id, kind: .deploy, stream: stream, message: line)
            }
            guard case .exited(0) = reason else {
                throw YardError(
                    .deployFailed,
                    "the pre-deploy command `\(command)` \(Self.describe(reason)); no new replica was started, "
                        + "and a live deployment keeps serving (see the deploy log: yard logs)"
                )
            }
        }
        logs.append(deploymentID: id, kind: .deploy, stream: .system, message: "pre-deploy done")
    }

    /// Runs a task to its end, killing it on cancellation or after `timeout`, then frees its
    /// place in the runtime.
    private func runOnce(_ request: ReplicaRequest, timeout: Duration, output: @escaping OutputHandler) async throws -> ExitReason {
        let process = try await runtime.startTask(request, output: output)
        let watchdog = Task {
            try await Task.sleep(for: timeout)
            process.signal(SIGKILL)
        }
        defer { watchdog.cancel() }
        let reason = await withTaskCancellationHandler {
            await process.wait()
        } onCancel: {
            process.signal(SIGKILL)
        }
        await runtime.endTask(id: request.id)
        try Task.checkCancellation()
        return reason
    }

    static func describe(_ reason: ExitReason) -> String {
        switch reason {
        case .exited(let code): "exited with code \(code)"
        case .signaled(let signal): signal == SIGKILL ? "was killed (it ran past the build timeout, or was cancelled)" : "was killed by signal \(signal)"
        case .oomKilled: "was killed for going over its memory limit"
        }
    }
}

extension Orchestrator {
    /// What a replica, a cron run or a pre-deploy command starts with, before the platform's
    /// own variables (`PORT`, `RAILWAY_*`): the build's environment under the service's
    /// variables. A folder artifact runs on this machine's toolchains, so the host's base
    /// (`PATH`, `HOME`, `LANG`) goes under it; an image carries its own `ENV`, which the
    /// runtime applies (with `PATH` and `HOME` Docker's way when the image sets none), and a
    /// host `PATH` over it would hide the image's toolchains.
    func launchEnvironment(of result: BuildResult, variables: [String: String]) -> [String: String] {
        var environment = result.image == nil ? configuration.hostEnvironment : [:]
        environment.merge(result.environment) { _, plan in plan }
        environment.merge(variables) { _, user in user }
        return environment
    }
}
