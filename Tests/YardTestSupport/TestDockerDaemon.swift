import Foundation
import YardCore
import YardRuntime

/// A private two-node swarm for tests: `scripts/test-dockerd.sh` runs a manager dockerd with
/// everything (data root, exec root, socket) in a temp folder of its own, its own bridge at
/// 10.201.0.1/24 and no iptables rules, and a worker dockerd in a network namespace on that
/// bridge (10.201.0.250), joined to it; `stop()` removes it all.
public final class TestDockerDaemon: Sendable {
    public let directory: String
    /// The manager's Engine API socket.
    public let socketPath: String
    /// The worker's Engine API socket.
    public let workerSocketPath: String
    /// The manager's address on the bridge (where a registry for the nodes listens).
    public static let managerAddress = "10.201.0.1"
    /// The worker's address, in its namespace.
    public static let workerAddress = "10.201.0.250"

    /// Starts both daemons and the swarm (about 4 s); fails with the install command when
    /// docker.io is missing.
    /// `userns`: both daemons run with `userns-remap` (a task's root is host uid 0x7F000000).
    public init(userns: Bool = true) async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/dockerd") else {
            throw YardError(.unavailable, "this test needs dockerd: run scripts/setup.sh (or apt-get install -y docker.io)")
        }
        directory = "/tmp/yard-dockerd-\(UUID().uuidString.prefix(8).lowercased())"
        socketPath = directory + "/docker.sock"
        workerSocketPath = directory + "/worker/docker.sock"
        let result = try await SystemCommand("/bin/bash", [Self.script, "start", directory] + (userns ? ["userns"] : [])).result()
        guard result.succeeded else {
            _ = try? await SystemCommand("/bin/bash", [Self.script, "stop", directory]).result()
            throw YardError(.unavailable, "dockerd did not start: \(result.standardError)")
        }
    }

    /// Stops both daemons and removes its services, containers, mounts, links and folder.
    public func stop() async {
        _ = try? await SystemCommand("/bin/bash", [Self.script, "stop", directory]).result()
    }

    /// Starts the worker's dockerd again after a test killed it (`kill -9` of
    /// `worker/dockerd.pid`): it stops the containers it left and rejoins the swarm.
    public func restartWorker() async throws {
        let result = try await SystemCommand("/bin/bash", [Self.script, "restart-worker", directory]).result()
        guard result.succeeded else { throw YardError(.unavailable, "the worker's dockerd did not start again: \(result.standardError)") }
    }

    /// Runs `body` with a fresh swarm, stopped afterwards, also on failure. One swarm runs at a
    /// time (its addresses and gossip port are fixed): suites running in parallel take turns.
    public static func with(userns: Bool = true, _ body: (TestDockerDaemon) async throws -> Void) async throws {
        await turn.acquire()
        let daemon: TestDockerDaemon
        do {
            daemon = try await TestDockerDaemon(userns: userns)
        } catch {
            await turn.release()
            throw error
        }
        do {
            try await body(daemon)
        } catch {
            print(daemon.diagnosis())
            await daemon.stop()
            await turn.release()
            throw error
        }
        await daemon.stop()
        await turn.release()
    }

    static let turn = Turn()

    /// For a failed test: whether each daemon still runs, and the end of its log (a daemon
    /// that died mid-test says why there; its folder is removed by `stop()`).
    public func diagnosis() -> String {
        var report: [String] = []
        for (name, folder) in [("manager", directory), ("worker", directory + "/worker")] {
            let pid = (try? String(contentsOfFile: folder + "/dockerd.pid", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let running = pid.flatMap(Int32.init).map { kill($0, 0) == 0 } ?? false
            let log = (try? String(contentsOfFile: folder + "/dockerd.log", encoding: .utf8)) ?? ""
            let tail = log.split(separator: "\n").suffix(25).joined(separator: "\n")
            report.append("test-dockerd: the \(name)'s dockerd (pid \(pid ?? "?")) \(running ? "runs" : "is gone"); its log ends:\n\(tail)")
        }
        return report.joined(separator: "\n")
    }

    /// A lock for async code: one holder, the others wait in order.
    actor Turn {
        private var held = false
        private var waiting: [CheckedContinuation<Void, Never>] = []

        func acquire() async {
            if !held {
                held = true
                return
            }
            await withCheckedContinuation { waiting.append($0) }
        }

        func release() {
            if waiting.isEmpty { held = false } else { waiting.removeFirst().resume() }
        }
    }

    /// `scripts/test-dockerd.sh` of this checkout.
    static let script: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("scripts/test-dockerd.sh").path
    }()
}
