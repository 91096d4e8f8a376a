import Foundation
import Synchronization
import YardCore
import YardRuntime

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs each process in a bubblewrap sandbox, held to its limits by a cgroup; specs without
/// a `sandbox` run as plain processes.
///
/// The process runs with: a read-only view of the host root, its own `/dev`, `/proc` (its
/// own pid namespace: it sees only its own processes), private writable `/tmp` and
/// `/dev/shm`, the hidden paths covered by empty tmpfs, the spec's read-only and writable
/// binds, the hosts file at `/etc/hosts`, its own ipc and uts namespaces with the hostname
/// set, the network namespace it is given (else the host's), an unprivileged uid (or root
/// in a user namespace mapped to that uid, when asked) with no capabilities, an empty bounding
/// set and `no_new_privs`, and the seccomp filter (`SandboxLauncher+Walls.swift`). It dies
/// with the sandbox's first process (`--die-with-parent`).
///
/// The chain, all `exec`s of one pid that leads its own session and process group:
/// `sh` joins the cgroup (before anything allocates) → `nsenter --net` (when a network
/// namespace is given) → `bwrap` → `setpriv` drops to the sandbox user → `sh` sets the
/// spec's environment → the command. Everything that runs with privilege gets a fixed
/// environment: the spec's variables travel encoded (`__YARD_SANDBOX_ENV_<n>`), so a
/// variable like `LD_PRELOAD` only reaches the unprivileged command.
public struct SandboxLauncher: ProcessLauncher {
    public struct Configuration: Sendable {
        /// The uid and gid sandboxed processes run as unless they ask for root (nobody).
        public var uid: UInt32
        public var gid: UInt32
        /// The directory, under this process's own cgroup in each hierarchy, that holds one
        /// cgroup per sandbox. `removeLeftovers` clears it, so each server needs its own.
        public var cgroupParent: String

        public init(uid: UInt32 = 65534, gid: UInt32 = 65534, cgroupParent: String = "yard") {
            self.uid = uid
            self.gid = gid
            self.cgroupParent = cgroupParent
        }
    }

    /// Processes the sandbox adds to a tree (bwrap outside and bwrap as pid 1 inside), allowed
    /// on top of a spec's `maxProcesses`.
    public static let helperProcesses = 2

    public var isolation: String {
        "bubblewrap sandbox: own pid/ipc/uts namespaces, read-only root, unprivileged uid without capabilities, seccomp filter, cgroup limits"
    }

    public let configuration: Configuration
    private let plain: PlainProcessLauncher

    public init(configuration: Configuration = .init(), plain: PlainProcessLauncher = PlainProcessLauncher()) {
        self.configuration = configuration
        self.plain = plain
    }

    public func launch(_ spec: LaunchSpec, output: @escaping OutputHandler) async throws -> any LaunchedProcess {
        guard var sandbox = spec.sandbox else { return try await plain.launch(spec, output: output) }
        guard let command = spec.arguments.first, !command.isEmpty else {
            throw YardError(.invalidConfig, "\(spec.label): the start command is empty; set a start command")
        }
        let tools = try SandboxTools.find()
        let seccompFile = try Self.seccompProgramFile()
        try SandboxCommand.checkEnvironment(spec.environment, label: spec.label)
        if let namespace = sandbox.networkNamespace {
            guard !namespace.contains("/"), access(SandboxCommand.namespacePath(namespace), F_OK) == 0 else {
                throw YardError(
                    .unavailable,
                    "\(spec.label): network namespace '\(namespace)' does not exist (no \(SandboxCommand.namespacePath(namespace)))")
            }
        }
        if let image = sandbox.image { return try await launchImage(spec, sandbox: sandbox, image: image, output: output) }
        Self.hideHostTraces(&sandbox)
        // Nothing to hide where nothing exists (and bwrap could not create the mount point).
        sandbox.hiddenPaths = sandbox.hiddenPaths.filter { access($0, F_OK) == 0 }
        let (uid, gid) = (sandbox.hostUID ?? configuration.uid, sandbox.hostUID ?? configuration.gid)
        let filesystem = SandboxFilesystem(sandbox: sandbox)
        try filesystem.checkMountPoints(label: spec.label)
        try filesystem.prepareMounts(sandboxUID: uid, label: spec.label)
        try filesystem.checkWorkingDirectory(spec.workingDirectory, label: spec.label)
        try filesystem.checkExecutable(
            command,
            searchPath: spec.environment["PATH"] ?? PlainProcessLauncher.defaultSearchPath,
            workingDirectory: spec.workingDirectory,
            runningAs: sandbox.runAsRoot ? nil : (uid, gid),
            label: spec.label)

        return try await launchInCgroup(sandbox, label: spec.label, output: output) { processFiles in
            SandboxCommand(
                spec: spec, sandbox: sandbox, tools: tools, cgroupProcessFiles: processFiles, uid: uid, gid: gid,
                seccompFile: seccompFile)
        }
    }

