import Foundation
import OpenAPIRuntime
import YardBuild
import YardControl
import YardCore
import YardStore

/// The `/v1` operations of openapi/openapi.yaml, as the generated `APIProtocol` asks for
/// them: the compiler checks that every operation is implemented and answers what the
/// document says. Errors are thrown, never returned: `ErrorMappingMiddleware` turns them
/// into the one error answer.
extension APIRoutes: APIProtocol {
    func health(_ input: Operations.Health.Input) async throws -> Operations.Health.Output {
        .ok(.init(body: .plainText(HTTPBody("ok"))))
    }

    func serverInfo(_ input: Operations.ServerInfo.Input) async throws -> Operations.ServerInfo.Output {
        .ok(.init(body: .json(await info())))
    }

    // MARK: Projects and environments

    func listProjects(_ input: Operations.ListProjects.Input) async throws -> Operations.ListProjects.Output {
        .ok(.init(body: .json(try store.projects().map(projectView))))
    }

    func createProject(_ input: Operations.CreateProject.Input) async throws -> Operations.CreateProject.Output {
        guard case .json(let body) = input.body else { throw Self.unexpectedBody }
        let (project, _) = try store.createProject(name: body.name)
        return .created(.init(body: .json(try projectView(project))))
    }

    func getProject(_ input: Operations.GetProject.Input) async throws -> Operations.GetProject.Output {
        .ok(.init(body: .json(try projectView(try store.project(input.path.project)))))
    }

    func createService(_ input: Operations.CreateService.Input) async throws -> Operations.CreateService.Output {
        guard case .json(let body) = input.body else { throw Self.unexpectedBody }
        let project = try store.project(input.path.project)
        let service = try store.createService(
            projectID: project.id, name: body.name, configPath: body.configPath, rootDirectory: body.rootDirectory)
        return .created(.init(body: .json(Self.serviceView(service))))
    }

    func addDatabase(_ input: Operations.AddDatabase.Input) async throws -> Operations.AddDatabase.Output {
        guard case .json(let body) = input.body else { throw Self.unexpectedBody }
        let (project, environment) = try scope(input.path.project, input.path.environment)
        let kind = try DatabaseKind(argument: body.database)
        let (service, deployment) = try await orchestrator.addDatabase(
            projectID: project.id, environmentID: environment.id, kind: kind, name: body.name)
        let variables = try variableViews(serviceID: service.id, environmentID: environment.id)
        let host = variables.first { $0.key.hasSuffix("HOST") }?.value ?? ""
        let port = variables.first { $0.key == kind.portVariable }?.value.flatMap { Int($0) } ?? kind.port
        let view = DatabaseView(
            service: Self.serviceView(service), host: host, port: port, variables: variables,
            deployment: try await deploymentView(deployment))
        return .created(.init(body: .json(view)))
    }

    func listEnvironments(_ input: Operations.ListEnvironments.Input) async throws -> Operations.ListEnvironments.Output {
        let project = try store.project(input.path.project)
        return .ok(.init(body: .json(try store.environments(projectID: project.id).map { EnvironmentView(id: $0.id, name: $0.name) })))
    }

    func createEnvironment(_ input: Operations.CreateEnvironment.Input) async throws -> Operations.CreateEnvironment.Output {
        guard case .json(let body) = input.body else { throw Self.unexpectedBody }
        let project = try store.project(input.path.project)
        let source = try store.environment(projectID: project.id, body.from ?? "production")
        let copy = try store.createEnvironment(projectID: project.id, name: body.name, copying: source.id)
        let data =
            body.withData == true
            ? try await orchestrator.copyDatabaseData(projectID: project.id, from: source.id, into: copy.environment.id) : nil
        return .created(
            .init(
                body: .json(
                    EnvironmentCopyView(
                        environment: EnvironmentView(id: copy.environment.id, name: copy.environment.name),
                        from: EnvironmentView(id: copy.source.id, name: copy.source.name),
                        services: copy.services.map {
                            EnvironmentCopyView.ServiceCopy(
                                service: $0.serviceName, copiedVariables: $0.copiedVariables,
                                sealedNotCopied: $0.sealedNotCopied, volume: $0.volumeMountPath,
                                newCredentials: $0.newCredentials)
                        }, data: data))))
    }

