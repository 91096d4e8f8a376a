import Foundation
import Hummingbird
import NIOCore
import ServiceLifecycle
import YardBuild
import YardControl
import YardCore
import YardRuntime
import YardSandbox
import YardStore

/// The `/v1` HTTP API: thin handlers that translate requests into calls on the
/// orchestrator and the store.
struct APIRoutes: Sendable {
    let orchestrator: Orchestrator
    let info: @Sendable () async -> ServerInfoView

    var store: SQLiteStore { orchestrator.store }

    func register(on router: Router<BasicRequestContext>) {
        let v1 = router.group("v1")
        v1.get("health") { _, _ in "ok" }
        v1.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        v1.get("info") { _, _ in try json(await info()) }

        v1.get("projects") { _, _ in try json(try store.projects().map(projectView)) }
        v1.post("projects") { request, context in
            let body = try await request.decode(as: CreateProjectRequest.self, context: context)
            let (project, _) = try store.createProject(name: body.name)
            return try json(try projectView(project), status: .created)
        }
        v1.get("projects/:project") { _, context in
            try json(try projectView(try store.project(try context.parameters.require("project"))))
        }
        v1.post("projects/:project/services") { request, context in
            let project = try store.project(try context.parameters.require("project"))
            let body = try await request.decode(as: CreateServiceRequest.self, context: context)
            let service = try store.createService(
                projectID: project.id, name: body.name, configPath: body.configPath, rootDirectory: body.rootDirectory)
            return try json(Self.serviceView(service), status: .created)
        }
        v1.post("projects/:project/environments/:environment/databases") { request, context in
            let (project, environment) = try scope(context)
            let body = try await request.decode(as: CreateDatabaseRequest.self, context: context)
            let kind = try DatabaseKind(argument: body.database)
            let (service, deployment) = try await orchestrator.addDatabase(
                projectID: project.id, environmentID: environment.id, kind: kind, name: body.name)
            let variables = try variableViews(serviceID: service.id, environmentID: environment.id)
            let host = variables.first { $0.key.hasSuffix("HOST") }?.value ?? ""
            let port = variables.first { $0.key == kind.portVariable }?.value.flatMap { Int($0) } ?? kind.port
            return try json(DatabaseView(service: Self.serviceView(service), host: host, port: port, variables: variables,
                                         deployment: try await deploymentView(deployment)), status: .created)
        }
        v1.get("projects/:project/environments") { _, context in
            let project = try store.project(try context.parameters.require("project"))
            return try json(try store.environments(projectID: project.id).map { EnvironmentView(id: $0.id, name: $0.name) })
        }
        v1.post("projects/:project/environments") { request, context in
            let project = try store.project(try context.parameters.require("project"))
            let body = try await request.decode(as: CreateEnvironmentRequest.self, context: context)
            let source = try store.environment(projectID: project.id, body.from ?? "production")
            let copy = try store.createEnvironment(projectID: project.id, name: body.name, copying: source.id)
            let data = body.withData == true
                ? try await orchestrator.copyDatabaseData(projectID: project.id, from: source.id, into: copy.environment.id) : nil
            return try json(EnvironmentCopyView(
                environment: EnvironmentView(id: copy.environment.id, name: copy.environment.name),
                from: EnvironmentView(id: copy.source.id, name: copy.source.name),
                services: copy.services.map {
                    EnvironmentCopyView.ServiceCopy(service: $0.serviceName, copiedVariables: $0.copiedVariables,
                                                    sealedNotCopied: $0.sealedNotCopied, volume: $0.volumeMountPath,
                                                    newCredentials: $0.newCredentials)
                }, data: data), status: .created)
        }
        v1.delete("projects/:project/environments/:environment") { _, context in
            let (_, environment) = try scope(context)
            let (removal, stopped) = try await orchestrator.deleteEnvironment(environmentID: environment.id)
            return try json(EnvironmentDeletionView(
                environment: EnvironmentView(id: environment.id, name: environment.name), stoppedDeployments: stopped,
                removedDomains: removal.domains.sorted(), removedVolumes: removal.volumeIDs.count,
                removedBackups: removal.backups.count))
        }
        v1.get("projects/:project/environments/:environment/status") { _, context in
            let (project, environment) = try scope(context)
            var services: [ServiceStatusView] = []
            for service in try store.services(projectID: project.id) {
                services.append(try await serviceStatus(service, environment: environment))
            }
            return try json(StatusView(project: EnvironmentView(id: project.id, name: project.name),
                                       environment: EnvironmentView(id: environment.id, name: environment.name),
                                       isolation: orchestrator.isolation, services: services))
        }

        v1.get("projects/:project/environments/:environment/variables") { _, context in
            let (_, environment) = try scope(context)
            return try json(try sharedVariableViews(environmentID: environment.id))
        }
        v1.patch("projects/:project/environments/:environment/variables") { request, context in
            let (_, environment) = try scope(context)
            let change = try await request.decode(as: VariableChange.self, context: context)
            for key in change.set.keys { try VariableName.validate(key) }
            guard (change.buildSecrets ?? []).isEmpty else {
                throw YardError(.invalidInput, "shared variables cannot be build secrets: set build secrets on the service that builds with them")
            }
            try store.changeSharedVariables(environmentID: environment.id, set: change.set, delete: change.delete)
            return try json(try sharedVariableViews(environmentID: environment.id))
        }

        let service = v1.group("projects/:project/environments/:environment/services/:service")
        service.get("cron-runs") { _, context in
            let (_, environment, service) = try serviceScope(context)
            let runs = try await orchestrator.cronRuns(serviceID: service.id, environmentID: environment.id)
            return try json(runs.map {
                CronRunView(id: $0.id, deploymentID: $0.deploymentID, scheduledAt: $0.scheduledAt, startedAt: $0.startedAt,
                            endedAt: $0.endedAt, status: $0.status, exitCode: $0.exitCode, reason: $0.reason)
            })
        }
        service.get("backups") { _, context in
            let (_, environment, service) = try serviceScope(context)
            return try json(try await backupList(service, environmentID: environment.id))
        }
        service.post("backups") { _, context in
            let (_, environment, service) = try serviceScope(context)
            let record = try await orchestrator.createBackup(serviceID: service.id, environmentID: environment.id)
            return try json(Self.backupView(record, service: service.name), status: .created)
        }
        service.post("backups/restore") { request, context in
            let (_, environment, service) = try serviceScope(context)
            let body = try await request.decode(as: BackupRestoreRequest.self, context: context)
            return try json(try await orchestrator.restoreBackup(serviceID: service.id, environmentID: environment.id, request: body))
        }
        service.put("backup-schedule") { request, context in
            let (_, environment, service) = try serviceScope(context)
            let body = try await request.decode(as: BackupScheduleRequest.self, context: context)
            try await orchestrator.setBackupSchedule(serviceID: service.id, environmentID: environment.id,
                                                     frequency: body.frequency, keep: body.keep)
            return try json(try await backupList(service, environmentID: environment.id))
        }
        service.get("deployments") { _, context in
            let (_, environment, service) = try serviceScope(context)
            var views: [DeploymentView] = []
            for deployment in try store.deployments(serviceID: service.id, environmentID: environment.id, limit: 20) {
                views.append(try await deploymentView(deployment))
            }
            return try json(views)
        }
        service.post("deployments") { request, context in
            let (project, environment) = try scope(context)
            let name = try context.parameters.require("service")
            var found = try store.findService(projectID: project.id, name)
            if found == nil, request.uri.queryParameters["create"] == "true" {
                found = try store.createService(projectID: project.id, name: name,
                                                configPath: request.uri.queryParameters["configPath"].map(String.init))
            }
            guard let service = found else {
                throw YardError(.notFound, "no service '\(name)' in project \(project.name)")
            }
            let archive = try await receiveUpload(request)
            // Gone already when the deployment took it; removed here when it was refused.
            defer { try? FileManager.default.removeItem(at: archive) }
            let deployment = try await orchestrator.deploy(serviceID: service.id, environmentID: environment.id,
                                                           archive: archive, trigger: "up",
                                                           noCache: request.uri.queryParameters["noCache"] == "true")
            return try json(try await deploymentView(deployment), status: .created)
        }
        service.post("redeploy") { request, context in
            let (_, environment, service) = try serviceScope(context)
            let deployment = try await orchestrator.redeploy(serviceID: service.id, environmentID: environment.id,
                                                             noCache: request.uri.queryParameters["noCache"] == "true")
            return try json(try await deploymentView(deployment), status: .created)
        }
        service.post("restart") { _, context in
            let (_, environment, service) = try serviceScope(context)
            return try json(try await deploymentView(try await orchestrator.restart(serviceID: service.id, environmentID: environment.id)))
        }
        service.post("sleep") { _, context in
            let (_, environment, service) = try serviceScope(context)
            return try json(try await deploymentView(try await orchestrator.sleep(serviceID: service.id, environmentID: environment.id)))
        }
        service.post("down") { _, context in
            let (_, environment, service) = try serviceScope(context)
            return try json(try await deploymentView(try await orchestrator.down(serviceID: service.id, environmentID: environment.id)))
        }
        service.get("variables") { _, context in
            let (_, environment, service) = try serviceScope(context)
            return try json(try variableViews(serviceID: service.id, environmentID: environment.id))
        }
        service.patch("variables") { request, context in
            let (_, environment, service) = try serviceScope(context)
            let change = try await request.decode(as: VariableChange.self, context: context)
            for key in change.set.keys { try VariableName.validate(key) }
            let secrets = Set(change.buildSecrets ?? [])
            if let stray = secrets.subtracting(change.set.keys).sorted().first {
                throw YardError(.invalidInput, "buildSecrets names \(stray), which this change does not set: set its value too")
            }
            let sealed = Set(change.sealed ?? [])
            if let stray = sealed.subtracting(change.set.keys).sorted().first {
                throw YardError(.invalidInput, "sealed names \(stray), which this change does not set: set its value too")
            }
            if let both = sealed.intersection(secrets).sorted().first {
                throw YardError(.invalidInput, "\(both) is both sealed and a build secret: a variable is one or the other")
            }
            try store.changeVariables(serviceID: service.id, environmentID: environment.id, set: change.set,
                                      delete: change.delete, buildSecrets: secrets, sealed: sealed)
            return try json(try variableViews(serviceID: service.id, environmentID: environment.id))
        }
        service.get("settings") { _, context in
            let (_, environment, service) = try serviceScope(context)
            return try json(try settingsView(service, environmentID: environment.id))
        }
        service.patch("settings") { request, context in
            let (_, environment, service) = try serviceScope(context)
            let change = try await request.decode(as: ServiceSettingsChange.self, context: context)
            let updated = try store.changeSettings(serviceID: service.id, change: change)
            if change.sleepApplication != nil {
                await orchestrator.sleepSettingChanged(serviceID: service.id, environmentID: environment.id)
            }
            return try json(try settingsView(updated, environmentID: environment.id))
        }
        service.post("volumes") { request, context in
            let (_, environment, service) = try serviceScope(context)
            let body = try await request.decode(as: VolumeRequest.self, context: context)
            try VolumePath.validate(body.mountPath)
            try store.addVolume(VolumeRecord(
                id: Identifier.make("vol"), serviceID: service.id, environmentID: environment.id,
                name: body.name ?? "\(service.name)-volume", mountPath: body.mountPath, createdAt: Date()))
            return try json(try settingsView(service, environmentID: environment.id), status: .created)
        }
        service.get("resolved-variables") { _, context in
            let (_, environment, service) = try serviceScope(context)
            return try json(try await orchestrator.resolvedVariables(serviceID: service.id, environmentID: environment.id))
        }
        service.get("domains") { _, context in
            let (_, environment, service) = try serviceScope(context)
            return try json(try await domainViews(serviceID: service.id, environmentID: environment.id))
        }
        service.post("domains") { request, context in
            let (_, environment, service) = try serviceScope(context)
            let body = try await request.decode(as: DomainRequest.self, context: context)
            let upload: DomainCertificateUpload?
            switch (body.certificate, body.privateKey) {
            case (nil, nil): upload = nil
            case (let certificate?, let key?): upload = DomainCertificateUpload(certificatePEM: certificate, privateKeyPEM: key)
            default: throw YardError(.invalidInput, "certificate and privateKey go together: give both or neither")
            }
            _ = try await orchestrator.addDomain(serviceID: service.id, environmentID: environment.id,
                                                 hostname: body.hostname, targetPort: body.targetPort, path: body.path, certificate: upload)
            return try json(try await domainViews(serviceID: service.id, environmentID: environment.id), status: .created)
        }
        service.get("tcp-proxies") { _, context in
            let (_, environment, service) = try serviceScope(context)
            return try json(try await tcpProxyViews(serviceID: service.id, environmentID: environment.id))
        }
        service.post("tcp-proxies") { request, context in
            let (_, environment, service) = try serviceScope(context)
            let body = try await request.decode(as: TCPProxyRequest.self, context: context)
            _ = try await orchestrator.addTCPProxy(serviceID: service.id, environmentID: environment.id, targetPort: body.targetPort)
            return try json(try await tcpProxyViews(serviceID: service.id, environmentID: environment.id), status: .created)
        }
        service.delete("tcp-proxies") { request, context in
            let (_, environment, service) = try serviceScope(context)
            let port: Int?
            if let text = request.uri.queryParameters["port"] {
                guard let value = Int(String(text)) else { throw YardError(.invalidInput, "port '\(text)' is not a number") }
                port = value
            } else {
                port = nil
            }
            _ = try await orchestrator.removeTCPProxy(serviceID: service.id, environmentID: environment.id, targetPort: port)
            return try json(try await tcpProxyViews(serviceID: service.id, environmentID: environment.id))
        }
        // The one answer with a sealed value (a database's password), for `yard connect` to
        // start the client on the user's terminal; never logged, not cached.
        service.post("connect") { _, context in
            let (_, environment, service) = try serviceScope(context)
            var response = try json(try await orchestrator.databaseConnection(serviceID: service.id, environmentID: environment.id))
            response.headers[.cacheControl] = "no-store"
            return response
        }
        service.delete("domains/:hostname") { request, context in
            let (_, environment, service) = try serviceScope(context)
            try await orchestrator.removeDomain(serviceID: service.id, environmentID: environment.id,
                                                hostname: try context.parameters.require("hostname"),
                                                path: request.uri.queryParameters["path"].map(String.init))
            return try json(try await domainViews(serviceID: service.id, environmentID: environment.id))
        }

        registerGit(on: v1)
        registerWebhooks(on: v1)

        v1.post("projects/:project/environments/:environment/deployments") { request, context in
            let (project, environment) = try scope(context)
            let archive = try await receiveUpload(request)
            // Gone already when the deployment took it; removed here when it was refused.
            defer { try? FileManager.default.removeItem(at: archive) }
            let deployments = try await orchestrator.deployServices(
                projectID: project.id, environmentID: environment.id, archive: archive, trigger: "up",
                noCache: request.uri.queryParameters["noCache"] == "true")
            var views: [DeploymentView] = []
            for deployment in deployments { views.append(try await deploymentView(deployment)) }
            return try json(views, status: .created)
        }
        v1.post("deployments/:deployment/cancel") { _, context in
            let id = try context.parameters.require("deployment")
            return try json(try await deploymentView(try await orchestrator.cancel(deploymentID: id)))
        }
        v1.post("deployments/:deployment/remove") { _, context in
            let id = try context.parameters.require("deployment")
            return try json(try await deploymentView(try await orchestrator.remove(deploymentID: id)))
        }
        v1.post("deployments/:deployment/rollback") { _, context in
            let id = try context.parameters.require("deployment")
            return try json(try await deploymentView(try await orchestrator.rollback(deploymentID: id)), status: .created)
        }
        v1.get("cache") { _, _ in
            try json(orchestrator.cacheEntries())
        }
        v1.post("cache/prune") { request, _ in
            try json(orchestrator.pruneCache(all: request.uri.queryParameters["all"] == "true"))
        }
        v1.get("deployments/:deployment") { _, context in
            try json(try await deploymentView(try store.deployment(id: try context.parameters.require("deployment"))))
        }
        v1.get("deployments/:deployment/logs") { request, context in
            let deployment = try store.deployment(id: try context.parameters.require("deployment"))
            let kind = LogKind(rawValue: request.uri.queryParameters["kind"].map(String.init) ?? "deploy") ?? .deploy
            let follow = request.uri.queryParameters["follow"] == "true"
            // A log that can no longer grow ends the stream once its lines are sent, even
            // after a restart of the server (which forgets which logs were closed).
            let finished: Bool =
                switch kind {
                case .build: ![.queued, .waiting, .initializing, .building].contains(deployment.status)
                case .deploy, .http: deployment.status.isFinal
                }
            return logResponse(deploymentID: deployment.id, kind: kind, follow: follow, finished: finished)
        }
        v1.get("deployments/:deployment/events") { _, context in
            let deployment = try store.deployment(id: try context.parameters.require("deployment"))
            return eventResponse(deploymentID: deployment.id)
        }
    }