    /// Creates the box's cgroup, then launches the chain `command` makes with its process files;
    /// the cgroup goes when the chain does (or fails to start).
    func launchInCgroup(
        _ sandbox: SandboxSpec, label: String, output: @escaping OutputHandler, command: ([String]) -> SandboxCommand
    ) async throws -> any LaunchedProcess {
        let cgroup: Cgroup
        do {
            cgroup = try Cgroup.create(
                name: sandbox.cgroupName, parent: configuration.cgroupParent, limits: sandbox.limits,
                extraProcesses: Self.helperProcesses, layout: try CgroupLayout.detect())
        } catch let error as YardError {
            throw YardError(error.code, "\(label): \(error.message)", cause: error.cause)
        }
        let oomBaseline = cgroup.oomKillCount() ?? 0
        let chain = command(cgroup.processFiles)
        let leader: any LaunchedProcess
        do {
            leader = try await plain.launch(
                LaunchSpec(arguments: chain.arguments, environment: chain.environment, workingDirectory: "/", label: label),
                output: output)
        } catch {
            await cgroup.remove()
            throw error
        }
        return SandboxProcess(leader: leader, cgroup: cgroup, oomBaseline: oomBaseline)
    }

    // MARK: - Machine checks

    /// Whether this machine can sandbox, and why not (with what to install or change), or
    /// what it will use. Runs a real bwrap and creates (and removes) a probe cgroup.
    public static func isAvailable(cgroupParent: String = "yard") -> (Bool, String) {
        #if os(Linux)
            guard geteuid() == 0 else {
                return (false, "sandboxing needs root (namespaces, cgroups, dropping to an unprivileged uid): run yard serve as root")
            }
            let tools: SandboxTools
            do {
                tools = try SandboxTools.find()
            } catch let error as YardError {
                return (false, error.message)
            } catch {
                return (false, "\(error)")
            }
            let probe = ChildProcess()
            probe.executableURL = URL(fileURLWithPath: tools.bwrap)
            probe.arguments = [
                "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid", "--unshare-ipc",
                "--unshare-uts", "--die-with-parent", "--", "/bin/true",
            ]
            probe.environment = [:]
            let errors = Pipe()
            probe.standardError = errors
            probe.standardOutput = FileHandle.nullDevice
            do {
                try probe.run()
                probe.waitUntilExit()
            } catch {
                return (false, "cannot run \(tools.bwrap): \(error)")
            }
            guard probe.terminationStatus == 0 else {
                let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                return (false, "bwrap cannot create pid/ipc/uts/mount namespaces here (\(message)); on a container host, run privileged")
            }
            let layout: CgroupLayout
            do {
                layout = try CgroupLayout.detect()
                let cgroup = try Cgroup.create(
                    name: "probe-\(getpid())", parent: cgroupParent, limits: ResourceLimits(), layout: layout)
                for directory in cgroup.directories.reversed() {
                    _ = rmdir(directory)
                    _ = rmdir((directory as NSString).deletingLastPathComponent)  // the parent, if empty
                }
            } catch let error as YardError {
                return (false, "cgroups are not usable: \(error.message)")
            } catch {
                return (false, "cgroups are not usable: \(error)")
            }
            return (true, "bubblewrap sandbox; cgroups \(layout.summary)")
        #else
            return (false, "sandboxing needs Linux (bubblewrap, namespaces, cgroups)")
        #endif
    }

