import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Processes a previous run of `yard serve` left running (after `kill -9`).
enum LeftoverProcess {
    /// True when `pid` is alive and its environment carries the replica's id.
    static func belongs(pid: Int32, toReplica replicaID: String) -> Bool {
        environment(of: pid, contains: "RAILWAY_REPLICA_ID=\(replicaID)")
    }

    /// True when `pid` is alive and has `entry` (`KEY=value`) in its environment.
    static func environment(of pid: Int32, contains entry: String) -> Bool {
        guard let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
        let marker = Data(entry.utf8)
        return environ.split(separator: 0).contains { Data($0) == marker }
    }

    /// SIGKILLs the process group the replica leads (replicas start as group leaders).
    static func kill(pid: Int32) {
        _ = Glibc.kill(-pid, SIGKILL)
        _ = Glibc.kill(pid, SIGKILL)
    }
}
