import Foundation
import Hummingbird
import Logging
import NIOCore
import OpenAPIRuntime
import ServiceLifecycle
import YardBuild
import YardControl
import YardCore
import YardRuntime
import YardStore

/// The `/v1` HTTP API: thin handlers that translate requests into calls on the
/// orchestrator and the store.
struct APIRoutes: Sendable {
    let orchestrator: Orchestrator
    let info: @Sendable () async -> ServerInfoView
    let logger: Logger

    var store: SQLiteStore { orchestrator.store }

    /// The routes the generator cannot keep (raw bodies, line streams) and the document;
    /// every other operation is `APIProtocol`'s (APIRoutes+Operations.swift).
    func registerPlainRoutes(on router: Router<BasicRequestContext>) {
        let v1 = router.group("v1")
        v1.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        v1.get("openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml)))
        }
        registerGit(on: v1)
        registerWebhooks(on: v1)
    }

    func tcpProxyViews(serviceID: String, environmentID: String) async throws -> [TCPProxyView] {
        let host = orchestrator.tcpProxy.host
        return try await orchestrator.tcpProxies(serviceID: serviceID, environmentID: environmentID)
            .map { TCPProxyView(host: host, hostPort: $0.hostPort, targetPort: $0.targetPort) }
    }

    // MARK: Scope

    func scope(_ project: String, _ environment: String) throws -> (ProjectRecord, EnvironmentRecord) {
        let project = try store.project(project)
        let environment = try store.environment(projectID: project.id, environment)
        return (project, environment)
    }

    func serviceScope(_ project: String, _ environment: String, _ name: String) throws -> (ProjectRecord, EnvironmentRecord, ServiceRecord) {
        let (project, environment) = try scope(project, environment)
        guard let service = try store.findService(projectID: project.id, name) else {
            throw YardError(.notFound, "no service '\(name)' in project \(project.name); `yard status` lists them")
        }
        return (project, environment, service)
    }

    // MARK: Bodies

    /// Streams the uploaded archive to a private temporary file, never holding it all in
    /// memory; the file is removed when the upload fails or is too large.
    func receiveUpload(_ body: HTTPBody) async throws -> URL {
        let limit = orchestrator.configuration.maximumUploadBytes
        let url = try orchestrator.temporaryFile("upload", suffix: ".tar.gz")
        let size = try await Self.receiveBody(body.map { ByteBuffer(bytes: $0) }, to: url, limit: limit) {
            "the upload is larger than \(Self.bytesText(limit)) (the server's --max-upload-size); add large files to .railwayignore"
        }
        do {
            guard size > 0 else { throw YardError(.invalidInput, "the upload is empty: send the source as a .tar.gz body") }
            try orchestrator.checkUpload(url)
        } catch {
            try? FileManager.default.removeItem(at: url)
            throw error
        }
        return url
    }