    /// Kills and removes every sandbox cgroup under `cgroupParent` (and the parent itself):
    /// start-up cleanup after a crash. Returns the names of the cgroups removed.
    @discardableResult
    public static func removeLeftovers(cgroupParent: String = "yard") async throws -> [String] {
        try await Cgroup.removeAll(parent: cgroupParent, layout: try CgroupLayout.detect())
    }
}

/// The host programs the sandbox chain runs, by absolute path.
struct SandboxTools: Sendable, Equatable {
    var bwrap: String
    var setpriv: String
    var nsenter: String
    var shell = "/bin/sh"

    static let searchPath = ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"]

    static func find() throws -> SandboxTools {
        func locate(_ name: String, package: String) throws -> String {
            for directory in searchPath where access(directory + "/" + name, X_OK) == 0 {
                return directory + "/" + name
            }
            throw YardError(.unavailable, "\(name) is missing: apt-get install -y \(package)")
        }
        let tools = SandboxTools(
            bwrap: try locate("bwrap", package: "bubblewrap"),
            setpriv: try locate("setpriv", package: "util-linux"),
            nsenter: try locate("nsenter", package: "util-linux"))
        guard access(tools.shell, X_OK) == 0 else {
            throw YardError(.unavailable, "/bin/sh is missing: apt-get install -y dash")
        }
        return tools
    }
}

// MARK: - The command line

/// The argv and environment of the sandbox chain for one spec (a pure value).
struct SandboxCommand: Equatable {
    /// Spec variables travel under these names through the privileged part of the chain.
    static let environmentPrefix = "__YARD_SANDBOX_ENV_"

    /// Run as root by `sh`: joins every cgroup (`$1` files follow), then execs the rest. dash
    /// exports PWD; it goes, so the privileged programs see only the encoded variables.
    static let joinScript = """
        unset PWD
        n=$1; shift
        while [ "$n" -gt 0 ]; do
          echo $$ > "$1" || { echo "sandbox: cannot join cgroup $1" >&2; exit 125; }
          shift; n=$((n - 1))
        done
        exec "$@"
        """

    /// Run as the sandbox user by `sh`: turns the `$1` encoded variables into the real ones,
    /// removes its own (dash exports PWD), then execs the command.
    static let environmentScript = """
        unset PWD
        __yard_sandbox_count=$1; shift
        __yard_sandbox_index=0
        while [ "$__yard_sandbox_index" -lt "$__yard_sandbox_count" ]; do
          eval "export \\"\\$\(environmentPrefix)$__yard_sandbox_index\\"; unset \(environmentPrefix)$__yard_sandbox_index"
          __yard_sandbox_index=$((__yard_sandbox_index + 1))
        done
        unset __yard_sandbox_count __yard_sandbox_index
        exec "$@"
        """

    var arguments: [String]
    var environment: [String: String]

