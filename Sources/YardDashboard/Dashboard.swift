import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Mustache
import NIOCore
import YardAPI
import YardCore

/// The web dashboard under `/` of the API's port: sign-in with an API token turned into a
/// session cookie, Railway's pages (Projects, the project canvas, Service), its own CSS and
/// JS. Every read and action goes through `DashboardBackend`, the `/v1` operations.
public struct Dashboard: Sendable {
    public static let cookieName = "yard_session"
    public static let csrfHeader = "X-CSRF-Token"

    let backend: DashboardBackend
    public let sessions: DashboardSessions
    /// Mark the cookie `Secure` (the dashboard is served over HTTPS).
    let secureCookies: Bool
    let logger: Logger
    /// Where cards were dragged to: `dashboard-layout.json` in the data directory.
    let layout: DashboardLayout

    public init(backend: DashboardBackend, sessions: DashboardSessions = DashboardSessions(), secureCookies: Bool = false, logger: Logger) {
        self.backend = backend
        self.sessions = sessions
        layout = DashboardLayout(file: backend.orchestrator.configuration.dataDirectory.appendingPathComponent("dashboard-layout.json"))
        self.secureCookies = secureCookies
        self.logger = logger
    }

    /// Adds the dashboard's routes; the API keeps `/v1` and `/git`.
    public func register(on router: Router<BasicRequestContext>) {
        router.get("/assets/dashboard.css") { _, _ in Self.asset(DashboardAssets.css, type: "text/css; charset=utf-8") }
        router.get("/assets/dashboard.js") { _, _ in Self.asset(DashboardAssets.js, type: "text/javascript; charset=utf-8") }
        router.get("/login") { request, _ -> Response in
            if sessionOf(request) != nil { return Self.redirect("/") }
            return page("Sign in", "login", [:], session: nil, request: request)
        }
        router.post("/login") { request, _ -> Response in try await login(request) }
        router.post("/logout") { request, _ -> Response in
            try await action(request) { session, _ in
                sessions.end(session.id)
                var response = Self.redirect("/login")
                response.headers[.setCookie] = cookie(value: "", maxAge: 0)
                return response
            }
        }
        router.get("/") { request, _ -> Response in try await view(request) { session in try await projectsPage(session, request) } }
        router.post("/projects") { request, _ -> Response in
            try await action(request) { _, form in
                let project = try await backend.createProject(name: form["name"] ?? "")
                return Self.redirect(Self.canvasPath(project.name, "production"))
            }
        }
        router.get("/p/:project/:environment") { request, context -> Response in
            try await view(request) { session in try await canvasPage(session, request, context) }
        }
        router.get("/p/:project/:environment/status.json") { request, context -> Response in
            try await view(request) { _ in try await statusJSON(context) }
        }
        router.post("/p/:project/:environment/services") { request, context -> Response in
            try await canvasAction(request, context) { project, _, form in
                _ = try await backend.createService(project: project, name: form["name"] ?? "")
            }
        }
        router.post("/p/:project/:environment/databases") { request, context -> Response in
            try await canvasAction(request, context) { project, environment, form in
                _ = try await backend.addDatabase(project: project, environment: environment, kind: form["database"] ?? "postgres")
            }
        }
        router.post("/p/:project/:environment/layout") { request, context -> Response in
            try await action(request) { _, form in try await moveCard(context, form) }
        }
        router.get("/p/:project/:environment/s/:service") { request, context -> Response in
            try await view(request) { session in try await servicePage(session, request, context) }
        }
        registerServiceActions(on: router)
        router.get("/deployments/:deployment/logs") { request, context -> Response in
            try await view(request) { _ in
                let kind = LogKind(rawValue: request.uri.queryParameters.get("kind") ?? "build") ?? .build
                let filter = request.uri.queryParameters.get("q").flatMap { $0.isEmpty ? nil : $0 }
                let body: ResponseBody
                do {
                    body = try await backend.logs(
                        deployment: try context.parameters.require("deployment"), kind: kind, follow: true, filter: filter)
                } catch let error as YardError {
                    // The log view shows it in place of lines.
                    return Self.forbidden(error.message, status: .badRequest)
                }
                var response = Response(
                    status: .ok, headers: [.contentType: "application/x-ndjson", .cacheControl: "no-cache"], body: body)
                Self.secure(&response)
                return response
            }
        }
    }

