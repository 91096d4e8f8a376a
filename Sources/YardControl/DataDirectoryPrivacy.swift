import Foundation
import YardCore

#if canImport(Glibc)
    import Glibc
#endif

/// Makes the data directory private to the server when it starts, including one an older
/// version left readable: the folder itself 0711 (no other local user can list it), the
/// database, the admin token and the key files 0600, the folders that hold sources, logs,
/// backups, keys, git repositories, builds and certificates 0700. The folder stays
/// traversable because a box whose root is root of a user namespace (`RAILWAY_RUN_UID=0`)
/// starts bwrap as the service's own uid, which must reach its artifact, its volume (0700,
/// its own) and its account files by path; nothing secret lies on those paths.
/// Also empties the private temporary folder a crashed server may have left files in.
public enum DataDirectoryPrivacy {
    /// Folders (relative to the data directory) whose whole content is the server's alone.
    static let privateFolders = ["sources", "logs", "backups", "keys", "tmp", "git", "builds", "tls"]
    /// Files directly in the data directory that hold secrets or all state.
    static let privateFilePrefixes = ["switchyard.sqlite", "admin.token", "serve.json"]

    public static func secure(_ dataDirectory: URL) throws {
        let files = FileManager.default
        try files.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        guard chmod(dataDirectory.path, 0o711) == 0 else {
            throw YardError(.internal, "cannot make the data directory \(dataDirectory.path) private (chmod 0711 failed: errno \(errno))")
        }
        for name in (try? files.contentsOfDirectory(atPath: dataDirectory.path)) ?? [] {
            let path = dataDirectory.appendingPathComponent(name).path
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            let kind = info.st_mode & S_IFMT
            if kind == S_IFREG, privateFilePrefixes.contains(where: name.hasPrefix) {
                _ = chmod(path, 0o600)
            } else if kind == S_IFDIR, privateFolders.contains(name) {
                _ = chmod(path, 0o700)
                if ["sources", "logs", "backups", "keys"].contains(name) { tightenFiles(under: path) }
            }
        }
        let temporary = dataDirectory.appendingPathComponent("tmp")
        try? files.removeItem(at: temporary)
        try files.createDirectory(at: temporary, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    /// Removes group and other access from every file and folder under `path`, walking
    /// without following links.
    static func tightenFiles(under path: String) {
        var pending = [path]
        while let folder = pending.popLast() {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
                let item = folder + "/" + name
                var info = stat()
                guard lstat(item, &info) == 0 else { continue }
                let kind = info.st_mode & S_IFMT
                guard kind == S_IFREG || kind == S_IFDIR else { continue }
                _ = chmod(item, info.st_mode & 0o700)
                if kind == S_IFDIR { pending.append(item) }
            }
        }
    }
}