    func deleteEnvironment(_ input: Operations.DeleteEnvironment.Input) async throws -> Operations.DeleteEnvironment.Output {
        let (_, environment) = try scope(input.path.project, input.path.environment)
        let (removal, stopped) = try await orchestrator.deleteEnvironment(environmentID: environment.id)
        return .ok(
            .init(
                body: .json(
                    EnvironmentDeletionView(
                        environment: EnvironmentView(id: environment.id, name: environment.name), stoppedDeployments: stopped,
                        removedDomains: removal.domains.sorted(), removedVolumes: removal.volumeIDs.count,
                        removedBackups: removal.backups.count))))
    }

    func environmentStatus(_ input: Operations.EnvironmentStatus.Input) async throws -> Operations.EnvironmentStatus.Output {
        let (project, environment) = try scope(input.path.project, input.path.environment)
        var services: [ServiceStatusView] = []
        for service in try store.services(projectID: project.id) {
            services.append(try await serviceStatus(service, environment: environment))
        }
        return .ok(
            .init(
                body: .json(
                    StatusView(
                        project: EnvironmentView(id: project.id, name: project.name),
                        environment: EnvironmentView(id: environment.id, name: environment.name),
                        isolation: orchestrator.isolation, services: services))))
    }

    func listSharedVariables(_ input: Operations.ListSharedVariables.Input) async throws -> Operations.ListSharedVariables.Output {
        let (_, environment) = try scope(input.path.project, input.path.environment)
        return .ok(.init(body: .json(try sharedVariableViews(environmentID: environment.id))))
    }

    func changeSharedVariables(_ input: Operations.ChangeSharedVariables.Input) async throws -> Operations.ChangeSharedVariables.Output {
        guard case .json(let change) = input.body else { throw Self.unexpectedBody }
        let (_, environment) = try scope(input.path.project, input.path.environment)
        for key in change.set.keys { try VariableName.validate(key) }
        guard (change.buildSecrets ?? []).isEmpty else {
            throw YardError(
                .invalidInput, "shared variables cannot be build secrets: set build secrets on the service that builds with them")
        }
        try store.changeSharedVariables(environmentID: environment.id, set: change.set, delete: change.delete)
        return .ok(.init(body: .json(try sharedVariableViews(environmentID: environment.id))))
    }

    // MARK: Deploying

    func deployServices(_ input: Operations.DeployServices.Input) async throws -> Operations.DeployServices.Output {
        guard case .applicationGzip(let body) = input.body else { throw Self.unexpectedBody }
        let (project, environment) = try scope(input.path.project, input.path.environment)
        let archive = try await receiveUpload(body)
        // Gone already when the deployment took it; removed here when it was refused.
        defer { try? FileManager.default.removeItem(at: archive) }
        let deployments = try await orchestrator.deployServices(
            projectID: project.id, environmentID: environment.id, archive: archive, trigger: "up",
            noCache: input.query.noCache == true)
        var views: [DeploymentView] = []
        for deployment in deployments { views.append(try await deploymentView(deployment)) }
        return .created(.init(body: .json(views)))
    }

    func deployService(_ input: Operations.DeployService.Input) async throws -> Operations.DeployService.Output {
        guard case .applicationGzip(let body) = input.body else { throw Self.unexpectedBody }
        let (project, environment) = try scope(input.path.project, input.path.environment)
        let name = input.path.service
        var found = try store.findService(projectID: project.id, name)
        if found == nil, input.query.create == true {
            found = try store.createService(projectID: project.id, name: name, configPath: input.query.configPath)
        }
        guard let service = found else {
            throw YardError(.notFound, "no service '\(name)' in project \(project.name)")
        }
        let archive = try await receiveUpload(body)
        // Gone already when the deployment took it; removed here when it was refused.
        defer { try? FileManager.default.removeItem(at: archive) }
        let deployment = try await orchestrator.deploy(
            serviceID: service.id, environmentID: environment.id,
            archive: archive, trigger: "up", noCache: input.query.noCache == true)
        return .created(.init(body: .json(try await deploymentView(deployment))))
    }

    func listDeployments(_ input: Operations.ListDeployments.Input) async throws -> Operations.ListDeployments.Output {
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        let deployments = try store.deployments(serviceID: service.id, environmentID: environment.id, limit: 20)
        return .ok(.init(body: .json(try await deploymentViews(deployments, service: service))))
    }

    func redeployService(_ input: Operations.RedeployService.Input) async throws -> Operations.RedeployService.Output {
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        let deployment = try await orchestrator.redeploy(
            serviceID: service.id, environmentID: environment.id,
            noCache: input.query.noCache == true)
        return .created(.init(body: .json(try await deploymentView(deployment))))
    }

