import Foundation
import NIOCore
import NIOHTTP1
import YardCore

/// Typed access to the `/v1` API, used by the CLI and the end-to-end tests.
public struct YardAPIClient: Sendable {
    public var baseURL: URL
    public var token: String

    public init(baseURL: URL, token: String) {
        self.baseURL = baseURL
        self.token = token
    }

    /// A service in one environment of one project, by names or ids.
    public struct Scope: Sendable {
        public var project: String
        public var environment: String
        public var service: String

        public init(project: String, environment: String, service: String) {
            self.project = project
            self.environment = environment
            self.service = service
        }

        var path: String {
            "projects/\(project.pathEscaped)/environments/\(environment.pathEscaped)/services/\(service.pathEscaped)"
        }
    }

    public func info() async throws -> ServerInfoView { try await get("info") }
    public func projects() async throws -> [ProjectView] { try await get("projects") }
    public func project(_ idOrName: String) async throws -> ProjectView { try await get("projects/\(idOrName.pathEscaped)") }
    public func createProject(name: String) async throws -> ProjectView {
        try await send(.POST, "projects", body: CreateProjectRequest(name: name))
    }
    public func createService(
        project: String, name: String, configPath: String? = nil, rootDirectory: String? = nil
    ) async throws -> ServiceView {
        try await send(.POST, "projects/\(project.pathEscaped)/services",
                       body: CreateServiceRequest(name: name, configPath: configPath, rootDirectory: rootDirectory))
    }
    /// Adds a database service (`yard add --database`) and queues its first deployment.
    public func addDatabase(project: String, environment: String, database: String, name: String?) async throws -> DatabaseView {
        try await send(.POST, "projects/\(project.pathEscaped)/environments/\(environment.pathEscaped)/databases",
                       body: CreateDatabaseRequest(database: database, name: name))
    }
    public func environments(project: String) async throws -> [EnvironmentView] {
        try await get("projects/\(project.pathEscaped)/environments")
    }
    /// Creates environment `name` as a copy of `from` (production when nil); `withData` starts
    /// its databases from the source's latest backups.
    public func createEnvironment(
        project: String, name: String, from: String?, withData: Bool = false
    ) async throws -> EnvironmentCopyView {
        try await send(
            .POST, "projects/\(project.pathEscaped)/environments",
            body: CreateEnvironmentRequest(name: name, from: from, withData: withData))
    }
    /// Deletes an environment with everything in it; the server stops its deployments first.
    public func deleteEnvironment(project: String, environment: String) async throws -> EnvironmentDeletionView {
        try await send(.DELETE, "projects/\(project.pathEscaped)/environments/\(environment.pathEscaped)", body: Empty?.none)
    }
    public func status(project: String, environment: String) async throws -> StatusView {
        try await get("projects/\(project.pathEscaped)/environments/\(environment.pathEscaped)/status")
    }
    /// The environment's shared variables (`${{shared.KEY}}`).
    public func sharedVariables(project: String, environment: String) async throws -> [VariableView] {
        try await get("projects/\(project.pathEscaped)/environments/\(environment.pathEscaped)/variables")
    }
    /// Sets and deletes shared variables of an environment.
    public func changeSharedVariables(project: String, environment: String, set: [String: String], delete: [String]) async throws -> [VariableView] {
        try await send(.PATCH, "projects/\(project.pathEscaped)/environments/\(environment.pathEscaped)/variables",
                       body: VariableChange(set: set, delete: delete, buildSecrets: nil))
    }

    /// Uploads a source archive; the service is created if it does not exist yet. With
    /// `noCache` the build ignores the install cache.
    public func deploy(_ scope: Scope, archive: URL, configPath: String? = nil, noCache: Bool = false) async throws -> DeploymentView {
        var query = "create=true"
        if let configPath { query += "&configPath=\(configPath.queryEscaped)" }
        if noCache { query += "&noCache=true" }
        return try await upload("\(scope.path)/deployments", query: query, archive: archive)
    }

