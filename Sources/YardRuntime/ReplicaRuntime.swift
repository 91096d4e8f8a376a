import Foundation
import YardCore

#if canImport(Glibc)
    import Glibc
#endif

/// How a runtime isolates what it runs.
public enum RuntimeIsolation: Sendable, Equatable {
    /// Plain processes of the server's own user on the host; `reason` says why, when the
    /// machine could not isolate.
    case none(reason: String?)
    /// Each replica in namespaces and a cgroup of its own, unprivileged, read-only root.
    case sandbox

    /// Whether a replica runs as the server's own user (root, when the server is root).
    public var runsAsServerUser: Bool {
        if case .none = self { return true }
        return false
    }

    /// Whether a volume is bound at its mount path (else the app gets the host folder).
    public var bindsVolumes: Bool { self == .sandbox }
}

/// How replicas are reached.
public enum ReplicaAddressing: Sendable, Equatable {
    /// Every replica listens on this host address (loopback), so each needs a port of its
    /// own and a service's usual port cannot be promised.
    case sharedHost(String)
    /// Every replica has an address of its own on its environment's private network, so any
    /// port is free there and services find each other as `<name>.<privateDomain>`.
    case ownAddress

    /// The suffix of private service names (`api.railway.internal`).
    public static let privateDomain = "railway.internal"

    public var isOwnAddress: Bool { self == .ownAddress }
}

/// What to run as a replica or a one-off task: the runtime decides how.
public struct ReplicaRequest: Sendable {
    /// The built app.
    public enum Artifact: Sendable, Equatable {
        /// Its folder on this machine, and whether it was built at a path of its own
        /// (deployments from before content-addressed artifacts) rather than `/app`.
        case folder(path: String, builtInPlace: Bool)
        /// An image in the machine's image store: the replica's root filesystem is a
        /// writable layer of its own over it, and the image's config says how it runs.
        case image(ImageArtifact)

        /// The folder, for a folder artifact.
        public var folderPath: String? {
            if case .folder(let path, _) = self { return path }
            return nil
        }
    }

    /// A volume: its folder on this machine and where the app sees it.
    public struct Volume: Sendable, Equatable {
        public var name: String
        public var hostDirectory: String
        public var mountPath: String

        public init(name: String, hostDirectory: String, mountPath: String) {
            self.name = name
            self.hostDirectory = hostDirectory
            self.mountPath = mountPath
        }
    }

    /// The replica id, or the task's label (`pre-<id>`, `cron-<id>`).
    public var id: String
    public var deploymentID: String
    public var serviceID: String
    public var serviceName: String
    public var environmentID: String
    /// The environment's private network number (`SQLiteStore.subnetIndex`).
    public var subnetIndex: Int
    /// Nil for a database server, which runs from the host's packages.
    public var artifact: Artifact?
    /// Run by `/bin/sh -c`.
    public var command: String
    public var environment: [String: String]
    /// The port the replica listens on (`PORT`); 0 for a task.
    public var port: Int
    public var volume: Volume?
    public var limits: ResourceLimits
    /// Whether it may reach the internet.
    public var egress: Bool
    /// `RAILWAY_RUN_UID=0`: the app wants to be root (inside its box, where there is one).
    public var runAsRoot: Bool
    /// Used when it exits on its own (ignored for tasks).
    public var restartPolicy: RestartPolicy
    /// The database's kind when it runs a database service's server (its readiness check,
    /// its start script run by a shell, not split into words).
    public var database: DatabaseKind?

