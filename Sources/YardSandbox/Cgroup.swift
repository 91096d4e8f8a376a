import Foundation
import YardCore
import YardRuntime

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The cgroup made for one sandboxed process: a directory `<own cgroup>/<parent>/<name>` in
/// every hierarchy it needs (v1 memory, cpu, cpuacct, pids; the v2 tree), with its limits
/// written. The process joins it by writing its pid to each of `processFiles` before it execs.
public struct Cgroup: Sendable, Equatable {
    /// A directory of this cgroup in one hierarchy.
    struct Place: Sendable, Equatable {
        var path: String
        var version: Int
    }

    public let name: String
    /// One directory per hierarchy, each created by us.
    public let directories: [String]
    let memory: Place?
    let cpuAccounting: Place?
    /// The v2 directory (pure v2 or the unified tree of a hybrid layout).
    let unifiedDirectory: String?

    /// The files a process writes its pid to, to join this cgroup in every hierarchy.
    public var processFiles: [String] { directories.map { $0 + "/cgroup.procs" } }

    // MARK: - Creating

    /// Creates the cgroup under `<own cgroup>/<parent>` in each hierarchy the layout offers and
    /// writes `limits`. Throws (and leaves nothing behind) when a directory or limit cannot be
    /// written. `extraProcesses` is added to `limits.maxProcesses` for the sandbox's own helpers.
    public static func create(
        name: String, parent: String, limits: ResourceLimits, extraProcesses: Int = 0, layout: CgroupLayout
    ) throws -> Cgroup {
        try checkName(name, what: "cgroup name")
        try checkName(parent, what: "cgroup parent")
        guard layout.mode != nil else {
            throw YardError(
                .unavailable, "no cgroup hierarchies are mounted (see /proc/self/mountinfo); mount cgroups to use limits")
        }
        let memoryHierarchy = layout.hierarchy(for: "memory")
        let cpuHierarchy = layout.hierarchy(for: "cpu")
        let pidsHierarchy = layout.hierarchy(for: "pids")
        // CPU time: v1 cpuacct, else the v2 tree's cpu.stat (present even without the cpu controller).
        let accountingHierarchy = layout.hierarchy(for: "cpuacct") ?? layout.unified
        let unifiedHierarchy = layout.unified

        var wanted: [CgroupLayout.Hierarchy] = []
        for case let hierarchy? in [memoryHierarchy, cpuHierarchy, pidsHierarchy, accountingHierarchy, unifiedHierarchy]
        where !wanted.contains(where: { $0.mountPoint == hierarchy.mountPoint }) {
            wanted.append(hierarchy)
        }
        func directory(in hierarchy: CgroupLayout.Hierarchy?) -> Place? {
            hierarchy.map { Place(path: parentDirectory(in: $0, parent: parent) + "/" + name, version: $0.version) }
        }

        var created: [String] = []
        do {
            for hierarchy in wanted {
                if hierarchy.version == 2 {
                    let needed = ["memory", "cpu", "pids"].filter { layout.hierarchy(for: $0) == hierarchy }
                    try enableV2Controllers(needed, in: hierarchy, parent: parent)
                }
                let parentPath = parentDirectory(in: hierarchy, parent: parent)
                try makeDirectory(parentPath, allowExisting: true)
                let path = parentPath + "/" + name
                if access(path, F_OK) == 0 {
                    // A leftover with our name: reuse the name only if nothing runs in it.
                    guard rmdir(path) == 0 else {
                        throw YardError(
                            .conflict,
                            "cgroup \(path) already exists and is in use: another sandbox has the name '\(name)'")
                    }
                }
                try makeDirectory(path, allowExisting: false)
                created.append(path)
            }
            let cgroup = Cgroup(
                name: name,
                directories: created,
                memory: directory(in: memoryHierarchy),
                cpuAccounting: directory(in: accountingHierarchy),
                unifiedDirectory: directory(in: unifiedHierarchy)?.path)
            try cgroup.writeLimits(
                limits, cpu: directory(in: cpuHierarchy), pids: directory(in: pidsHierarchy),
                extraProcesses: extraProcesses)
            return cgroup
        } catch {
            for path in created.reversed() { _ = rmdir(path) }
            throw error
        }
    }

