#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import YardCore

/// One replica to run: what to launch and how to restart it.
public struct ReplicaSpec: Sendable {
    public var id: String
    public var deploymentID: String
    public var launch: LaunchSpec
    public var restartPolicy: RestartPolicy

    public init(id: String, deploymentID: String, launch: LaunchSpec, restartPolicy: RestartPolicy) {
        self.id = id
        self.deploymentID = deploymentID
        self.launch = launch
        self.restartPolicy = restartPolicy
    }
}

/// What happens to supervised replicas, in order per replica (a replica's output lines
/// arrive on another thread and may precede its `started` event).
public enum SupervisorEvent: Sendable {
    case output(replicaID: String, stream: LogLine.Stream, line: String)
    /// A process was started; `attempt` is 0 for the first launch, then the restart number.
    case started(replicaID: String, pid: Int32, attempt: Int)
    /// The process exited on its own; `decision` says whether it will be restarted
    /// (`.restart`), is done (`.stop`), or has crashed for good (`.giveUp`).
    case exited(replicaID: String, reason: ExitReason, decision: RestartPolicy.Decision)
    /// The replica was stopped on request (`stop`/`stopAll`); it is not restarted.
    case stopped(replicaID: String)
    /// A restart could not launch the process; it then counts as an exit with code 127
    /// (the shell's "command not found") and an `exited` event follows.
    case launchFailed(replicaID: String, message: String)
}