    func restartService(_ input: Operations.RestartService.Input) async throws -> Operations.RestartService.Output {
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        return .ok(
            .init(
                body: .json(try await deploymentView(try await orchestrator.restart(serviceID: service.id, environmentID: environment.id))))
        )
    }

    func sleepService(_ input: Operations.SleepService.Input) async throws -> Operations.SleepService.Output {
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        return .ok(
            .init(body: .json(try await deploymentView(try await orchestrator.sleep(serviceID: service.id, environmentID: environment.id))))
        )
    }

    func downService(_ input: Operations.DownService.Input) async throws -> Operations.DownService.Output {
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        return .ok(
            .init(body: .json(try await deploymentView(try await orchestrator.down(serviceID: service.id, environmentID: environment.id)))))
    }

    func getDeployment(_ input: Operations.GetDeployment.Input) async throws -> Operations.GetDeployment.Output {
        .ok(.init(body: .json(try await deploymentView(try store.deployment(id: input.path.deployment)))))
    }

    func cancelDeployment(_ input: Operations.CancelDeployment.Input) async throws -> Operations.CancelDeployment.Output {
        .ok(.init(body: .json(try await deploymentView(try await orchestrator.cancel(deploymentID: input.path.deployment)))))
    }

    func removeDeployment(_ input: Operations.RemoveDeployment.Input) async throws -> Operations.RemoveDeployment.Output {
        .ok(.init(body: .json(try await deploymentView(try await orchestrator.remove(deploymentID: input.path.deployment)))))
    }

    func rollbackDeployment(_ input: Operations.RollbackDeployment.Input) async throws -> Operations.RollbackDeployment.Output {
        .created(.init(body: .json(try await deploymentView(try await orchestrator.rollback(deploymentID: input.path.deployment)))))
    }

    func deploymentLogs(_ input: Operations.DeploymentLogs.Input) async throws -> Operations.DeploymentLogs.Output {
        let deployment = try store.deployment(id: input.path.deployment)
        let kind = input.query.kind.flatMap { LogKind(rawValue: $0.rawValue) } ?? .deploy
        // A log that can no longer grow ends the stream once its lines are sent, even
        // after a restart of the server (which forgets which logs were closed).
        let finished: Bool =
            switch kind {
            case .build: ![.queued, .waiting, .initializing, .building].contains(deployment.status)
            case .deploy, .http: deployment.status.isFinal
            }
        let query = LogQuery(
            filter: try input.query.filter.map(LogFilter.parse), since: input.query.since, until: input.query.until)
        let body = logBody(
            deploymentID: deployment.id, kind: kind, query: query, follow: input.query.follow == true, finished: finished)
        return .ok(.init(headers: .init(cacheControl: "no-cache"), body: .applicationXNdjson(body)))
    }

    func deploymentEvents(_ input: Operations.DeploymentEvents.Input) async throws -> Operations.DeploymentEvents.Output {
        let deployment = try store.deployment(id: input.path.deployment)
        return .ok(.init(headers: .init(cacheControl: "no-cache"), body: .textEventStream(eventBody(deploymentID: deployment.id))))
    }

    // MARK: Install cache

    func listCache(_ input: Operations.ListCache.Input) async throws -> Operations.ListCache.Output {
        .ok(.init(body: .json(orchestrator.cacheEntries())))
    }

    func pruneCache(_ input: Operations.PruneCache.Input) async throws -> Operations.PruneCache.Output {
        .ok(.init(body: .json(orchestrator.pruneCache(all: input.query.all == true))))
    }

    // MARK: Service settings

    func listVariables(_ input: Operations.ListVariables.Input) async throws -> Operations.ListVariables.Output {
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        return .ok(.init(body: .json(try variableViews(serviceID: service.id, environmentID: environment.id))))
    }

    func changeVariables(_ input: Operations.ChangeVariables.Input) async throws -> Operations.ChangeVariables.Output {
        guard case .json(let change) = input.body else { throw Self.unexpectedBody }
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
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
        try store.changeVariables(
            serviceID: service.id, environmentID: environment.id, set: change.set,
            delete: change.delete, buildSecrets: secrets, sealed: sealed)
        return .ok(.init(body: .json(try variableViews(serviceID: service.id, environmentID: environment.id))))
    }

    func resolvedVariables(_ input: Operations.ResolvedVariables.Input) async throws -> Operations.ResolvedVariables.Output {
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        let resolved = try await orchestrator.resolvedVariables(serviceID: service.id, environmentID: environment.id)
        return .ok(.init(body: .json(.init(additionalProperties: resolved))))
    }