    /// Uploads a source archive whose root `railpack.json` has a `services` map and deploys
    /// every service of it (creating the missing ones): one deployment per service.
    public func deployServices(
        project: String, environment: String, archive: URL, noCache: Bool = false
    ) async throws -> [DeploymentView] {
        try await upload("projects/\(project.pathEscaped)/environments/\(environment.pathEscaped)/deployments",
                         query: noCache ? "noCache=true" : nil, archive: archive)
    }

    public func deployments(_ scope: Scope) async throws -> [DeploymentView] { try await get("\(scope.path)/deployments") }
    /// A cron service's recent runs, newest first.
    public func cronRuns(_ scope: Scope) async throws -> [CronRunView] { try await get("\(scope.path)/cron-runs") }
    /// A database service's backups, newest first, and its schedule.
    public func backups(_ scope: Scope) async throws -> BackupListView { try await get("\(scope.path)/backups") }
    /// Backs a database service up now (and test-restores the backup); returns when done.
    public func createBackup(_ scope: Scope) async throws -> BackupView {
        try await send(.POST, "\(scope.path)/backups", body: Empty?.none)
    }
    /// Restores a backup into the service, into a new service, or to a moment (postgres).
    public func restoreBackup(_ scope: Scope, _ request: BackupRestoreRequest) async throws -> BackupRestoreView {
        try await send(.POST, "\(scope.path)/backups/restore", body: request)
    }
    /// Sets (or, with a nil frequency, turns off) the backup schedule.
    public func setBackupSchedule(_ scope: Scope, _ request: BackupScheduleRequest) async throws -> BackupListView {
        try await send(.PUT, "\(scope.path)/backup-schedule", body: request)
    }
    public func deployment(id: String) async throws -> DeploymentView { try await get("deployments/\(id.pathEscaped)") }
    public func redeploy(_ scope: Scope, noCache: Bool = false) async throws -> DeploymentView {
        try await send(.POST, "\(scope.path)/redeploy" + (noCache ? "?noCache=true" : ""), body: Empty?.none)
    }
    public func restart(_ scope: Scope) async throws -> DeploymentView { try await send(.POST, "\(scope.path)/restart", body: Empty?.none) }
    public func down(_ scope: Scope) async throws -> DeploymentView { try await send(.POST, "\(scope.path)/down", body: Empty?.none) }
    /// Puts a service with `sleepApplication` to sleep now; its next request wakes it.
    public func sleep(_ scope: Scope) async throws -> DeploymentView { try await send(.POST, "\(scope.path)/sleep", body: Empty?.none) }

    /// Stops a queued deployment (it ends REMOVED at once) or a running build (the answer
    /// is the deployment as it is; it ends REMOVED once the build has stopped).
    public func cancel(deploymentID: String) async throws -> DeploymentView {
        try await send(.POST, "deployments/\(deploymentID.pathEscaped)/cancel", body: Empty?.none)
    }
    /// Removes one deployment: cancels it before it is live, stops it after.
    public func remove(deploymentID: String) async throws -> DeploymentView {
        try await send(.POST, "deployments/\(deploymentID.pathEscaped)/remove", body: Empty?.none)
    }

    /// A new deployment that runs `deploymentID`'s artifact, deploy settings and variables
    /// again, without building.
    public func rollback(deploymentID: String) async throws -> DeploymentView {
        try await send(.POST, "deployments/\(deploymentID.pathEscaped)/rollback", body: Empty?.none)
    }

    public func variables(_ scope: Scope) async throws -> [VariableView] { try await get("\(scope.path)/variables") }
    /// Sets and deletes variables; keys in `buildSecrets` (which must be keys of `set`) are
    /// visible to build steps only and never readable back.
    public func changeVariables(
        _ scope: Scope, set: [String: String], delete: [String], buildSecrets: [String] = [], sealed: [String] = []
    ) async throws -> [VariableView] {
        try await send(.PATCH, "\(scope.path)/variables",
                       body: VariableChange(set: set, delete: delete, buildSecrets: buildSecrets.isEmpty ? nil : buildSecrets,
                                            sealed: sealed.isEmpty ? nil : sealed))
    }

