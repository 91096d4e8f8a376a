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

extension SandboxCommand {
    /// The chain for `RAILWAY_RUN_UID=0`: drop to the box's host uid first, then bwrap makes a
    /// user namespace where that uid is root. Root inside owns only what the host uid owns
    /// (bwrap started as real root would map uid 0 to the host's root and keep every
    /// capability); bwrap itself drops all capabilities and sets `no_new_privs` before the
    /// command runs.
    static func rootInUserNamespace(bwrap: [String], tools: SandboxTools, uid: UInt32, gid: UInt32) -> [String] {
        let drop: [String] = [
            tools.setpriv, "--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
            "--no-new-privs", "--",
        ]
        let userNamespace: [String] = [bwrap[0], "--unshare-user", "--uid", "0", "--gid", "0"]
        return drop + userNamespace + Array(bwrap.dropFirst())
    }
}

/// Where a volume (or any bind) may be mounted: paths bwrap would have to create on the host
/// inside a system folder are refused, since the read-only root means creating them there.
public enum SandboxMountPoint {
    static let systemFolders = [
        "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root", "/run", "/sbin",
        "/sys", "/tmp", "/usr", "/var",
    ]
    /// Below these, new folders are the usual place for a program's data (`/var/lib/mysql`).
    static let dataFolders = ["/var/lib"]

    /// Why `path` cannot be a mount point, or nil when it can.
    public static func problem(with path: String) -> String? {
        guard path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
            return "'\(path)' is not an absolute path without '..'"
        }
        let normalized = SandboxFilesystem.normalized(path)
        if normalized == "/" { return "'/' is the whole filesystem" }
        if dataFolders.contains(where: { normalized != $0 && SandboxFilesystem.isWithin(normalized, $0) }) { return nil }
        if let folder = systemFolders.first(where: { SandboxFilesystem.isWithin(normalized, $0) }) {
            return "'\(path)' is inside the system folder \(folder), where the mount point would be made on the host"
        }
        return nil
    }
}

extension SandboxFilesystem {
    /// Refuses mounts whose missing mount point would be created in a system folder of the
    /// host's root (a volume at `/etc/nologin` would otherwise make that folder on the host).
    func checkMountPoints(label: String) throws {
        for (index, mount) in mounts.enumerated() where index >= Self.fixedMounts && mount.source != nil {
            guard mounts.prefix(index).last(where: { Self.isWithin(mount.target, $0.target) })?.target == "/",
                access(mount.target, F_OK) != 0, let problem = SandboxMountPoint.problem(with: mount.target)
            else { continue }
            throw YardError(.invalidConfig, "\(label): cannot mount at \(mount.target): \(problem); use a path such as /data")
        }
    }
}
