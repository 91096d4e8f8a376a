import Foundation

// The JSON shapes of the HTTP API under /v1, shared by the server and the client.

public struct ProjectView: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var createdAt: Date
    public var environments: [EnvironmentView]
    public var services: [ServiceView]

    public init(id: String, name: String, createdAt: Date, environments: [EnvironmentView], services: [ServiceView]) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
        self.environments = environments
        self.services = services
    }
}

public struct EnvironmentView: Codable, Sendable, Hashable {
    public var id: String
    public var name: String

    public init(id: String, name: String) {
        self.id = id
        self.name = name
    }
}

public struct ServiceView: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var configPath: String?
    public var rootDirectory: String?
    /// For a database service: the database it runs (`postgres`, `redis`).
    public var database: DatabaseKind?
    /// For an image service: the image it runs (`docker.io/library/redis:7`).
    public var image: String?
    /// For a private image: the registry login's user name (the password is never shown).
    public var registryUsername: String?

    public init(
        id: String, name: String, configPath: String?, rootDirectory: String? = nil, database: DatabaseKind? = nil,
        image: String? = nil, registryUsername: String? = nil
    ) {
        self.id = id
        self.name = name
        self.configPath = configPath
        self.rootDirectory = rootDirectory
        self.database = database
        self.image = image
        self.registryUsername = registryUsername
    }
}

/// `yard add --database`: the database to run, and the service name (Railway's default
/// name for the kind when nil).
public struct CreateDatabaseRequest: Codable, Sendable, Hashable {
    public var database: String
    public var name: String?

    public init(database: String, name: String?) {
        self.database = database
        self.name = name
    }
}

/// A new database service: where other services reach it, its variables (sealed values
/// left out) and its first deployment.
public struct DatabaseView: Codable, Sendable, Hashable {
    public var service: ServiceView
    public var host: String
    public var port: Int
    public var variables: [VariableView]
    public var deployment: DeploymentView

    public init(service: ServiceView, host: String, port: Int, variables: [VariableView], deployment: DeploymentView) {
        self.service = service
        self.host = host
        self.port = port
        self.variables = variables
        self.deployment = deployment
    }
}

public struct DeploymentEventView: Codable, Sendable, Hashable {
    public var status: DeploymentStatus
    public var reason: String?
    public var at: Date

    public init(status: DeploymentStatus, reason: String?, at: Date) {
        self.status = status
        self.reason = reason
        self.at = at
    }
}

public struct ReplicaView: Codable, Sendable, Hashable {
    public var id: String
    public var status: ReplicaStatus
    public var port: Int
    public var pid: Int32?
    public var restarts: Int
    /// Address on the environment's private network; nil when replicas run on loopback.
    public var address: String?
    /// How the process last ended ("OOM-killed: …"), if it did.
    public var lastExit: String?
    /// Live use read from the replica's cgroup, when isolated.
    public var usage: ResourceUsage?

    public init(
        id: String, status: ReplicaStatus, port: Int, pid: Int32?, restarts: Int,
        address: String? = nil, lastExit: String? = nil, usage: ResourceUsage? = nil
    ) {
        self.id = id
        self.status = status
        self.port = port
        self.pid = pid
        self.restarts = restarts
        self.address = address
        self.lastExit = lastExit
        self.usage = usage
    }
}

public struct DeploymentView: Codable, Sendable, Hashable {
    public var id: String
    public var serviceID: String
    public var serviceName: String
    public var environmentID: String
    public var status: DeploymentStatus
    public var reason: String?
    public var trigger: String
    public var provider: String?
    public var startCommand: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var history: [DeploymentEventView]
    public var replicas: [ReplicaView]
    public var url: String?
    /// The content address of the built artifact, once built; equal keys mean the same build.
    public var artifactKey: String?
    /// The deployment whose artifact this one rolled back to.
    public var rollbackOf: String?
    /// For a deployment a `git push` started: the commit it was built from.
    public var commit: GitCommit?