    public init(
        id: String, deploymentID: String, serviceID: String, serviceName: String, environmentID: String, subnetIndex: Int,
        artifact: Artifact?, command: String, environment: [String: String], port: Int = 0, volume: Volume? = nil,
        limits: ResourceLimits = .init(), egress: Bool = false, runAsRoot: Bool = false,
        restartPolicy: RestartPolicy = RestartPolicy(type: .never, maxRetries: 0), database: DatabaseKind? = nil
    ) {
        self.id = id
        self.deploymentID = deploymentID
        self.serviceID = serviceID
        self.serviceName = serviceName
        self.environmentID = environmentID
        self.subnetIndex = subnetIndex
        self.artifact = artifact
        self.command = command
        self.environment = environment
        self.port = port
        self.volume = volume
        self.limits = limits
        self.egress = egress
        self.runAsRoot = runAsRoot
        self.restartPolicy = restartPolicy
        self.database = database
    }
}

/// Where a placed replica is reached, and the variables that depend on where it runs.
public struct ReplicaPlacement: Sendable, Equatable {
    public var address: String
    public var port: Int
    /// Added to the replica's environment (`RAILWAY_VOLUME_MOUNT_PATH`, `HOME`).
    public var environment: [String: String]

    public init(address: String, port: Int, environment: [String: String] = [:]) {
        self.address = address
        self.port = port
        self.environment = environment
    }
}

/// What a build's steps run in, from `ReplicaRuntime.prepareBuild`.
public struct BuildBox: Sendable {
    /// The box every step runs in; nil runs them as plain processes.
    public var sandbox: SandboxSpec?

    public init(sandbox: SandboxSpec?) {
        self.sandbox = sandbox
    }
}

/// What a build needs from the runtime.
public struct BuildBoxRequest: Sendable {
    public var deploymentID: String
    public var serviceID: String
    public var environmentID: String
    /// The folder the app is built in (it becomes the artifact).
    public var appDirectory: String
    /// The build limits, already lowered to the service's memory limit.
    public var limits: ResourceLimits

    public init(deploymentID: String, serviceID: String, environmentID: String, appDirectory: String, limits: ResourceLimits) {
        self.deploymentID = deploymentID
        self.serviceID = serviceID
        self.environmentID = environmentID
        self.appDirectory = appDirectory
        self.limits = limits
    }
}

/// How a throwaway tool server (the restore check's postgres or redis, which loads what a
/// tenant wrote) is confined: the uid it runs as and the command prefix that confines it,
/// so it can write only in its scratch folder.
public struct ConfinedTool: Sendable, Equatable {
    /// The uid that must own the scratch folder; nil: the server's own user.
    public var uid: UInt32?
    /// Put before the tool's own argv.
    public var prefix: [String]

    public init(uid: UInt32?, prefix: [String]) {
        self.uid = uid
        self.prefix = prefix
    }

    /// A plain process's confinement: as root, nobody with no privileges (the tool loads
    /// a tenant's data, and postgres refuses root); else the server's own user.
    public static func unprivileged() -> ConfinedTool {
        guard geteuid() == 0 else { return ConfinedTool(uid: nil, prefix: []) }
        return ConfinedTool(uid: nobody, prefix: dropPrivileges(to: nobody))
    }

    public static let nobody: UInt32 = 65534

    /// Drops every privilege of root before `exec`: `uid`, no groups, no capabilities, no
    /// way back (`no_new_privs`).
    public static func dropPrivileges(to uid: UInt32) -> [String] {
        [
            "/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
            "--no-new-privs", "--",
        ]
    }
}

/// What happens to running replicas, in order per replica.
public typealias ReplicaEvent = SupervisorEvent

/// The seam between the control plane and whatever runs replicas: it says *what* to run
/// (an artifact, a command, its variables, port, volume, limits, egress), never how.
/// `ProcessRuntime` runs plain processes on loopback; `SandboxRuntime` (YardSandbox) runs
/// each replica in a bubblewrap box on its environment's private network. A container
/// engine or a cluster backend implements the same requirements (docs/architecture.md).
public protocol ReplicaRuntime: Sendable {
    var isolation: RuntimeIsolation { get }
    var addressing: ReplicaAddressing { get }
    /// One line for `yard status` and the start banner.
    var summary: String { get }
    /// Replica events (output, started, exited, stopped); finishes at `shutdown`.
    var events: AsyncStream<ReplicaEvent> { get }
    /// Where the app directory is seen by builds and replicas (`/app`), or nil when they
    /// run it where it is on the host.
    var appMountPath: String? { get }
    /// Launches build steps (and records nothing itself).
    var buildLauncher: any ProcessLauncher { get }
    /// Where the processes it runs see the `yard` binary (`yard static-serve`), or nil
    /// when they see it where it is on the host.
    var platformExecutable: String? { get }