    init(
        spec: LaunchSpec, sandbox: SandboxSpec, tools: SandboxTools, cgroupProcessFiles: [String], uid: UInt32, gid: UInt32,
        seccompFile: String? = nil
    ) {
        let seccomp = seccompFile.map { Self.seccompStep($0, shell: tools.shell) }
        var bwrap =
            [
                tools.bwrap, "--die-with-parent",
                "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", sandbox.hostname,
                "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            ] + Self.scratchMounts(limits: sandbox.limits) + (seccomp?.bwrap ?? [])
        // Hidden paths first, so an artifact inside one can be bound back. Mount points in a
        // fresh tmpfs get their parents made explicitly: bwrap would make them 0700, which the
        // sandbox user could not cross.
        let view = SandboxFilesystem(sandbox: sandbox)
        var madeDirectories: Set<String> = []
        for (index, mount) in view.mounts.enumerated() where index >= SandboxFilesystem.fixedMounts {
            for directory in view.freshParents(of: index) where madeDirectories.insert(directory).inserted {
                bwrap += ["--perms", "0755", "--dir", directory]
            }
            switch (mount.source, mount.isWritable) {
            case (nil, _): bwrap += ["--tmpfs", mount.target]
            case (let source?, false): bwrap += ["--ro-bind", source, mount.target]
            case (let source?, true): bwrap += ["--bind", source, mount.target]
            }
        }
        bwrap += ["--chdir", spec.workingDirectory, "--"]

        // Root in the sandbox is root in a user namespace only (`rootInUserNamespace`).
        let drop = [
            tools.setpriv, "--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
            "--no-new-privs", "--",
        ]

        let variables = spec.environment.sorted { $0.key < $1.key }
        let setEnvironment =
            [tools.shell, "-c", Self.environmentScript, "sandbox-env", String(variables.count)] + spec.arguments

        let network = sandbox.networkNamespace.map { [tools.nsenter, "--net=\(Self.namespacePath($0))", "--"] } ?? []
        let join =
            [tools.shell, "-c", Self.joinScript, "sandbox-join", String(cgroupProcessFiles.count)] + cgroupProcessFiles

        // The seccomp step opens the filter as root, before any uid is dropped.
        let seccompStep = seccomp?.chain ?? []
        if sandbox.runAsRoot {
            let boxed = Self.rootInUserNamespace(bwrap: bwrap, tools: tools, uid: uid, gid: gid)
            arguments = join + network + seccompStep + boxed + setEnvironment
        } else {
            arguments = join + network + seccompStep + bwrap + drop + setEnvironment
        }
        environment = [:]
        for (index, variable) in variables.enumerated() {
            environment[Self.environmentPrefix + String(index)] = "\(variable.key)=\(variable.value)"
        }
    }

    static func namespacePath(_ namespace: String) -> String { "/run/netns/" + namespace }

    static func isShellName(_ name: String) -> Bool {
        func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        func isLetter(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
        }
        guard let first = name.utf8.first, !isDigit(first) else { return false }
        return name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || isDigit($0) || isLetter($0) }
    }

    /// Variable names must be ones `sh` can export; names are not secret, values stay out.
    static func checkEnvironment(_ environment: [String: String], label: String) throws {
        for name in environment.keys {
            guard isShellName(name) else {
                throw YardError(
                    .invalidConfig,
                    "\(label): variable '\(name)' cannot be passed into the sandbox: names are letters, digits and underscores, not starting with a digit"
                )
            }
            guard !name.hasPrefix("__YARD_SANDBOX"), !name.hasPrefix("__yard_sandbox") else {
                throw YardError(.invalidConfig, "\(label): variable '\(name)' uses a name reserved by the sandbox; rename it")
            }
        }
    }
}

// MARK: - The filesystem view

/// What the sandbox sees at each path, in the order bwrap mounts it; used to check paths
/// before starting and to create mount points the read-only root cannot get.
struct SandboxFilesystem {
    enum Backing: Equatable {
        /// A host path (through the read-only root or a bind).
        case host(String)
        /// Inside a tmpfs or kernel filesystem the sandbox gets fresh.
        case fresh
    }

    struct Mount: Equatable {
        var target: String
        var source: String?
        var isWritable = false
        var isFile = false
    }

    var mounts: [Mount]

    /// `/`, `/dev`, `/proc`, `/tmp` and `/dev/shm` come first, always.
    static let fixedMounts = 5

    init(sandbox: SandboxSpec) {
        mounts = [
            Mount(target: "/", source: "/"), Mount(target: "/dev"), Mount(target: "/proc"),
            Mount(target: "/tmp"), Mount(target: "/dev/shm"),
        ]
        mounts += sandbox.hiddenPaths.map { Mount(target: Self.normalized($0)) }
        mounts += sandbox.readOnlyBinds.map { Mount(target: Self.normalized($0.target), source: $0.source) }
        mounts += sandbox.writableBinds.map {
            Mount(target: Self.normalized($0.target), source: $0.source, isWritable: true)
        }
        if let hosts = sandbox.hostsFile { mounts.append(Mount(target: "/etc/hosts", source: hosts, isFile: true)) }
    }

    /// Where `path` (absolute, inside) comes from, looking only at the first `limit` mounts.
    func resolve(_ path: String, limit: Int? = nil) -> Backing {
        let path = Self.normalized(path)
        let considered = mounts.prefix(limit ?? mounts.count)
        guard let mount = considered.last(where: { Self.isWithin(path, $0.target) }) else { return .fresh }
        guard let source = mount.source else { return .fresh }
        let rest = mount.target == "/" ? path : String(path.dropFirst(mount.target.count))
        return .host(rest.isEmpty ? source : (source == "/" ? rest : source + rest))
    }

