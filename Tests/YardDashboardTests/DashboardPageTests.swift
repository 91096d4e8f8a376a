import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import YardAPI
import YardCore
@testable import YardDashboard
import YardDashboardTestSupport
import YardStore

/// The service page and the canvas's data: the pages of 50 services, the cron badge,
/// phase durations, metrics sparklines and the backups section (plain HTTP through the router).
@Suite("dashboard service page, metrics and backups")
struct DashboardPageTests {
    typealias Harness = DashboardHarness

    static func csrf(_ page: String) throws -> String {
        String(try #require(page.components(separatedBy: "name=\"csrf-token\" content=\"").dropFirst().first?.prefix(64)))
    }

    @Test("the canvas's whole-environment read answers what environmentStatus does; a cron service shows as CRON")
    func canvasDataMatchesTheAPI() async throws {
        let harness = try Harness(services: 5)
        let past = Date().addingTimeInterval(-60)
        try harness.deploy("web", id: "dep_web", through: [.initializing, .building, .deploying, .success], running: 2)
        try harness.deploy("svc2", id: "dep_cron", through: [.initializing, .building, .deploying, .success], cron: "*/5 * * * *")
        try harness.deploy("svc3", id: "dep_old", through: [.initializing, .building, .deploying, .success], running: 1, at: past)
        try harness.deploy("svc3", id: "dep_new", through: [.initializing, .building, .failed])
        let data = try await harness.backend.canvas(project: "shop", environment: "production")
        let status = try await harness.backend.status(project: "shop", environment: "production")
        #expect(data.services.map(\.service.name) == status.services.map(\.service.name))
        for (card, expected) in zip(data.services, status.services) {
            #expect(card.status == ((expected.latest ?? expected.live)?.status.rawValue ?? "NONE"), "\(card.service.name)")
            let replicas = (expected.live ?? expected.latest)?.replicas.filter { $0.status == .running }.count ?? 0
            #expect(card.replicas == replicas, "\(card.service.name)")
            #expect(card.domainURL == expected.domains.first?.url, "\(card.service.name)")
            let variables = try await harness.backend.variables(project: "shop", environment: "production", service: card.service.name)
            #expect(card.variables == variables, "\(card.service.name)")
        }
        let byName = Dictionary(uniqueKeysWithValues: data.services.map { ($0.service.name, $0) })
        #expect(byName["web"]?.status == "SUCCESS" && byName["web"]?.replicas == 2)
        #expect(byName["svc3"]?.status == "FAILED")
        #expect(byName["svc2"]?.cron == true && byName["web"]?.cron == false)
        // The sealed value stays out: the API's view has no value for it.
        #expect(byName["web"]?.variables.first { $0.key == "API_KEY" }?.value == nil)

        let dashboard = Dashboard(backend: harness.backend, logger: Logger(label: "test"))
        let html = dashboard.render("canvas", try await dashboard.canvasValues(project: "shop", environment: "production"), csrf: "x")
        #expect(html.contains("title=\"cron\">CRON</span>"), "\(html.prefix(2000))")
    }

    /// Their time is measured by `bench/dashboard.sh`, not here: a timed test on a shared
    /// machine either flakes or asserts nothing.
    @Test("the service page and the canvas of a project with 50 services are served, the service page with its 20 deployments and their phases")
    func pagesOfFiftyServices() async throws {
        let harness = try DashboardHarness.fiftyServices()
        try await harness.application.test(.router) { client in
            let (session, _) = try await DashboardRenderTests.signIn(client, harness, opening: "/")
            let page = try await client.execute(uri: "/p/shop/production/s/web", method: .get, headers: [.cookie: session])
            #expect(page.status == .ok)
            let html = String(buffer: page.body)
            #expect(html.components(separatedBy: "data-deployment=").count - 1 == 20)
            // Per-phase durations from the status history.
            let phases = try #require(html.components(separatedBy: "class=\"muted phases\">").dropFirst().first?.split(separator: "<").first)
            #expect(
                phases.hasPrefix("QUEUED ") && phases.contains(" · INITIALIZING ") && phases.contains(" · BUILDING ")
                    && phases.contains(" · DEPLOYING ") && phases.hasSuffix(" s"), "\(phases)")
            let canvas = try await client.execute(uri: "/p/shop/production", method: .get, headers: [.cookie: session])
            #expect(canvas.status == .ok)
            #expect(String(buffer: canvas.body).components(separatedBy: "class=\"card\"").count - 1 == 50)
        }
    }

    @Test("phase durations: each in-progress phase until the next event, the last until the deployment ended")
    func phases() {
        let start = Date(timeIntervalSince1970: 1_000_000)
        let history = [
            DeploymentEventView(status: .queued, reason: nil, at: start),
            DeploymentEventView(status: .building, reason: nil, at: start.addingTimeInterval(2)),
            DeploymentEventView(status: .deploying, reason: nil, at: start.addingTimeInterval(44)),
            DeploymentEventView(status: .success, reason: nil, at: start.addingTimeInterval(47)),
        ]
        #expect(DashboardPhases(history, ended: start.addingTimeInterval(47)).text == "QUEUED 2 s · BUILDING 42 s · DEPLOYING 3 s")
        // Still deploying: the running phase has no duration yet.
        #expect(DashboardPhases(Array(history.prefix(3)), ended: nil).text == "QUEUED 2 s · BUILDING 42 s")
        #expect(DashboardPhases([], ended: start).text == "")
    }

