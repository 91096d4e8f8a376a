import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import YardAPI
import YardControl
import YardCore
import YardDashboard
import YardDashboardTestSupport
import YardRouter
import YardStore
import YardTestSupport

/// The dashboard without a browser: a real orchestrator on a temporary store (no replica
/// runs), its pages rendered and its routes asked through Hummingbird's test client.
@Suite("dashboard pages and sessions")
struct DashboardRenderTests {
    typealias Harness = DashboardHarness

    /// Its time is measured by `bench/dashboard.sh`, not here: a timed test on a shared
    /// machine either flakes or asserts nothing.
    @Test("the canvas of a project with 50 services: a card each, under 200 KB with its assets, with no other host")
    func canvasIsSmall() async throws {
        let harness = try Harness(services: 50)
        let dashboard = Dashboard(backend: harness.backend, logger: Logger(label: "test"))
        let html = dashboard.render("canvas", try await dashboard.canvasValues(project: "shop", environment: "production"), csrf: "x")
        #expect(html.components(separatedBy: "class=\"card\"").count - 1 == 50)
        let assets = DashboardSizes.assetBytes
        #expect(html.utf8.count + assets < 200 * 1024, "page \(html.utf8.count) B + assets \(assets) B")
        // No request to another host: every src, href and action is a path of ours.
        for attribute in ["src=\"", "href=\"", "action=\""] {
            for part in html.components(separatedBy: attribute).dropFirst() {
                #expect(part.hasPrefix("/"), "\(attribute)\(part.prefix(60))")
            }
        }
        #expect(!html.contains("<script>") && !html.contains("style=\""), "no inline script or style")
        // web → Postgres
        #expect(html.contains("data-from=\"web\" data-to=\"Postgres\""), "\(html.prefix(3000))")
    }