/// Runs replicas and restarts them as their `RestartPolicy` decides.
///
/// Each replica is watched by one task the supervisor owns: it is stored with the replica,
/// ends when the replica is done (stopped, given up, or a clean exit not restarted), and is
/// cancelled and awaited by `stop`/`stopAll`.
public actor Supervisor {
    private struct Replica {
        var spec: ReplicaSpec
        var process: (any LaunchedProcess)?
        var supervision: Task<Void, Never>?
        var stopRequested = false
    }

    private let launcher: any ProcessLauncher
    private let logger: Logger
    private let onEvent: @Sendable (SupervisorEvent) -> Void
    private var replicas: [String: Replica] = [:]

    public init(launcher: any ProcessLauncher, logger: Logger, onEvent: @escaping @Sendable (SupervisorEvent) -> Void) {
        self.launcher = launcher
        self.logger = logger
        self.onEvent = onEvent
    }

    /// Makes this process a child subreaper, so processes orphaned inside replica trees are
    /// reparented to us (and reaped, see `reapOrphans`) instead of escaping to init.
    /// Returns false where that is impossible (not Linux, or prctl refused); supervision
    /// still works, but orphans that escape a killed tree are then init's to reap.
    @discardableResult
    public static func becomeSubreaper() -> Bool {
        #if os(Linux)
        return LinuxCalls.prctl(LinuxCalls.PR_SET_CHILD_SUBREAPER, 1) == 0
        #else
        return false
        #endif
    }

    /// Reaps zombies of orphaned replica descendants reparented to this subreaper, never
    /// touching a child someone else waits for. The supervisor calls it after every exit;
    /// call it on a slow timer too if replicas leave long-lived orphans. Returns how many.
    @discardableResult
    public static func reapOrphans() -> Int {
        OrphanReaper.reapOrphanZombies()
    }

    /// The ids of replicas being supervised (running, or waiting to restart).
    public var replicaIDs: [String] { Array(replicas.keys).sorted() }

    /// The current process of a replica; nil while it waits to restart or is unknown.
    /// Live CPU and memory use of a replica, where its launcher can measure it.
    public func usage(of replicaID: String) -> ResourceUsage? {
        replicas[replicaID]?.process?.usage()
    }

    public func pid(of replicaID: String) -> Int32? {
        replicas[replicaID]?.process?.pid
    }

    /// Launches the first attempt (throwing if that fails) and supervises the replica until
    /// it is stopped or its restart policy is done with it.
    public func start(_ spec: ReplicaSpec) async throws {
        guard replicas[spec.id] == nil else {
            throw YardError(.conflict, "replica \(spec.id) is already running; stop it before starting it again")
        }
        // Reserve the id before suspending, so a concurrent start of the same id fails.
        replicas[spec.id] = Replica(spec: spec)
        let process: any LaunchedProcess
        do {
            process = try await launch(spec)
        } catch {
            replicas[spec.id] = nil
            throw error
        }
        let startedAt = ContinuousClock.now
        replicas[spec.id]?.process = process
        emitStarted(spec, process: process, attempt: 0)
        if replicas[spec.id]?.stopRequested == true {
            // stop() ran while we were launching and could not signal anything: end it now.
            process.signal(SIGKILL)
        }
        replicas[spec.id]?.supervision = Task {
            await self.supervise(spec, first: process, startedAt: startedAt)
        }
    }

    /// Stops a replica: SIGTERM to its whole tree, SIGKILL after `gracePeriod`, and returns
    /// once it has exited. A pending restart is cancelled; nothing restarts it afterwards.
    public func stop(replicaID: String, gracePeriod: Duration) async {
        guard replicas[replicaID] != nil else { return }
        replicas[replicaID]?.stopRequested = true
        // Still in start()'s first launch: start() kills it as soon as it has a process.
        guard let replica = replicas[replicaID], let supervision = replica.supervision else { return }
        logger.info(
            "stopping replica",
            metadata: ["replica.id": "\(replicaID)", "stop.grace": "\(gracePeriod)"])
        replica.process?.signal(SIGTERM)
        // Interrupts a backoff sleep; waiting for a process does not react to cancellation.
        supervision.cancel()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await Task.sleep(for: gracePeriod)
                    await self.killAfterGrace(replicaID)
                } catch {
                    // Cancelled: the replica exited within the grace period.
                }
            }
            await supervision.value
            group.cancelAll()
        }
    }

    /// Stops every replica concurrently (see `stop`).
    public func stopAll(gracePeriod: Duration) async {
        let ids = replicaIDs
        await withTaskGroup(of: Void.self) { group in
            for id in ids {
                group.addTask { await self.stop(replicaID: id, gracePeriod: gracePeriod) }
            }
        }
    }

    // MARK: - Supervision

    private func killAfterGrace(_ replicaID: String) {
        guard let process = replicas[replicaID]?.process else { return }
        logger.warning("replica did not stop within its grace period; killing it", metadata: ["replica.id": "\(replicaID)"])
        process.signal(SIGKILL)
    }

    private func launch(_ spec: ReplicaSpec) async throws -> any LaunchedProcess {
        let replicaID = spec.id
        let onEvent = onEvent
        return try await launcher.launch(spec.launch) { stream, line in
            onEvent(.output(replicaID: replicaID, stream: stream, line: line))
        }
    }

    private func emitStarted(_ spec: ReplicaSpec, process: any LaunchedProcess, attempt: Int) {
        logger.info(
            "replica started",
            metadata: metadata(spec).merging(["pid": "\(process.pid)", "attempt": "\(attempt)"]) { $1 })
        onEvent(.started(replicaID: spec.id, pid: process.pid, attempt: attempt))
    }

    private func metadata(_ spec: ReplicaSpec) -> Logger.Metadata {
        ["replica.id": "\(spec.id)", "deployment.id": "\(spec.deploymentID)"]
    }

    /// Waits for each exit, asks the policy, and restarts after its backoff until the
    /// policy stops or gives up, or a stop is requested.
    private func supervise(_ spec: ReplicaSpec, first: any LaunchedProcess, startedAt: ContinuousClock.Instant) async {
        var process: (any LaunchedProcess)? = first
        var startedAt = startedAt
        var policy = spec.restartPolicy
        while true {
            let reason: ExitReason
            let uptime: Duration
            if let running = process {
                reason = await running.wait()
                uptime = ContinuousClock.now - startedAt
                replicas[spec.id]?.process = nil
                Self.reapOrphans()
            } else {
                reason = .exited(code: 127)
                uptime = .zero
            }
            if isStopRequested(spec.id) { return finishStopped(spec) }

            let decision = policy.processExited(reason, uptime: uptime)
            logger.info(
                "replica exited",
                metadata: metadata(spec).merging(["exit": "\(reason)", "decision": "\(decision)"]) { $1 })
            onEvent(.exited(replicaID: spec.id, reason: reason, decision: decision))
            guard case .restart(let delay, let attempt) = decision else {
                replicas[spec.id] = nil
                return
            }

            do {
                try await Task.sleep(for: delay)
            } catch {
                // Cancelled by stop(); handled just below.
            }
            if isStopRequested(spec.id) { return finishStopped(spec) }

            do {
                let restarted = try await launch(spec)
                process = restarted
                startedAt = ContinuousClock.now
                replicas[spec.id]?.process = restarted
                emitStarted(spec, process: restarted, attempt: attempt)
                // A stop() during the launch found no process to signal.
                if isStopRequested(spec.id) { restarted.signal(SIGTERM) }
            } catch {
                process = nil
                let message = (error as? YardError)?.message ?? "could not start the process"
                logger.error("replica restart failed", metadata: metadata(spec).merging(["error": "\(message)"]) { $1 })
                onEvent(.launchFailed(replicaID: spec.id, message: message))
            }
        }
    }

    private func isStopRequested(_ replicaID: String) -> Bool {
        replicas[replicaID]?.stopRequested ?? true
    }

    private func finishStopped(_ spec: ReplicaSpec) {
        replicas[spec.id] = nil
        logger.info("replica stopped", metadata: metadata(spec))
        onEvent(.stopped(replicaID: spec.id))
    }
}
