import Foundation
import YardConfig
import YardCore
import YardImage
import YardStore

extension Orchestrator.Configuration {
    /// The machine's image store, `<data>/images`, with the operator's mirror and
    /// plain-HTTP registries.
    public var imageStore: ImageStore {
        ImageStore(configuration: .init(
            directory: dataDirectory.appendingPathComponent("images"), registryMirror: registryMirror,
            insecureRegistries: insecureRegistries))
    }
}

extension Orchestrator {
    /// Creates an image service (`yard add --image`) and queues its first deployment. The
    /// registry login, for a private image, is stored sealed.
    public func addImageService(
        projectID: String, environmentID: String, image: String, name: String?,
        registryLogin: (username: String, password: String)? = nil
    ) throws -> (service: ServiceRecord, deployment: DeploymentRecord) {
        let reference = try ImageReference(parsing: image)
        let name = name ?? Self.serviceName(for: reference)
        let service = try store.createImageService(
            projectID: projectID, name: name, image: reference.description, registryLogin: registryLogin)
        logger.info("image service created", metadata: ["service.name": "\(name)", "image": "\(reference)"])
        return (service, try deployImage(service: service, environmentID: environmentID, trigger: "add"))
    }

    /// Queues a deployment of an image service: no source; its build step is the pull.
    func deployImage(service: ServiceRecord, environmentID: String, trigger: String) throws -> DeploymentRecord {
        let now = Date()
        let deployment = DeploymentRecord(
            id: Identifier.make("dep"), serviceID: service.id, environmentID: environmentID, status: .queued, reason: nil,
            trigger: trigger, sourceHash: nil, sourcePath: nil, artifactPath: nil, buildResult: nil, deploySettings: nil,
            variables: nil, createdAt: now, updatedAt: now)
        try store.insertDeployment(deployment)
        enqueue(.pipeline(deploymentID: deployment.id), key: ServiceKey(serviceID: service.id, environmentID: environmentID))
        return deployment
    }

    /// `redis` for `redis:7`, `app` for `ghcr.io/org/app:tag`.
    static func serviceName(for reference: ImageReference) -> String {
        String(reference.repository.split(separator: "/").last ?? "image")
    }

    /// The pipeline of an image service, after INITIALIZING: settings from the service (no
    /// config file), BUILDING is the pull, then the deploy as for any service. Returns the
    /// replicas started.
    func runImagePipeline(
        deployment: DeploymentRecord, service: ServiceRecord, environment: EnvironmentRecord, project: ProjectRecord,
        key: ServiceKey, log: @escaping @Sendable (LogLine.Stream, String) -> Void
    ) async throws -> [String] {
        let id = deployment.id
        let records = try store.variables(serviceID: service.id, environmentID: environment.id)
        let plainVariables = Dictionary(records.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
        var deploy = ConfigLoader.serviceSettings(build: service.buildOverrides, deploy: service.deployOverrides).deploy
        log(.system, "image service: settings come from the service (images have no railway.toml)")
        let domain = deploy.cronSchedule != nil
            ? nil : try ensureGeneratedDomain(service: service, project: project, environmentID: environment.id)
        let railway = railwayVariables(project: project, environment: environment, service: service, deploymentID: id, domain: domain)
        let resolved = try resolveReferences(in: plainVariables, service: service, environmentID: environment.id, railway: railway)
        maskSealedValues(deploymentID: id, environmentID: environment.id, variables: resolved)
        deploy.applySettingVariables(resolved)

        _ = try transition(id, .building)
        let result = try await pullImage(of: service, log: log)
        try Task.checkCancellation()
        if let image = result.image {
            // Named for this deployment, as a build is: a newer pull under the same tag leaves
            // it in the store for rollbacks until retention collects it.
            try await imageStore.tag(image.id, as: ImageStore.deploymentImageName(serviceID: service.id, deploymentID: id))
        }

        var variables = resolved.merging(railway) { user, _ in user }
        variables = try resolveReferences(in: variables, service: service, environmentID: environment.id, railway: railway)
        let snapshot = try store.sealedSnapshot(variables, deploymentID: id)
        let settings = deploy
        let record = try transition(id, .deploying) {
            // The image id: the same digest is the same artifact.
            $0.artifactKey = result.image?.id
            $0.buildResult = result
            $0.deploySettings = settings
            $0.variables = snapshot
            $0.variablesDigest = Self.digest(of: resolved)
        }
        logs.close(deploymentID: id, kind: .build)
        try await waitForReferencedServices(
            deploymentID: id, service: service, environmentID: environment.id, ownValues: Array(plainVariables.values))
        try await runPreDeploy(deploy.preDeployCommand ?? [], deployment: record, result: result, variables: variables)
        return try await goLive(deployment: record, result: result, settings: deploy, variables: variables, key: key)
    }

    /// The build step of an image service: pulls its image again (a changed digest is a new
    /// image; the same digest is the image already stored). An image only on this machine
    /// (`localhost/…`, or brought with `yard image import` when the registry cannot be
    /// reached) is used as it is.
    func pullImage(of service: ServiceRecord, log: @escaping @Sendable (LogLine.Stream, String) -> Void) async throws -> BuildResult {
        guard let image = service.image else { throw YardError(.internal, "\(service.name) is not an image service") }
        let reference = try ImageReference(parsing: image)
        let images = configuration.imageStore
        try images.prepare()
        let artifact: ImageArtifact
        if reference.registry == "localhost" {
            guard let local = try await images.inspect(reference.description) else {
                throw YardError(.notFound, "image \(reference.familiarName) is not on this machine: bring it with "
                    + "`yard image import \(reference.familiarName) FILE.tar`")
            }
            log(.system, "image \(reference.familiarName) is local (localhost/…): not pulled")
            artifact = local
        } else {
            let login = try store.registryLogin(serviceID: service.id).map {
                RegistryCredentials(username: $0.username, password: $0.password)
            }
            do {
                artifact = try await images.pull(reference, credentials: login) { log(.system, $0) }
            } catch let error as YardError where (error.code == .unavailable || error.code == .notFound) && login == nil {
                // Offline, a public image the operator imported still deploys; never one another
                // service pulled with its own login.
                guard let local = try await images.inspect(reference.description), images.wasImported(local) else { throw error }
                log(.system, "warning: \(error.message)")
                log(.system, "using the copy of \(reference.familiarName) already on this machine (\(local.id.prefix(19)))")
                artifact = local
            }
        }
        let plan = BuildPlan(provider: "image", startCommand: "", detectedFrom: "image \(reference.familiarName)")
        return BuildResult(plan: plan, startCommand: "", environment: [:], image: artifact)
    }
}
