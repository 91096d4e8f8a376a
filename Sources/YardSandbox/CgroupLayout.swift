import Foundation
import YardCore
import YardRuntime

/// The cgroup hierarchies this machine has and where this process sits in each, read from
/// `/proc/self/cgroup` and `/proc/self/mountinfo` (never assumed).
///
/// - v1: one hierarchy per mounted controller set (`memory`, `cpu,cpuacct`, `pids`, …).
/// - v2: one unified hierarchy; its controllers are those listed in our cgroup's
///   `cgroup.controllers`.
/// - hybrid: v1 controller hierarchies plus a unified tree that holds the controllers v1 does
///   not (often none); it still gives `cgroup.kill`, `cgroup.events` and `cpu.stat`.
public struct CgroupLayout: Sendable, Equatable {
    public enum Mode: String, Sendable, Equatable {
        case v1, v2, hybrid
    }

    /// One mounted hierarchy and our place in it.
    public struct Hierarchy: Sendable, Equatable {
        public var version: Int
        /// v1: the controllers bound to it (a `name=` hierarchy has none);
        /// v2: the controllers our cgroup can hand to children.
        public var controllers: Set<String>
        public var mountPoint: String
        /// Our cgroup, relative to `mountPoint` ("/" when we sit at its root).
        public var ownPath: String

        public init(version: Int, controllers: Set<String>, mountPoint: String, ownPath: String) {
            self.version = version
            self.controllers = controllers
            self.mountPoint = mountPoint
            self.ownPath = ownPath
        }

        /// The directory of our own cgroup in this hierarchy.
        public var ownDirectory: String {
            ownPath == "/" ? mountPoint : mountPoint + ownPath
        }
    }

    public var hierarchies: [Hierarchy]

    public init(hierarchies: [Hierarchy]) {
        self.hierarchies = hierarchies
    }

    public var mode: Mode? {
        let hasV1Controllers = hierarchies.contains { $0.version == 1 && !$0.controllers.isEmpty }
        let hasV2 = unified != nil
        switch (hasV1Controllers, hasV2) {
        case (true, true): return .hybrid
        case (true, false): return .v1
        case (false, true): return .v2
        case (false, false): return nil
        }
    }

    /// The v2 hierarchy, pure or as the unified tree of a hybrid layout.
    public var unified: Hierarchy? {
        hierarchies.first { $0.version == 2 }
    }

    /// Where `controller` lives: its v1 hierarchy if one is mounted, else the v2 tree if it
    /// offers it there.
    public func hierarchy(for controller: String) -> Hierarchy? {
        if let v1 = hierarchies.first(where: { $0.version == 1 && $0.controllers.contains(controller) }) {
            return v1
        }
        if let v2 = unified, v2.controllers.contains(controller) { return v2 }
        return nil
    }

    /// A one-line description for `yard serve` and error messages, e.g.
    /// "hybrid: memory, cpu, cpuacct, pids on v1; unified v2 tree for kill".
    public var summary: String {
        guard let mode else { return "no cgroup hierarchies mounted" }
        let wanted = ["memory", "cpu", "cpuacct", "pids"]
        let v1 = wanted.filter { name in hierarchies.contains { $0.version == 1 && $0.controllers.contains(name) } }
        let v2 = wanted.filter { name in !v1.contains(name) && (unified?.controllers.contains(name) ?? false) }
        var parts: [String] = []
        if !v1.isEmpty { parts.append("\(v1.joined(separator: ", ")) on v1") }
        if !v2.isEmpty { parts.append("\(v2.joined(separator: ", ")) on v2") }
        if mode == .hybrid, v2.isEmpty { parts.append("unified v2 tree for kill and accounting") }
        let missing = wanted.filter { !v1.contains($0) && !v2.contains($0) }
        if !missing.isEmpty { parts.append("missing: \(missing.joined(separator: ", "))") }
        return "\(mode.rawValue): " + parts.joined(separator: "; ")
    }

    // MARK: - Detection

