import Foundation

/// When a child started with Foundation's `Process` has exited, without waiting for the
/// processes it left behind.
///
/// Foundation (on Linux) learns of an exit when a socket it shares with the child reaches
/// end-of-file, and every descendant of the child inherits that socket too: `terminationHandler`
/// and `waitUntilExit()` fire only once the last of them has exited. A program that leaves
/// something running (a shell hook's `cmd &`, a detached `git gc --auto` after a push) keeps
/// its caller waiting for as long as that runs, possibly forever. The kernel's zombie state
/// does not wait: the child stays a zombie until Foundation reaps it, so its pid is not reused.
///
/// Used where the program is not ours to vouch for: `git http-backend` (its hooks and
/// `gc --auto`) and the notification hook. The other short helpers (`git` plumbing on a bare
/// repository, `ip`, `iptables`, `tar`, `openssl`, the postgres and redis clients) wait for
/// every process they start before exiting, so `terminationHandler` is exact there.
public enum ExitedProcess {
    /// The child's exit status once it is a zombie (`/proc/<pid>/stat` field 52, Linux 3.5+),
    /// polled; nil when it was reaped first (its reaper reports the status) or on cancellation.
    public static func status(of pid: Int32) async -> Int32? {
        while !Task.isCancelled {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(whereSeparator: \.isWhitespace)
            // fields[0] is the state (field 3); exit_code is field 52.
            if let state = fields.first, state == "Z" || state == "X" {
                guard fields.count >= 50, let code = Int32(fields[49]) else { return -1 }
                return code & 0x7f == 0 ? (code >> 8) & 0xff : 128 + (code & 0x7f)
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return nil
    }

    /// The exit status of started child `pid`: Foundation's (`reported`, which its
    /// `terminationHandler` feeds) or the kernel's, whichever is known first; -1 if neither is.
    public static func status(of pid: Int32, reported: AsyncStream<Int32>) async -> Int32 {
        await withTaskGroup(of: Int32?.self) { group in
            group.addTask { await reported.first { _ in true } }
            group.addTask { await Self.status(of: pid) }
            for await result in group {
                if let result {
                    group.cancelAll()
                    return result
                }
            }
            return -1
        }
    }
}