    private func writeLimits(_ limits: ResourceLimits, cpu: Place?, pids: Place?, extraProcesses: Int) throws {
        if let bytes = limits.memoryBytes {
            guard let memory else { throw Self.missingController("memory", limit: "a memory limit") }
            if memory.version == 1 {
                try Self.writeFile(String(bytes), to: memory.path + "/memory.limit_in_bytes")
                // With swap accounting the limit would otherwise only cover RAM, and the process
                // would swap instead of being OOM-killed.
                let swapFile = memory.path + "/memory.memsw.limit_in_bytes"
                if access(swapFile, F_OK) == 0 { try? Self.writeFile(String(bytes), to: swapFile) }
                try Self.writeFile("0", to: memory.path + "/memory.oom_control")  // the OOM killer stays on
            } else {
                try Self.writeFile(String(bytes), to: memory.path + "/memory.max")
                let swapFile = memory.path + "/memory.swap.max"
                if access(swapFile, F_OK) == 0 { try? Self.writeFile("0", to: swapFile) }
                // An OOM kill takes the whole sandbox down, not one arbitrary process in it.
                try? Self.writeFile("1", to: memory.path + "/memory.oom.group")
            }
        }
        if let cpus = limits.cpus {
            guard let cpu else { throw Self.missingController("cpu", limit: "a CPU limit") }
            guard cpus > 0, cpus.isFinite else {
                throw YardError(.invalidConfig, "CPU limit \(cpus) is not a positive number of cores")
            }
            let period = 100_000
            let quota = max(1_000, Int((cpus * Double(period)).rounded()))
            if cpu.version == 1 {
                try Self.writeFile(String(period), to: cpu.path + "/cpu.cfs_period_us")
                try Self.writeFile(String(quota), to: cpu.path + "/cpu.cfs_quota_us")
            } else {
                try Self.writeFile("\(quota) \(period)", to: cpu.path + "/cpu.max")
            }
        }
        if let maxProcesses = limits.maxProcesses {
            guard let pids else { throw Self.missingController("pids", limit: "a process limit") }
            guard maxProcesses > 0 else {
                throw YardError(.invalidConfig, "process limit \(maxProcesses) must be at least 1")
            }
            try Self.writeFile(String(maxProcesses + extraProcesses), to: pids.path + "/pids.max")
        }
    }

    // MARK: - Reading

    /// CPU time and memory in use now; nil once the cgroup is gone.
    public func usage() -> ResourceUsage? {
        var cpu: UInt64?
        if let accounting = cpuAccounting {
            if accounting.version == 1 {
                cpu = Self.readFile(accounting.path + "/cpuacct.usage").flatMap { UInt64($0) }
            } else {
                cpu = Self.field("usage_usec", in: accounting.path + "/cpu.stat").map { $0 * 1_000 }
            }
        }
        var memoryBytes: UInt64?
        if let memory {
            let file = memory.version == 1 ? "/memory.usage_in_bytes" : "/memory.current"
            memoryBytes = Self.readFile(memory.path + file).flatMap { UInt64($0) }
        }
        guard cpu != nil || memoryBytes != nil else { return nil }
        return ResourceUsage(cpuNanoseconds: cpu ?? 0, memoryBytes: memoryBytes ?? 0)
    }

    /// How many processes the kernel killed in this cgroup for going over its memory limit.
    public func oomKillCount() -> UInt64? {
        guard let memory else { return nil }
        if memory.version == 2 { return Self.field("oom_kill", in: memory.path + "/memory.events") }
        // `oom_kill` is in memory.oom_control since Linux 4.13; before that, hitting the limit
        // (failcnt) is the closest evidence.
        return Self.field("oom_kill", in: memory.path + "/memory.oom_control")
            ?? Self.readFile(memory.path + "/memory.failcnt").flatMap { UInt64($0) }
    }

    /// The pids of every process in the cgroup now.
    public func members() -> [Int32] {
        guard let tracking = unifiedDirectory ?? directories.first else { return [] }
        return Self.members(of: tracking)
    }

    // MARK: - Killing and removing

    /// SIGKILLs every process in the cgroup: with `cgroup.kill` where the kernel has it
    /// (atomic, forks cannot escape), else pid by pid.
    public func killAll() {
        if let unifiedDirectory, (try? Self.writeFile("1", to: unifiedDirectory + "/cgroup.kill")) != nil { return }
        for pid in members() { _ = kill(pid, SIGKILL) }
    }

    /// Kills whatever still runs in the cgroup and removes its directories, retrying while the
    /// kernel finishes tearing the processes down. Returns false if some directory remains
    /// after `timeout`.
    @discardableResult
    public func remove(timeout: Duration = .seconds(3)) async -> Bool {
        await Self.removeDirectories(directories, timeout: timeout)
    }