    public init(
        id: String, serviceID: String, serviceName: String, environmentID: String, status: DeploymentStatus,
        reason: String?, trigger: String, provider: String?, startCommand: String?, createdAt: Date, updatedAt: Date,
        history: [DeploymentEventView], replicas: [ReplicaView], url: String?,
        artifactKey: String? = nil, rollbackOf: String? = nil
    ) {
        self.artifactKey = artifactKey
        self.rollbackOf = rollbackOf
        self.id = id
        self.serviceID = serviceID
        self.serviceName = serviceName
        self.environmentID = environmentID
        self.status = status
        self.reason = reason
        self.trigger = trigger
        self.provider = provider
        self.startCommand = startCommand
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.history = history
        self.replicas = replicas
        self.url = url
    }
}

public struct VariableView: Codable, Sendable, Hashable {
    public var key: String
    /// Nil for sealed variables: their value is never readable back.
    public var value: String?
    public var sealed: Bool
    /// Visible to build steps only.
    public var buildSecret: Bool?

    public init(key: String, value: String?, sealed: Bool, buildSecret: Bool? = nil) {
        self.key = key
        self.value = value
        self.sealed = sealed
        self.buildSecret = buildSecret
    }
}

public struct VariableChange: Codable, Sendable, Hashable {
    public var set: [String: String]
    public var delete: [String]
    /// Keys of `set` that are build-only secrets.
    public var buildSecrets: [String]?
    /// Keys of `set` that are sealed: never readable back, not copied to new environments.
    public var sealed: [String]?

    public init(set: [String: String], delete: [String], buildSecrets: [String]? = nil, sealed: [String]? = nil) {
        self.set = set
        self.delete = delete
        self.buildSecrets = buildSecrets
        self.sealed = sealed
    }
}

/// `POST /v1/projects/{project}/environments`.
public struct CreateEnvironmentRequest: Codable, Sendable, Hashable {
    public var name: String
    /// The environment to copy (name or id); production when absent.
    public var from: String?
    /// Start the copy's postgres and redis databases from the source's latest backup
    /// (taken first when there is none) instead of empty.
    public var withData: Bool?

    public init(name: String, from: String? = nil, withData: Bool = false) {
        self.name = name
        self.from = from
        self.withData = withData ? true : nil
    }
}

/// What `withData` did for one database service of a new environment.
public struct DatabaseDataCopyView: Codable, Sendable, Hashable {
    public var service: String
    public var database: DatabaseKind
    /// The source's backup restored into the copy; nil when the copy's database started empty.
    public var backup: String?
    /// When that backup finished.
    public var takenAt: Date?
    /// The source had no backup, so this one was taken for the copy.
    public var backupTakenNow: Bool
    /// The backup's data is in the copy's database.
    public var restored: Bool
    /// What happened: "Postgres: restored from backup bak_… taken at …".
    public var message: String

    public init(
        service: String, database: DatabaseKind, backup: String?, takenAt: Date?, backupTakenNow: Bool, restored: Bool,
        message: String
    ) {
        self.service = service
        self.database = database
        self.backup = backup
        self.takenAt = takenAt
        self.backupTakenNow = backupTakenNow
        self.restored = restored
        self.message = message
    }
}

/// A new environment and what was copied into it from its source.
public struct EnvironmentCopyView: Codable, Sendable, Hashable {
    public struct ServiceCopy: Codable, Sendable, Hashable {
        public var service: String
        /// Plain variables and build secrets copied (keys only).
        public var copiedVariables: [String]
        /// Sealed variables not copied: set them again in the new environment.
        public var sealedNotCopied: [String]
        /// The mount path of the empty volume made for the service, if its source had one.
        public var volume: String?
        /// Sealed variables given new generated values (a database's new credentials), keys
        /// only. Absent in answers of servers from before the field.
        public var newCredentials: [String]?