    private func tcpProxyViews(serviceID: String, environmentID: String) async throws -> [TCPProxyView] {
        let host = orchestrator.tcpProxy.host
        return try await orchestrator.tcpProxies(serviceID: serviceID, environmentID: environmentID)
            .map { TCPProxyView(host: host, hostPort: $0.hostPort, targetPort: $0.targetPort) }
    }

    // MARK: Scope

    private func scope(_ context: BasicRequestContext) throws -> (ProjectRecord, EnvironmentRecord) {
        let project = try store.project(try context.parameters.require("project"))
        let environment = try store.environment(projectID: project.id, try context.parameters.require("environment"))
        return (project, environment)
    }

    func serviceScope(_ context: BasicRequestContext) throws -> (ProjectRecord, EnvironmentRecord, ServiceRecord) {
        let (project, environment) = try scope(context)
        let name = try context.parameters.require("service")
        guard let service = try store.findService(projectID: project.id, name) else {
            throw YardError(.notFound, "no service '\(name)' in project \(project.name); `yard status` lists them")
        }
        return (project, environment, service)
    }

    // MARK: Bodies

    /// Streams the uploaded archive to a private temporary file, never holding it all in
    /// memory; the file is removed when the upload fails or is too large.
    private func receiveUpload(_ request: Request) async throws -> URL {
        let limit = orchestrator.configuration.maximumUploadBytes
        let url = try orchestrator.temporaryFile("upload", suffix: ".tar.gz")
        let size = try await Self.receiveBody(request, to: url, limit: limit) {
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
    static func receiveBody(
        _ request: Request, to url: URL, limit: Int64, tooLarge: () -> String
    ) async throws -> Int64 {
        guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw YardError(.internal, "could not create a temporary file for the request body in \(url.deletingLastPathComponent().path)")
        }
        do {
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            var size: Int64 = 0
            for try await buffer in request.body {
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

    /// Log lines as newline-delimited JSON; with `follow`, the response stays open and
    /// streams new lines until the log closes or the client goes away.
    private func logResponse(deploymentID: String, kind: LogKind, follow: Bool, finished: Bool) -> Response {
        let logs = orchestrator.logs
        let body = ResponseBody { writer in
            let encoder = YardJSON.encoder()
            if follow {
                // A follower must not hold up a graceful shutdown of the server.
                for await line in logs.follow(deploymentID: deploymentID, kind: kind, closedWhenIdle: finished)
                    .cancelOnGracefulShutdown()
                {
                    var data = try encoder.encode(line)
                    data.append(0x0A)
                    try await writer.write(ByteBuffer(bytes: data))
                }
            } else {
                var buffer = ByteBuffer()
                for line in logs.lines(deploymentID: deploymentID, kind: kind) {
                    buffer.writeBytes(try encoder.encode(line))
                    buffer.writeString("\n")
                }
                try await writer.write(buffer)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson", .cacheControl: "no-cache"], body: body)
    }

    /// Server-sent events: the deployment as it is now, then again at every status change,
    /// ending once it settles (live, failed, crashed or removed).
    private func eventResponse(deploymentID: String) -> Response {
        let statuses = orchestrator.statuses
        let store = self.store
        let body = ResponseBody { writer in
            let changes = statuses.follow(deploymentID: deploymentID)
            var current = try store.deployment(id: deploymentID)
            try await writer.write(try sseEvent(try await deploymentView(current)))
            if !Self.settled(current.status) {
                for await _ in changes.cancelOnGracefulShutdown() {
                    current = try store.deployment(id: deploymentID)
                    try await writer.write(try sseEvent(try await deploymentView(current)))
                    if Self.settled(current.status) { break }
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    static func settled(_ status: DeploymentStatus) -> Bool {
        [.success, .failed, .crashed, .removed, .skipped, .sleeping].contains(status)
    }

    private func sseEvent(_ view: DeploymentView) throws -> ByteBuffer {
        let data = try YardJSON.encoder().encode(view)
        return ByteBuffer(string: "event: deployment\ndata: \(String(decoding: data, as: UTF8.self))\n\n")
    }

    // MARK: Views

    /// Sealed values and build secrets never leave the server.
    private func variableViews(serviceID: String, environmentID: String) throws -> [VariableView] {
        try store.variables(serviceID: serviceID, environmentID: environmentID, revealing: false).map {
            VariableView(key: $0.key, value: $0.sealed || $0.buildSecret ? nil : $0.value, sealed: $0.sealed,
                         buildSecret: $0.buildSecret ? true : nil)
        }
    }

    private func sharedVariableViews(environmentID: String) throws -> [VariableView] {
        try store.sharedVariables(environmentID: environmentID, revealing: false).map {
            VariableView(key: $0.key, value: $0.sealed ? nil : $0.value, sealed: $0.sealed)
        }
    }

    static func serviceView(_ service: ServiceRecord) -> ServiceView {
        ServiceView(id: service.id, name: service.name, configPath: service.configPath, rootDirectory: service.rootDirectory,
                    database: service.database)
    }

    private func settingsView(_ service: ServiceRecord, environmentID: String) throws -> ServiceSettingsView {
        let volume = try store.volume(serviceID: service.id, environmentID: environmentID)
        return ServiceSettingsView(
            limits: (try? YardJSON.decode(ResourceLimits.self, from: service.resourceLimits)) ?? ResourceLimits(),
            egress: service.egress,
            volume: volume.map { VolumeView(name: $0.name, mountPath: $0.mountPath) },
            rootDirectory: service.rootDirectory,
            sleepApplication: service.sleepApplication,
            defaultLimits: orchestrator.configuration.replicaLimits
        )
    }

    private func projectView(_ project: ProjectRecord) throws -> ProjectView {
        ProjectView(
            id: project.id, name: project.name, createdAt: project.createdAt,
            environments: try store.environments(projectID: project.id).map { EnvironmentView(id: $0.id, name: $0.name) },
            services: try store.services(projectID: project.id).map(Self.serviceView)
        )
    }

    private func domainViews(serviceID: String, environmentID: String) async throws -> [DomainView] {
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

    private func deploymentView(_ deployment: DeploymentRecord) async throws -> DeploymentView {
        let service = try store.service(id: deployment.serviceID)
        let result = deployment.buildResult.flatMap { try? YardJSON.decode(BuildResult.self, from: $0) }
        let domain = try store.domains(serviceID: deployment.serviceID, environmentID: deployment.environmentID).first
        var view = DeploymentView(
            id: deployment.id, serviceID: service.id, serviceName: service.name, environmentID: deployment.environmentID,
            status: deployment.status, reason: deployment.reason, trigger: deployment.trigger,
            provider: result?.plan.provider, startCommand: result?.startCommand,
            createdAt: deployment.createdAt, updatedAt: deployment.updatedAt,
            history: try store.events(deploymentID: deployment.id).map { DeploymentEventView(status: $0.status, reason: $0.reason, at: $0.at) },
            replicas: try await replicaViews(deploymentID: deployment.id),
            url: await domain.asyncMap { await orchestrator.url(forHostname: $0.hostname) },
            artifactKey: deployment.artifactKey, rollbackOf: deployment.rollbackOf
        )
        view.commit = deployment.gitCommit.flatMap { try? YardJSON.decode(GitCommit.self, from: $0) }
        return view
    }

    private func replicaViews(deploymentID: String) async throws -> [ReplicaView] {
        var views: [ReplicaView] = []
        for replica in try store.replicas(deploymentID: deploymentID) where replica.status != .removed {
            let usage = replica.status == .running ? await orchestrator.usage(replicaID: replica.id) : nil
            views.append(ReplicaView(id: replica.id, status: replica.status, port: replica.port, pid: replica.pid,
                                     restarts: replica.restarts, address: replica.address, lastExit: replica.lastExit, usage: usage))
        }
        return views
    }

    private func backupList(_ service: ServiceRecord, environmentID: String) async throws -> BackupListView {
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

    private func serviceStatus(_ service: ServiceRecord, environment: EnvironmentRecord) async throws -> ServiceStatusView {
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
        if let problem = SandboxMountPoint.problem(with: path) {
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
