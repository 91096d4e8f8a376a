import Foundation
import YardControl
import YardCore
import YardStore

/// `yard export kubernetes`: what the store knows about an environment, handed to
/// `KubernetesExport` (YardCore), which writes the manifests.
extension APIRoutes {
    /// The images Debian 12's servers correspond to, so a volume moved over keeps its format.
    static let databaseImages: [DatabaseKind: String] = [
        .postgres: "docker.io/library/postgres:15", .redis: "docker.io/library/redis:7.0", .mysql: "docker.io/library/mariadb:10.11",
    ]

    func exportKubernetes(_ input: Operations.ExportKubernetes.Input) async throws -> Operations.ExportKubernetes.Output {
        let (project, environment) = try scope(input.path.project, input.path.environment)
        let registry = input.query.registry ?? "registry.example.com/\(KubernetesExport.dnsLabel(project.name))"
        let services = try store.services(projectID: project.id)
        let variables = Dictionary(grouping: try store.variables(environmentID: environment.id), by: \.serviceID)
        let domains = Dictionary(grouping: try store.domains(environmentID: environment.id), by: \.serviceID)
        let volumes = Dictionary(grouping: try store.volumes(environmentID: environment.id), by: \.serviceID)
        let latest = Dictionary(
            try store.latestDeployments(environmentID: environment.id).map { ($0.serviceID, $0) }, uniquingKeysWith: { first, _ in first })
        // A service others reference (`${{api.…}}`) is reached over the private network: it keeps a port.
        let referenced = Set(
            variables.values.joined().flatMap { VariableReferences.services(in: $0.value) }.map { $0.lowercased() })
        var exported: [KubernetesExport.Service] = []
        var notes: [String] = []
        for service in services {
            let liveID = await orchestrator.liveDeploymentID(serviceID: service.id, environmentID: environment.id)
            let deployment = try liveID.map { try store.deployment(id: $0) } ?? latest[service.id]
            var settings = deployment?.deploySettings ?? DeploySettings()
            if deployment?.deploySettings == nil { service.deployOverrides.apply(to: &settings) }
            let names = (variables[service.id] ?? []).map(\.key)
            let userPort = (variables[service.id] ?? []).first { $0.key == "PORT" && !$0.sealed }.flatMap { Int($0.value) }
            let serviceDomains = (domains[service.id] ?? []).filter { !$0.generated }
            let kind: KubernetesExport.Service.Kind
            var image: String
            var localImage: String?
            var port: Int?
            if let database = service.database {
                kind = .database(database)
                image = Self.databaseImages[database] ?? database.rawValue
                port = database.port
            } else if let pulled = service.image {
                kind = .image
                image = pulled
                port = userPort ?? deployment?.buildResult?.image?.config.defaultPort
            } else {
                kind = .build
                let tag = deployment.map { String($0.id.dropFirst("dep_".count).prefix(12)) } ?? "latest"
                image = "\(registry)/\(KubernetesExport.dnsLabel(service.name)):\(tag)"
                localImage = deployment?.buildResult?.image?.name
                if deployment == nil {
                    notes.append("\(service.name) has never been deployed: deploy it, then export again")
                } else if localImage == nil {
                    notes.append("\(service.name) was built as a folder, not an image: run yard serve with image builds and redeploy it to get one to push")
                }
                let web = !(domains[service.id] ?? []).isEmpty || settings.healthcheckPath != nil || userPort != nil
                    || referenced.contains(service.name.lowercased())
                port = web && settings.cronSchedule == nil ? (userPort ?? 8080) : nil
            }
            exported.append(KubernetesExport.Service(
                name: service.name, kind: kind, image: image, localImage: localImage, settings: settings, port: port,
                limits: replicaLimits(of: service),
                volumes: (volumes[service.id] ?? []).map { ($0.name, $0.mountPath) },
                domains: serviceDomains.map { ($0.hostname, $0.pathPrefix, $0.targetPort) },
                variableNames: names))
        }
        var result = KubernetesExport.manifests(project: project.name, environment: environment.name, services: exported)
        result.notes += notes
        return .ok(.init(body: .json(KubernetesExportView(
            namespace: result.namespace, notes: result.notes,
            objects: result.objects.map { KubernetesObjectView(kind: $0.kind, name: $0.name) }, yaml: result.yaml))))
    }

    private func replicaLimits(of service: ServiceRecord) -> ResourceLimits {
        service.resourceLimits.over(orchestrator.configuration.replicaLimits)
    }
}
