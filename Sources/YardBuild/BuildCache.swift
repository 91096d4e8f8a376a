import Foundation
import YardCore
import YardRuntime

/// The install-step cache: folders such as `.venv`, `node_modules` or `.build`, saved after
/// a successful build under a key made of the lockfiles, the toolchain versions and the
/// install commands, and copied back into the next build with the same key.
///
/// Entries live in `<directory>/<key>/` with a `used` file whose modification time is the
/// last use; the total size stays under `maximumBytes` by evicting the least recently used.
/// Copies go through `cp -a`, which keeps owners, modes and symlinks (the sandbox user
/// owns the folders).
public final class BuildCache: Sendable {
    public struct Entry: Codable, Sendable, Hashable {
        public var key: String
        public var bytes: Int64
        public var lastUsed: Date
    }

    public struct PruneResult: Codable, Sendable, Hashable {
        public var removedEntries: Int
        public var freedBytes: Int64
        public var remainingEntries: Int
        public var remainingBytes: Int64

        public init(removedEntries: Int, freedBytes: Int64, remainingEntries: Int, remainingBytes: Int64) {
            self.removedEntries = removedEntries
            self.freedBytes = freedBytes
            self.remainingEntries = remainingEntries
            self.remainingBytes = remainingBytes
        }
    }

    public let directory: URL
    public let maximumBytes: Int64
    /// Restores, saves and evictions of this process take turns, so an eviction never
    /// deletes an entry halfway through its copy.
    private let lock = NSLock()

    public init(directory: URL, maximumBytes: Int64) {
        self.directory = directory
        self.maximumBytes = maximumBytes
    }

    /// The key of an install: provider, install commands, cached folders, where the app is
    /// mounted (absolute paths inside a venv depend on it), toolchain versions and the
    /// bytes of every key file (a missing one counts as missing).
    static func key(plan: BuildPlan, cache: InstallCache, toolchainVersions: [String: String], mountPath: String, app: URL) -> String {
        var hasher = ContentHasher()
        hasher.add("switchyard-install-cache-v1")
        hasher.add(plan.provider)
        hasher.add(mountPath)
        for command in plan.installCommands { hasher.add("install:" + command) }
        for directory in cache.directories { hasher.add("dir:" + directory) }
        for name in toolchainVersions.keys.sorted() { hasher.add("tool:\(name)=\(toolchainVersions[name] ?? "")") }
        for file in cache.keyFiles.sorted() {
            hasher.add("file:" + file)
            if let data = FileManager.default.contents(atPath: app.appendingPathComponent(file).path) {
                hasher.add(data)
            } else {
                hasher.add("<absent>")
            }
        }
        return hasher.finish()
    }

    /// Copies the entry's folders into `app`. False on a miss; a failed copy removes what
    /// it copied and counts as a miss, so the install runs.
    func restore(key: String, directories: [String], into app: URL) -> Bool {
        lock.withLock {
            let entry = directory.appendingPathComponent(key)
            guard FileManager.default.fileExists(atPath: entry.appendingPathComponent("used").path) else { return false }
            for name in directories {
                let target = app.appendingPathComponent(name)
                try? FileManager.default.removeItem(at: target)
                let saved = entry.appendingPathComponent("dirs").appendingPathComponent(name)
                guard FileManager.default.fileExists(atPath: saved.path) else { continue }
                try? FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                guard Self.copy(saved, to: target) else {
                    for name in directories { try? FileManager.default.removeItem(at: app.appendingPathComponent(name)) }
                    return false
                }
                // An entry saved from another service's build belongs to that service's uid.
                _ = HostCommand.run("/bin/chown", ["-R", "--reference=\(app.path)", "--", target.path])
            }
            touch(entry)
            return true
        }
    }