        public init(
            service: String, copiedVariables: [String], sealedNotCopied: [String], volume: String?, newCredentials: [String]? = nil
        ) {
            self.service = service
            self.copiedVariables = copiedVariables
            self.sealedNotCopied = sealedNotCopied
            self.volume = volume
            self.newCredentials = newCredentials
        }
    }

    public var environment: EnvironmentView
    public var from: EnvironmentView
    public var services: [ServiceCopy]
    /// With `withData`: each database service's data, started in the new environment.
    public var data: [DatabaseDataCopyView]?

    public init(environment: EnvironmentView, from: EnvironmentView, services: [ServiceCopy], data: [DatabaseDataCopyView]? = nil) {
        self.environment = environment
        self.from = from
        self.services = services
        self.data = data
    }
}

/// What deleting an environment removed.
public struct EnvironmentDeletionView: Codable, Sendable, Hashable {
    public var environment: EnvironmentView
    /// Deployments that were running (or building) and were stopped.
    public var stoppedDeployments: Int
    public var removedDomains: [String]
    public var removedVolumes: Int
    /// Backups of its database services, removed with their files.
    public var removedBackups: Int

    public init(
        environment: EnvironmentView, stoppedDeployments: Int, removedDomains: [String], removedVolumes: Int, removedBackups: Int = 0
    ) {
        self.environment = environment
        self.stoppedDeployments = stoppedDeployments
        self.removedDomains = removedDomains
        self.removedVolumes = removedVolumes
        self.removedBackups = removedBackups
    }
}

public struct DomainView: Codable, Sendable, Hashable {
    public var hostname: String
    /// The path prefix routed (`/api`); nil for the whole host.
    public var path: String?
    public var targetPort: Int?
    public var generated: Bool
    public var url: String
    /// The HTTPS URL; nil when the server runs without HTTPS.
    public var httpsURL: String?
    /// Where its HTTPS certificate comes from: `files` (given with `--cert`/`--key`) or
    /// `local` (Switchyard's local authority); nil when the server runs without HTTPS.
    public var certificate: String?

    public init(
        hostname: String, path: String? = nil, targetPort: Int?, generated: Bool, url: String, httpsURL: String? = nil,
        certificate: String? = nil
    ) {
        self.hostname = hostname
        self.path = path
        self.targetPort = targetPort
        self.generated = generated
        self.url = url
        self.httpsURL = httpsURL
        self.certificate = certificate
    }
}

public struct DomainRequest: Codable, Sendable, Hashable {
    public var hostname: String
    public var targetPort: Int?
    /// Route only requests whose path starts with this prefix (`/api`); nil for the whole host.
    public var path: String?
    /// PEM certificate chain (leaf first) to serve over HTTPS, with `privateKey`.
    public var certificate: String?
    /// PEM private key of `certificate`; never returned by the API.
    public var privateKey: String?

    public init(hostname: String, targetPort: Int?, path: String? = nil, certificate: String? = nil, privateKey: String? = nil) {
        self.hostname = hostname
        self.targetPort = targetPort
        self.path = path
        self.certificate = certificate
        self.privateKey = privateKey
    }
}

public struct ServiceStatusView: Codable, Sendable, Hashable {
    public var service: ServiceView
    public var domains: [DomainView]
    public var latest: DeploymentView?
    /// The deployment currently serving traffic, if any.
    public var live: DeploymentView?
    /// Why the live deployment should be redeployed (its variables changed); nil if not.
    public var needsRedeploy: String?
    /// The newest backup failed, or its restore check did (database services).
    public var backupProblem: String?

    public init(
        service: ServiceView, domains: [DomainView], latest: DeploymentView?, live: DeploymentView?, needsRedeploy: String? = nil,
        backupProblem: String? = nil
    ) {
        self.service = service
        self.domains = domains
        self.latest = latest
        self.live = live
        self.needsRedeploy = needsRedeploy
        self.backupProblem = backupProblem
    }
}

public struct StatusView: Codable, Sendable, Hashable {
    public var project: EnvironmentView
    public var environment: EnvironmentView
    public var isolation: String
    public var services: [ServiceStatusView]