    /// `2.0 GiB`, `64 MiB`, `512 KiB`: a limit as people read it.
    static func bytesText(_ bytes: Int64) -> String {
        if bytes >= 1 << 30 { return String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) }
        if bytes >= 1 << 20 { return String(format: "%.0f MiB", Double(bytes) / Double(1 << 20)) }
        return "\(bytes / 1024) KiB"
    }

    /// Writes the request body to `url` (created 0600) and returns its size; past `limit`
    /// bytes, or on any error, removes the file and throws (`tooLarge` → 413).
    static func receiveBody<Body: AsyncSequence<ByteBuffer, any Error>>(
        _ body: Body, to url: URL, limit: Int64, tooLarge: () -> String
    ) async throws -> Int64 {
        guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw YardError(.internal, "could not create a temporary file for the request body in \(url.deletingLastPathComponent().path)")
        }
        do {
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            var size: Int64 = 0
            for try await buffer in body {
                size += Int64(buffer.readableBytes)
                guard size <= limit else { throw YardError(.tooLarge, tooLarge()) }
                try handle.write(contentsOf: Data(buffer.readableBytesView))
            }
            return size
        } catch {
            try? FileManager.default.removeItem(at: url)
            throw error
        }
    }

    /// Log lines as newline-delimited JSON; with `follow`, the body stays open and streams
    /// new lines until the log closes or the client goes away.
    func logBody(deploymentID: String, kind: LogKind, query: LogQuery = .all, follow: Bool, finished: Bool) -> HTTPBody {
        let logs = orchestrator.logs
        return Self.streamedBody { write in
            let encoder = YardJSON.encoder()
            if follow {
                // A follower must not hold up a graceful shutdown of the server.
                for await line in logs.follow(deploymentID: deploymentID, kind: kind, closedWhenIdle: finished)
                    .cancelOnGracefulShutdown() where query.includes(line)
                {
                    var data = try encoder.encode(line)
                    data.append(0x0A)
                    try await write(data)
                }
            } else {
                var data = Data()
                for line in logs.lines(deploymentID: deploymentID, kind: kind) where query.includes(line) {
                    data.append(try encoder.encode(line))
                    data.append(0x0A)
                }
                try await write(data)
            }
        }
    }

    /// Server-sent events: the deployment as it is now, then again at every status change,
    /// ending once it settles (live, failed, crashed or removed).
    func eventBody(deploymentID: String) -> HTTPBody {
        let statuses = orchestrator.statuses
        let store = self.store
        return Self.streamedBody { write in
            let changes = statuses.follow(deploymentID: deploymentID)
            var current = try store.deployment(id: deploymentID)
            try await write(try sseEvent(try await deploymentView(current)))
            if !Self.settled(current.status) {
                for await _ in changes.cancelOnGracefulShutdown() {
                    current = try store.deployment(id: deploymentID)
                    try await write(try sseEvent(try await deploymentView(current)))
                    if Self.settled(current.status) { break }
                }
            }
        }
    }

    /// A response body written by `produce` while it is sent. The producer's task is started
    /// from the request's, so it inherits the server's graceful shutdown; it is cancelled
    /// when the client goes away.
    static func streamedBody(_ produce: @escaping @Sendable (_ write: (Data) async throws -> Void) async throws -> Void) -> HTTPBody {
        let (chunks, continuation) = AsyncThrowingStream.makeStream(of: ArraySlice<UInt8>.self)
        let producer = Task {
            do {
                try await produce { data in
                    if case .terminated = continuation.yield(ArraySlice(data)) { throw CancellationError() }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in producer.cancel() }
        return HTTPBody(chunks, length: .unknown, iterationBehavior: .single)
    }

    static func settled(_ status: DeploymentStatus) -> Bool {
        [.success, .completed, .failed, .crashed, .removed, .skipped, .sleeping].contains(status)
    }

    func sseEvent(_ view: DeploymentView) throws -> Data {
        let data = try YardJSON.encoder().encode(view)
        return Data("event: deployment\ndata: \(String(decoding: data, as: UTF8.self))\n\n".utf8)
    }

    // MARK: Views

    /// Sealed values and build secrets never leave the server.
    func variableViews(serviceID: String, environmentID: String) throws -> [VariableView] {
        try store.variables(serviceID: serviceID, environmentID: environmentID, revealing: false).map(Self.variableView)
    }

    /// A variable as the API shows it: sealed values and build secrets without their value.
    static func variableView(_ record: VariableRecord) -> VariableView {
        VariableView(key: record.key, value: record.sealed || record.buildSecret ? nil : record.value, sealed: record.sealed,
                     buildSecret: record.buildSecret ? true : nil)
    }

    func sharedVariableViews(environmentID: String) throws -> [VariableView] {
        try store.sharedVariables(environmentID: environmentID, revealing: false).map {
            VariableView(key: $0.key, value: $0.sealed ? nil : $0.value, sealed: $0.sealed)
        }
    }

    static func serviceView(_ service: ServiceRecord) -> ServiceView {
        ServiceView(id: service.id, name: service.name, configPath: service.configPath, rootDirectory: service.rootDirectory,
                    database: service.database, image: service.image, registryUsername: service.registryUsername)
    }

    func settingsView(_ service: ServiceRecord, environmentID: String) throws -> ServiceSettingsView {
        let volume = try store.volume(serviceID: service.id, environmentID: environmentID)
        return ServiceSettingsView(
            limits: service.resourceLimits,
            egress: service.egress,
            volume: volume.map { VolumeView(name: $0.name, mountPath: $0.mountPath) },
            rootDirectory: service.rootDirectory,
            sleepApplication: service.sleepApplication,
            defaultLimits: orchestrator.configuration.replicaLimits
        )
    }

    func projectView(_ project: ProjectRecord) throws -> ProjectView {
        ProjectView(
            id: project.id, name: project.name, createdAt: project.createdAt,
            environments: try store.environments(projectID: project.id).map { EnvironmentView(id: $0.id, name: $0.name) },
            services: try store.services(projectID: project.id).map(Self.serviceView)
        )
    }

    func domainViews(serviceID: String, environmentID: String) async throws -> [DomainView] {
        var views: [DomainView] = []
        for domain in try store.domains(serviceID: serviceID, environmentID: environmentID) {
            views.append(DomainView(hostname: domain.hostname, path: domain.pathPrefix.isEmpty ? nil : domain.pathPrefix,
                                    targetPort: domain.targetPort, generated: domain.generated,
                                    url: await orchestrator.url(forHostname: domain.hostname) + domain.pathPrefix,
                                    httpsURL: await orchestrator.httpsURL(forHostname: domain.hostname).map { $0 + domain.pathPrefix },
                                    certificate: orchestrator.certificateSource(forHostname: domain.hostname)?.rawValue))
        }
        return views
    }

    func deploymentView(_ deployment: DeploymentRecord) async throws -> DeploymentView {
        try await deploymentViews([deployment], service: try store.service(id: deployment.serviceID))[0]
    }

    /// Views of deployments of one service in one environment: four store reads whatever
    /// their number (the deployments list and the dashboard's service page).
    func deploymentViews(_ deployments: [DeploymentRecord], service: ServiceRecord) async throws -> [DeploymentView] {
        guard let first = deployments.first else { return [] }
        let domain = try store.domains(serviceID: service.id, environmentID: first.environmentID).first
        let url = await domain.asyncMap { await orchestrator.url(forHostname: $0.hostname) }
        let ids = deployments.map(\.id)
        let events = Dictionary(grouping: try store.events(deploymentIDs: ids), by: \.deploymentID)
        let replicas = Dictionary(grouping: try store.replicas(deploymentIDs: ids), by: \.deploymentID)
        var views: [DeploymentView] = []
        for deployment in deployments {
            let result = deployment.buildResult
            var view = DeploymentView(
                id: deployment.id, serviceID: service.id, serviceName: service.name, environmentID: deployment.environmentID,
                status: deployment.status, reason: deployment.reason, trigger: deployment.trigger,
                provider: result?.plan.provider, startCommand: result?.startCommand,
                createdAt: deployment.createdAt, updatedAt: deployment.updatedAt,
                history: (events[deployment.id] ?? []).map { DeploymentEventView(status: $0.status, reason: $0.reason, at: $0.at) },
                replicas: try await replicaViews(replicas[deployment.id] ?? []),
                url: url,
                artifactKey: deployment.artifactKey, rollbackOf: deployment.rollbackOf
            )
            view.commit = deployment.gitCommit
            views.append(view)
        }
        return views
    }

    func replicaViews(deploymentID: String) async throws -> [ReplicaView] {
        try await replicaViews(try store.replicas(deploymentID: deploymentID))
    }

    func replicaViews(_ replicas: [ReplicaRecord]) async throws -> [ReplicaView] {
        var views: [ReplicaView] = []
        for replica in replicas where replica.status != .removed {
            let usage = replica.status == .running ? await orchestrator.usage(replicaID: replica.id) : nil
            views.append(ReplicaView(id: replica.id, status: replica.status, port: replica.port, pid: replica.pid,
                                     restarts: replica.restarts, address: replica.address, lastExit: replica.lastExit, usage: usage))
        }
        return views
    }

    func backupList(_ service: ServiceRecord, environmentID: String) async throws -> BackupListView {
        let (schedule, next, records) = try await orchestrator.backupList(serviceID: service.id, environmentID: environmentID)
        return BackupListView(
            schedule: schedule.map { BackupScheduleView(frequency: $0.frequency, keep: $0.keep, nextAt: next) },
            backups: records.map { Self.backupView($0, service: service.name) })
    }

    static func backupView(_ record: BackupRecord, service: String) -> BackupView {
        BackupView(id: record.id, service: service, trigger: record.trigger, status: record.status, startedAt: record.startedAt,
                   finishedAt: record.finishedAt, sizeBytes: record.sizeBytes, objects: record.objects,
                   pointInTime: record.basePath != nil, reason: record.reason, check: record.checkStatus,
                   checkReason: record.checkReason)
    }

    func serviceStatus(_ service: ServiceRecord, environment: EnvironmentRecord) async throws -> ServiceStatusView {
        let deployments = try store.deployments(serviceID: service.id, environmentID: environment.id, limit: 20)
        let liveID = await orchestrator.liveDeploymentID(serviceID: service.id, environmentID: environment.id)
        return ServiceStatusView(
            service: Self.serviceView(service),
            domains: try await domainViews(serviceID: service.id, environmentID: environment.id),
            latest: try await deployments.first.asyncMap { try await deploymentView($0) },
            live: try await deployments.first(where: { $0.id == liveID }).asyncMap { try await deploymentView($0) },
            needsRedeploy: await orchestrator.pendingVariableChange(serviceID: service.id, environmentID: environment.id),
            backupProblem: try store.backups(serviceID: service.id, environmentID: environment.id).first
                .flatMap { Self.backupView($0, service: service.name).problem }
        )
    }
}

/// Volume mount paths: absolute, not in a system folder (the sandbox would have to make the
/// mount point there on the host).
enum VolumePath {
    static func validate(_ path: String) throws {
        if let problem = VolumeMountPath.problem(with: path) {
            throw YardError(.invalidInput, "\(problem): it cannot be a volume mount path; use an absolute path such as /data")
        }
    }
}

/// Variable names: what a shell can export.
enum VariableName {
    static func validate(_ key: String) throws {
        guard let first = key.first, first == "_" || first.isLetter,
              key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
        else {
            throw YardError(.invalidInput, "'\(key)' is not a valid variable name: use letters, digits and _, not starting with a digit")
        }
    }
}

func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    Response(status: status, headers: [.contentType: "application/json"],
             body: ResponseBody(byteBuffer: ByteBuffer(bytes: try YardJSON.encoder().encode(value))))
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        switch self {
        case .some(let value): try await transform(value)
        case .none: nil
        }
    }
}
