import Foundation
import Logging
import YardCore

#if canImport(Glibc)
    import Glibc
#endif

/// Replicas as plain processes of the server's user on a shared host address (loopback):
/// no network of their own, no box; each replica gets a port of its own.
public actor ProcessRuntime: ReplicaRuntime {
    public nonisolated let isolation: RuntimeIsolation
    public nonisolated let addressing: ReplicaAddressing
    public nonisolated let summary: String
    public nonisolated let events: AsyncStream<ReplicaEvent>
    public nonisolated let buildLauncher: any ProcessLauncher
    public nonisolated var appMountPath: String? { nil }
    public nonisolated var platformExecutable: String? { nil }
    private nonisolated let continuation: AsyncStream<ReplicaEvent>.Continuation
    private let launcher: any ProcessLauncher
    private let supervisor: Supervisor
    private let host: String
    private var placed: [String: ReplicaSpec] = [:]

    /// `launcher` runs the processes (a `PlainProcessLauncher`, which can say why the
    /// machine could not isolate in its `isolation`); `fallbackReason` is that reason.
    public init(launcher: any ProcessLauncher = PlainProcessLauncher(), host: String, fallbackReason: String? = nil, logger: Logger) {
        let (events, continuation) = AsyncStream.makeStream(of: ReplicaEvent.self)
        self.events = events
        self.continuation = continuation
        self.launcher = launcher
        self.buildLauncher = launcher
        self.host = host
        self.isolation = .none(reason: fallbackReason)
        self.addressing = .sharedHost(host)
        self.summary = launcher.isolation
        self.supervisor = Supervisor(launcher: launcher, logger: logger) { continuation.yield($0) }
    }

    public func cleanUpLeftovers() async {}
    public nonisolated func closeEvents() { continuation.finish() }
    public func shutdown() async {}
    public func prepareNetwork(environmentID: String, subnetIndex: Int) async throws {}
    public func removeNetwork(environmentID: String) async {}
    public func publishDirectory(environmentID: String, services: [String: [String]]) async {}
    public nonisolated func buildEnvironment() -> [String: String] { [:] }
    public func prepareBuild(_ request: BuildBoxRequest) async throws -> BuildBox { BuildBox(sandbox: nil) }
    public func finishBuild(deploymentID: String) async {}
    /// As root, the tool runs as nobody with no privileges; else as the server's own user.
    public nonisolated func confineTool(serviceID: String, environmentID: String, scratch: String) throws -> ConfinedTool {
        .unprivileged()
    }

    public func placeReplica(_ request: ReplicaRequest) async throws -> ReplicaPlacement {
        try Self.refuseImage(request)
        var environment = request.environment
        if let volume = request.volume {
            try volume.prepare(for: request.hostUID)
            environment["RAILWAY_VOLUME_NAME"] = volume.name
            // No bind mount: the app gets the host folder itself.
            environment["RAILWAY_VOLUME_MOUNT_PATH"] = volume.hostDirectory
        }
        placed[request.id] = ReplicaSpec(
            id: request.id, deploymentID: request.deploymentID,
            launch: launchSpec(request, environment: environment), restartPolicy: request.restartPolicy)
        return ReplicaPlacement(address: host, port: request.port, environment: environment)
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
    }

    public func stopAll(grace: Duration) async {
        await supervisor.stopAll(gracePeriod: grace)
    }

    public func usage(of replicaID: String) async -> ResourceUsage? {
        await supervisor.usage(of: replicaID)
    }

    public func startTask(_ request: ReplicaRequest, output: @escaping OutputHandler) async throws -> any LaunchedProcess {
        try Self.refuseImage(request)
        var environment = request.environment
        if let volume = request.volume {
            try volume.prepare(for: request.hostUID)
            environment["RAILWAY_VOLUME_NAME"] = volume.name
            environment["RAILWAY_VOLUME_MOUNT_PATH"] = volume.hostDirectory
        }
        return try await launcher.launch(launchSpec(request, environment: environment), output: output)
    }

    public func endTask(id: String) async {}

    private func launchSpec(_ request: ReplicaRequest, environment: [String: String]) -> LaunchSpec {
        LaunchSpec(
            arguments: ["/bin/sh", "-c", request.command], environment: environment,
            workingDirectory: request.artifact?.folderPath ?? "/", label: request.id)
    }
}

extension ProcessRuntime {
    /// Plain processes run on the host's root: an image has no place there.
    static func refuseImage(_ request: ReplicaRequest) throws {
        guard case .image(let image) = request.artifact else { return }
        throw YardError(
            .unavailable,
            "\(request.id): the deployment's artifact is the image \(image.name), and images run only in the sandbox runtime: "
                + "run yard serve as root without --runtime plain (bubblewrap, util-linux and uidmap installed)")
    }
}

extension ReplicaRequest {
    /// The host uid (and gid) of the service's processes and files (`SandboxIdentity`).
    public var hostUID: UInt32 { SandboxIdentity.uid(forService: serviceID + "/" + environmentID) }
}

extension ReplicaRequest.Volume {
    /// Creates the volume's folder and hands it to `uid` (replicas run as their service's
    /// uid where they are boxed), readable by it alone.
    public func prepare(for uid: UInt32) throws {
        try FileManager.default.createDirectory(atPath: hostDirectory, withIntermediateDirectories: true)
        SandboxIdentity.handOver(hostDirectory, to: uid)
        _ = chmod(hostDirectory, 0o700)
    }
}