    func registerServiceActions(on router: Router<BasicRequestContext>) {
        let base = "/p/:project/:environment/s/:service"
        let actions: [(String, @Sendable (Dashboard, Scope, [String: String]) async throws -> String)] = [
            (
                "redeploy",
                { dashboard, scope, form in
                    let noCache = form["noCache"] == "on"
                    _ = try await dashboard.backend.redeploy(
                        project: scope.project, environment: scope.environment, service: scope.service, noCache: noCache)
                    return noCache ? "Redeploy started, building without the cache." : "Redeploy started."
                }
            ),
            (
                "restart",
                { dashboard, scope, _ in
                    _ = try await dashboard.backend.restart(project: scope.project, environment: scope.environment, service: scope.service)
                    return "Restarted."
                }
            ),
            (
                "variables",
                { dashboard, scope, form in
                    let key = form["key"] ?? ""
                    let sealed = form["sealed"] == "on"
                    try await dashboard.backend.changeVariables(
                        project: scope.project, environment: scope.environment, service: scope.service,
                        change: VariableChange(set: [key: form["value"] ?? ""], delete: [], sealed: sealed ? [key] : nil))
                    return sealed ? "Sealed variable \(key) set." : "Variable \(key) set."
                }
            ),
            (
                "variables/delete",
                { dashboard, scope, form in
                    let key = form["key"] ?? ""
                    try await dashboard.backend.changeVariables(
                        project: scope.project, environment: scope.environment, service: scope.service,
                        change: VariableChange(set: [:], delete: [key]))
                    return "Variable \(key) deleted."
                }
            ),
            (
                "backups",
                { dashboard, scope, _ in
                    let backup = try await dashboard.backend.createBackup(
                        project: scope.project, environment: scope.environment, service: scope.service)
                    return "Backup \(backup.id.prefix(12)) started."
                }
            ),
            (
                "backups/restore",
                { dashboard, scope, form in
                    // The typed confirmation: the service's name, as Railway asks before a restore.
                    guard form["confirm"] == scope.service else {
                        throw YardError(
                            .invalidInput, "the restore was not confirmed: type the service name \(scope.service) to restore a backup over its data")
                    }
                    let restored = try await dashboard.backend.restoreBackup(
                        project: scope.project, environment: scope.environment, service: scope.service, backup: form["backup"] ?? "")
                    return restored.message
                }
            ),
            (
                "domains",
                { dashboard, scope, form in
                    let hostname = form["hostname"] ?? ""
                    try await dashboard.backend.addDomain(
                        project: scope.project, environment: scope.environment, service: scope.service, hostname: hostname)
                    return "Domain \(hostname) added."
                }
            ),
        ]
        for (path, run) in actions {
            router.post(RouterPath("\(base)/\(path)")) { request, context -> Response in
                try await serviceAction(request, context) { scope, form in try await run(self, scope, form) }
            }
        }
        router.post(RouterPath("\(base)/deployments/:deployment/rollback")) { request, context -> Response in
            try await serviceAction(request, context) { _, _ in
                let deployment = try await backend.rollback(deployment: try context.parameters.require("deployment"))
                return "Rolling back: deployment \(deployment.id.prefix(12)) started."
            }
        }
        router.post(RouterPath("\(base)/deployments/:deployment/cancel")) { request, context -> Response in
            try await serviceAction(request, context) { _, _ in
                _ = try await backend.cancel(deployment: try context.parameters.require("deployment"))
                return "Deployment cancelled."
            }
        }
        router.post(RouterPath("\(base)/deployments/:deployment/remove")) { request, context -> Response in
            try await serviceAction(request, context) { _, _ in
                _ = try await backend.remove(deployment: try context.parameters.require("deployment"))
                return "Deployment removed."
            }
        }
    }

    struct Scope: Sendable {
        var project: String
        var environment: String
        var service: String
    }

    // MARK: Sessions and CSRF

    func sessionOf(_ request: Request) -> DashboardSession? {
        guard let id = request.cookies[Self.cookieName]?.value, !id.isEmpty else { return nil }
        return sessions.find(id)
    }

    func cookie(value: String, maxAge: Int) -> String {
        "\(Self.cookieName)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (secureCookies ? "; Secure" : "")
    }

