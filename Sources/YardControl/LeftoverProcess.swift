import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Processes a previous run of `yard serve` left running (after `kill -9`).
enum LeftoverProcess {
    /// True when `pid` is alive and its environment carries the replica's id.
    static func belongs(pid: Int32, toReplica replicaID: String) -> Bool {
        guard let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
        let marker = Data("RAILWAY_REPLICA_ID=\(replicaID)".utf8)
        return environ.split(separator: 0).contains { Data($0) == marker }
    }

    /// SIGKILLs the process group the replica leads (replicas start as group leaders).
    static func kill(pid: Int32) {
        _ = Glibc.kill(-pid, SIGKILL)
        _ = Glibc.kill(pid, SIGKILL)
    }
}