    func getSettings(_ input: Operations.GetSettings.Input) async throws -> Operations.GetSettings.Output {
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        return .ok(.init(body: .json(try settingsView(service, environmentID: environment.id))))
    }

    func changeSettings(_ input: Operations.ChangeSettings.Input) async throws -> Operations.ChangeSettings.Output {
        guard case .json(let change) = input.body else { throw Self.unexpectedBody }
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        var updated = try store.changeSettings(serviceID: service.id, change: change)
        if change.registryUsername != nil || change.registryPassword != nil {
            updated = try changeRegistryLogin(of: updated, change)
        }
        if change.sleepApplication != nil {
            await orchestrator.sleepSettingChanged(serviceID: service.id, environmentID: environment.id)
        }
        return .ok(.init(body: .json(try settingsView(updated, environmentID: environment.id))))
    }

    func addVolume(_ input: Operations.AddVolume.Input) async throws -> Operations.AddVolume.Output {
        guard case .json(let body) = input.body else { throw Self.unexpectedBody }
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        try VolumePath.validate(body.mountPath)
        try store.addVolume(
            VolumeRecord(
                id: Identifier.make("vol"), serviceID: service.id, environmentID: environment.id,
                name: body.name ?? "\(service.name)-volume", mountPath: body.mountPath, createdAt: Date()))
        return .created(.init(body: .json(try settingsView(service, environmentID: environment.id))))
    }

    // MARK: Domains and TCP proxies

    func listDomains(_ input: Operations.ListDomains.Input) async throws -> Operations.ListDomains.Output {
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        return .ok(.init(body: .json(try await domainViews(serviceID: service.id, environmentID: environment.id))))
    }

    func addDomain(_ input: Operations.AddDomain.Input) async throws -> Operations.AddDomain.Output {
        guard case .json(let body) = input.body else { throw Self.unexpectedBody }
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        let upload: DomainCertificateUpload?
        switch (body.certificate, body.privateKey) {
        case (nil, nil): upload = nil
        case (let certificate?, let key?): upload = DomainCertificateUpload(certificatePEM: certificate, privateKeyPEM: key)
        default: throw YardError(.invalidInput, "certificate and privateKey go together: give both or neither")
        }
        _ = try await orchestrator.addDomain(
            serviceID: service.id, environmentID: environment.id,
            hostname: body.hostname, targetPort: body.targetPort, path: body.path, certificate: upload)
        return .created(.init(body: .json(try await domainViews(serviceID: service.id, environmentID: environment.id))))
    }

    func removeDomain(_ input: Operations.RemoveDomain.Input) async throws -> Operations.RemoveDomain.Output {
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        try await orchestrator.removeDomain(
            serviceID: service.id, environmentID: environment.id,
            hostname: input.path.hostname, path: input.query.path)
        return .ok(.init(body: .json(try await domainViews(serviceID: service.id, environmentID: environment.id))))
    }

    func listTCPProxies(_ input: Operations.ListTCPProxies.Input) async throws -> Operations.ListTCPProxies.Output {
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        return .ok(.init(body: .json(try await tcpProxyViews(serviceID: service.id, environmentID: environment.id))))
    }

    func addTCPProxy(_ input: Operations.AddTCPProxy.Input) async throws -> Operations.AddTCPProxy.Output {
        guard case .json(let body) = input.body else { throw Self.unexpectedBody }
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        _ = try await orchestrator.addTCPProxy(serviceID: service.id, environmentID: environment.id, targetPort: body.targetPort)
        return .created(.init(body: .json(try await tcpProxyViews(serviceID: service.id, environmentID: environment.id))))
    }

    func removeTCPProxy(_ input: Operations.RemoveTCPProxy.Input) async throws -> Operations.RemoveTCPProxy.Output {
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        _ = try await orchestrator.removeTCPProxy(serviceID: service.id, environmentID: environment.id, targetPort: input.query.port)
        return .ok(.init(body: .json(try await tcpProxyViews(serviceID: service.id, environmentID: environment.id))))
    }

    /// The one answer with a sealed value (a database's password), for `yard connect` to
    /// start the client on the user's terminal; never logged, not cached.
    func databaseConnection(_ input: Operations.DatabaseConnection.Input) async throws -> Operations.DatabaseConnection.Output {
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        let connection = try await orchestrator.databaseConnection(serviceID: service.id, environmentID: environment.id)
        return .ok(.init(headers: .init(cacheControl: "no-store"), body: .json(connection)))
    }

    // MARK: Cron and backups

