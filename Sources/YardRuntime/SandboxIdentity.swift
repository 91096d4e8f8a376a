import Foundation
import YardCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Who a sandboxed process is on the host.
///
/// Each service gets a host uid (and a gid of the same number) of its own, so one tenant's
/// processes cannot signal, trace or read the `/proc` entries and files of another, and a
/// host process running as `nobody` sees none of them. The uid is derived from the service
/// id (FNV-1a), so it needs no storage and stays the same across restarts and upgrades:
/// `serviceUIDBase ..< serviceUIDBase + serviceUIDCount`, a range no `/etc/passwd` entry or
/// subordinate-id range of a stock system uses. `yard shell` runs as `shellUID`, one no
/// replica has.
public enum SandboxIdentity {
    /// The first service uid (0x70000000, above systemd's container ranges).
    public static let serviceUIDBase: UInt32 = 0x7000_0000
    /// How many service uids there are (2^24).
    public static let serviceUIDCount: UInt32 = 1 << 24
    /// The uid of `yard shell`: outside the service range, so no app can trace it.
    public static let shellUID: UInt32 = serviceUIDBase + serviceUIDCount
    /// The uid `tar` unpacks uploads as: no service has it, and it owns nothing but what
    /// it unpacks, so a hostile archive can write only into the folder it was given.
    public static let unpackUID: UInt32 = shellUID + 1
    /// The name the service uid has in the passwd file its boxes see.
    public static let userName = "app"

    /// The host uid of a service's builds, replicas, pre-deploy commands and cron runs.
    public static func uid(forService serviceID: String) -> UInt32 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in serviceID.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return serviceUIDBase + UInt32(truncatingIfNeeded: hash % UInt64(serviceUIDCount))
    }

    /// Whether `uid` is one this platform hands to services.
    public static func isServiceUID(_ uid: UInt32) -> Bool {
        uid >= serviceUIDBase && uid < serviceUIDBase + serviceUIDCount
    }

    /// The host's passwd and group files plus an entry for `uid`, for the box's `/etc`:
    /// programs such as `initdb` refuse to run as a uid without a name.
    public static func accountFiles(uid: UInt32, hostPasswd: String, hostGroup: String) -> (passwd: String, group: String) {
        func withNewline(_ text: String) -> String { text.isEmpty || text.hasSuffix("\n") ? text : text + "\n" }
        return (
            withNewline(hostPasswd) + "\(userName):x:\(uid):\(uid):Switchyard service:/tmp:/usr/sbin/nologin\n",
            withNewline(hostGroup) + "\(userName):x:\(uid):\n"
        )
    }

    /// Hands `directory` and everything in it to `uid` when its top is not already theirs
    /// (a volume written under an earlier uid); symbolic links are changed, not followed.
    public static func handOver(_ directory: String, to uid: UInt32) {
        var info = stat()
        guard lstat(directory, &info) == 0, info.st_uid != uid || info.st_gid != uid else { return }
        let paths = [directory] + (FileManager.default.subpaths(atPath: directory) ?? []).map { directory + "/" + $0 }
        for path in paths { _ = lchown(path, uid, uid) }
    }
}
