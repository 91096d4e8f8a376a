import Foundation
import Testing
import YardCore
import YardStore

@Suite("SQLite store")
struct SQLiteStoreTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-store-\(UUID().uuidString)")

    @Test("opens in WAL mode with the named migrations applied")
    func migrations() throws {
        let store = try SQLiteStore(directory: directory)
        #expect(try store.journalMode() == "wal")
        #expect(try store.appliedMigrations() == ["001_core", "002_isolation", "003_builds", "004_sleep_setting", "005_cron_runs", "006_domain_paths", "007_git", "009_shared_variables", "010_variables_digest", "011_databases", "012_backups", "013_tcp_proxy", "014_sealed_at_rest", "015_webhooks", "016_webhook_secret_sealed", "017_webhook_delivery", "018_sealed_values_bound", "019_service_image", "020_metrics_points", "021_alerts", "022_log_drains"])
        // Opening again applies nothing twice.
        let again = try SQLiteStore(directory: directory)
        #expect(try again.appliedMigrations() == ["001_core", "002_isolation", "003_builds", "004_sleep_setting", "005_cron_runs", "006_domain_paths", "007_git", "009_shared_variables", "010_variables_digest", "011_databases", "012_backups", "013_tcp_proxy", "014_sealed_at_rest", "015_webhooks", "016_webhook_secret_sealed", "017_webhook_delivery", "018_sealed_values_bound", "019_service_image", "020_metrics_points", "021_alerts", "022_log_drains"])
        try? FileManager.default.removeItem(at: directory)
    }

    @Test("a project comes with a production environment; names are unique")
    func projects() throws {
        let store = try SQLiteStore(directory: directory)
        let (project, environment) = try store.createProject(name: "shop")
        #expect(environment.name == "production")
        #expect(try store.project("shop").id == project.id)
        #expect(try store.environment(projectID: project.id, "production").id == environment.id)
        #expect(throws: YardError.self) { try store.createProject(name: "shop") }
        #expect(throws: YardError.self) { try store.createProject(name: "Bad Name") }
        try? FileManager.default.removeItem(at: directory)
    }

    @Test("deployment transitions are checked and every change is in the history")
    func history() throws {
        let store = try SQLiteStore(directory: directory)
        let (project, environment) = try store.createProject(name: "p")
        let service = try store.createService(projectID: project.id, name: "web")
        let now = Date()
        try store.insertDeployment(DeploymentRecord(
            id: "dep_1", serviceID: service.id, environmentID: environment.id, status: .queued, reason: nil,
            trigger: "up", sourceHash: nil, sourcePath: nil, artifactPath: nil, buildResult: nil,
            deploySettings: nil, variables: nil, createdAt: now, updatedAt: now))
        try store.transition(deploymentID: "dep_1", to: .initializing)
        try store.transition(deploymentID: "dep_1", to: .building)
        try store.transition(deploymentID: "dep_1", to: .failed, reason: "build step exited with code 1")
        #expect(throws: YardError.self) { try store.transition(deploymentID: "dep_1", to: .success) }
        let events = try store.events(deploymentID: "dep_1")
        #expect(events.map(\.status) == [.queued, .initializing, .building, .failed])
        #expect(events.last?.reason == "build step exited with code 1")
        #expect(try store.deployment(id: "dep_1").status == .failed)
        try? FileManager.default.removeItem(at: directory)
    }

    @Test("variables are set and deleted together, per service and environment")
    func variables() throws {
        let store = try SQLiteStore(directory: directory)
        let (project, environment) = try store.createProject(name: "p")
        let web = try store.createService(projectID: project.id, name: "web")
        let worker = try store.createService(projectID: project.id, name: "worker")
        try store.changeVariables(serviceID: web.id, environmentID: environment.id, set: ["A": "1", "B": "2"], delete: [])
        try store.changeVariables(serviceID: web.id, environmentID: environment.id, set: ["A": "3"], delete: ["B"])
        let values = try store.variables(serviceID: web.id, environmentID: environment.id)
        #expect(values.map(\.key) == ["A"] && values.first?.value == "3")
        #expect(try store.variables(serviceID: worker.id, environmentID: environment.id).isEmpty)
        try? FileManager.default.removeItem(at: directory)
    }

    @Test("a domain routes to one service only")
    func domains() throws {
        let store = try SQLiteStore(directory: directory)
        let (project, environment) = try store.createProject(name: "p")
        let web = try store.createService(projectID: project.id, name: "web")
        let api = try store.createService(projectID: project.id, name: "api")
        try store.addDomain(DomainRecord(hostname: "a.test", serviceID: web.id, environmentID: environment.id,
                                         targetPort: nil, generated: false, createdAt: Date()))
        #expect(throws: YardError.self) {
            try store.addDomain(DomainRecord(hostname: "a.test", serviceID: api.id, environmentID: environment.id,
                                             targetPort: nil, generated: false, createdAt: Date()))
        }
        #expect(try store.allDomains().count == 1)
        try? FileManager.default.removeItem(at: directory)
    }

    @Test("one hostname is split between services by path prefix; adding again sets the target port")
    func domainPaths() throws {
        let store = try SQLiteStore(directory: directory)
        let (project, environment) = try store.createProject(name: "p")
        let web = try store.createService(projectID: project.id, name: "web")
        let api = try store.createService(projectID: project.id, name: "api")
        func add(_ path: String, _ service: ServiceRecord, port: Int? = nil) throws {
            try store.addDomain(DomainRecord(hostname: "a.test", pathPrefix: path, serviceID: service.id, environmentID: environment.id,
                                             targetPort: port, generated: false, createdAt: Date()))
        }
        try add("", web)
        try add("/api", api)
        #expect(throws: YardError.self) { try add("/api", web) }
        try add("/api", api, port: 8080)
        let apiDomains = try store.domains(serviceID: api.id, environmentID: environment.id)
        #expect(apiDomains.map(\.pathPrefix) == ["/api"] && apiDomains.first?.targetPort == 8080)
        #expect(try store.domains(serviceID: web.id, environmentID: environment.id).map(\.pathPrefix) == [""])
        try store.removeDomain(hostname: "a.test", pathPrefix: "/api", serviceID: api.id)
        #expect(try store.allDomains().map(\.pathPrefix) == [""])
        try? FileManager.default.removeItem(at: directory)
    }
}

