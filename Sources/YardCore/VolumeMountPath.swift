import Foundation

/// Where a volume (or any bind) may be mounted: paths bwrap would have to create on the host
/// inside a system folder are refused, since the read-only root means creating them there.
public enum VolumeMountPath {
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
        let normalized = normalized(path)
        if normalized == "/" { return "'/' is the whole filesystem" }
        if dataFolders.contains(where: { normalized != $0 && isWithin(normalized, $0) }) { return nil }
        if let folder = systemFolders.first(where: { isWithin(normalized, $0) }) {
            return "'\(path)' is inside the system folder \(folder), where the mount point would be made on the host"
        }
        return nil
    }

    private static func normalized(_ path: String) -> String {
        "/" + path.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
    }

    private static func isWithin(_ path: String, _ root: String) -> Bool {
        root == "/" || path == root || path.hasPrefix(root + "/")
    }
}