    @Test("no session → 303 to /login; a wrong token → 401; the right one → HttpOnly SameSite=Strict cookie")
    func signIn() async throws {
        let harness = try Harness(services: 2)
        try await harness.application.test(.router) { client in
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.status == .seeOther)
            #expect(page.headers[.location] == "/login")
            let bad = try await client.execute(
                uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "token=yard_wrong"))
            #expect(bad.status == .unauthorized)
            #expect(bad.headers[.setCookie] == nil)
            let good = try await client.execute(
                uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "token=\(harness.token)"))
            #expect(good.status == .seeOther)
            let cookie = try #require(good.headers[.setCookie])
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"))
            #expect(!cookie.contains(harness.token))
            let session = String(cookie.split(separator: ";")[0])
            let home = try await client.execute(uri: "/", method: .get, headers: [.cookie: session])
            #expect(home.status == .ok)
            let html = String(buffer: home.body)
            #expect(html.contains("shop"))
            #expect(!html.contains(harness.token))
            #expect(home.headers[HTTPField.Name("Content-Security-Policy")!]?.contains("script-src 'self'") == true)
            #expect(home.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
            // The API still wants its bearer token.
            #expect(try await client.execute(uri: "/v1/projects", method: .get, headers: [.cookie: session]).status == .unauthorized)
        }
    }

    @Test("a POST without the CSRF token, or from another site, is refused and changes nothing; sealed values never render")
    func csrfAndSealed() async throws {
        let harness = try Harness(services: 2)
        try await harness.application.test(.router) { client in
            let (session, page) = try await Self.signIn(client, harness, opening: "/p/shop/production/s/web")
            #expect(page.contains("GREETING") && page.contains("hello") && page.contains("API_KEY"))
            #expect(!page.contains("sealed-secret-value-123"))
            let csrf = try #require(page.components(separatedBy: "name=\"csrf-token\" content=\"").dropFirst().first?.prefix(64))
            let form: HTTPFields = [.cookie: session, .contentType: "application/x-www-form-urlencoded"]

            let missing = try await client.execute(uri: "/projects", method: .post, headers: form, body: ByteBuffer(string: "name=evil1"))
            #expect(missing.status == .forbidden)
            var crossSite = form
            crossSite[HTTPField.Name("Sec-Fetch-Site")!] = "cross-site"
            let attack = try await client.execute(
                uri: "/projects", method: .post, headers: crossSite, body: ByteBuffer(string: "name=evil2&csrf=\(csrf)"))
            #expect(attack.status == .forbidden)
            var foreign = form
            foreign[.origin] = "http://evil.example"
            let other = try await client.execute(
                uri: "/projects", method: .post, headers: foreign, body: ByteBuffer(string: "name=evil3&csrf=\(csrf)"))
            #expect(other.status == .forbidden)
            #expect(try harness.data.store.projects().map(\.name) == ["shop"])

            var header = form
            header[HTTPField.Name(Dashboard.csrfHeader)!] = String(csrf)
            let made = try await client.execute(uri: "/projects", method: .post, headers: header, body: ByteBuffer(string: "name=shop2"))
            #expect(made.status == .seeOther)
            #expect(try harness.data.store.projects().map(\.name).sorted() == ["shop", "shop2"])

            let out = try await client.execute(uri: "/logout", method: .post, headers: form, body: ByteBuffer(string: "csrf=\(csrf)"))
            #expect(out.status == .seeOther)
            #expect(try await client.execute(uri: "/", method: .get, headers: [.cookie: session]).status == .seeOther)
        }
    }

    @Test("a dragged card's place is saved in the data directory (0600) and drawn from there, lines too")
    func layoutIsSaved() async throws {
        let harness = try Harness(services: 2)
        try await harness.application.test(.router) { client in
            let (session, page) = try await Self.signIn(client, harness, opening: "/p/shop/production")
            let csrf = String(try #require(page.components(separatedBy: "name=\"csrf-token\" content=\"").dropFirst().first?.prefix(64)))
            var headers: HTTPFields = [.cookie: session, .contentType: "application/x-www-form-urlencoded"]
            #expect(
                try await client.execute(
                    uri: "/p/shop/production/layout", method: .post, headers: headers,
                    body: ByteBuffer(string: "service=Postgres&x=600&y=400")
                ).status == .forbidden)
            headers[HTTPField.Name(Dashboard.csrfHeader)!] = csrf
            for (body, status) in [
                ("service=Postgres&x=600&y=400", HTTPResponse.Status.noContent), ("service=nope&x=1&y=1", .notFound),
                ("service=web&x=-5&y=1", .badRequest),
            ] {
                let answer = try await client.execute(
                    uri: "/p/shop/production/layout", method: .post, headers: headers, body: ByteBuffer(string: body))
                #expect(answer.status == status, "\(body)")
            }
        }
        let file = harness.data.directory.appendingPathComponent("dashboard-layout.json")
        let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        // A new dashboard (a restarted server) reads it back.
        let dashboard = Dashboard(backend: harness.backend, logger: Logger(label: "test"))
        let html = dashboard.render("canvas", try await dashboard.canvasValues(project: "shop", environment: "production"), csrf: "x")
        #expect(html.contains("data-service=\"Postgres\" data-x=\"600\" data-y=\"400\""))
        #expect(html.contains("x2=\"720\" y2=\"465\""), "the web → Postgres line ends at Postgres's centre")
    }

    /// Signs in with the harness's token; the session cookie and the page at `path`.
    static func signIn(_ client: some TestClientProtocol, _ harness: Harness, opening path: String) async throws -> (String, String) {
        let login = try await client.execute(
            uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
            body: ByteBuffer(string: "token=\(harness.token)"))
        let session = String(try #require(login.headers[.setCookie]).split(separator: ";")[0])
        return (session, String(buffer: try await client.execute(uri: path, method: .get, headers: [.cookie: session]).body))
    }

    @Test("sessions expire")
    func expiry() {
        let clock = Clock()
        let sessions = DashboardSessions(lifetime: .seconds(60), now: { clock.now })
        let session = sessions.create()
        #expect(sessions.find(session.id) == session)
        clock.now = clock.now.addingTimeInterval(61)
        #expect(sessions.find(session.id) == nil)
        #expect(sessions.count == 0)
    }

    final class Clock: @unchecked Sendable {
        var now = Date(timeIntervalSince1970: 1_000_000)
    }

    @Test("reference lines: each pair once, none to itself or shared")
    func lines() {
        let canvas = DashboardCanvas(
            services: ["web", "Postgres", "worker"],
            variables: [
                "web": [
                    VariableView(key: "A", value: "${{Postgres.DATABASE_URL}} ${{postgres.PGHOST}}", sealed: false),
                    VariableView(key: "B", value: "${{shared.X}} ${{web.A}}", sealed: false),
                ],
                "worker": [VariableView(key: "C", value: "${{web.PORT}}", sealed: false)],
            ])
        #expect(canvas.lines == [.init(from: "web", to: "Postgres"), .init(from: "worker", to: "web")])
    }
}
