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
        var environment = configuration.hostEnvironment
        environment.merge(result.environment) { _, plan in plan }
        environment.merge(variables) { _, user in user }
        let placement = try await place(
            replicaID: label, deployment: deployment, service: service, limits: limits, volume: nil,
            runAsRoot: variables["RAILWAY_RUN_UID"] == "0", environment: &environment
        )
        let runFolder = configuration.dataDirectory.appendingPathComponent("run").appendingPathComponent(label)
        defer { try? FileManager.default.removeItem(at: runFolder) }
        if let sandbox = placement.sandbox, let hostsFile = sandbox.hostsFile {
            try writeHostsFile(for: label, environmentID: deployment.environmentID, at: hostsFile)
        }
        do {
            for (index, command) in commands.enumerated() {
                let position = commands.count > 1 ? " (\(index + 1) of \(commands.count))" : ""
                logs.append(deploymentID: id, kind: .deploy, stream: .system, message: "pre-deploy command\(position): \(command)")
                let spec = LaunchSpec(
                    arguments: ["/bin/sh", "-c", command], environment: environment,
                    workingDirectory: placement.sandbox == nil ? deployment.artifactPath ?? "/" : Self.appMountPath(of: deployment),
                    label: label, sandbox: placement.sandbox
                )
                let reason = try await runOnce(spec, timeout: configuration.buildTimeout) { stream, line in
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
        } catch {
            if placement.sandbox != nil { await network?.detach(replicaID: label) }
            throw error
        }
        if placement.sandbox != nil { await network?.detach(replicaID: label) }
    }

    /// Runs a process to its end, killing it on cancellation or after `timeout`.
    private func runOnce(_ spec: LaunchSpec, timeout: Duration, output: @escaping OutputHandler) async throws -> ExitReason {
        let process = try await launcher.launch(spec, output: output)
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