@Suite("SQLite store: database services")
struct DatabaseServiceStoreTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-store-\(UUID().uuidString)")

    @Test("a database service comes with its variables (password ones sealed) and its volume, in one environment")
    func createsDatabaseService() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        let (project, environment) = try store.createProject(name: "shop")
        let variables = DatabaseKind.postgres.variables(host: "postgres.railway.internal", port: 5432, password: "pw123")
        let (service, volume) = try store.createDatabaseService(
            projectID: project.id, environmentID: environment.id, name: "Postgres", kind: .postgres, variables: variables)
        #expect(try store.service(id: service.id).database == .postgres)
        #expect(volume.mountPath == "/var/lib/postgresql/data")
        #expect(try store.volume(serviceID: service.id, environmentID: environment.id)?.id == volume.id)
        let stored = try store.variables(serviceID: service.id, environmentID: environment.id)
        #expect(Set(stored.map(\.key)) == Set(variables.map(\.key)))
        #expect(Set(stored.filter(\.sealed).map(\.key)) == ["PGPASSWORD", "POSTGRES_PASSWORD", "DATABASE_URL"])
        // An app service is no database.
        #expect(try store.createService(projectID: project.id, name: "web").database == nil)
    }

    @Test("service names are unique ignoring case and found ignoring case")
    func namesIgnoreCase() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        let (project, environment) = try store.createProject(name: "shop")
        let (service, _) = try store.createDatabaseService(
            projectID: project.id, environmentID: environment.id, name: "Redis", kind: .redis,
            variables: DatabaseKind.redis.variables(host: "redis.railway.internal", port: 6379, password: "pw"))
        #expect(try store.findService(projectID: project.id, "redis")?.id == service.id)
        #expect(try store.findService(projectID: project.id, "Redis")?.id == service.id)
        let error = #expect(throws: YardError.self) { try store.createService(projectID: project.id, name: "redis") }
        #expect(error?.message.contains("already has a service named 'Redis'") == true)
        #expect(throws: YardError.self) {
            try store.createDatabaseService(projectID: project.id, environmentID: environment.id, name: "REDIS", kind: .redis, variables: [])
        }
    }

    @Test("a sealed variable stays sealed when it is set again")
    func sealedStaysSealed() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        let (project, environment) = try store.createProject(name: "shop")
        let (service, _) = try store.createDatabaseService(
            projectID: project.id, environmentID: environment.id, name: "Redis", kind: .redis,
            variables: DatabaseKind.redis.variables(host: "redis.railway.internal", port: 6379, password: "pw"))
        try store.changeVariables(serviceID: service.id, environmentID: environment.id,
                                  set: ["REDISPASSWORD": "other", "EXTRA": "1"], delete: [])
        let stored = try store.variables(serviceID: service.id, environmentID: environment.id)
        let password = stored.first { $0.key == "REDISPASSWORD" }
        #expect(password?.value == "other")
        #expect(password?.sealed == true)
        #expect(stored.first { $0.key == "EXTRA" }?.sealed == false)
    }
}