    public init(project: EnvironmentView, environment: EnvironmentView, isolation: String, services: [ServiceStatusView]) {
        self.project = project
        self.environment = environment
        self.isolation = isolation
        self.services = services
    }
}

public struct CreateProjectRequest: Codable, Sendable, Hashable {
    public var name: String

    public init(name: String) { self.name = name }
}

public struct CreateServiceRequest: Codable, Sendable, Hashable {
    public var name: String
    public var configPath: String?
    public var rootDirectory: String?

    public init(name: String, configPath: String?, rootDirectory: String? = nil) {
        self.name = name
        self.configPath = configPath
        self.rootDirectory = rootDirectory
    }
}

/// The body of every API error: the stable code and the human message.
public struct ErrorView: Codable, Sendable, Hashable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

public struct ServerInfoView: Codable, Sendable, Hashable {
    public var version: String
    public var routerURL: String
    public var baseDomain: String
    public var isolation: String
    /// The router's HTTPS URL; nil when HTTPS is off.
    public var httpsURL: String?
    /// Path (on the server's machine) of the local authority's certificate, to trust it;
    /// nil when HTTPS is off.
    public var authorityCertificate: String?

    public init(
        version: String, routerURL: String, baseDomain: String, isolation: String,
        httpsURL: String? = nil, authorityCertificate: String? = nil
    ) {
        self.version = version
        self.routerURL = routerURL
        self.baseDomain = baseDomain
        self.isolation = isolation
        self.httpsURL = httpsURL
        self.authorityCertificate = authorityCertificate
    }
}

public struct VolumeView: Codable, Sendable, Hashable {
    public var name: String
    public var mountPath: String

    public init(name: String, mountPath: String) {
        self.name = name
        self.mountPath = mountPath
    }
}

public struct VolumeRequest: Codable, Sendable, Hashable {
    public var mountPath: String
    public var name: String?

    public init(mountPath: String, name: String?) {
        self.mountPath = mountPath
        self.name = name
    }
}

/// A service's runtime settings: limits (`yard scale`), egress, volume.
public struct ServiceSettingsView: Codable, Sendable, Hashable {
    public var limits: ResourceLimits
    public var egress: Bool
    public var volume: VolumeView?
    public var rootDirectory: String?
    /// Set with `yard service --sleep on|off`; nil when the config file's
    /// `sleepApplication` decides.
    public var sleepApplication: Bool?
    /// The server's limits for services that set none (`yard serve --replica-memory` …); nil
    /// from a server older than them.
    public var defaultLimits: ResourceLimits?

    public init(
        limits: ResourceLimits, egress: Bool, volume: VolumeView?, rootDirectory: String? = nil, sleepApplication: Bool? = nil,
        defaultLimits: ResourceLimits? = nil
    ) {
        self.defaultLimits = defaultLimits
        self.limits = limits
        self.egress = egress
        self.volume = volume
        self.rootDirectory = rootDirectory
        self.sleepApplication = sleepApplication
    }
}

/// Whether a service sleeps when idle: always, never, or as its config file's
/// `sleepApplication` says.
public enum SleepSetting: String, Codable, Sendable, Equatable, CaseIterable {
    case on, off, config

    /// The stored value: nil defers to the config file.
    public var value: Bool? {
        switch self {
        case .on: true
        case .off: false
        case .config: nil
        }
    }
}

/// A change of settings; nil fields are left as they are, `clear` resets named limits.
public struct ServiceSettingsChange: Codable, Sendable, Hashable {
    public var memoryBytes: Int64?
    public var cpus: Double?
    public var maxProcesses: Int?
    public var egress: Bool?
    /// The service's root directory inside the upload; "" or "." sets it back to the root.
    public var rootDirectory: String?
    /// Sleeping when idle, overriding the config file's `sleepApplication` (`config` defers
    /// to it again). Applies to the live deployment at once.
    public var sleepApplication: SleepSetting?
    /// An image service's registry login (both, or `registryUsername` "" to remove it); the
    /// password is stored sealed and used from the next pull.
    public var registryUsername: String?
    public var registryPassword: String?