    public func domains(_ scope: Scope) async throws -> [DomainView] { try await get("\(scope.path)/domains") }
    /// Adds a custom domain (a path prefix of it with `path`); with `certificate` and
    /// `privateKey` (PEM), HTTPS serves that certificate.
    public func addDomain(
        _ scope: Scope, hostname: String, targetPort: Int?, path: String? = nil, certificate: String? = nil, privateKey: String? = nil
    ) async throws -> [DomainView] {
        try await send(
            .POST, "\(scope.path)/domains",
            body: DomainRequest(hostname: hostname, targetPort: targetPort, path: path, certificate: certificate, privateKey: privateKey)
        )
    }
    /// Removes a domain of the service; returns the domains left.
    public func removeDomain(_ scope: Scope, hostname: String, path: String? = nil) async throws -> [DomainView] {
        try await send(.DELETE, "\(scope.path)/domains/\(hostname.pathEscaped)", query: path.map { "path=\($0.queryEscaped)" },
                       body: Empty?.none)
    }

    /// Reads a deployment's log; with `follow`, calls `onLine` for each new line until the log closes.
    public func logs(deploymentID: String, kind: LogKind, follow: Bool, onLine: @escaping @Sendable (LogLine) async throws -> Void) async throws {
        try await streamLogs(deploymentID: deploymentID, kind: kind, follow: follow, onLine: onLine)
    }