    /// Reads this process's layout from /proc.
    public static func detect() throws -> CgroupLayout {
        guard let cgroupFile = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else {
            throw YardError(.unavailable, "cannot read /proc/self/cgroup: cgroups need Linux with /proc mounted")
        }
        guard let mountInfo = ProcFile.read("/proc/self/mountinfo") else {
            throw YardError(.unavailable, "cannot read /proc/self/mountinfo: cgroups need Linux with /proc mounted")
        }
        return parse(cgroupFile: cgroupFile, mountInfo: mountInfo) { path in
            try? String(contentsOfFile: path, encoding: .utf8)
        }
    }

    /// Builds the layout from the text of `/proc/self/cgroup` and `/proc/self/mountinfo`;
    /// `readFile` reads a v2 cgroup's `cgroup.controllers`.
    public static func parse(
        cgroupFile: String, mountInfo: String, readFile: (String) -> String?
    ) -> CgroupLayout {
        let mounts = parseMountInfo(mountInfo)
        var hierarchies: [Hierarchy] = []
        for line in cgroupFile.split(separator: "\n") {
            // "hierarchy-id:controller-list:path"; the path itself may contain ':'.
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let path = String(fields[2])
            if fields[0] == "0" && fields[1].isEmpty {
                guard let mount = mounts.first(where: { $0.fileSystem == "cgroup2" && isWithin(path, $0.root) })
                else { continue }
                var hierarchy = Hierarchy(
                    version: 2, controllers: [], mountPoint: mount.mountPoint,
                    ownPath: relative(path, to: mount.root))
                let controllersFile = hierarchy.ownDirectory + "/cgroup.controllers"
                hierarchy.controllers = Set((readFile(controllersFile) ?? "").split(whereSeparator: \.isWhitespace).map(String.init))
                hierarchies.append(hierarchy)
            } else {
                let names = Set(fields[1].split(separator: ",").map(String.init))
                guard !names.isEmpty,
                    let mount = mounts.first(where: {
                        $0.fileSystem == "cgroup" && names.isSubset(of: $0.superOptions) && isWithin(path, $0.root)
                    })
                else { continue }
                hierarchies.append(
                    Hierarchy(
                        version: 1, controllers: names.filter { !$0.hasPrefix("name=") },
                        mountPoint: mount.mountPoint, ownPath: relative(path, to: mount.root)))
            }
        }
        return CgroupLayout(hierarchies: hierarchies)
    }

    struct Mount: Equatable {
        var root: String
        var mountPoint: String
        var fileSystem: String
        var superOptions: Set<String>
    }

    /// "36 35 98:0 /root /mnt/point rw,noatime shared:1 - cgroup cgroup rw,memory".
    static func parseMountInfo(_ text: String) -> [Mount] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard let separator = fields.firstIndex(of: "-"), separator >= 6, fields.count > separator + 3 else {
                return nil
            }
            let fileSystem = String(fields[separator + 1])
            guard fileSystem == "cgroup" || fileSystem == "cgroup2" else { return nil }
            return Mount(
                root: unescape(fields[3]),
                mountPoint: unescape(fields[4]),
                fileSystem: fileSystem,
                superOptions: Set(fields[separator + 3].split(separator: ",").map(String.init)))
        }
    }

    /// mountinfo writes space, tab, newline and backslash as `\040`-style octal escapes.
    private static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        var index = field.utf8.startIndex
        let utf8 = field.utf8
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "\\"), let end = utf8.index(index, offsetBy: 4, limitedBy: utf8.endIndex),
                let value = UInt8(String(decoding: utf8[utf8.index(after: index)..<end], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                index = end
            } else {
                bytes.append(byte)
                index = utf8.index(after: index)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func isWithin(_ path: String, _ root: String) -> Bool {
        root == "/" || path == root || path.hasPrefix(root + "/")
    }

    private static func relative(_ path: String, to root: String) -> String {
        guard root != "/" else { return path }
        let rest = String(path.dropFirst(root.count))
        return rest.isEmpty ? "/" : rest
    }
}
