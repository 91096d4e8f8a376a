#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Reaps processes that were orphaned inside replica process trees and reparented to us
/// because the supervisor is a child subreaper.
///
/// The danger of reaping is stealing an exit status someone else in this process waits for
/// (a `ChildProcess`, or one of our own launched leaders). We never use
/// `waitpid(-1)`; we only reap a zombie that provably is an orphan:
/// - its parent is us (it was reparented, or it is a direct child), and
/// - it is in a session other than ours, but not that session's leader.
/// A direct child starts in our session and can leave it only with `setsid()`, which makes it
/// the leader of its new session; so a child that matches both rules cannot be a direct
/// child that someone is waiting for. Orphans that called `setsid()` themselves (leaders of
/// their own session) are deliberately left alone: they are indistinguishable from a
/// direct child that did the same. Linux only (it reads /proc); elsewhere it does nothing.
enum OrphanReaper {
    struct ProcessStat: Equatable {
        var pid: Int32
        var state: Character
        var parentPID: Int32
        var sessionID: Int32
    }

    /// Whether this process is a child subreaper (orphans of our trees are reparented to us).
    static var isSubreaper: Bool {
        #if os(Linux)
        var flag: Int32 = 0
        return withUnsafeMutablePointer(to: &flag) { pointer in
            LinuxCalls.prctl(LinuxCalls.PR_GET_CHILD_SUBREAPER, UInt(bitPattern: Int(bitPattern: pointer)))
        } == 0 && flag != 0
        #else
        return false
        #endif
    }

    /// Reaps every provable orphan zombie (see the type's documentation). Returns how many.
    @discardableResult
    static func reapOrphanZombies() -> Int {
        let me = getpid()
        let mySession = getsid(0)
        var reaped = 0
        for process in scanProcesses()
        where process.state == "Z" && process.parentPID == me && process.sessionID != mySession
            && process.pid != process.sessionID
        {
            var status: Int32 = 0
            if waitpid(process.pid, &status, WNOHANG) == process.pid { reaped += 1 }
        }
        return reaped
    }

    /// After a session leader died and its group was killed, reaps the session's members as
    /// they die and are reparented to us; gives up after `timeout` (a member stuck in
    /// uninterruptible sleep must not hold the caller forever). Polls /proc because the
    /// event (SIGCHLD) is process-global and owned by whoever installed a handler for it.
    static func reapSession(_ sessionID: Int32, timeout: Duration) {
        guard isSubreaper else { return }
        let me = getpid()
        let deadline = ContinuousClock.now + timeout
        while true {
            let members = scanProcesses().filter { $0.sessionID == sessionID && $0.pid != sessionID }
            for member in members where member.parentPID == me && member.state == "Z" {
                var status: Int32 = 0
                _ = waitpid(member.pid, &status, WNOHANG)
            }
            if members.isEmpty || ContinuousClock.now >= deadline { return }
            usleep(20_000)
        }
    }

    /// Every process in /proc with the fields we need (empty where /proc does not exist).
    static func scanProcesses() -> [ProcessStat] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var result: [ProcessStat] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let pid = Int32(name), let stat = readStat(pid: pid) else { continue }
            result.append(stat)
        }
        return result
    }

    /// Parses /proc/<pid>/stat: "pid (comm) state ppid pgrp session ...". `comm` may contain
    /// spaces and parentheses, so fields are read after the last ')'.
    static func readStat(pid: Int32) -> ProcessStat? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count >= 4, let state = fields[0].first, let parent = Int32(fields[1]),
            let session = Int32(fields[3])
        else { return nil }
        return ProcessStat(pid: pid, state: state, parentPID: parent, sessionID: session)
    }
}
