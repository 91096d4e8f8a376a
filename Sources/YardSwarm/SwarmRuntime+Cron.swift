import Foundation
import YardCore
import YardRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// One-off tasks (pre-deploy commands, cron runs) as swarm jobs: a `replicated-job` service
/// (API 1.41) of one task that runs to completion and is never restarted, on the environment's
/// network (without the service's name: a task is not a replica), its variables in a secret,
/// pinned with the service's volume. Its exit code is the task's container's; its output is
/// the service's log, followed while the task runs and handed to `output` line by line.
/// `endTask` removes the service and its secret.
extension SwarmRuntime {
    func startJob(_ request: ReplicaRequest, output: @escaping OutputHandler) async throws -> any LaunchedProcess {
        var request = request
        let image = try Self.requireImage(request)
        try await isolateNode()
        let reference = try await configuration.registry != nil ? pushImage(image) : loadImage(image)
        let network = try await overlayNetwork(environmentID: request.environmentID)
        let arguments = try image.config.arguments(startCommand: request.command)
        var spec = makeSpec(
            request, image: reference, network: network, arguments: arguments, workingDirectory: image.config.workingDirectory)
        spec.Mode = .init(ReplicatedJob: .init(MaxConcurrent: 1, TotalCompletions: 1))
        spec.UpdateConfig = nil
        spec.EndpointSpec = .init(Mode: "dnsrr", Ports: [])
        spec.TaskTemplate.RestartPolicy = .init(Condition: "none", Delay: 0, MaxAttempts: 0)
        spec.TaskTemplate.Networks = [.init(Target: network, Aliases: [])]
        try await mountVolume(&request, into: &spec)
        let secretID = try await createEnvironmentSecret(for: request, name: spec.Name)
        spec.TaskTemplate.ContainerSpec.Secrets = [
            .init(
                File: .init(Name: Self.environmentFileName, UID: "0", GID: "0", Mode: 0o444), SecretID: secretID,
                SecretName: spec.Name)
        ]
        let serviceID: String
        do {
            serviceID = try await engine.call(.POST, "/services/create", body: spec, as: CreatedObject.self).id
        } catch {
            await removeSecret(secretID)
            throw error
        }
        logger.info("swarm job created", metadata: ["task": "\(request.id)", "service": "\(serviceID)"])
        return SwarmJob(runtime: self, serviceID: serviceID, output: output)
    }

    /// Removes the job's service (stopping its task if it still runs) and its secret.
    func endJob(id: String) async {
        let name = objectName(id)
        _ = try? await engine.send(.DELETE, "/services/\(name)")
        await removeSecret(name)
    }

    /// How the job's task ended: its exit code, or `signaled` when it was stopped (`signal`)
    /// or lost. Its log is followed while it runs, so each line reaches `output` as the task
    /// writes it; the lines the stream had not brought when the task ended follow from a read
    /// of the whole log, before this returns.
    func waitForJob(serviceID: String, stoppedBy: @Sendable () -> Int32?, output: @escaping OutputHandler) async -> ExitReason {
        let delivered = LineCount()
        let follower = Task { [engine] in
            try? await engine.followLogs("/services/\(serviceID)/logs?follow=1&stdout=1&stderr=1") { line, isError in
                delivered.deliver { output(isError ? .stderr : .stdout, line) }
            }
        }
        var reason: ExitReason?
        while reason == nil {
            try? await Task.sleep(for: .milliseconds(200))
            let response = try? await engine.send(.GET, "/services/\(serviceID)")
            if response?.status == 404 {
                reason = .signaled(signal: stoppedBy() ?? SIGKILL)
                break
            }
            guard let task = (try? await tasks(serviceID: serviceID))?.first(where: { $0.isFinished }) else { continue }
            if let signal = stoppedBy(), task.Status.State != "complete" {
                reason = .signaled(signal: signal)
            } else if let code = task.Status.ContainerStatus?.ExitCode, task.Status.ContainerStatus?.ContainerID != nil {
                reason = .exited(code: code)
            } else {
                // It never ran (rejected: the image could not be pulled, its node is gone).
                output(.stderr, "swarm: job task \(task.Status.State): \(task.Status.Err ?? task.Status.Message ?? "")")
                reason = .exited(code: 127)
            }
        }
        // The engine keeps a followed stream open after the task ended; its last lines may
        // still be on their way. The whole log (a stream the engine ends) has them: the lines
        // past those already handed over go to `output`.
        let handed = delivered.stop()
        follower.cancel()
        let rest = LineCount()
        try? await engine.followLogs("/services/\(serviceID)/logs?stdout=1&stderr=1") { line, isError in
            rest.deliver(after: handed) { output(isError ? .stderr : .stdout, line) }
        }
        return reason ?? .exited(code: 127)
    }
}

/// The lines a job's followed log handed over; once stopped it hands over none (the full read
/// takes over from there).
final class LineCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var stopped = false

    /// Counts a line and hands it over, unless stopped or among the first `skipped`.
    func deliver(after skipped: Int = 0, _ hand: () -> Void) {
        lock.withLock {
            guard !stopped else { return }
            count += 1
            if count > skipped { hand() }
        }
    }

    /// Stops handing over; the number of lines handed over.
    func stop() -> Int {
        lock.withLock {
            stopped = true
            return count
        }
    }
}

/// A swarm job as a launched process: `wait` returns how its task ended, `signal` stops it
/// (the service is removed: its container gets the stop grace's SIGTERM, then SIGKILL).
final class SwarmJob: LaunchedProcess, @unchecked Sendable {
    let serviceID: String
    private let engine: DockerEngine
    private let stop = StopSignal()
    private let ending: Task<ExitReason, Never>

    init(runtime: SwarmRuntime, serviceID: String, output: @escaping OutputHandler) {
        self.engine = runtime.engine
        self.serviceID = serviceID
        ending = Task { [stop] in
            await runtime.waitForJob(serviceID: serviceID, stoppedBy: { stop.value }, output: output)
        }
    }

    var pid: Int32 { 0 }

    func signal(_ signal: Int32) {
        guard signal == SIGTERM || signal == SIGKILL || signal == SIGINT else { return }
        stop.value = signal
        Task { [engine, serviceID] in _ = try? await engine.send(.DELETE, "/services/\(serviceID)") }
    }

    func wait() async -> ExitReason {
        await ending.value
    }

    /// The signal the job was stopped with, if it was.
    final class StopSignal: @unchecked Sendable {
        private let lock = NSLock()
        private var signal: Int32?

        var value: Int32? {
            get { lock.withLock { signal } }
            set { lock.withLock { signal = newValue } }
        }
    }
}
