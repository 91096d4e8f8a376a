import Foundation
import YardCore
import YardRuntime

/// Provider environment images (`localhost/yard-env/<provider>:<hash of its packages>`) are
/// the same on every store of a machine: built once, kept as an OCI archive in a
/// machine-wide cache (as the debootstrap tarball is), and loaded into each new store in
/// seconds instead of installing Debian's packages again.
extension ImageStore {
    /// `/var/cache/switchyard/environments`.
    public static let environmentCacheDirectory = URL(fileURLWithPath: "/var/cache/switchyard/environments")

    /// The archive of `name` in `cache` (`localhost_yard-env_python_<hash>.tar`).
    static func cachedArchive(of name: String, in cache: URL) -> URL {
        let file = String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" })
        return cache.appendingPathComponent(file + ".tar")
    }

    /// Loads `name` from the machine's cache into this store; false when the cache has no
    /// archive of it or it cannot be read (the caller then builds it).
    public func loadCachedImage(_ name: String, cache: URL = environmentCacheDirectory) async -> Bool {
        let archive = Self.cachedArchive(of: name, in: cache)
        guard FileManager.default.fileExists(atPath: archive.path) else { return false }
        do {
            try await run(.skopeo, ["copy", "--quiet", "oci-archive:\(archive.path)", "containers-storage:\(name)"])
            return try await inspect(name) != nil
        } catch {
            return false
        }
    }

    /// Writes `name` to the machine's cache (beside it, then renamed: no half archive).
    public func cacheImage(_ name: String, cache: URL = environmentCacheDirectory) async throws {
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let archive = Self.cachedArchive(of: name, in: cache)
        let partial = cache.appendingPathComponent(".\(UUID().uuidString).tar")
        defer { try? FileManager.default.removeItem(at: partial) }
        try await run(.skopeo, ["copy", "--quiet", "containers-storage:\(name)", "oci-archive:\(partial.path)"])
        _ = try? FileManager.default.removeItem(at: archive)
        try FileManager.default.moveItem(at: partial, to: archive)
    }
}
