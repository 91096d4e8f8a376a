import Foundation
import YardCore
import YardRuntime

/// Database services on the swarm. The control plane builds an image of the server's Debian
/// package (`DatabaseImage`, its `USER` the server's, its mount path owned by it) and places
/// the database as any image replica: a service pinned to its volume's node with the volume
/// at the kind's mount path, its variables (password included) only in the secret env file,
/// and `<name>.railway.internal` on the environment's overlay. What differs: the start script
/// runs as a shell script (the same one as on the sandbox), a health check makes its task
/// `running` only once the server accepts connections, its relay opens only then (so the
/// orchestrator's port check waits for the server, not for the relay), and the stop grace
/// gives the server time to flush.
extension SwarmRuntime {
    public nonisolated var runsDatabasesFromImages: Bool { true }

    /// As the sandbox's: `SIGTERM`, then this long to shut down cleanly before `SIGKILL`.
    static let databaseStopGrace: Duration = .seconds(30)

    /// The start script, run by the image's shell (a script, not words to exec).
    static func databaseArguments(_ request: ReplicaRequest) -> [String] {
        ["/bin/sh", "-c", request.command]
    }

    /// A database's readiness check (inside its container, on its own port) and stop grace.
    func configureDatabase(_ request: ReplicaRequest, spec: inout SwarmServiceSpec) {
        guard let kind = request.database else { return }
        spec.TaskTemplate.ContainerSpec.StopGracePeriod = Self.nanoseconds(Self.databaseStopGrace)
        spec.TaskTemplate.ContainerSpec.HealthCheck = .init(
            Test: ["CMD-SHELL", Self.readinessCheck(kind, port: request.port)], Interval: Self.nanoseconds(.seconds(2)),
            Timeout: Self.nanoseconds(.seconds(5)), Retries: 3, StartPeriod: Self.nanoseconds(.seconds(120)))
    }

    /// A shell command that succeeds once the server answers on `port` (without a password:
    /// an "authentication required" answer is an answer).
    static func readinessCheck(_ kind: DatabaseKind, port: Int) -> String {
        switch kind {
        case .postgres:
            #""$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/pg_isready" -q -h 127.0.0.1 -p \#(port)"#
        case .redis:
            "redis-cli -h 127.0.0.1 -p \(port) ping 2>&1 | grep -qE 'PONG|NOAUTH'"
        case .mysql:
            "mariadb-admin --no-defaults --protocol=TCP -h 127.0.0.1 -P \(port) --connect-timeout=2 ping >/dev/null 2>&1"
        }
    }

    /// Opens a database's relay once its task is ready (the watcher's route).
    func openDatabaseRelay(replicaID: String, port: Int) async {
        do {
            try await relay.open(port: port)
        } catch {
            continuation.yield(.output(replicaID: replicaID, stream: .stderr, line: "swarm: \(error)"))
        }
    }
}