    /// Saves the folders of `app` under `key` (replacing an older entry) and evicts down to
    /// the size bound. Returns the entry's size, or nil when nothing could be saved.
    @discardableResult
    func save(key: String, directories: [String], from app: URL) -> Int64? {
        lock.withLock {
            let files = FileManager.default
            let staging = directory.appendingPathComponent(".incoming-\(UUID().uuidString)")
            defer { try? files.removeItem(at: staging) }
            do {
                try files.createDirectory(at: staging.appendingPathComponent("dirs"), withIntermediateDirectories: true)
            } catch {
                return nil
            }
            var any = false
            for name in directories {
                let source = app.appendingPathComponent(name)
                guard files.fileExists(atPath: source.path) else { continue }
                let target = staging.appendingPathComponent("dirs").appendingPathComponent(name)
                try? files.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                guard Self.copy(source, to: target) else { return nil }
                any = true
            }
            guard any else { return nil }
            files.createFile(atPath: staging.appendingPathComponent("used").path, contents: Data())
            let entry = directory.appendingPathComponent(key)
            try? files.removeItem(at: entry)
            do {
                try files.moveItem(at: staging, to: entry)
            } catch {
                return nil
            }
            let size = Self.size(of: entry)
            evictLocked(keeping: key)
            return size
        }
    }

    /// Every entry, most recently used first.
    public func entries() -> [Entry] {
        lock.withLock { entriesLocked() }
    }

    /// Removes every entry (`all`), or the least recently used ones until the cache fits
    /// its bound.
    public func prune(all: Bool) -> PruneResult {
        lock.withLock {
            let before = entriesLocked()
            if all {
                for entry in before { try? FileManager.default.removeItem(at: directory.appendingPathComponent(entry.key)) }
            } else {
                evictLocked(keeping: nil)
            }
            let after = entriesLocked()
            let beforeBytes = before.reduce(0) { $0 + $1.bytes }
            let afterBytes = after.reduce(0) { $0 + $1.bytes }
            return PruneResult(
                removedEntries: before.count - after.count,
                freedBytes: beforeBytes - afterBytes,
                remainingEntries: after.count,
                remainingBytes: afterBytes
            )
        }
    }

    // MARK: Private

    private func entriesLocked() -> [Entry] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.compactMap { name -> Entry? in
            let entry = directory.appendingPathComponent(name)
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: entry.appendingPathComponent("used").path),
                let used = attributes[.modificationDate] as? Date
            else { return nil }
            return Entry(key: name, bytes: Self.size(of: entry), lastUsed: used)
        }
        .sorted { $0.lastUsed > $1.lastUsed }
    }

    private func evictLocked(keeping kept: String?) {
        var total: Int64 = 0
        for entry in entriesLocked() {
            total += entry.bytes
            if total > maximumBytes, entry.key != kept {
                try? FileManager.default.removeItem(at: directory.appendingPathComponent(entry.key))
                total -= entry.bytes
            }
        }
    }

    private func touch(_ entry: URL) {
        try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: entry.appendingPathComponent("used").path)
    }

    private static func copy(_ source: URL, to target: URL) -> Bool {
        HostCommand.run("/bin/cp", ["-a", "--", source.path, target.path]) != nil
    }

    /// Bytes on disk under `url`, as `du` counts them.
    static func size(of url: URL) -> Int64 {
        guard let output = HostCommand.run("/usr/bin/du", ["-sb", "--", url.path]),
            let first = output.split(whereSeparator: { $0 == "\t" || $0 == " " }).first
        else { return 0 }
        return Int64(first) ?? 0
    }
}

/// A short program run on the host and waited for (cp, du, grep, a toolchain's
/// `--version`). Its standard output, or nil when it could not start or failed.
enum HostCommand {
    static func run(_ executable: String, _ arguments: [String], acceptedExitCodes: Set<Int32> = [0]) -> String? {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return nil
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationReason == .exit, acceptedExitCodes.contains(process.terminationStatus) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// Finds `name` on `path` (colon-separated), like the shell does.
    static func find(_ name: String, path: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
