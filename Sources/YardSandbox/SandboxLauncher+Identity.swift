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

extension SandboxFilesystem {
    /// Refuses mounts whose missing mount point would be created in a system folder of the
    /// host's root (a volume at `/etc/nologin` would otherwise make that folder on the host).
    func checkMountPoints(label: String) throws {
        for (index, mount) in mounts.enumerated() where index >= Self.fixedMounts && mount.source != nil {
            guard mounts.prefix(index).last(where: { Self.isWithin(mount.target, $0.target) })?.target == "/",
                access(mount.target, F_OK) != 0, let problem = VolumeMountPath.problem(with: mount.target)
            else { continue }
            throw YardError(.invalidConfig, "\(label): cannot mount at \(mount.target): \(problem); use a path such as /data")
        }
    }
}