    /// The directories above mount `index`'s target that lie in a fresh filesystem and are
    /// neither a mount themselves nor there yet: bwrap would create them implicitly.
    func freshParents(of index: Int) -> [String] {
        let components = mounts[index].target.split(separator: "/")
        var parents: [String] = []
        for length in components.indices.dropLast() {
            let directory = "/" + components[...length].joined(separator: "/")
            guard resolve(directory, limit: index) == .fresh,
                !mounts.prefix(index).contains(where: { $0.target == directory })
            else { continue }
            parents.append(directory)
        }
        return parents
    }

    /// Whether `path` will exist inside: on the host, or as a mount target (or a parent bwrap
    /// creates for one) in a fresh filesystem.
    func exists(_ path: String) -> Bool {
        switch resolve(path) {
        case .host(let hostPath): return access(hostPath, F_OK) == 0
        case .fresh: return mounts.contains { Self.isWithin($0.target, Self.normalized(path)) }
        }
    }

    /// Creates writable bind sources that are missing (owned by the sandbox user), checks the
    /// read-only sources, and creates on the host the mount points bwrap cannot create inside
    /// the read-only root (empty directories, or an empty file for a file bind).
    func prepareMounts(sandboxUID: UInt32, label: String) throws {
        for (index, mount) in mounts.enumerated() {
            guard let source = mount.source, mount.target != "/" else { continue }
            if access(source, F_OK) != 0 {
                guard mount.isWritable else {
                    throw YardError(
                        .invalidConfig, "\(label): cannot bind \(source) into the sandbox: it does not exist")
                }
                try Self.makeDirectories(source, label: label)
                _ = chown(source, sandboxUID, sandboxUID)
            }
            guard case .host(let mountPoint) = resolve(mount.target, limit: index), access(mountPoint, F_OK) != 0
            else { continue }
            if mount.isFile || !Self.isDirectory(source) {
                try Self.makeDirectories((mountPoint as NSString).deletingLastPathComponent, label: label)
                guard FileManager.default.createFile(atPath: mountPoint, contents: nil) else {
                    throw YardError(.internal, "\(label): cannot create mount point \(mountPoint)")
                }
            } else {
                try Self.makeDirectories(mountPoint, label: label)
            }
        }
    }

    func checkWorkingDirectory(_ path: String, label: String) throws {
        guard path.hasPrefix("/") else {
            throw YardError(.invalidConfig, "\(label): working directory '\(path)' must be an absolute path")
        }
        guard exists(path) else {
            let hint = resolve(path) == .fresh ? " inside the sandbox (it is under a private tmpfs; bind it)" : ""
            throw YardError(
                .invalidConfig,
                "\(label): working directory '\(path)' does not exist\(hint); check the service's root directory")
        }
        if case .host(let hostPath) = resolve(path), !Self.isDirectory(hostPath) {
            throw YardError(.invalidConfig, "\(label): working directory '\(path)' is not a directory")
        }
    }

    /// Resolves argv[0] as `execvp` will inside (through the binds), to fail with a clear
    /// message before starting. `runningAs` is the unprivileged uid/gid, nil for root.
    func checkExecutable(
        _ command: String, searchPath: String, workingDirectory: String, runningAs user: (uid: UInt32, gid: UInt32)?,
        label: String
    ) throws {
        func absolute(_ path: String) -> String {
            path.hasPrefix("/") ? path : workingDirectory + "/" + path
        }
        let candidates =
            command.contains("/")
            ? [absolute(command)]
            : searchPath.split(separator: ":", omittingEmptySubsequences: false).map {
                absolute(($0.isEmpty ? "." : String($0)) + "/" + command)
            }
        var foundButNotExecutable = false
        for candidate in candidates {
            guard case .host(let hostPath) = resolve(candidate) else { continue }
            var info = stat()
            guard stat(hostPath, &info) == 0 else { continue }
            guard info.st_mode & S_IFMT == S_IFREG, Self.canExecute(info, as: user) else {
                foundButNotExecutable = true
                continue
            }
            return
        }
        let who = user.map { " by the sandbox user (uid \($0.uid))" } ?? ""
        if command.contains("/") {
            throw YardError(
                .invalidConfig,
                foundButNotExecutable
                    ? "\(label): cannot start '\(command)': the file is not executable\(who) (chmod +x it, or run it through its interpreter)"
                    : "\(label): cannot start '\(command)': the file does not exist inside the sandbox")
        }
        // The PATH value itself is not shown: variable values stay out of messages.
        throw YardError(
            .invalidConfig,
            foundButNotExecutable
                ? "\(label): cannot start '\(command)': it was found on PATH but is not executable\(who)"
                : "\(label): cannot start '\(command)': no executable with that name on the service's PATH inside the sandbox; install it in the build or use an absolute path"
        )
    }

