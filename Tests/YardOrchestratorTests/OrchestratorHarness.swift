import Foundation
import Logging
import ServiceLifecycle
import Testing
import YardControl
import YardCore
import YardRouter
import YardRuntime
import YardStore
import YardTestSupport

/// A real `Orchestrator` on a temporary store, with the fake runtime and a router that
/// never listens: no root, no sandbox, no network namespace.
final class OrchestratorHarness: Sendable {
    let data: TemporaryStore
    let runtime: FakeRuntime
    /// What the orchestrator runs on: `runtime`, or what `wrap` made of it.
    let replicaRuntime: any ReplicaRuntime
    let orchestrator: Orchestrator
    let serviceID: String
    let environmentID: String
    private let group: ServiceGroup
    private let running: Task<Void, any Error>

    /// Starts an orchestrator on `data` (a fresh store when nil) with a service `web`, or
    /// on the service of `reusing`, as a restarted server would.
    init(
        reusing previous: OrchestratorHarness? = nil, sleepAfter: Duration = .seconds(600),
        portGracePeriod: Duration = .milliseconds(300),
        beforeRun: (@Sendable (Orchestrator, _ serviceID: String, _ environmentID: String) async throws -> Void)? = nil,
        wrap: ((FakeRuntime) -> any ReplicaRuntime)? = nil
    ) async throws {
        data = try previous?.data.reopened() ?? TemporaryStore()
        runtime = FakeRuntime()
        replicaRuntime = wrap?(runtime) ?? runtime
        var logger = Logger(label: "orchestrator-test")
        logger.logLevel = .critical
        var configuration = Orchestrator.Configuration(
            dataDirectory: data.directory, baseDomain: "test.localhost", platformExecutable: "/bin/true",
            hostEnvironment: ["PATH": "/usr/local/bin:/usr/bin:/bin"])
        configuration.restartBaseBackoff = .milliseconds(10)
        configuration.sleepAfter = sleepAfter
        configuration.portGracePeriod = portGracePeriod
        configuration.sleepCheckInterval = .seconds(3600)
        let router = Router(configuration: .init(host: "127.0.0.1", port: 0), logger: logger)
        orchestrator = Orchestrator(configuration: configuration, store: data.store, runtime: replicaRuntime, router: router, logger: logger)
        if let previous {
            (serviceID, environmentID) = (previous.serviceID, previous.environmentID)
        } else {
            let (project, environment) = try data.store.createProject(name: "test")
            let service = try data.store.createService(projectID: project.id, name: "web")
            (serviceID, environmentID) = (service.id, environment.id)
        }
        try await beforeRun?(orchestrator, serviceID, environmentID)
        group = ServiceGroup(services: [orchestrator], logger: logger)
        let group = self.group
        running = Task { try await group.run() }
        // recover() at the start fails what a previous run left in progress: a deployment
        // queued before it ran would be taken for one. It has run once the runtime is asked
        // to clean up leftovers, which comes right after it.
        try await waitUntil("the orchestrator has recovered", timeout: .seconds(30)) {
            await self.runtime.position(of: "cleanup") != nil
        }
    }

    /// Runs `body` on a fresh harness and removes it afterwards, also when `body` throws.
    static func with(
        sleepAfter: Duration = .seconds(600), portGracePeriod: Duration = .milliseconds(300),
        wrap: ((FakeRuntime) -> any ReplicaRuntime)? = nil,
        _ body: (OrchestratorHarness) async throws -> Void
    ) async throws {
        let harness = try await OrchestratorHarness(sleepAfter: sleepAfter, portGracePeriod: portGracePeriod, wrap: wrap)
        do {
            try await body(harness)
        } catch {
            await harness.finish()
            throw error
        }
        await harness.finish()
    }

    /// Stops the orchestrator as `yard serve` stops (graceful shutdown).
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await running.result
    }

    func finish() async {
        await stop()
        data.remove()
    }

    /// Queues a deployment of an app: a `start.sh` and the files given.
    func deploy(files: [String: String] = [:]) async throws -> String {
        try await deploy(archive: try pack(files: files))
    }

    func deploy(archive: URL) async throws -> String {
        try await orchestrator.deploy(serviceID: serviceID, environmentID: environmentID, archive: archive, trigger: "test").id
    }

    /// A source archive of an app: a `start.sh` and the files given.
    func pack(files: [String: String] = [:]) throws -> URL {
        let source = data.directory.appendingPathComponent("src-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: source, withIntermediateDirectories: true)
        var files = files
        if files["start.sh"] == nil { files["start.sh"] = "exec sleep 1000\n" }
        for (name, text) in files {
            try Data(text.utf8).write(to: source.appendingPathComponent(name))
        }
        let archive = data.directory.appendingPathComponent("src-\(UUID().uuidString).tar.gz")
        let tar = ChildProcess()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        tar.arguments = ["tar", "-czf", archive.path, "-C", source.path, "."]
        try tar.run()
        tar.waitUntilExit()
        try #require(tar.terminationStatus == 0, "tar could not pack the test app")
        try FileManager.default.removeItem(at: source)
        return archive
    }

    func status(_ id: String) throws -> DeploymentStatus {
        try data.store.deployment(id: id).status
    }

    /// Waits (up to `timeout`) until the deployment has `status`; fails the test naming the
    /// status it has instead.
    @discardableResult
    func waitFor(_ id: String, _ status: DeploymentStatus, timeout: Duration = .seconds(5)) async throws -> DeploymentRecord {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let record = try data.store.deployment(id: id)
            if record.status == status { return record }
            try await Task.sleep(for: .milliseconds(10))
        }
        let record = try data.store.deployment(id: id)
        Issue.record("deployment \(id) is \(record.status.rawValue) (\(record.reason ?? "")), not \(status.rawValue)")
        return record
    }

    /// Waits until `condition` holds, up to `timeout`.
    func waitUntil(_ what: String, timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("timed out waiting until \(what)")
    }

    func replicaIDs(of deploymentID: String) throws -> [String] {
        try data.store.replicas(deploymentID: deploymentID).map(\.id)
    }

    var hostname: String {
        get throws {
            try #require(try data.store.domains(serviceID: serviceID, environmentID: environmentID).first).hostname
        }
    }
}