    public init(
        memoryBytes: Int64? = nil, cpus: Double? = nil, maxProcesses: Int? = nil, egress: Bool? = nil, rootDirectory: String? = nil,
        sleepApplication: SleepSetting? = nil, registryUsername: String? = nil, registryPassword: String? = nil
    ) {
        self.registryUsername = registryUsername
        self.registryPassword = registryPassword
        self.memoryBytes = memoryBytes
        self.cpus = cpus
        self.maxProcesses = maxProcesses
        self.egress = egress
        self.rootDirectory = rootDirectory
        self.sleepApplication = sleepApplication
    }

    /// A root directory as stored: relative, no `..`, no `./` or trailing `/`; nil for the
    /// upload's root.
    public static func normalizedRoot(_ root: String) throws(YardError) -> String? {
        // Railway writes root directories as `/apps/web`: relative to the repository.
        let parts = root.split(separator: "/").map(String.init).filter { $0 != "." && !$0.isEmpty }
        guard !parts.contains("..") else {
            throw YardError(.invalidInput, "the root directory '\(root)' leaves the upload: use a folder inside it, such as packages/web")
        }
        return parts.isEmpty ? nil : parts.joined(separator: "/")
    }
}

/// How a cron run went.
public enum CronRunStatus: String, Codable, Sendable, CaseIterable {
    /// Its process is running now.
    case running = "RUNNING"
    /// It exited with code 0.
    case succeeded = "SUCCEEDED"
    /// It exited with another code, was killed, or could not start.
    case failed = "FAILED"
    /// It was due while the previous run was still running, and did not start.
    case skipped = "SKIPPED"
    /// `yard serve` stopped while it ran.
    case interrupted = "INTERRUPTED"
}

/// One run of a cron service (`yard runs`).
public struct CronRunView: Codable, Sendable, Hashable {
    public var id: String
    public var deploymentID: String
    public var scheduledAt: Date
    public var startedAt: Date?
    public var endedAt: Date?
    public var status: CronRunStatus
    public var exitCode: Int?
    public var reason: String?

    public init(
        id: String, deploymentID: String, scheduledAt: Date, startedAt: Date?, endedAt: Date?, status: CronRunStatus, exitCode: Int?,
        reason: String?
    ) {
        self.id = id
        self.deploymentID = deploymentID
        self.scheduledAt = scheduledAt
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.status = status
        self.exitCode = exitCode
        self.reason = reason
    }
}

/// A TCP proxy (`yard domain --tcp`): `host:hostPort` forwards to `targetPort` of the
/// service's replicas.
public struct TCPProxyView: Codable, Sendable, Hashable {
    public var host: String
    public var hostPort: Int
    public var targetPort: Int

    public init(host: String, hostPort: Int, targetPort: Int) {
        self.host = host
        self.hostPort = hostPort
        self.targetPort = targetPort
    }
}

public struct TCPProxyRequest: Codable, Sendable, Hashable {
    public var targetPort: Int

    public init(targetPort: Int) {
        self.targetPort = targetPort
    }
}

/// What `yard connect` needs to start a database's client on the user's terminal: the
/// only API answer that carries a sealed value (the password), on purpose and on request
/// (`POST …/connect`). `host` and `port` are the TCP proxy's; nil when it has none.
public struct DatabaseConnectionView: Codable, Sendable, Hashable {
    public var database: DatabaseKind
    public var host: String?
    public var port: Int?
    public var user: String
    public var password: String
    public var databaseName: String?
    /// The `*_PUBLIC_URL` (through the TCP proxy), password included; nil with no proxy.
    public var publicURL: String?

    public init(
        database: DatabaseKind, host: String?, port: Int?, user: String, password: String, databaseName: String?, publicURL: String? = nil
    ) {
        self.database = database
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.databaseName = databaseName
        self.publicURL = publicURL
    }
}
