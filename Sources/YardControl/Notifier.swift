import Foundation
import Logging
import YardCore
import YardRuntime
import YardStore

/// The notification hook (`yard serve --notify-command CMD`): what an operator must hear
/// about without watching a terminal — a deployment that failed or crashed, a backup or a
/// restore check that failed — runs `CMD` through `/bin/sh -c` with the event as one JSON
/// object on standard input and its kind in `YARD_EVENT`. Railway sends such events to a
/// webhook; a command can post them anywhere (`curl -d @- …`), write them to a file, or page.
///
/// Events carry names, ids and the reason already shown by `yard status`; never a variable.
/// The command runs detached: a slow or failing hook never delays a deployment, and its
/// failure is logged, not retried.
public struct Notifier: Sendable {
    public struct Event: Codable, Sendable, Equatable {
        /// `deployment.failed`, `deployment.crashed`, `backup.failed`, `backup.check-failed`.
        public var event: String
        public var at: Date
        public var projectID: String?
        public var environmentID: String?
        public var serviceID: String?
        public var serviceName: String?
        public var deploymentID: String?
        public var message: String

        public init(
            event: String, at: Date = Date(), projectID: String? = nil, environmentID: String? = nil, serviceID: String? = nil,
            serviceName: String? = nil, deploymentID: String? = nil, message: String
        ) {
            self.event = event
            self.at = at
            self.projectID = projectID
            self.environmentID = environmentID
            self.serviceID = serviceID
            self.serviceName = serviceName
            self.deploymentID = deploymentID
            self.message = message
        }
    }

    /// The events the shell command runs for; the others (`deployment.success`,
    /// `replica.oom-killed`, `replica.restart-loop`) only feed the alert engine.
    public static let hookEvents: Set<String> = ["deployment.failed", "deployment.crashed", "backup.failed", "backup.check-failed"]

    /// The shell command, or nil when no hook is configured.
    public let command: String?
    /// Alert rules (`yard alerts`): every event is fed to them.
    public let alerts: AlertEngine?
    /// A hook still running after this long is killed, with every process it started.
    public var timeout: Duration = .seconds(30)
    /// Replica restarts inside the restart-loop window (`RestartLoopWindow`).
    public let restartLoops = RestartLoopTracker()
    private let logger: Logger

    public init(command: String?, logger: Logger, alerts: AlertEngine? = nil) {
        self.command = command.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
        self.logger = logger
        self.alerts = alerts
    }

    /// Feeds `event` to the alert rules and runs the hook for it in the background; returns at once.
    public func send(_ event: Event) {
        alerts?.submit(event)
        guard let command, Self.hookEvents.contains(event.event) else { return }
        let logger = self.logger
        let timeout = self.timeout
        Task.detached {
            do {
                let status = try await Self.run(command: command, event: event, timeout: timeout)
                if status != 0 {
                    logger.warning(
                        "the notify command failed", metadata: ["event": "\(event.event)", "exit": "\(status)"])
                }
            } catch {
                logger.warning("the notify command could not run", metadata: ["event": "\(event.event)", "error": "\(error)"])
            }
        }
    }

    /// Runs `command` with `event` on stdin; returns its exit status (killed: 128 + signal)
    /// as soon as the shell exits, even if it left a process running (`curl … &`).
    static func run(command: String, event: Event, timeout: Duration) async throws -> Int32 {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        var environment = ProcessInfo.processInfo.environment
        environment["YARD_EVENT"] = event.event
        process.environment = environment
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        let (exits, exited) = AsyncStream.makeStream(of: Int32.self)
        process.terminationHandler = {
            // A killing signal's number is reported; the shell's convention is 128 + it.
            exited.yield($0.terminationReason == .uncaughtSignal ? 128 + $0.terminationStatus : $0.terminationStatus)
            exited.finish()
        }
        BrokenPipe.ignore()
        try process.run()
        var body = try YardJSON.encoder().encode(event)
        body.append(0x0A)
        try? input.fileHandleForWriting.write(contentsOf: body)
        try? input.fileHandleForWriting.close()
        let pid = process.processIdentifier
        let killer = Task {
            try await Task.sleep(for: timeout)
            // It starts as the leader of its own process group: the group goes too.
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
        }
        defer { killer.cancel() }
        return await exits.first { _ in true } ?? -1
    }
}

extension Orchestrator {
    /// Sends a deployment's event to the hook, with its service's name and project.
    func notify(_ event: String, deployment: DeploymentRecord, message: String) {
        guard notifier.command != nil || notifier.alerts != nil else { return }
        let service = try? store.service(id: deployment.serviceID)
        notifier.send(
            Notifier.Event(
                event: event, projectID: service?.projectID, environmentID: deployment.environmentID, serviceID: deployment.serviceID,
                serviceName: service?.name, deploymentID: deployment.id, message: message))
    }
}

extension Orchestrator {
    /// A restart: once a replica restarted `RestartLoopWindow.count` times within its window
    /// (3 within 5 minutes), `replica.restart-loop` on each restart after; the rule fires
    /// once and ignores the next ones while it holds.
    func replicaRestarted(deploymentID: String, replicaID: String) {
        guard let restarts = notifier.restartLoops.record(replicaID: replicaID),
              let deployment = try? store.deployment(id: deploymentID)
        else { return }
        let window = AlertDurationText.text(Int(notifier.restartLoops.window))
        notify("replica.restart-loop", deployment: deployment, message: "replica \(replicaID) restarted \(restarts) times within \(window)")
    }

    /// The kernel killed a replica for going over its memory limit (the supervisor reads the
    /// cgroup's `memory.events` oom_kill count when the process dies of SIGKILL).
    func replicaOOMKilled(deploymentID: String, replicaID: String) {
        guard let deployment = try? store.deployment(id: deploymentID) else { return }
        notify("replica.oom-killed", deployment: deployment, message: "replica \(replicaID) was OOM-killed: it went over its memory limit")
    }
}