    /// Removes every cgroup under `<own cgroup>/<parent>` in every hierarchy, killing what runs
    /// in them, then the parent directories: start-up cleanup after a crash. Returns the names
    /// of the cgroups removed.
    @discardableResult
    public static func removeAll(parent: String, layout: CgroupLayout, timeout: Duration = .seconds(5)) async throws
        -> [String]
    {
        try checkName(parent, what: "cgroup parent")
        var names: Set<String> = []
        var directories: [String] = []
        for hierarchy in layout.hierarchies {
            let parentPath = parentDirectory(in: hierarchy, parent: parent)
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: parentPath) else { continue }
            for entry in entries where isDirectory(parentPath + "/" + entry) {
                names.insert(entry)
                directories.append(parentPath + "/" + entry)
            }
            directories.append(parentPath)
        }
        guard await removeDirectories(directories, timeout: timeout) else {
            let left = directories.filter { access($0, F_OK) == 0 }
            throw YardError(
                .internal,
                "could not remove cgroups \(left.joined(separator: ", ")): processes in them did not die; check them with `cat <dir>/cgroup.procs`"
            )
        }
        return names.sorted()
    }

    private static func removeDirectories(_ directories: [String], timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        var remaining = directories
        while true {
            for directory in remaining {
                if let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) {
                    // Nested cgroups (none of ours, but a crash could leave any) go first.
                    let children = entries.map { directory + "/" + $0 }.filter(isDirectory)
                    if !children.isEmpty { _ = await removeDirectories(children, timeout: .zero) }
                }
                if access(directory + "/cgroup.kill", F_OK) == 0 {
                    try? writeFile("1", to: directory + "/cgroup.kill")
                } else {
                    for pid in members(of: directory) { _ = kill(pid, SIGKILL) }
                }
            }
            remaining = remaining.filter { rmdir($0) != 0 && errno != ENOENT }
            // The kernel drops a cgroup's last process asynchronously after it dies, and v1
            // offers no event for "empty" that we could wait on.
            if remaining.isEmpty || ContinuousClock.now >= deadline { return remaining.isEmpty }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    // MARK: - Paths

    /// `<own cgroup>/<parent>`. On pure v2 our own cgroup may be the leaf we moved ourselves
    /// into (see `enableV2Controllers`); the parent then sits beside that leaf.
    static func parentDirectory(in hierarchy: CgroupLayout.Hierarchy, parent: String) -> String {
        var own = hierarchy.ownDirectory
        if hierarchy.version == 2, (own as NSString).lastPathComponent == supervisorLeaf(parent) {
            own = (own as NSString).deletingLastPathComponent
        }
        return own + "/" + parent
    }

    private static func supervisorLeaf(_ parent: String) -> String { parent + "-supervisor" }

    /// On v2 a controller reaches our children only if every level above enables it in
    /// `cgroup.subtree_control`, and a cgroup with processes in it cannot enable it for its
    /// children ("no internal processes"). If ours has processes, they move into a leaf first,
    /// as container runtimes do.
    private static func enableV2Controllers(
        _ controllers: [String], in hierarchy: CgroupLayout.Hierarchy, parent: String
    ) throws {
        guard !controllers.isEmpty else { return }
        let own = (parentDirectory(in: hierarchy, parent: parent) as NSString).deletingLastPathComponent
        let enable = controllers.map { "+" + $0 }.joined(separator: " ")
        do {
            try writeFile(enable, to: own + "/cgroup.subtree_control")
        } catch {
            let leaf = own + "/" + supervisorLeaf(parent)
            try makeDirectory(leaf, allowExisting: true)
            for pid in members(of: own) { try? writeFile(String(pid), to: leaf + "/cgroup.procs") }
            try writeFile(enable, to: own + "/cgroup.subtree_control")
        }
        let parentPath = own + "/" + parent
        try makeDirectory(parentPath, allowExisting: true)
        try writeFile(enable, to: parentPath + "/cgroup.subtree_control")
    }

    // MARK: - Files

    static func checkName(_ name: String, what: String) throws {
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/"), !name.contains("\n") else {
            throw YardError(.invalidConfig, "\(what) '\(name)' is not a valid directory name")
        }
    }

    private static func missingController(_ controller: String, limit: String) -> YardError {
        YardError(
            .unavailable,
            "this machine has no \(controller) cgroup controller, so \(limit) cannot be applied; enable the \(controller) controller or remove the limit"
        )
    }

    private static func makeDirectory(_ path: String, allowExisting: Bool) throws {
        guard mkdir(path, 0o755) == 0 || (allowExisting && errno == EEXIST) else {
            let reason = String(cString: strerror(errno))
            throw YardError(
                errno == EACCES || errno == EPERM || errno == EROFS ? .unavailable : .internal,
                "cannot create cgroup \(path): \(reason)\(errno == EACCES || errno == EPERM ? "; run yard serve as root" : "")")
        }
    }

    static func writeFile(_ value: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw YardError(.internal, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let written = value.withCString { write(fd, $0, strlen($0)) }
        guard written >= 0 else {
            throw YardError(.internal, "cannot write '\(value)' to \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func readFile(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A "key value" line of a flat-keyed cgroup file (cpu.stat, memory.events, memory.oom_control).
    static func field(_ key: String, in path: String) -> UInt64? {
        guard let text = readFile(path) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == key { return UInt64(parts[1]) }
        }
        return nil
    }

    static func members(of directory: String) -> [Int32] {
        (readFile(directory + "/cgroup.procs") ?? "").split(separator: "\n").compactMap { Int32($0) }
    }

    private static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }
}