    /// After recovery stopped the previous run's processes: removes what that run left
    /// behind (networks, cgroups) and makes the runtime ready.
    func cleanUpLeftovers() async
    /// Ends `events` (graceful shutdown began).
    func closeEvents()
    /// After the last replica stopped: removes the networks it made.
    func shutdown() async

    /// Creates the environment's private network if it has none yet.
    func prepareNetwork(environmentID: String, subnetIndex: Int) async throws
    /// Removes the environment's private network (its replicas are stopped).
    func removeNetwork(environmentID: String) async
    /// A deleted volume (its replicas are stopped): removes what the runtime keeps of it beyond
    /// its folder `hostDirectory`, which the caller deletes afterwards.
    func removeVolume(id: String, hostDirectory: String) async

    /// Gives a replica its place (address, network, files) and returns where it will be
    /// reached; `startReplica` then runs it. Two steps so the caller records the address
    /// before the first event of the replica can arrive.
    func placeReplica(_ request: ReplicaRequest) async throws -> ReplicaPlacement
    /// Starts a placed replica; events follow on `events`, restarts by its policy.
    func startReplica(id: String) async throws
    /// SIGTERM, then SIGKILL after `grace`; frees its place. Returns once it is gone.
    func stopReplica(id: String, grace: Duration) async
    /// Stops every replica at once (shutdown).
    func stopAll(grace: Duration) async
    /// CPU and memory use of a running replica, where the runtime can measure it.
    func usage(of replicaID: String) async -> ResourceUsage?

    /// Starts a one-off task (pre-deploy command, cron run) on the environment's private
    /// network, with the replicas' directory; `endTask` frees its place after it exited.
    func startTask(_ request: ReplicaRequest, output: @escaping OutputHandler) async throws -> any LaunchedProcess
    func endTask(id: String) async

    /// Variables every build step gets from the runtime (`HOME` in a box).
    func buildEnvironment() -> [String: String]
    /// What a build's steps run in (the app folder is handed to the build's user);
    /// `finishBuild` frees it.
    func prepareBuild(_ request: BuildBoxRequest) async throws -> BuildBox
    func finishBuild(deploymentID: String) async
    /// How a restore check's throwaway server for this service runs, writing only in
    /// `scratch`: boxed like the service's replicas where the runtime boxes them.
    func confineTool(serviceID: String, environmentID: String, scratch: String) throws -> ConfinedTool

    /// Publishes the environment's private-domain directory (service name → replica
    /// addresses) to its replicas and tasks.
    func publishDirectory(environmentID: String, services: [String: [String]]) async

    /// Whether database services run from an image of their server (built by the control
    /// plane, `DatabaseImage`) rather than from the host's packages, and other services reach
    /// them by their private name (`postgres.railway.internal`) on a port of their own.
    var runsDatabasesFromImages: Bool { get }

    /// How long a port check's connection must stay open to count as an open port: zero
    /// where the health checker reaches the app's own socket, longer where a port proxy in
    /// front of it accepts before the app listens and then closes the connection (swarm).
    var portSettleTime: Duration { get }
}

extension ReplicaRuntime {
    public var runsDatabasesFromImages: Bool { false }
    public var portSettleTime: Duration { .zero }
}

extension ReplicaRuntime {
    /// The volume is its folder only (the sandbox binds it): nothing more to remove.
    public func removeVolume(id: String, hostDirectory: String) async {}
}