    /// Reads a deployment's log, calling `onLine` in the caller's task for each line (so it
    /// may collect lines into a local variable); with `follow`, until the log closes.
    public func logs(deploymentID: String, kind: LogKind, follow: Bool, onLine: (LogLine) throws -> Void) async throws {
        let (lines, continuation) = AsyncThrowingStream.makeStream(of: LogLine.self)
        async let reading: Void = {
            do {
                try await streamLogs(deploymentID: deploymentID, kind: kind, follow: follow) { line in
                    // The caller stopped reading (its closure threw): stop the request too.
                    if case .terminated = continuation.yield(line) { throw CancellationError() }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }()
        for try await line in lines { try onLine(line) }
        try await reading
    }

    private func streamLogs(
        deploymentID: String, kind: LogKind, follow: Bool, onLine: @escaping @Sendable (LogLine) async throws -> Void
    ) async throws {
        let decoder = YardJSON.decoder()
        let splitter = LineBuffer()
        let head = try await HTTPConnection.send(
            HTTPConnection.Request(url: url("deployments/\(deploymentID.pathEscaped)/logs", query: "kind=\(kind.rawValue)&follow=\(follow)"),
                                   headers: authHeaders)
        ) { buffer in
            for line in await splitter.append(buffer) where !line.isEmpty {
                try await onLine(try decoder.decode(LogLine.self, from: Data(line.utf8)))
            }
        }
        try check(head, await splitter.rest)
    }

    /// Follows a deployment's status: `onUpdate` gets the deployment now and at every
    /// change, until it settles. Returns the settled deployment.
    public func watch(deploymentID: String, onUpdate: @escaping @Sendable (DeploymentView) async throws -> Void) async throws -> DeploymentView {
        let decoder = YardJSON.decoder()
        let splitter = LineBuffer()
        let last = LastValue<DeploymentView>()
        let head = try await HTTPConnection.send(
            HTTPConnection.Request(url: url("deployments/\(deploymentID.pathEscaped)/events"), headers: authHeaders)
        ) { buffer in
            for line in await splitter.append(buffer) where line.hasPrefix("data: ") {
                let view = try decoder.decode(DeploymentView.self, from: Data(line.dropFirst(6).utf8))
                await last.set(view)
                try await onUpdate(view)
            }
        }
        try check(head, await splitter.rest)
        guard let final = await last.value else {
            throw YardError(.unavailable, "the server ended the event stream of \(deploymentID) without sending its status")
        }
        return final
    }

    // MARK: Install cache

    /// One entry of the server's install cache (`GET /v1/cache`).
    public struct CacheEntry: Codable, Sendable, Equatable {
        public var key: String
        public var bytes: Int64
        public var lastUsed: Date

        public init(key: String, bytes: Int64, lastUsed: Date) {
            self.key = key
            self.bytes = bytes
            self.lastUsed = lastUsed
        }
    }

    /// What `POST /v1/cache/prune` removed and what is left.
    public struct CachePruneResult: Codable, Sendable, Equatable {
        public var removedEntries: Int
        public var freedBytes: Int64
        public var remainingEntries: Int
        public var remainingBytes: Int64

        public init(removedEntries: Int, freedBytes: Int64, remainingEntries: Int, remainingBytes: Int64) {
            self.removedEntries = removedEntries
            self.freedBytes = freedBytes
            self.remainingEntries = remainingEntries
            self.remainingBytes = remainingBytes
        }
    }

    /// The install cache's entries, most recently used first.
    public func cacheEntries() async throws -> [CacheEntry] { try await get("cache") }

    /// Evicts the install cache down to its size bound, or empties it (`all`).
    public func pruneCache(all: Bool) async throws -> CachePruneResult {
        try await send(.POST, "cache/prune", query: "all=\(all)", body: Empty?.none)
    }

    // MARK: Plumbing

    private struct Empty: Codable {}

    fileprivate var authHeaders: [(String, String)] { [("Authorization", "Bearer \(token)")] }

    fileprivate func url(_ path: String, query: String? = nil) -> URL {
        var text = baseURL.absoluteString
        if text.hasSuffix("/") { text.removeLast() }
        text += "/v1/\(path)"
        if let query { text += "?\(query)" }
        return URL(string: text)!
    }

    fileprivate func get<T: Decodable>(_ path: String) async throws -> T {
        let (head, data) = try await HTTPConnection.fetch(HTTPConnection.Request(url: url(path), headers: authHeaders))
        return try decode(head, data)
    }

    fileprivate func send<T: Decodable, B: Encodable>(_ method: HTTPMethod, _ path: String, query: String? = nil, body: B?) async throws -> T {
        var headers = authHeaders
        var data: Data?
        if let body {
            data = try YardJSON.encoder().encode(body)
            headers.append(("Content-Type", "application/json"))
        }
        let (head, response) = try await HTTPConnection.fetch(HTTPConnection.Request(url: url(path, query: query), method: method, headers: headers, body: data ?? Data()))
        return try decode(head, response)
    }

    private func upload<T: Decodable>(_ path: String, query: String?, archive: URL) async throws -> T {
        let (head, data) = try await HTTPConnection.fetch(
            HTTPConnection.Request(url: url(path, query: query), method: .POST,
                                   headers: authHeaders + [("Content-Type", "application/gzip")], bodyFile: archive))
        return try decode(head, data)
    }

    private func decode<T: Decodable>(_ head: HTTPHead, _ data: Data) throws -> T {
        try check(head, data)
        do {
            return try YardJSON.decoder().decode(T.self, from: data)
        } catch {
            throw YardError(.internal, "the server's answer could not be read (\(error)); are the CLI and server the same version?")
        }
    }

    fileprivate func check(_ head: HTTPHead, _ data: Data) throws {
        guard (200..<300).contains(head.status) else {
            if let error = try? YardJSON.decoder().decode(ErrorView.self, from: data) {
                throw YardError(YardError.Code(rawValue: error.code) ?? .internal, error.message)
            }
            throw YardError(.internal, "the server answered HTTP \(head.status): \(String(decoding: data.prefix(500), as: UTF8.self))")
        }
    }
}

/// Splits a byte stream into lines across chunk boundaries.
private actor LineBuffer {
    private var pending = Data()

    func append(_ buffer: ByteBuffer) -> [String] {
        pending.append(contentsOf: buffer.readableBytesView)
        var lines: [String] = []
        while let newline = pending.firstIndex(of: 0x0A) {
            lines.append(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
            pending.removeSubrange(pending.startIndex...newline)
        }
        return lines
    }

    var rest: Data { pending }
}

private actor LastValue<T: Sendable> {
    var value: T?
    func set(_ value: T) { self.value = value }
}

extension String {
    var pathEscaped: String { addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? self }
    var queryEscaped: String { addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? self }
}

extension YardAPIClient {
    public func settings(_ scope: Scope) async throws -> ServiceSettingsView { try await get("\(scope.path)/settings") }

    public func changeSettings(_ scope: Scope, _ change: ServiceSettingsChange) async throws -> ServiceSettingsView {
        try await send(.PATCH, "\(scope.path)/settings", body: change)
    }

    public func addVolume(_ scope: Scope, mountPath: String, name: String?) async throws -> ServiceSettingsView {
        try await send(.POST, "\(scope.path)/volumes", body: VolumeRequest(mountPath: mountPath, name: name))
    }

    public func resolvedVariables(_ scope: Scope) async throws -> [String: String] {
        try await get("\(scope.path)/resolved-variables")
    }
}

extension YardAPIClient {
    public func tcpProxies(_ scope: Scope) async throws -> [TCPProxyView] { try await get("\(scope.path)/tcp-proxies") }

    public func addTCPProxy(_ scope: Scope, targetPort: Int) async throws -> [TCPProxyView] {
        try await send(.POST, "\(scope.path)/tcp-proxies", body: TCPProxyRequest(targetPort: targetPort))
    }

    /// Removes the TCP proxy of `targetPort`, or the service's only one when nil.
    public func removeTCPProxy(_ scope: Scope, targetPort: Int?) async throws -> [TCPProxyView] {
        try await send(.DELETE, "\(scope.path)/tcp-proxies", query: targetPort.map { "port=\($0)" }, body: Empty?.none)
    }

    /// A database's credentials and TCP proxy address, password included (`yard connect`).
    public func databaseConnection(_ scope: Scope) async throws -> DatabaseConnectionView {
        try await send(.POST, "\(scope.path)/connect", body: Empty?.none)
    }

    /// The branch whose pushes deploy the service in this environment.
    public func linkedBranch(_ scope: Scope) async throws -> ServiceBranchLink { try await get("\(scope.path)/branch") }

    /// Links the service in this environment to a branch; nil unlinks it.
    public func linkBranch(_ scope: Scope, branch: String?) async throws -> ServiceBranchLink {
        try await send(.PUT, "\(scope.path)/branch", body: ServiceBranchLink(branch: branch))
    }

    /// Reports pushed refs (what a post-receive hook reads) and passes each line of the
    /// server's answer to `onLine` as it arrives: what was deployed or skipped, and the
    /// deployments' progress.
    public func reportPush(
        project: String, updates: [GitRefUpdate], onLine: @escaping @Sendable (String) async throws -> Void
    ) async throws {
        let splitter = LineBuffer()
        let body = try YardJSON.encoder().encode(GitPushRequest(updates: updates))
        let head = try await HTTPConnection.send(
            HTTPConnection.Request(url: url("projects/\(project.pathEscaped)/git/push"), method: .POST,
                                   headers: authHeaders + [("Content-Type", "application/json")], body: body)
        ) { buffer in
            for line in await splitter.append(buffer) { try await onLine(line) }
        }
        try check(head, await splitter.rest)
    }

    /// The URL `git` pushes to: `<api>/git/<project-id>.git`.
    /// Where GitHub should send the project's webhooks, and whether a secret exists.
    public func webhook(project: String) async throws -> WebhookView {
        try await get("projects/\(project.pathEscaped)/webhooks/github")
    }
    /// Generates a new webhook secret; the answer is the only place it is shown.
    public func generateWebhookSecret(project: String) async throws -> WebhookView {
        try await send(.POST, "projects/\(project.pathEscaped)/webhooks/github/secret", body: Empty?.none)
    }
    /// Opens (or redeploys) PR environment `pr-<number>` from `branch`, as a pull_request opened event does.
    public func openPullRequestEnvironment(project: String, request: PullRequestEnvironmentRequest) async throws -> WebhookResultView {
        try await send(.POST, "projects/\(project.pathEscaped)/pull-requests", body: request)
    }
    /// A path of the API as a full URL.
    public func apiURL(path: String) -> URL {
        var text = baseURL.absoluteString
        if text.hasSuffix("/") { text.removeLast() }
        return URL(string: text + path)!
    }

    public func gitRemoteURL(projectID: String) -> URL {
        var text = baseURL.absoluteString
        if text.hasSuffix("/") { text.removeLast() }
        return URL(string: "\(text)/git/\(projectID.pathEscaped).git")!
    }
}
