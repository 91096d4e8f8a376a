import Foundation
import YardCore
import YardRuntime

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

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
