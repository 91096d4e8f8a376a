import Foundation
import YardCore
import YardRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// A `ReplicaRuntime` that runs nothing: it writes down every request in order, hands out
/// 127.0.0.1 and the requested port, and opens a real listening socket there while a
/// replica "runs", so the real health checker and router see it. Tests script exits and
/// crashes (`crash`), which go through the replica's real `RestartPolicy`, and how the next
/// replicas behave (`script`): listen at start, listen and answer HTTP, never listen (a
/// worker, until `openPort`), or exit right after starting (a job).
public actor FakeRuntime: ReplicaRuntime {
    /// What happened, in order: `place <id>`, `start <id>`, `stop <id>`, `task <id>`,
    /// `end-task <id>`, `build <deployment>`, `network-removed <environment>`.
    public private(set) var log: [String] = []
    /// Called at the start of `stopReplica`, before the replica is gone (to look at the
    /// routes at that moment).
    private var onStop: (@Sendable (String) async -> Void)?
    /// Exit code of the next tasks (pre-deploy commands, cron runs).
    public var taskExitCode: Int32 = 0

    public nonisolated let isolation = RuntimeIsolation.none(reason: "fake runtime for tests")
    public nonisolated let addressing = ReplicaAddressing.sharedHost("127.0.0.1")
    public nonisolated let summary = "fake: nothing runs"
    public nonisolated let events: AsyncStream<ReplicaEvent>
    public nonisolated let buildLauncher: any ProcessLauncher = PlainProcessLauncher()
    public nonisolated var appMountPath: String? { nil }
    public nonisolated var platformExecutable: String? { nil }
    private nonisolated let continuation: AsyncStream<ReplicaEvent>.Continuation
    private var requests: [String: ReplicaRequest] = [:]
    private var policies: [String: RestartPolicy] = [:]
    private var attempts: [String: Int] = [:]
    private var listeners: [String: Int32] = [:]
    /// Replicas whose process "runs" (listening or not).
    private var alive: Set<String> = []
    private var scripts: [String: ReplicaScript] = [:]
    /// How replicas started from now on behave.
    public private(set) var script = ReplicaScript.listens

    /// How a replica's process behaves once started.
    public enum ReplicaScript: Sendable {
        /// Listens on its port from the start (a web service); connections wait unanswered.
        case listens
        /// Listens and answers every request with 200 (a web service with a health check).
        case answers
        /// Runs without listening until `openPort` (a worker or bot; a slow web service).
        case neverListens
        /// Exits with this reason right after it started (a job), then as its policy decides.
        case exitsAfterStart(ExitReason)
    }
    private var nextPID: Int32 = 2_000_000_000

    public init() {
        (events, continuation) = AsyncStream.makeStream(of: ReplicaEvent.self)
    }

    public func setScript(_ script: ReplicaScript) {
        self.script = script
    }

    /// How `replicaID` behaves when it is restarted.
    public func setScript(_ script: ReplicaScript, for replicaID: String) {
        scripts[replicaID] = script
    }

    public func setOnStop(_ hook: @escaping @Sendable (String) async -> Void) {
        onStop = hook
    }

    /// Replicas started and not stopped, in start order.
    public var running: [String] {
        log.compactMap { $0.hasPrefix("start ") ? String($0.dropFirst(6)) : nil }.filter { alive.contains($0) }
    }

    public func request(of replicaID: String) -> ReplicaRequest? { requests[replicaID] }

    /// Index of `entry` in the log, nil when it is not there.
    public func position(of entry: String) -> Int? { log.firstIndex(of: entry) }

    // MARK: ReplicaRuntime

    public func cleanUpLeftovers() async { log.append("cleanup") }
    public nonisolated func closeEvents() { continuation.finish() }
    public func shutdown() async {
        for id in listeners.keys { closeListener(id) }
    }
    public func prepareNetwork(environmentID: String, subnetIndex: Int) async throws {}
    public func removeNetwork(environmentID: String) async { log.append("network-removed \(environmentID)") }
    public func publishDirectory(environmentID: String, services: [String: [String]]) async {}
    public nonisolated func buildEnvironment() -> [String: String] { [:] }
    public func prepareBuild(_ request: BuildBoxRequest) async throws -> BuildBox {
        log.append("build \(request.deploymentID)")
        return BuildBox(sandbox: nil)
    }
    public func finishBuild(deploymentID: String) async {}
    public nonisolated func confineTool(serviceID: String, environmentID: String, scratch: String) throws -> ConfinedTool {
        .unprivileged()
    }
    public func usage(of replicaID: String) async -> ResourceUsage? { nil }

    public func placeReplica(_ request: ReplicaRequest) async throws -> ReplicaPlacement {
        log.append("place \(request.id)")
        requests[request.id] = request
        policies[request.id] = request.restartPolicy
        return ReplicaPlacement(address: "127.0.0.1", port: request.port, environment: request.environment)
    }

    public func startReplica(id: String) async throws {
        guard let request = requests[id] else { throw YardError(.internal, "fake runtime: \(id) was not placed") }
        log.append("start \(id)")
        scripts[id] = script
        try begin(id, port: request.port)
        nextPID += 1
        continuation.yield(.started(replicaID: id, pid: nextPID, attempt: 0))
        if case .exitsAfterStart(let reason) = script { crash(id, reason: reason) }
    }

    /// The replica's process starts: it listens unless its script says otherwise.
    private func begin(_ id: String, port: Int) throws {
        alive.insert(id)
        switch scripts[id] ?? .listens {
        case .listens: listeners[id] = try Self.listen(port: port)
        case .answers:
            listeners[id] = try Self.listen(port: port)
            try answer(id)
        case .neverListens, .exitsAfterStart: break
        }
    }

    /// A running replica that listens answers every request with 200 from now on, until it
    /// stops: a thread accepts on a duplicate of its socket, which the stop's `shutdown` ends.
    public func answer(_ id: String) throws {
        guard let listener = listeners[id] else { throw YardError(.internal, "fake runtime: \(id) does not listen") }
        let fd = dup(listener)
        guard fd >= 0 else { throw YardError(.internal, "fake runtime: dup failed") }
        Thread.detachNewThread {
            let answer = Array("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".utf8)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let connection = accept(fd, nil, nil)
                if connection < 0 {
                    if errno == EINTR { continue }
                    break
                }
                _ = read(connection, &buffer, buffer.count)
                _ = write(connection, answer, answer.count)
                close(connection)
            }
            close(fd)
        }
    }

    /// Closes a replica's listening socket, waking the thread that answers on it.
    private func closeListener(_ id: String) {
        guard let fd = listeners.removeValue(forKey: id) else { return }
        Glibc.shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    /// A running replica that did not listen opens its port now.
    public func openPort(_ id: String) throws {
        guard alive.contains(id), listeners[id] == nil, let request = requests[id] else { return }
        listeners[id] = try Self.listen(port: request.port)
    }

    public func stopReplica(id: String, grace: Duration) async {
        await onStop?(id)
        log.append("stop \(id)")
        closeListener(id)
        if alive.remove(id) != nil {
            continuation.yield(.stopped(replicaID: id))
        }
    }

    public func stopAll(grace: Duration) async {
        for id in alive.sorted() { await stopReplica(id: id, grace: grace) }
    }

    public func startTask(_ request: ReplicaRequest, output: @escaping OutputHandler) async throws -> any LaunchedProcess {
        log.append("task \(request.id)")
        return FinishedProcess(reason: .exited(code: taskExitCode))
    }

    public func endTask(id: String) async { log.append("end-task \(id)") }

    // MARK: Scripted events

    /// The replica's process exits with `reason`: its restart policy decides, as the
    /// supervisor's would; a restart is immediate (no backoff).
    @discardableResult
    public func crash(_ id: String, reason: ExitReason = .exited(code: 1)) -> RestartPolicy.Decision? {
        guard var policy = policies[id], alive.remove(id) != nil else { return nil }
        closeListener(id)
        let decision = policy.processExited(reason, uptime: .zero)
        policies[id] = policy
        log.append("exit \(id)")
        continuation.yield(.exited(replicaID: id, reason: reason, decision: decision))
        if case .restart(_, let attempt) = decision, let request = requests[id] {
            // A restarted job runs again and exits again only when the test says so.
            if case .exitsAfterStart = scripts[id] { scripts[id] = .neverListens }
            try? begin(id, port: request.port)
            nextPID += 1
            log.append("restart \(id)")
            continuation.yield(.started(replicaID: id, pid: nextPID, attempt: attempt))
        }
        return decision
    }

    /// A socket listening on 127.0.0.1:`port`: connections wait in its backlog.
    static func listen(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw YardError(.internal, "fake runtime: socket failed") }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 64) == 0 else {
            close(fd)
            throw YardError(.internal, "fake runtime: cannot listen on 127.0.0.1:\(port)")
        }
        return fd
    }
}

/// A task that has already ended.
struct FinishedProcess: LaunchedProcess {
    let reason: ExitReason
    var pid: Int32 { 2_000_000_000 }
    func signal(_ signal: Int32) {}
    func wait() async -> ExitReason { reason }
}