    @Test("metrics: an inline SVG sparkline per series, one point per stored point (latency only where there were requests)")
    func metricsCharts() async throws {
        let harness = try Harness(services: 2)
        let store = harness.data.store
        let (project, environment) = try harness.shop()
        let web = try #require(try store.findService(projectID: project.id, "web"))
        let now = Date()
        var points: [(serviceID: String, environmentID: String, point: MetricsPoint)] = []
        for index in 0..<6 {
            var requests = RequestTally()
            if index % 2 == 0 {
                for request in 0..<10 {
                    requests.add(status: request == 0 ? 503 : 200, durationMs: Double(20 * (index + 1)), bytesIn: 100, bytesOut: 1000)
                }
            }
            let at = Date(timeIntervalSince1970: (now.timeIntervalSince1970 / 10).rounded(.down) * 10 - Double(60 - index * 10))
            points.append(
                (web.id, environment.id,
                 MetricsPoint(at: at, step: 10, replicas: 1, cpuSeconds: Double(index), memoryBytes: Int64(index + 1) << 20, requests: requests)))
        }
        try store.appendMetricsPoints(points)
        try await harness.application.test(.router) { client in
            let (_, html) = try await DashboardRenderTests.signIn(client, harness, opening: "/p/shop/production/s/web")
            for (metric, count) in [("cpu", 6), ("memory", 6), ("requests", 6), ("errors", 6), ("latency", 3)] {
                let figure = try #require(
                    html.components(separatedBy: "data-metric=\"\(metric)\"").dropFirst().first, "no \(metric) chart in the page")
                #expect(figure.hasPrefix(" data-points=\"\(count)\""), "\(metric): \(figure.prefix(200))")
                let polyline = try #require(figure.components(separatedBy: "<polyline").dropFirst().first)
                let attribute = try #require(polyline.components(separatedBy: "points=\"").dropFirst().first?.split(separator: "\"").first)
                #expect(attribute.split(separator: " ").count == count, "\(metric): \(attribute)")
            }
            #expect(html.contains("<svg viewBox=\"0 0 240 48\""))
            #expect(html.contains("Memory: 6.0 MiB"), "the newest memory value is written beside its chart")
            #expect(!html.contains("style=\""), "no inline style")
            // Postgres (a plain service in this harness) has no metrics: it says so.
            let (_, other) = try await DashboardRenderTests.signIn(client, harness, opening: "/p/shop/production/s/Postgres")
            #expect(other.contains("No metrics yet"))
        }
    }

    @Test("backups: listed for databases only; a restore without the typed service name is refused and changes nothing")
    func backups() async throws {
        let harness = try Harness(services: 2)
        let store = harness.data.store
        let (project, environment) = try harness.shop()
        _ = try store.createDatabaseService(projectID: project.id, environmentID: environment.id, name: "db", kind: .postgres, variables: [])
        try await harness.application.test(.router) { client in
            let (session, web) = try await DashboardRenderTests.signIn(client, harness, opening: "/p/shop/production/s/web")
            #expect(!web.contains("id=\"backups\""))
            let page = String(
                buffer: try await client.execute(uri: "/p/shop/production/s/db", method: .get, headers: [.cookie: session]).body)
            #expect(page.contains("id=\"backups\"") && page.contains("No backups yet.") && page.contains("id=\"create-backup\""))
            let csrf = try Self.csrf(page)
            let form: HTTPFields = [.cookie: session, .contentType: "application/x-www-form-urlencoded"]
            // No CSRF token: refused as every action is.
            let forged = try await client.execute(
                uri: "/p/shop/production/s/db/backups/restore", method: .post, headers: form, body: ByteBuffer(string: "backup=b1&confirm=db"))
            #expect(forged.status == .forbidden)
            for confirm in ["", "DB", "web"] {
                let refused = try await client.execute(
                    uri: "/p/shop/production/s/db/backups/restore", method: .post, headers: form,
                    body: ByteBuffer(string: "csrf=\(csrf)&backup=b1&confirm=\(confirm)"))
                #expect(refused.status == .seeOther)
                #expect(refused.headers[.location]?.contains("error=the%20restore%20was%20not%20confirmed") == true, "\(confirm)")
            }
            // Confirmed: the API's own answer (no such backup) comes back, in place.
            let confirmed = try await client.execute(
                uri: "/p/shop/production/s/db/backups/restore", method: .post, headers: form,
                body: ByteBuffer(string: "csrf=\(csrf)&backup=b1&confirm=db"))
            let location = try #require(confirmed.headers[.location])
            #expect(location.contains("error=") && !location.contains("not%20confirmed"), "\(location)")
            #expect(try store.backups(serviceID: try #require(try store.findService(projectID: project.id, "db")).id, environmentID: environment.id).isEmpty)
        }
    }
}
