import Foundation
import Hummingbird
import Logging
import YardAPI
import YardControl
import YardCore
import YardDashboard
import YardRouter
import YardStore
import YardTestSupport

/// The dashboard on a real orchestrator over a temporary store (no replica runs), served by
/// the API's application: project `shop` with `count` services, web referencing Postgres and
/// holding a sealed variable. Shared by the dashboard's tests and `DashboardBench`, so the
/// benchmark measures the pages the tests check.
public final class DashboardHarness: Sendable {
    public let data: TemporaryStore
    public let orchestrator: Orchestrator
    public let backend: DashboardBackend
    public let application: any ApplicationProtocol
    public let token: String

    public init(services count: Int, logLevel: Logger.Level = .critical) throws {
        data = try TemporaryStore()
        var logger = Logger(label: "dashboard-harness")
        logger.logLevel = logLevel
        let configuration = Orchestrator.Configuration(
            dataDirectory: data.directory, baseDomain: "test.localhost", platformExecutable: "/bin/true",
            hostEnvironment: ["PATH": "/usr/bin:/bin"])
        let router = YardRouter.Router(configuration: .init(host: "127.0.0.1", port: 0), logger: logger)
        orchestrator = Orchestrator(
            configuration: configuration, store: data.store, runtime: FakeRuntime(), router: router, logger: logger)
        let (project, environment) = try data.store.createProject(name: "shop")
        for index in 0..<count {
            let name = index == 0 ? "web" : index == 1 ? "Postgres" : "svc\(index)"
            let service = try data.store.createService(projectID: project.id, name: name)
            if index == 0 {
                try data.store.changeVariables(
                    serviceID: service.id, environmentID: environment.id,
                    set: ["DATABASE_URL": "${{Postgres.DATABASE_URL}}", "GREETING": "hello", "API_KEY": "sealed-secret-value-123"],
                    delete: [], buildSecrets: [], sealed: ["API_KEY"])
            }
        }
        token = try AdminToken.ensure(store: data.store, dataDirectory: data.directory)
        let captured = Captured()
        let orchestrator = self.orchestrator
        application = APIServer.makeApplication(
            orchestrator: orchestrator, host: "127.0.0.1", port: 0,
            info: { ServerInfoView(version: "test", routerURL: "", baseDomain: "test.localhost", isolation: "none") },
            onBound: { _ in }, logger: logger,
            mount: { router, backend in
                captured.backend = backend
                Dashboard(backend: backend, logger: logger).register(on: router)
            })
        guard let backend = captured.backend else {
            throw YardError(.internal, "the API application did not mount the dashboard")
        }
        self.backend = backend
    }

    deinit { data.remove() }

    /// Project `shop` and its production environment.
    public func shop() throws -> (ProjectRecord, EnvironmentRecord) {
        let project = try data.store.project("shop")
        return (project, try data.store.environment(projectID: project.id, "production"))
    }

    /// A deployment of `service` in `shop`/production, with its status history and replicas.
    public func deploy(
        _ service: String, id: String, through statuses: [DeploymentStatus], running: Int = 0, cron: String? = nil,
        at time: Date = Date()
    ) throws {
        let store = data.store
        let (project, environment) = try shop()
        guard let record = try store.findService(projectID: project.id, service) else {
            throw YardError(.notFound, "no service \(service) in shop")
        }
        var settings = DeploySettings()
        settings.cronSchedule = cron
        try store.insertDeployment(
            DeploymentRecord(
                id: id, serviceID: record.id, environmentID: environment.id, status: .queued, reason: nil, trigger: "up",
                sourceHash: nil, sourcePath: nil, artifactPath: nil, buildResult: nil, deploySettings: settings, variables: nil,
                createdAt: time, updatedAt: time))
        for status in statuses { try store.transition(deploymentID: id, to: status) }
        for ordinal in 0..<running {
            try store.saveReplica(
                ReplicaRecord(
                    id: "\(id)-r\(ordinal)", deploymentID: id, ordinal: ordinal, port: 9000 + ordinal, pid: nil, status: .running,
                    restarts: 0, updatedAt: time))
        }
    }

    /// The 50-service project of issue 19's page budget: `web` with 20 deployments (the last
    /// one live with a replica), so its service page lists 20 with their phases.
    public static func fiftyServices() throws -> DashboardHarness {
        let harness = try DashboardHarness(services: 50)
        for index in 0..<20 {
            try harness.deploy(
                "web", id: "dep_\(index)", through: [.initializing, .building, .deploying, .success],
                running: index == 19 ? 1 : 0, at: Date().addingTimeInterval(Double(index - 20)))
        }
        return harness
    }

    private final class Captured: @unchecked Sendable {
        var backend: DashboardBackend?
    }
}