    private static func canExecute(_ info: stat, as user: (uid: UInt32, gid: UInt32)?) -> Bool {
        let mode = info.st_mode
        guard let user else { return mode & (S_IXUSR | S_IXGRP | S_IXOTH) != 0 }
        if info.st_uid == user.uid { return mode & S_IXUSR != 0 }
        if info.st_gid == user.gid { return mode & S_IXGRP != 0 }
        return mode & S_IXOTH != 0
    }

    static func normalized(_ path: String) -> String {
        let parts = path.split(separator: "/").filter { $0 != "." }
        return "/" + parts.joined(separator: "/")
    }

    static func isWithin(_ path: String, _ root: String) -> Bool {
        root == "/" || path == root || path.hasPrefix(root + "/")
    }

    private static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    private static func makeDirectories(_ path: String, label: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw YardError(.internal, "\(label): cannot create \(path) for the sandbox", cause: error)
        }
    }
}

// MARK: - The running process

/// A process started by `SandboxLauncher`: the leader is bwrap's outer process; signals go to
/// the processes inside through the cgroup, and the cgroup goes when the process does.
final class SandboxProcess: LaunchedProcess {
    let pid: Int32
    private let leader: any LaunchedProcess
    let cgroup: Cgroup
    private let killedByUs: KilledFlag
    private let completion: Task<ExitReason, Never>

    final class KilledFlag: Sendable {
        let value = Mutex(false)
    }

    init(leader: any LaunchedProcess, cgroup: Cgroup, oomBaseline: UInt64) {
        self.pid = leader.pid
        self.leader = leader
        self.cgroup = cgroup
        let killedByUs = KilledFlag()
        self.killedByUs = killedByUs
        // Owned and awaited by `wait()`; it runs even if nobody waits, so the cgroup always goes.
        self.completion = Task {
            var reason = Self.translate(await leader.wait())
            if reason == .signaled(signal: SIGKILL), !killedByUs.value.withLock({ $0 }),
                let kills = cgroup.oomKillCount(), kills > oomBaseline
            {
                reason = .oomKilled
            }
            await cgroup.remove()
            return reason
        }
    }

    /// SIGKILL takes the whole cgroup down at once. Other signals go to every process inside
    /// but not to bwrap outside: it would die of a SIGTERM at once and take the sandbox with it,
    /// cutting the command's graceful shutdown short.
    func signal(_ signal: Int32) {
        if signal == SIGKILL {
            killedByUs.value.withLock { $0 = true }
            cgroup.killAll()
            leader.signal(SIGKILL)
            return
        }
        let inside = cgroup.members().filter { $0 != pid }
        // Nothing inside yet (still joining or setting up): the leader alone is the process.
        guard !inside.isEmpty else { return leader.signal(signal) }
        for member in inside { _ = kill(member, signal) }
    }

    func wait() async -> ExitReason {
        await completion.value
    }

    func usage() -> ResourceUsage? {
        cgroup.usage()
    }

    /// bwrap exits with 128+n when the command dies of signal n; report it as the signal.
    static func translate(_ reason: ExitReason) -> ExitReason {
        if case .exited(let code) = reason, code > 128, code <= 128 + 64 {
            return .signaled(signal: code - 128)
        }
        return reason
    }
}
