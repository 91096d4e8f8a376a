import Foundation
import Logging
import YardCore
import YardRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// Replicas in bubblewrap boxes: each in network namespaces of its own on its
/// environment's private network (`NetworkFabric`), as its service's unprivileged uid, with
/// a read-only root, the artifact at /app, its volume bound at its mount path, a cgroup with
/// its limits, and a hosts file naming the environment's services.
public actor SandboxRuntime: ReplicaRuntime {
    public struct Configuration: Sendable {
        /// The platform's data directory: hidden from every box; `run/` holds hosts files.
        public var dataDirectory: URL
        /// The running `yard` binary on the host.
        public var platformExecutable: String
        /// Private networks are 10.<privateNetworkBase>.<n>.0/24.
        public var privateNetworkBase: Int
        /// Prefix of namespaces, interfaces and cgroups.
        public var networkPrefix: String

        public init(dataDirectory: URL, platformExecutable: String, privateNetworkBase: Int = 213, networkPrefix: String = "yard") {
            self.dataDirectory = dataDirectory
            self.platformExecutable = platformExecutable
            self.privateNetworkBase = privateNetworkBase
            self.networkPrefix = networkPrefix
        }
    }

    /// Where boxes see their app.
    public static let appPath = "/app"
    /// Where boxes see `yard`: under their private `/run`, so no host folder on the way (a
    /// checkout in `/root`, a 0700 temporary folder) has to be open to the service's uid.
    public static let boxedPlatformExecutable = "/run/switchyard/yard"

    public nonisolated let isolation = RuntimeIsolation.sandbox
    public nonisolated let addressing = ReplicaAddressing.ownAddress
    public nonisolated let summary: String
    public nonisolated let events: AsyncStream<ReplicaEvent>
    public nonisolated let buildLauncher: any ProcessLauncher
    public nonisolated let platformExecutable: String?
    public nonisolated var appMountPath: String? { Self.appPath }
    private nonisolated let continuation: AsyncStream<ReplicaEvent>.Continuation
    nonisolated let configuration: Configuration
    private let launcher: any ProcessLauncher
    private let network: NetworkFabric
    private let supervisor: Supervisor
    /// The `yard` binary, bound into every box.
    private let platformBinds: [BindMount]
    /// Each environment's last published directory (service → addresses).
    private var directories: [String: [String: [String]]] = [:]
    /// Replicas and tasks with a network attachment and a hosts file → their environment.
    private var attached: [String: String] = [:]
    /// Replicas and tasks with an image instance → the instance's name (`SandboxRuntime+Image.swift`).
    var imageInstances: [String: String] = [:]
    /// Each image id block's instance made ahead for its service's next replica.
    var imageSpares: [UInt32: ImageSpare] = [:]
    var imageSparesEnabled = true
    /// Image id blocks handed out since start → the service (`service/environment`) holding it.
    var imageBlocks: [UInt32: String] = [:]
    private var placed: [String: ReplicaSpec] = [:]

    public init(configuration: Configuration, launcher: any ProcessLauncher, network: NetworkFabric, logger: Logger) {
        let (events, continuation) = AsyncStream.makeStream(of: ReplicaEvent.self)
        self.events = events
        self.continuation = continuation
        self.configuration = configuration
        self.launcher = launcher
        self.buildLauncher = launcher
        self.network = network
        self.summary = launcher.isolation
        self.supervisor = Supervisor(launcher: launcher, logger: logger) { continuation.yield($0) }
        let boxed = Self.preparePlatformExecutableLink(configuration)
        self.platformExecutable = boxed ? Self.boxedPlatformExecutable : nil
        self.platformBinds = [
            boxed
                ? BindMount(source: Self.platformExecutableLink(configuration), target: Self.boxedPlatformExecutable)
                : BindMount(source: configuration.platformExecutable, target: configuration.platformExecutable)
        ]
    }

    private nonisolated var runDirectory: URL { configuration.dataDirectory.appendingPathComponent("run") }

    public func cleanUpLeftovers() async {
        // The sandbox binds each app at /app, which must exist as a mount point.
        try? FileManager.default.createDirectory(atPath: Self.appPath, withIntermediateDirectories: true)
        // After a crash: namespaces, veths and bridges of the previous run, whose processes
        // recovery has just stopped.
        await NetworkFabric.removeLeftovers(prefix: configuration.networkPrefix)
        await images.removeInstances()
    }

    public nonisolated func closeEvents() { continuation.finish() }

    public func shutdown() async {
        await network.removeAll()
        await removeImageInstances()
    }

    public func prepareNetwork(environmentID: String, subnetIndex: Int) async throws {
        _ = try await network.ensureEnvironment(
            environmentID: environmentID, subnet: Subnet(index: subnetIndex, base: configuration.privateNetworkBase))
    }

    public func removeNetwork(environmentID: String) async {
        directories[environmentID] = nil
        await network.removeEnvironment(environmentID: environmentID)
    }

    // MARK: Replicas

    public func placeReplica(_ request: ReplicaRequest) async throws -> ReplicaPlacement {
        let (spec, placement) = try await place(request, isReplica: true)
        placed[request.id] = ReplicaSpec(id: request.id, deploymentID: request.deploymentID, launch: spec, restartPolicy: request.restartPolicy)
        return placement
    }

    public func startReplica(id: String) async throws {
        guard let spec = placed.removeValue(forKey: id) else {
            throw YardError(.internal, "replica \(id) was not placed before it was started")
        }
        try await supervisor.start(spec)
    }

    public func stopReplica(id: String, grace: Duration) async {
        placed[id] = nil
        await supervisor.stop(replicaID: id, gracePeriod: grace)
        await release(id)
    }

    public func stopAll(grace: Duration) async {
        await supervisor.stopAll(gracePeriod: grace)
    }

    public func usage(of replicaID: String) async -> ResourceUsage? {
        await supervisor.usage(of: replicaID)
    }

    public func startTask(_ request: ReplicaRequest, output: @escaping OutputHandler) async throws -> any LaunchedProcess {
        let (spec, _) = try await place(request, isReplica: false)
        do {
            return try await launcher.launch(spec, output: output)
        } catch {
            await release(request.id)
            throw error
        }
    }

    public func endTask(id: String) async {
        await release(id)
    }

    /// Attaches the replica or task to its environment's network, writes its hosts file and
    /// builds its box. A replica finds itself under its service's name; a task does not.
    private func place(_ request: ReplicaRequest, isReplica: Bool) async throws -> (LaunchSpec, ReplicaPlacement) {
        if case .image(let image) = request.artifact { return try await placeImage(request, image: image, isReplica: isReplica) }
        var environment = request.environment
        var volumeBind: [BindMount] = []
        if let volume = request.volume {
            try volume.prepare(for: request.hostUID)
            environment["RAILWAY_VOLUME_NAME"] = volume.name
            environment["RAILWAY_VOLUME_MOUNT_PATH"] = volume.mountPath
            volumeBind = [BindMount(source: volume.hostDirectory, target: volume.mountPath)]
        }
        let (attachment, hosts) = try await attach(request, isReplica: isReplica)
        do {
            environment["HOME"] = "/tmp"
            var mountPath = "/"
            var appBind: [BindMount] = []
            switch request.artifact {
            case .folder(let path, let builtInPlace):
                mountPath = builtInPlace ? path : Self.appPath
                appBind = [BindMount(source: path, target: mountPath)]
            case .image, nil:
                // A database service has no artifact: its server comes from the read-only host root.
                break
            }
            let sandbox = SandboxSpec(
                hostname: request.id,
                networkNamespace: attachment.namespace,
                readOnlyBinds: platformBinds + appBind + (try accountBinds(uid: request.hostUID)),
                writableBinds: volumeBind,
                hostsFile: hosts.path,
                hiddenPaths: [configuration.dataDirectory.path],
                runAsRoot: request.runAsRoot,
                limits: request.limits,
                cgroupName: request.id,
                hostUID: request.hostUID
            )
            let spec = LaunchSpec(
                arguments: ["/bin/sh", "-c", request.command], environment: environment, workingDirectory: mountPath,
                label: request.id, sandbox: sandbox)
            return (spec, ReplicaPlacement(address: attachment.address, port: request.port, environment: environment))
        } catch {
            await release(request.id)
            throw error
        }
    }

    /// Attaches the replica or task to its environment's network and writes its hosts file.
    func attach(_ request: ReplicaRequest, isReplica: Bool) async throws -> (ReplicaAttachment, hosts: URL) {
        try await prepareNetwork(environmentID: request.environmentID, subnetIndex: request.subnetIndex)
        let attachment = try await network.attach(replicaID: request.id, environmentID: request.environmentID, egress: request.egress)
        attached[request.id] = request.environmentID
        do {
            let hosts = hostsFile(of: request.id)
            try FileManager.default.createDirectory(at: hosts.deletingLastPathComponent(), withIntermediateDirectories: true)
            // It finds the services published so far (and a replica itself).
            var services = directories[request.environmentID] ?? [:]
            if isReplica { services[request.serviceName.lowercased(), default: []].append(attachment.address) }
            try HostsFile.write(HostsFile.render(hostname: request.id, services: services, viewer: request.id), to: hosts.path)
            return (attachment, hosts)
        } catch {
            await release(request.id)
            throw error
        }
    }

    func release(_ id: String) async {
        await removeImageInstance(id)
        guard attached.removeValue(forKey: id) != nil else { return }
        await network.detach(replicaID: id)
        try? FileManager.default.removeItem(at: runDirectory.appendingPathComponent(id))
    }

    private nonisolated func hostsFile(of id: String) -> URL {
        runDirectory.appendingPathComponent(id).appendingPathComponent("hosts")
    }

    // MARK: Directory

    /// Rewrites the hosts file of every replica and task of the environment:
    /// `<service>.railway.internal` → that service's replica addresses, ordered per viewer
    /// to spread connections.
    public func publishDirectory(environmentID: String, services: [String: [String]]) async {
        directories[environmentID] = services
        for (id, environment) in attached where environment == environmentID {
            let text = HostsFile.render(hostname: id, services: services, viewer: id)
            try? HostsFile.write(text, to: hostsFile(of: id).path)
        }
    }

    // MARK: Builds

    /// Sandboxed steps run as nobody with a private /tmp for a home, and a git config that
    /// trusts repositories owned by others.
    public nonisolated func buildEnvironment() -> [String: String] {
        var environment = ["HOME": "/tmp"]
        if let gitConfig = buildGitConfig() { environment["GIT_CONFIG_GLOBAL"] = gitConfig }
        return environment
    }

    /// Build steps run boxed too, in a network namespace of their own with egress only (they
    /// need package registries; the private network does not exist during builds, as on
    /// Railway; the host and other environments are out of reach), as the service's
    /// unprivileged uid, with only the app folder (which it owns) writable, at /app.
    public func prepareBuild(_ request: BuildBoxRequest) async throws -> BuildBox {
        let uid = SandboxIdentity.uid(forService: request.serviceID + "/" + request.environmentID)
        // The unprivileged build steps write dependencies into the app folder.
        try Self.changeOwner(of: request.appDirectory, to: uid)
        let attachment = try await network.attachBuild(
            buildID: Self.buildNetworkID(request.deploymentID), base: configuration.privateNetworkBase)
        let accounts = (try? accountBinds(uid: uid)) ?? []
        return BuildBox(sandbox: SandboxSpec(
            hostname: "build",
            networkNamespace: attachment.namespace,
            readOnlyBinds: platformBinds + (buildGitConfig().map { [BindMount(source: $0, target: $0)] } ?? []) + accounts,
            writableBinds: [BindMount(source: request.appDirectory, target: Self.appPath)],
            hiddenPaths: [configuration.dataDirectory.path],
            runAsRoot: false,
            limits: request.limits,
            cgroupName: "build-\(request.deploymentID)",
            hostUID: uid
        ))
    }

    public func finishBuild(deploymentID: String) async {
        await network.detach(replicaID: Self.buildNetworkID(deploymentID))
    }

    static func buildNetworkID(_ deploymentID: String) -> String { "build-" + deploymentID }

    /// The git config build steps read as their global one (`GIT_CONFIG_GLOBAL`): it trusts
    /// repositories owned by other users. Build steps run as nobody, and git refuses to
    /// read a root-owned repository otherwise, such as a local mirror that the system git
    /// config redirects dependency URLs to (SwiftPM's `url.insteadOf`). Nil if it cannot
    /// be written.
    private nonisolated func buildGitConfig() -> String? {
        let file = configuration.dataDirectory.appendingPathComponent("builds").appendingPathComponent("gitconfig")
        if !FileManager.default.fileExists(atPath: file.path) {
            try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            let text = "# Written by Switchyard for build steps, which run as nobody.\n[safe]\n\tdirectory = *\n"
            guard (try? Data(text.utf8).write(to: file, options: .atomic)) != nil else { return nil }
        }
        return file.path
    }

    /// `chown -R uid:uid directory`.
    static func changeOwner(of directory: String, to uid: UInt32) throws {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["chown", "-R", "\(uid):\(uid)", directory]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw YardError(.internal, "cannot hand \(directory) to the build user (chown failed)")
        }
    }

    // MARK: Identity

    /// A restore check's server runs boxed, as the service's uid: the dump is the tenant's.
    /// The service's uid in a box of its own: own pid/ipc/uts/network namespaces, read-only
    /// root, private `/tmp`, the data directory hidden, only `scratch` writable.
    public nonisolated func confineTool(serviceID: String, environmentID: String, scratch: String) throws -> ConfinedTool {
        let uid = SandboxIdentity.uid(forService: serviceID + "/" + environmentID)
        var box = [
            "/usr/bin/bwrap", "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net",
            "--hostname", "restore-check", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/dev/shm",
        ]
        let data = configuration.dataDirectory.path
        if access(data, F_OK) == 0 { box += ["--tmpfs", data] }
        box += ["--bind", scratch, scratch]
        for bind in try accountBinds(uid: uid) { box += ["--ro-bind", bind.source, bind.target] }
        return ConfinedTool(uid: uid, prefix: box + ["--"] + ConfinedTool.dropPrivileges(to: uid))
    }

    /// `/etc/passwd` and `/etc/group` for a box of `uid`: the host's files with that uid
    /// added, written under `run/accounts/<uid>` and bound read-only.
    nonisolated func accountBinds(uid: UInt32) throws -> [BindMount] {
        let folder = configuration.dataDirectory.appendingPathComponent("run/accounts/\(uid)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let host = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        let files = SandboxIdentity.accountFiles(uid: uid, hostPasswd: host("/etc/passwd"), hostGroup: host("/etc/group"))
        var binds: [BindMount] = []
        for (name, text) in [("passwd", files.passwd), ("group", files.group)] {
            let file = folder.appendingPathComponent(name)
            try Data(text.utf8).write(to: file, options: .atomic)
            _ = chmod(file.path, 0o644)
            binds.append(BindMount(source: file.path, target: "/etc/\(name)"))
        }
        return binds
    }

    // MARK: The yard binary

    /// `<data>/run/yard`: a hard link to (else a copy of) the running `yard`, made anew at each
    /// start, which a box whose bwrap runs as the service's uid (`RAILWAY_RUN_UID=0`) can
    /// reach through the data directory (0711).
    static func platformExecutableLink(_ configuration: Configuration) -> String {
        configuration.dataDirectory.appendingPathComponent("run/yard").path
    }

    /// Makes `platformExecutableLink` point at the running binary; false if it could not.
    static func preparePlatformExecutableLink(_ configuration: Configuration) -> Bool {
        let linkPath = platformExecutableLink(configuration)
        let files = FileManager.default
        try? files.createDirectory(
            atPath: (linkPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o755])
        try? files.removeItem(atPath: linkPath)
        if link(configuration.platformExecutable, linkPath) != 0 {
            guard (try? files.copyItem(atPath: configuration.platformExecutable, toPath: linkPath)) != nil else { return false }
        }
        return chmod(linkPath, 0o755) == 0
    }
}
