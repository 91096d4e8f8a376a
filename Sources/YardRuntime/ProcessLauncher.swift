import Foundation
import YardCore

/// What to run: a command line, its environment and directory. Nothing in it assumes how
/// the process is isolated, so a sandbox or a cluster backend can implement the same seam.
public struct LaunchSpec: Sendable {
    /// argv. `arguments[0]` is an absolute path or a name looked up on the spec's PATH.
    public var arguments: [String]
    /// The complete environment of the process (nothing is inherited implicitly).
    public var environment: [String: String]
    public var workingDirectory: String
    /// Who this is for in logs (`replica.id`, or `build`).
    public var label: String
    /// How to isolate the process; launchers that cannot isolate ignore it.
    public var sandbox: SandboxSpec?

    public init(
        arguments: [String], environment: [String: String], workingDirectory: String, label: String,
        sandbox: SandboxSpec? = nil
    ) {
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.label = label
        self.sandbox = sandbox
    }

    /// A shell command line, run by `/bin/sh -c` as Railway does for start commands.
    public static func shell(
        _ command: String,
        environment: [String: String],
        workingDirectory: String,
        label: String
    ) -> LaunchSpec {
        LaunchSpec(
            arguments: ["/bin/sh", "-c", command],
            environment: environment,
            workingDirectory: workingDirectory,
            label: label
        )
    }
}

/// A path of the host made visible inside the sandbox.
public struct BindMount: Sendable, Equatable, Codable {
    public var source: String
    public var target: String

    public init(source: String, target: String) {
        self.source = source
        self.target = target
    }
}

/// The box a replica, build step or pre-deploy command runs in.
public struct SandboxSpec: Sendable, Equatable {
    /// Hostname inside the sandbox (the replica id).
    public var hostname: String
    /// `ip netns` name to run in; nil shares the host's network (build steps).
    public var networkNamespace: String?
    /// Bound read-only (the artifact, at its own path).
    public var readOnlyBinds: [BindMount]
    /// Bound read-write (the volume at its mount path).
    public var writableBinds: [BindMount]
    /// A generated hosts file bound at /etc/hosts.
    public var hostsFile: String?
    /// Host paths hidden behind an empty tmpfs (the platform's data directory), applied
    /// before the binds so an artifact inside one can still be bound back.
    public var hiddenPaths: [String]
    /// `RAILWAY_RUN_UID=0`: run as root inside a user namespace of its own, mapped to
    /// `hostUID` on the host (no capabilities there, no host file it does not own).
    public var runAsRoot: Bool
    /// The host uid (and gid) of this box: the service's own (`SandboxIdentity`); nil is the
    /// launcher's default.
    public var hostUID: UInt32?
    public var limits: ResourceLimits
    /// Name of the cgroup created for this process (unique, e.g. the replica id).
    public var cgroupName: String
    /// An image instance as the root instead of the host's root (`hostUID` and `runAsRoot`
    /// are then unused: the image's user decides).
    public var image: ImageBox?

    public init(
        hostname: String, networkNamespace: String? = nil, readOnlyBinds: [BindMount] = [], writableBinds: [BindMount] = [],
        hostsFile: String? = nil, hiddenPaths: [String] = [], runAsRoot: Bool = false, limits: ResourceLimits = .init(),
        cgroupName: String, hostUID: UInt32? = nil
    ) {
        self.hostUID = hostUID
        self.hiddenPaths = hiddenPaths
        self.hostname = hostname
        self.networkNamespace = networkNamespace
        self.readOnlyBinds = readOnlyBinds
        self.writableBinds = writableBinds
        self.hostsFile = hostsFile
        self.runAsRoot = runAsRoot
        self.limits = limits
        self.cgroupName = cgroupName
    }
}

/// Receives a launched process's output, one line at a time, without the trailing newline.
public typealias OutputHandler = @Sendable (LogLine.Stream, String) -> Void

/// The seam between the pipeline and how processes are run (plain processes now,
/// a sandbox next).
public protocol ProcessLauncher: Sendable {
    /// A short human description of the isolation this launcher gives, for `yard status`.
    var isolation: String { get }

    /// Starts the process. Output is delivered line by line to `output` until the process
    /// and every child holding its stdout/stderr have exited.
    func launch(_ spec: LaunchSpec, output: @escaping OutputHandler) async throws -> any LaunchedProcess
}

public protocol LaunchedProcess: Sendable {
    var pid: Int32 { get }
    /// Sends `signal` to the whole process tree, not just the first pid.
    func signal(_ signal: Int32)
    /// Returns once the process has exited and all its output has been delivered.
    func wait() async -> ExitReason
    /// CPU and memory use right now, where the launcher can measure it.
    func usage() -> ResourceUsage?
}

extension LaunchedProcess {
    public func usage() -> ResourceUsage? { nil }
}
