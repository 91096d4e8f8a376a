import Foundation
import NIOCore
import NIOHTTP1
import OpenAPIRuntime
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
    }

    public func info() async throws -> ServerInfoView { try await call { try await $0.serverInfo().ok.body.json } }
    public func projects() async throws -> [ProjectView] { try await call { try await $0.listProjects().ok.body.json } }
    public func project(_ idOrName: String) async throws -> ProjectView {
        try await call { try await $0.getProject(path: .init(project: idOrName)).ok.body.json }
    }
    public func createProject(name: String) async throws -> ProjectView {
        try await call { try await $0.createProject(body: .json(CreateProjectRequest(name: name))).created.body.json }
    }
    public func createService(
        project: String, name: String, configPath: String? = nil, rootDirectory: String? = nil
    ) async throws -> ServiceView {
        let body = CreateServiceRequest(name: name, configPath: configPath, rootDirectory: rootDirectory)
        return try await call { try await $0.createService(path: .init(project: project), body: .json(body)).created.body.json }
    }
    /// Adds a database service (`yard add --database`) and queues its first deployment.
    public func addDatabase(project: String, environment: String, database: String, name: String?) async throws -> DatabaseView {
        try await call {
            try await $0.addDatabase(
                path: .init(project: project, environment: environment),
                body: .json(CreateDatabaseRequest(database: database, name: name))
            ).created.body.json
        }
    }
    public func environments(project: String) async throws -> [EnvironmentView] {
        try await call { try await $0.listEnvironments(path: .init(project: project)).ok.body.json }
    }
    /// Creates environment `name` as a copy of `from` (production when nil); `withData` starts
    /// its databases from the source's latest backups.
    public func createEnvironment(
        project: String, name: String, from: String?, withData: Bool = false
    ) async throws -> EnvironmentCopyView {
        let body = CreateEnvironmentRequest(name: name, from: from, withData: withData)
        return try await call { try await $0.createEnvironment(path: .init(project: project), body: .json(body)).created.body.json }
    }
    /// Deletes an environment with everything in it; the server stops its deployments first.
    public func deleteEnvironment(project: String, environment: String) async throws -> EnvironmentDeletionView {
        try await call { try await $0.deleteEnvironment(path: .init(project: project, environment: environment)).ok.body.json }
    }
    public func status(project: String, environment: String) async throws -> StatusView {
        try await call { try await $0.environmentStatus(path: .init(project: project, environment: environment)).ok.body.json }
    }
    /// The environment as Kubernetes manifests (`yard export kubernetes`).
    public func kubernetesExport(project: String, environment: String, registry: String?) async throws -> KubernetesExportView {
        try await call {
            try await $0.exportKubernetes(path: .init(project: project, environment: environment), query: .init(registry: registry)).ok.body.json
        }
    }
    /// The environment's shared variables (`${{shared.KEY}}`).
    public func sharedVariables(project: String, environment: String) async throws -> [VariableView] {
        try await call { try await $0.listSharedVariables(path: .init(project: project, environment: environment)).ok.body.json }
    }
    /// Sets and deletes shared variables of an environment.
    public func changeSharedVariables(project: String, environment: String, set: [String: String], delete: [String]) async throws
        -> [VariableView]
    {
        let body = VariableChange(set: set, delete: delete, buildSecrets: nil)
        return try await call {
            try await $0.changeSharedVariables(path: .init(project: project, environment: environment), body: .json(body)).ok.body.json
        }
    }

    /// Uploads a source archive; the service is created if it does not exist yet. With
    /// `noCache` the build ignores the install cache.
    public func deploy(_ scope: Scope, archive: URL, configPath: String? = nil, noCache: Bool = false) async throws -> DeploymentView {
        let body = try Self.uploadBody(archive)
        return try await call {
            try await $0.deployService(
                path: .init(project: scope.project, environment: scope.environment, service: scope.service),
                query: .init(create: true, configPath: configPath, noCache: noCache ? true : nil),
                body: .applicationGzip(body)
            ).created.body.json
        }
    }

    /// Uploads a source archive whose root `railpack.json` has a `services` map and deploys
    /// every service of it (creating the missing ones): one deployment per service.
    public func deployServices(
        project: String, environment: String, archive: URL, noCache: Bool = false
    ) async throws -> [DeploymentView] {
        let body = try Self.uploadBody(archive)
        return try await call {
            try await $0.deployServices(
                path: .init(project: project, environment: environment), query: .init(noCache: noCache ? true : nil),
                body: .applicationGzip(body)
            ).created.body.json
        }
    }

    public func deployments(_ scope: Scope) async throws -> [DeploymentView] {
        try await call {
            try await $0.listDeployments(path: .init(project: scope.project, environment: scope.environment, service: scope.service)).ok
                .body.json
        }
    }
    /// A cron service's recent runs, newest first.
    public func cronRuns(_ scope: Scope) async throws -> [CronRunView] {
        try await call {
            try await $0.listCronRuns(path: .init(project: scope.project, environment: scope.environment, service: scope.service)).ok.body
                .json
        }
    }
    /// A database service's backups, newest first, and its schedule.
    public func backups(_ scope: Scope) async throws -> BackupListView {
        try await call {
            try await $0.listBackups(path: .init(project: scope.project, environment: scope.environment, service: scope.service)).ok.body
                .json
        }
    }
    /// Backs a database service up now (and test-restores the backup); returns when done.
    public func createBackup(_ scope: Scope) async throws -> BackupView {
        try await call {
            try await $0.createBackup(path: .init(project: scope.project, environment: scope.environment, service: scope.service)).created
                .body.json
        }
    }
    /// Restores a backup into the service, into a new service, or to a moment (postgres).
    public func restoreBackup(_ scope: Scope, _ request: BackupRestoreRequest) async throws -> BackupRestoreView {
        try await call {
            try await $0.restoreBackup(
                path: .init(project: scope.project, environment: scope.environment, service: scope.service), body: .json(request)
            ).ok.body.json
        }
    }
    /// Sets (or, with a nil frequency, turns off) the backup schedule.
    public func setBackupSchedule(_ scope: Scope, _ request: BackupScheduleRequest) async throws -> BackupListView {
        try await call {
            try await $0.setBackupSchedule(
                path: .init(project: scope.project, environment: scope.environment, service: scope.service), body: .json(request)
            ).ok.body.json
        }
    }
    public func deployment(id: String) async throws -> DeploymentView {
        try await call { try await $0.getDeployment(path: .init(deployment: id)).ok.body.json }
    }
    public func redeploy(_ scope: Scope, noCache: Bool = false) async throws -> DeploymentView {
        try await call {
            try await $0.redeployService(
                path: .init(project: scope.project, environment: scope.environment, service: scope.service),
                query: .init(noCache: noCache ? true : nil)
            ).created.body.json
        }
    }
    public func restart(_ scope: Scope) async throws -> DeploymentView {
        try await call {
            try await $0.restartService(path: .init(project: scope.project, environment: scope.environment, service: scope.service)).ok.body
                .json
        }
    }
    public func down(_ scope: Scope) async throws -> DeploymentView {
        try await call {
            try await $0.downService(path: .init(project: scope.project, environment: scope.environment, service: scope.service)).ok.body
                .json
        }
    }
    /// Puts a service with `sleepApplication` to sleep now; its next request wakes it.
    public func sleep(_ scope: Scope) async throws -> DeploymentView {
        try await call {
            try await $0.sleepService(path: .init(project: scope.project, environment: scope.environment, service: scope.service)).ok.body
                .json
        }
    }

    /// Stops a queued deployment (it ends REMOVED at once) or a running build (the answer
    /// is the deployment as it is; it ends REMOVED once the build has stopped).
    public func cancel(deploymentID: String) async throws -> DeploymentView {
        try await call { try await $0.cancelDeployment(path: .init(deployment: deploymentID)).ok.body.json }
    }
    /// Removes one deployment: cancels it before it is live, stops it after.
    public func remove(deploymentID: String) async throws -> DeploymentView {
        try await call { try await $0.removeDeployment(path: .init(deployment: deploymentID)).ok.body.json }
    }

    /// A new deployment that runs `deploymentID`'s artifact, deploy settings and variables
    /// again, without building.
    public func rollback(deploymentID: String) async throws -> DeploymentView {
        try await call { try await $0.rollbackDeployment(path: .init(deployment: deploymentID)).created.body.json }
    }

    public func variables(_ scope: Scope) async throws -> [VariableView] {
        try await call {
            try await $0.listVariables(path: .init(project: scope.project, environment: scope.environment, service: scope.service)).ok.body
                .json
        }
    }
    /// Sets and deletes variables; keys in `buildSecrets` (which must be keys of `set`) are
    /// visible to build steps only and never readable back.
    public func changeVariables(
        _ scope: Scope, set: [String: String], delete: [String], buildSecrets: [String] = [], sealed: [String] = []
    ) async throws -> [VariableView] {
        let body = VariableChange(
            set: set, delete: delete, buildSecrets: buildSecrets.isEmpty ? nil : buildSecrets,
            sealed: sealed.isEmpty ? nil : sealed)
        return try await call {
            try await $0.changeVariables(
                path: .init(project: scope.project, environment: scope.environment, service: scope.service), body: .json(body)
            ).ok.body.json
        }
    }

    public func domains(_ scope: Scope) async throws -> [DomainView] {
        try await call {
            try await $0.listDomains(path: .init(project: scope.project, environment: scope.environment, service: scope.service)).ok.body
                .json
        }
    }
    /// Adds a custom domain (a path prefix of it with `path`); with `certificate` and
    /// `privateKey` (PEM), HTTPS serves that certificate.
    public func addDomain(
        _ scope: Scope, hostname: String, targetPort: Int?, path: String? = nil, certificate: String? = nil, privateKey: String? = nil
    ) async throws -> [DomainView] {
        let body = DomainRequest(hostname: hostname, targetPort: targetPort, path: path, certificate: certificate, privateKey: privateKey)
        return try await call {
            try await $0.addDomain(
                path: .init(project: scope.project, environment: scope.environment, service: scope.service), body: .json(body)
            ).created.body.json
        }
    }
    /// Removes a domain of the service; returns the domains left.
    public func removeDomain(_ scope: Scope, hostname: String, path: String? = nil) async throws -> [DomainView] {
        try await call {
            try await $0.removeDomain(
                path: .init(project: scope.project, environment: scope.environment, service: scope.service, hostname: hostname),
                query: .init(path: path)
            ).ok.body.json
        }
    }

    /// Reads a deployment's log; with `follow`, calls `onLine` for each new line until the log closes.
    public func logs(
        deploymentID: String, kind: LogKind, query: LogQueryText = .init(), follow: Bool,
        onLine: @escaping @Sendable (LogLine) async throws -> Void
    ) async throws {
        try await streamLogs(deploymentID: deploymentID, kind: kind, query: query, follow: follow, onLine: onLine)
    }

    /// Reads a deployment's log, calling `onLine` in the caller's task for each line (so it
    /// may collect lines into a local variable); with `follow`, until the log closes.
    public func logs(
        deploymentID: String, kind: LogKind, query: LogQueryText = .init(), follow: Bool, onLine: (LogLine) throws -> Void
    ) async throws {
        let (lines, continuation) = AsyncThrowingStream.makeStream(of: LogLine.self)
        async let reading: Void = {
            do {
                try await streamLogs(deploymentID: deploymentID, kind: kind, query: query, follow: follow) { line in
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
        deploymentID: String, kind: LogKind, query: LogQueryText, follow: Bool,
        onLine: @escaping @Sendable (LogLine) async throws -> Void
    ) async throws {
        let decoder = YardJSON.decoder()
        try await call { client in
            let output = try await client.deploymentLogs(
                path: .init(deployment: deploymentID),
                query: .init(
                    kind: .init(rawValue: kind.rawValue), follow: follow, filter: query.filter, since: query.since,
                    until: query.until))
            try await Self.lines(of: try output.ok.body.applicationXNdjson) { line in
                if !line.isEmpty { try await onLine(try decoder.decode(LogLine.self, from: Data(line.utf8))) }
            }
        }
    }

    /// Follows a deployment's status: `onUpdate` gets the deployment now and at every
    /// change, until it settles. Returns the settled deployment.
    public func watch(deploymentID: String, onUpdate: @escaping @Sendable (DeploymentView) async throws -> Void) async throws
        -> DeploymentView
    {
        let decoder = YardJSON.decoder()
        let final: DeploymentView? = try await call { client in
            let output = try await client.deploymentEvents(path: .init(deployment: deploymentID))
            var last: DeploymentView?
            try await Self.lines(of: try output.ok.body.textEventStream) { line in
                guard line.hasPrefix("data: ") else { return }
                let view = try decoder.decode(DeploymentView.self, from: Data(line.dropFirst(6).utf8))
                last = view
                try await onUpdate(view)
            }
            return last
        }
        guard let final else {
            throw YardError(.unavailable, "the server ended the event stream of \(deploymentID) without sending its status")
        }
        return final
    }

    /// Calls `onLine` for each line of a streamed body as it arrives (the last one even
    /// without its newline).
    private static func lines(of body: HTTPBody, _ onLine: (String) async throws -> Void) async throws {
        var pending: [UInt8] = []
        for try await chunk in body {
            pending.append(contentsOf: chunk)
            while let newline = pending.firstIndex(of: 0x0A) {
                try await onLine(String(decoding: pending[..<newline], as: UTF8.self))
                pending.removeSubrange(...newline)
            }
        }
        if !pending.isEmpty { try await onLine(String(decoding: pending, as: UTF8.self)) }
    }

    // MARK: Install cache

    /// One entry of the server's install cache (`GET /v1/cache`).
    public struct CacheEntry: Codable, Sendable, Hashable {
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
    public struct CachePruneResult: Codable, Sendable, Hashable {
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
    public func cacheEntries() async throws -> [CacheEntry] { try await call { try await $0.listCache().ok.body.json } }

    /// Evicts the install cache down to its size bound, or empties it (`all`).
    public func pruneCache(all: Bool) async throws -> CachePruneResult {
        try await call { try await $0.pruneCache(query: .init(all: all)).ok.body.json }
    }

    // MARK: Plumbing

    fileprivate var authHeaders: [(String, String)] { [("Authorization", "Bearer \(token)")] }

    /// The generated client over `HTTPConnection`, with the token and the error mapping.
    private var client: Client {
        Client(
            serverURL: baseURL, configuration: Self.configuration, transport: HTTPConnectionTransport(),
            middlewares: [YardClientMiddleware(token: token)])
    }

    /// The wire format both sides share (`YardJSON`): dates with fractional seconds, sorted keys.
    static let configuration = OpenAPIRuntime.Configuration(
        dateTranscoder: .iso8601WithFractionalSeconds, jsonEncodingOptions: [.sortedKeys, .withoutEscapingSlashes])

    /// Runs one call of the generated client; errors come out as the `YardError` they are.
    func call<T: Sendable>(_ operation: (Client) async throws -> T) async throws -> T {
        do {
            return try await operation(client)
        } catch let error as ClientError {
            switch error.underlyingError {
            case let yard as YardError: throw yard
            case is CancellationError: throw CancellationError()
            case is DecodingError:
                throw YardError(
                    .internal, "the server's answer could not be read (\(error.underlyingError)); are the CLI and server the same version?")
            default:
                throw YardError(.internal, "calling \(error.operationID) failed: \(error.underlyingError)", cause: error.underlyingError)
            }
        }
    }

    /// An archive as an upload body: read from its file chunk by chunk while it is sent.
    private static func uploadBody(_ archive: URL) throws -> HTTPBody {
        let size = try FileManager.default.attributesOfItem(atPath: archive.path)[.size] as? Int ?? 0
        let handle = try FileHandle(forReadingFrom: archive)
        let chunks = AsyncThrowingStream<ArraySlice<UInt8>, any Error> {
            guard let chunk = try handle.read(upToCount: 256 * 1024), !chunk.isEmpty else {
                try? handle.close()
                return nil
            }
            return ArraySlice(chunk)
        }
        return HTTPBody(chunks, length: .known(Int64(size)), iterationBehavior: .single)
    }

    fileprivate func url(_ path: String, query: String? = nil) -> URL {
        var text = baseURL.absoluteString
        if text.hasSuffix("/") { text.removeLast() }
        text += "/v1/\(path)"
        if let query { text += "?\(query)" }
        return URL(string: text)!
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

extension String {
    var pathEscaped: String {
        addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? self
    }
    var queryEscaped: String { addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? self }
}

extension YardAPIClient {
    public func settings(_ scope: Scope) async throws -> ServiceSettingsView {
        try await call {
            try await $0.getSettings(path: .init(project: scope.project, environment: scope.environment, service: scope.service)).ok.body
                .json
        }
    }

    public func changeSettings(_ scope: Scope, _ change: ServiceSettingsChange) async throws -> ServiceSettingsView {
        try await call {
            try await $0.changeSettings(
                path: .init(project: scope.project, environment: scope.environment, service: scope.service), body: .json(change)
            ).ok.body.json
        }
    }

    public func addVolume(_ scope: Scope, mountPath: String, name: String?) async throws -> ServiceSettingsView {
        let body = VolumeRequest(mountPath: mountPath, name: name)
        return try await call {
            try await $0.addVolume(
                path: .init(project: scope.project, environment: scope.environment, service: scope.service), body: .json(body)
            ).created.body.json
        }
    }

    public func resolvedVariables(_ scope: Scope) async throws -> [String: String] {
        try await call {
            try await $0.resolvedVariables(path: .init(project: scope.project, environment: scope.environment, service: scope.service)).ok
                .body.json.additionalProperties
        }
    }
}

extension YardAPIClient {
    public func tcpProxies(_ scope: Scope) async throws -> [TCPProxyView] {
        try await call {
            try await $0.listTCPProxies(path: .init(project: scope.project, environment: scope.environment, service: scope.service)).ok.body
                .json
        }
    }

    public func addTCPProxy(_ scope: Scope, targetPort: Int) async throws -> [TCPProxyView] {
        try await call {
            try await $0.addTCPProxy(
                path: .init(project: scope.project, environment: scope.environment, service: scope.service),
                body: .json(TCPProxyRequest(targetPort: targetPort))
            ).created.body.json
        }
    }

    /// Removes the TCP proxy of `targetPort`, or the service's only one when nil.
    public func removeTCPProxy(_ scope: Scope, targetPort: Int?) async throws -> [TCPProxyView] {
        try await call {
            try await $0.removeTCPProxy(
                path: .init(project: scope.project, environment: scope.environment, service: scope.service), query: .init(port: targetPort)
            ).ok.body.json
        }
    }

    /// A database's credentials and TCP proxy address, password included (`yard connect`).
    public func databaseConnection(_ scope: Scope) async throws -> DatabaseConnectionView {
        try await call {
            try await $0.databaseConnection(path: .init(project: scope.project, environment: scope.environment, service: scope.service)).ok
                .body.json
        }
    }

    /// The branch whose pushes deploy the service in this environment.
    public func linkedBranch(_ scope: Scope) async throws -> ServiceBranchLink {
        try await call {
            try await $0.getBranchLink(path: .init(project: scope.project, environment: scope.environment, service: scope.service)).ok.body
                .json
        }
    }

    /// Links the service in this environment to a branch; nil unlinks it.
    public func linkBranch(_ scope: Scope, branch: String?) async throws -> ServiceBranchLink {
        try await call {
            try await $0.setBranchLink(
                path: .init(project: scope.project, environment: scope.environment, service: scope.service),
                body: .json(ServiceBranchLink(branch: branch))
            ).ok.body.json
        }
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
            HTTPConnection.Request(
                url: url("projects/\(project.pathEscaped)/git/push"), method: .POST,
                headers: authHeaders + [("Content-Type", "application/json")], body: body)
        ) { buffer in
            for line in await splitter.append(buffer) { try await onLine(line) }
        }
        try check(head, await splitter.rest)
    }

    /// The URL `git` pushes to: `<api>/git/<project-id>.git`.
    /// Where GitHub should send the project's webhooks, and whether a secret exists.
    public func webhook(project: String) async throws -> WebhookView {
        try await call { try await $0.getWebhook(path: .init(project: project)).ok.body.json }
    }
    /// Generates a new webhook secret; the answer is the only place it is shown.
    public func generateWebhookSecret(project: String) async throws -> WebhookView {
        try await call { try await $0.generateWebhookSecret(path: .init(project: project)).created.body.json }
    }
    /// Opens (or redeploys) PR environment `pr-<number>` from `branch`, as a pull_request opened event does.
    public func openPullRequestEnvironment(project: String, request: PullRequestEnvironmentRequest) async throws -> WebhookResultView {
        try await call {
            switch try await $0.openPullRequestEnvironment(path: .init(project: project), body: .json(request)) {
            case .ok(let answer): try answer.body.json
            case .created(let answer): try answer.body.json
            case .default(let status, _): throw YardError(.internal, "the server answered HTTP \(status), which the API does not describe")
            }
        }
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

/// A log search as the API takes it: the filter stays text, parsed (and refused) by the server.
public struct LogQueryText: Sendable {
    public var filter: String?
    public var since: Date?
    public var until: Date?

    public init(filter: String? = nil, since: Date? = nil, until: Date? = nil) {
        self.filter = filter
        self.since = since
        self.until = until
    }
}