    func listCronRuns(_ input: Operations.ListCronRuns.Input) async throws -> Operations.ListCronRuns.Output {
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        let runs = try await orchestrator.cronRuns(serviceID: service.id, environmentID: environment.id)
        return .ok(
            .init(
                body: .json(
                    runs.map {
                        CronRunView(
                            id: $0.id, deploymentID: $0.deploymentID, scheduledAt: $0.scheduledAt, startedAt: $0.startedAt,
                            endedAt: $0.endedAt, status: $0.status, exitCode: $0.exitCode, reason: $0.reason)
                    })))
    }

    func listBackups(_ input: Operations.ListBackups.Input) async throws -> Operations.ListBackups.Output {
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        return .ok(.init(body: .json(try await backupList(service, environmentID: environment.id))))
    }

    func createBackup(_ input: Operations.CreateBackup.Input) async throws -> Operations.CreateBackup.Output {
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        let record = try await orchestrator.createBackup(serviceID: service.id, environmentID: environment.id)
        return .created(.init(body: .json(Self.backupView(record, service: service.name))))
    }

    func restoreBackup(_ input: Operations.RestoreBackup.Input) async throws -> Operations.RestoreBackup.Output {
        guard case .json(let body) = input.body else { throw Self.unexpectedBody }
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        return .ok(
            .init(body: .json(try await orchestrator.restoreBackup(serviceID: service.id, environmentID: environment.id, request: body))))
    }

    func setBackupSchedule(_ input: Operations.SetBackupSchedule.Input) async throws -> Operations.SetBackupSchedule.Output {
        guard case .json(let body) = input.body else { throw Self.unexpectedBody }
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        try await orchestrator.setBackupSchedule(
            serviceID: service.id, environmentID: environment.id,
            frequency: body.frequency, keep: body.keep)
        return .ok(.init(body: .json(try await backupList(service, environmentID: environment.id))))
    }

    // MARK: Git and pull requests

    func getBranchLink(_ input: Operations.GetBranchLink.Input) async throws -> Operations.GetBranchLink.Output {
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        return .ok(
            .init(body: .json(ServiceBranchLink(branch: try store.linkedBranch(serviceID: service.id, environmentID: environment.id)))))
    }

    func setBranchLink(_ input: Operations.SetBranchLink.Input) async throws -> Operations.SetBranchLink.Output {
        guard case .json(let link) = input.body else { throw Self.unexpectedBody }
        let (_, environment, service) = try serviceScope(input.path.project, input.path.environment, input.path.service)
        if let branch = link.branch { try ServiceBranchLink.validate(branch) }
        try store.linkBranch(serviceID: service.id, environmentID: environment.id, branch: link.branch)
        return .ok(
            .init(body: .json(ServiceBranchLink(branch: try store.linkedBranch(serviceID: service.id, environmentID: environment.id)))))
    }

    func getWebhook(_ input: Operations.GetWebhook.Input) async throws -> Operations.GetWebhook.Output {
        let project = try store.project(input.path.project)
        return .ok(
            .init(
                body: .json(
                    WebhookView(path: Self.webhookPath(project), secretConfigured: try store.hasWebhookSecret(projectID: project.id)))))
    }

    /// A new secret, shown in this answer only; deliveries signed with the old one fail from now on.
    func generateWebhookSecret(_ input: Operations.GenerateWebhookSecret.Input) async throws -> Operations.GenerateWebhookSecret.Output {
        let project = try store.project(input.path.project)
        let secret = ContentHash.randomToken()
        try store.setWebhookSecret(projectID: project.id, secret: secret)
        logger.info("webhook secret generated", metadata: ["project.id": "\(project.id)"])
        return .created(.init(body: .json(WebhookView(path: Self.webhookPath(project), secretConfigured: true, secret: secret))))
    }

    func openPullRequestEnvironment(
        _ input: Operations.OpenPullRequestEnvironment.Input
    ) async throws -> Operations.OpenPullRequestEnvironment.Output {
        guard case .json(let body) = input.body else { throw Self.unexpectedBody }
        let project = try store.project(input.path.project)
        let outcome = try await orchestrator.openPullRequestEnvironment(
            projectID: project.id, number: body.number, branch: body.branch, baseBranch: body.baseBranch, sha: body.sha)
        let answer = view(outcome, event: "pull_request", action: "opened")
        return outcome.created ? .created(.init(body: .json(answer))) : .ok(.init(body: .json(answer)))
    }

    /// A body of a content type the document does not list (the generated code refuses it first).
    static var unexpectedBody: YardError {
        YardError(.invalidInput, "the request body is not of a content type this endpoint takes (see /v1/openapi.json)")
    }
}