    /// A page for a signed-in browser; others are sent to sign in (303).
    func view(_ request: Request, _ render: (DashboardSession) async throws -> Response) async throws -> Response {
        guard let session = sessionOf(request) else { return Self.redirect("/login") }
        return try await render(session)
    }

    /// A POST from a page of ours: same origin, the session's CSRF token in the form's
    /// `csrf` field or the `X-CSRF-Token` header; anything else is refused with 403 and
    /// changes nothing.
    func action(_ request: Request, _ run: (DashboardSession, [String: String]) async throws -> Response) async throws -> Response {
        if let refusal = Self.crossSiteRefusal(request) { return refusal }
        guard let session = sessionOf(request) else { return Self.redirect("/login") }
        var request = request
        let form = try await Self.form(&request)
        let presented = form["csrf"] ?? request.headers[HTTPField.Name(Self.csrfHeader)!] ?? ""
        guard ConstantTime.equal(presented, session.csrfToken) else {
            return Self.forbidden("the form's security token is missing or stale: reload the page and try again")
        }
        return try await run(session, form)
    }

    /// 403 for a POST a browser says comes from another site, or whose Origin is not this host.
    static func crossSiteRefusal(_ request: Request) -> Response? {
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!], site != "same-origin", site != "none" {
            return forbidden("cross-site requests are refused")
        }
        if let origin = request.headers[.origin] {
            let host = request.head.authority ?? request.headers[HTTPField.Name("Host")!] ?? ""
            guard let url = URL(string: origin), let originHost = url.host else { return forbidden("cross-site requests are refused") }
            let originAuthority = url.port.map { "\(originHost):\($0)" } ?? originHost
            guard originAuthority == host else { return forbidden("cross-site requests are refused") }
        }
        return nil
    }

    func login(_ request: Request) async throws -> Response {
        if let refusal = Self.crossSiteRefusal(request) { return refusal }
        var request = request
        let form = try await Self.form(&request)
        guard let token = form["token"]?.trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty,
            try backend.acceptsToken(token)
        else {
            logger.notice("dashboard sign-in refused")
            var response = page(
                "Sign in", "login", [:], session: nil, request: request,
                error: "That token is not valid: use a token the API accepts, such as the one in admin.token.")
            response.status = .unauthorized
            return response
        }
        let session = sessions.create()
        logger.info("dashboard sign-in")
        var response = Self.redirect("/")
        response.headers[.setCookie] = cookie(value: session.id, maxAge: Int(sessions.lifetime.components.seconds))
        return response
    }

    // MARK: Pages

    func projectsPage(_ session: DashboardSession, _ request: Request) async throws -> Response {
        let projects = try await backend.projects().map { project -> [String: Any] in
            [
                "name": project.name, "href": Self.canvasPath(project.name, "production"),
                "serviceCount": project.services.count,
                "environments": project.environments.map { ["name": $0.name, "href": Self.canvasPath(project.name, $0.name)] },
            ]
        }
        return page("Projects", "projects", ["projects": projects], session: session, request: request)
    }

    func canvasPage(_ session: DashboardSession, _ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let projectName = try context.parameters.require("project")
        let environmentName = try context.parameters.require("environment")
        do {
            let values = try await canvasValues(project: projectName, environment: environmentName)
            return page("\(projectName) · \(environmentName)", "canvas", values, session: session, request: request)
        } catch let error as YardError {
            return page("Projects", "projects", ["projects": [Any]()], session: session, request: request, error: error.message)
        }
    }

    /// The canvas page's values: the cards, their lines, the environment switcher.
    public func canvasValues(project projectName: String, environment environmentName: String) async throws -> [String: Any] {
        // One whole-environment read (a few store queries), not one per service.
        let data = try await backend.canvas(project: projectName, environment: environmentName)
        var variables: [String: [VariableView]] = [:]
        for service in data.services { variables[service.service.name] = service.variables }
        let names = data.services.map(\.service.name)
        let canvas = DashboardCanvas(services: names, variables: variables, positions: layout.positions(project: projectName))
        let cards = data.services.map { service -> [String: Any] in
            let (kind, icon) = Self.kind(service.service, cron: service.cron)
            let card = canvas.card(service.service.name)
            return [
                "name": service.service.name, "kind": kind, "icon": icon, "x": card?.x ?? 0, "y": card?.y ?? 0,
                "href": Self.servicePath(projectName, environmentName, service.service.name),
                "status": service.status, "replicas": service.replicas,
                "domainURL": service.domainURL ?? "", "domainName": service.domainName ?? "",
            ]
        }
        let lines = canvas.lines.compactMap { line -> [String: Any]? in
            guard let from = canvas.card(line.from), let to = canvas.card(line.to) else { return nil }
            return ["from": line.from, "to": line.to, "x1": from.centerX, "y1": from.centerY, "x2": to.centerX, "y2": to.centerY]
        }
        return [
            "project": projectName, "environment": environmentName,
            "base": Self.canvasPath(projectName, environmentName),
            "statusURL": Self.canvasPath(projectName, environmentName) + "/status.json",
            "layoutURL": Self.canvasPath(projectName, environmentName) + "/layout",
            "environments": data.environments.map {
                ["name": $0, "href": Self.canvasPath(projectName, $0), "current": $0 == environmentName] as [String: Any]
            },
            "cards": cards, "hasCards": !cards.isEmpty, "lines": lines, "width": canvas.width, "height": canvas.height,
        ]
    }

    /// A card dragged on the canvas (the JS posts its new corner): 204, or 400/404 saying why.
    func moveCard(_ context: BasicRequestContext, _ form: [String: String]) async throws -> Response {
        let project = try await backend.project(try context.parameters.require("project"))
        let service = form["service"] ?? ""
        guard project.services.contains(where: { $0.name == service }) else {
            return Self.forbidden("no service '\(service)' in project \(project.name)", status: .notFound)
        }
        guard let x = form["x"].flatMap(Int.init), let y = form["y"].flatMap(Int.init),
            (0...DashboardLayout.limit).contains(x), (0...DashboardLayout.limit).contains(y)
        else {
            return Self.forbidden("x and y must be whole numbers of pixels from 0 to \(DashboardLayout.limit)", status: .badRequest)
        }
        try layout.move(project: project.name, service: service, to: .init(x: x, y: y))
        var response = Response(status: .noContent)
        Self.secure(&response)
        return response
    }

    /// What the canvas polls: each service's status and replicas.
    func statusJSON(_ context: BasicRequestContext) async throws -> Response {
        let canvas = try await backend.canvas(
            project: try context.parameters.require("project"), environment: try context.parameters.require("environment"))
        struct Card: Encodable {
            var name: String
            var status: String
            var replicas: Int
        }
        let cards = canvas.services.map { Card(name: $0.service.name, status: $0.status, replicas: $0.replicas) }
        let data = try JSONEncoder().encode(["services": cards])
        var response = Response(
            status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
        Self.secure(&response)
        return response
    }

    func servicePage(_ session: DashboardSession, _ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let scope = try Self.scope(context)
        let deployments: [DeploymentView]
        do {
            deployments = try await backend.deployments(project: scope.project, environment: scope.environment, service: scope.service)
        } catch let error as YardError {
            return page("Projects", "projects", ["projects": [Any]()], session: session, request: request, error: error.message)
        }
        let (service, cron) = try await backend.serviceStatus(project: scope.project, environment: scope.environment, service: scope.service)
        let base = Self.servicePath(scope.project, scope.environment, scope.service)
        let liveID = service.live?.id
        let rows = deployments.map { deployment -> [String: Any] in
            let settled = !deployment.status.isInProgress
            let phases = DashboardPhases(deployment.history, ended: settled ? deployment.updatedAt : nil)
            return [
                "id": deployment.id, "shortID": String(deployment.id.prefix(12)), "status": deployment.status.rawValue,
                "trigger": deployment.trigger, "rollbackOf": deployment.rollbackOf ?? "",
                "commit": deployment.commit.map { String($0.sha.prefix(7)) + " " + $0.message } ?? "",
                "created": Self.timeText(deployment.createdAt),
                "duration": settled ? Self.durationText(deployment.updatedAt.timeIntervalSince(deployment.createdAt)) : "running",
                "reason": deployment.reason ?? "", "base": base, "phases": phases.text,
                "canRollback": deployment.artifactKey != nil && deployment.id != liveID && deployment.id != deployments.first?.id,
                "canRemove": [.success, .crashed, .sleeping, .completed].contains(deployment.status),
                "canCancel": deployment.status.isInProgress,
            ]
        }
        let kindText = request.uri.queryParameters.get("logs") ?? "build"
        let logKind = LogKind(rawValue: kindText) ?? .build
        let variables = try await backend.variables(project: scope.project, environment: scope.environment, service: scope.service)
            .map { variable -> [String: Any] in
                // A sealed value or build secret never reaches the page: the API does not even return it.
                let hidden = variable.sealed ? "sealed" : variable.buildSecret == true ? "build secret" : ""
                return ["key": variable.key, "value": hidden.isEmpty ? (variable.value ?? "") : "", "hidden": hidden, "base": base]
            }
        let settings = try await backend.settings(project: scope.project, environment: scope.environment, service: scope.service)
        let (kind, icon) = Self.kind(service.service, cron: cron)
        var charts: [[String: Any]] = []
        if let metrics = try? await backend.metrics(project: scope.project, environment: scope.environment, service: scope.service) {
            charts = DashboardCharts.values(metrics)
        }
        var backups: [[String: Any]] = []
        if service.service.database != nil {
            let list = try await backend.backups(project: scope.project, environment: scope.environment, service: scope.service)
            backups = list.backups.map { Self.backupRow($0, base: base) }
        }
        var values: [String: Any] = [
            "charts": charts, "isDatabase": service.service.database != nil, "backups": backups,
            "project": scope.project, "environment": scope.environment, "service": scope.service, "kind": kind, "icon": icon,
            "canvasHref": Self.canvasPath(scope.project, scope.environment), "base": base,
            "deployments": rows, "variables": variables, "settings": Self.settingsRows(settings),
            "domains": service.domains.map {
                ["hostname": $0.hostname, "path": $0.path ?? "", "url": $0.url, "generated": $0.generated] as [String: Any]
            },
        ]
        let search = request.uri.queryParameters.get("q") ?? ""
        values["logSearch"] = search
        values["logKindValue"] = logKind.rawValue
        if let latest = deployments.first {
            values["logURL"] =
                "/deployments/\(Self.pathSegment(latest.id))/logs?kind=\(logKind.rawValue)"
                + (search.isEmpty ? "" : "&q=" + Self.queryValue(search))
            values["logKind"] = logKind.rawValue
            values["logDeployment"] = String(latest.id.prefix(12))
        }
        return page(scope.service, "service", values, session: session, request: request)
    }

    static func backupRow(_ backup: BackupView, base: String) -> [String: Any] {
        let size: String = backup.sizeBytes.map { String(format: "%.1f MiB", Double($0) / 1_048_576) } ?? ""
        return [
            "id": backup.id, "shortID": String(backup.id.prefix(12)), "status": backup.status.rawValue,
            "trigger": backup.trigger, "started": Self.timeText(backup.startedAt), "size": size,
            "reason": backup.reason ?? "", "canRestore": backup.status == .succeeded, "base": base,
        ]
    }

    static func settingsRows(_ settings: ServiceSettingsView) -> [[String: String]] {
        return [
            ["name": "Source root", "value": settings.rootDirectory ?? "/"],
            ["name": "Memory limit", "value": settings.limits.memoryBytes.map { "\($0 / (1 << 20)) MiB" } ?? "server default"],
            ["name": "CPU limit", "value": settings.limits.cpus.map { "\($0) cores" } ?? "server default"],
            ["name": "Outbound internet", "value": settings.egress ? "allowed" : "blocked"],
            ["name": "Volume", "value": settings.volume.map { "\($0.name) at \($0.mountPath)" } ?? "none"],
            ["name": "Sleep when idle", "value": settings.sleepApplication.map { $0 ? "on" : "off" } ?? "as the config file says"],
        ]
    }

    // MARK: Actions

    func canvasAction(
        _ request: Request, _ context: BasicRequestContext, _ run: @escaping (String, String, [String: String]) async throws -> Void
    ) async throws -> Response {
        let project = try context.parameters.require("project")
        let environment = try context.parameters.require("environment")
        let back = Self.canvasPath(project, environment)
        return try await action(request) { _, form in
            do {
                try await run(project, environment, form)
                return Self.redirect(back)
            } catch let error as YardError {
                return Self.redirect(back + "?error=" + Self.queryValue(error.message))
            }
        }
    }

    func serviceAction(
        _ request: Request, _ context: BasicRequestContext, _ run: @escaping (Scope, [String: String]) async throws -> String
    ) async throws -> Response {
        let scope = try Self.scope(context)
        let back = Self.servicePath(scope.project, scope.environment, scope.service)
        return try await action(request) { _, form in
            do {
                let notice = try await run(scope, form)
                return Self.redirect(back + "?notice=" + Self.queryValue(notice) + "#main")
            } catch let error as YardError {
                return Self.redirect(back + "?error=" + Self.queryValue(error.message) + "#main")
            }
        }
    }

    // MARK: Responses

    /// A full page: `template`'s output inside the layout, with the security headers.
    func page(
        _ title: String, _ template: String, _ values: [String: Any], session: DashboardSession?, request: Request, error: String? = nil
    ) -> Response {
        let html = render(
            template, values, csrf: session?.csrfToken ?? "", title: title,
            error: error ?? request.uri.queryParameters.get("error"), notice: request.uri.queryParameters.get("notice"))
        var response = Response(
            status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: html)))
        Self.secure(&response)
        return response
    }

    /// Renders a page's HTML alone (the unit tests time it).
    public func render(
        _ template: String, _ values: [String: Any], csrf: String, title: String? = nil, error: String? = nil, notice: String? = nil
    ) -> String {
        var values = values
        values["csrf"] = csrf
        let body = DashboardTemplates.library.render(Self.pruned(values), withTemplate: template) ?? ""
        let layout: [String: Any] = [
            "title": title ?? template, "body": body, "csrf": csrf, "error": error ?? "", "notice": notice ?? "",
        ]
        return DashboardTemplates.library.render(Self.pruned(layout), withTemplate: "layout") ?? ""
    }

    /// Without its empty strings and false values: a Mustache section shows for any string,
    /// even an empty one, so a value that is not there must be left out.
    static func pruned(_ value: Any) -> Any {
        switch value {
        case let dictionary as [String: Any]:
            var kept: [String: Any] = [:]
            for (key, element) in dictionary {
                if let text = element as? String, text.isEmpty { continue }
                if let flag = element as? Bool, !flag { continue }
                kept[key] = pruned(element)
            }
            return kept
        case let array as [[String: Any]]:
            return array.map { pruned($0) }
        case let array as [Any]:
            return array.map(pruned)
        default:
            return value
        }
    }

    /// Self only, no inline script or style, no framing, no other host.
    static func secure(_ response: inout Response) {
        response.headers[HTTPField.Name("Content-Security-Policy")!] =
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
    }

    static func asset(_ text: String, type: String) -> Response {
        var response = Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "public, max-age=300"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
        secure(&response)
        return response
    }

    static func redirect(_ location: String) -> Response {
        var response = Response(status: .seeOther, headers: [.location: location])
        secure(&response)
        return response
    }

    static func forbidden(_ message: String, status: HTTPResponse.Status = .forbidden) -> Response {
        var response = Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: message + "\n")))
        secure(&response)
        return response
    }

    // MARK: Helpers

    /// An urlencoded form body (at most 64 KiB).
    static func form(_ request: inout Request) async throws -> [String: String] {
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true else { return [:] }
        let buffer = try await request.collectBody(upTo: 64 * 1024)
        var fields: [String: String] = [:]
        for pair in String(buffer: buffer).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            fields[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }

    static func scope(_ context: BasicRequestContext) throws -> Scope {
        Scope(
            project: try context.parameters.require("project"), environment: try context.parameters.require("environment"),
            service: try context.parameters.require("service"))
    }

    static func pathSegment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? text
    }

    static func queryValue(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
    }

    static func canvasPath(_ project: String, _ environment: String) -> String {
        "/p/\(pathSegment(project))/\(pathSegment(environment))"
    }

    static func servicePath(_ project: String, _ environment: String, _ service: String) -> String {
        canvasPath(project, environment) + "/s/\(pathSegment(service))"
    }

    /// The card's kind and icon; `cron` when its newest deployment runs on a schedule.
    static func kind(_ service: ServiceView, cron: Bool) -> (String, String) {
        if service.database != nil { return ("database", "DB") }
        if cron { return ("cron", "CRON") }
        if service.image != nil { return ("image", "IMG") }
        return ("app", "APP")
    }

    static func timeText(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: date)
    }

    static func durationText(_ seconds: TimeInterval) -> String {
        seconds < 60
            ? String(format: "%.0f s", seconds)
            : String(format: "%.0f min %.0f s", (seconds / 60).rounded(.down), seconds.truncatingRemainder(dividingBy: 60))
    }
}
