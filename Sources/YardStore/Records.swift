import Foundation
import GRDB
import YardCore

public struct ProjectRecord: StoredRecord, Sendable, Equatable {
    public static let databaseTableName = "project"
    public var id: String
    public var name: String
    public var createdAt: Date

    public init(id: String, name: String, createdAt: Date) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, name
        case createdAt = "created_at"
    }
}

public struct EnvironmentRecord: StoredRecord, Sendable, Equatable {
    public static let databaseTableName = "environment"
    public var id: String
    public var projectID: String
    public var name: String
    public var createdAt: Date

    public init(id: String, projectID: String, name: String, createdAt: Date) {
        self.id = id
        self.projectID = projectID
        self.name = name
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, name
        case projectID = "project_id"
        case createdAt = "created_at"
    }
}

public struct ServiceRecord: StoredRecord, Sendable, Equatable {
    public static let databaseTableName = "service"
    public var id: String
    public var projectID: String
    public var name: String
    /// A config file other than railway.toml/json (seed 000 uses railway.web.toml).
    public var configPath: String?
    /// The service's own build settings (stored as JSON).
    public var buildOverrides: BuildOverrides
    /// The service's own deploy settings (stored as JSON).
    public var deployOverrides: DeployOverrides
    public var createdAt: Date
    /// Its `yard scale` limits (stored as JSON).
    public var resourceLimits: ResourceLimits
    /// Whether replicas get a route out of their private network.
    public var egress: Bool
    /// The folder of the upload this service builds from (a monorepo's `packages/web`);
    /// nil is the upload's root.
    public var rootDirectory: String?
    /// Whether the service sleeps when idle, set with `yard service --sleep`; nil follows
    /// the config file's `sleepApplication`.
    public var sleepApplication: Bool?
    /// The database a database service runs (`yard add --database`); nil for an app.
    public var database: DatabaseKind?
    /// The image an image service runs (`yard add --image`, normalized: `docker.io/library/redis:7`);
    /// nil for a service built from uploads.
    public var image: String?
    /// The registry login's user name for a private image; its password is stored sealed
    /// apart (`SQLiteStore.registryCredentials`), never in this record.
    public var registryUsername: String?

    public init(
        id: String, projectID: String, name: String, configPath: String?, buildOverrides: BuildOverrides = BuildOverrides(),
        deployOverrides: DeployOverrides = DeployOverrides(), createdAt: Date, resourceLimits: ResourceLimits = ResourceLimits(),
        egress: Bool = false, rootDirectory: String? = nil, sleepApplication: Bool? = nil, database: DatabaseKind? = nil
    ) {
        self.database = database
        self.rootDirectory = rootDirectory
        self.sleepApplication = sleepApplication
        self.id = id
        self.projectID = projectID
        self.name = name
        self.configPath = configPath
        self.buildOverrides = buildOverrides
        self.deployOverrides = deployOverrides
        self.createdAt = createdAt
        self.resourceLimits = resourceLimits
        self.egress = egress
    }

    enum CodingKeys: String, CodingKey {
        case id, name
        case projectID = "project_id"
        case configPath = "config_path"
        case buildOverrides = "build_overrides"
        case deployOverrides = "deploy_overrides"
        case createdAt = "created_at"
        case resourceLimits = "resource_limits"
        case egress
        case rootDirectory = "root_directory"
        case sleepApplication = "sleep_application"
        case database
        case image
        case registryUsername = "registry_username"
    }
}

public struct DeploymentRecord: StoredRecord, Sendable, Equatable {
    public static let databaseTableName = "deployment"
    public var id: String
    public var serviceID: String
    public var environmentID: String
    public var status: DeploymentStatus
    public var reason: String?
    /// What started it: `up`, `redeploy`, `restart`.
    public var trigger: String
    public var sourceHash: String?
    public var sourcePath: String?
    public var artifactPath: String?
    /// The build result (plan, start command, environment), stored as JSON.
    public var buildResult: BuildResult?
    /// The merged deploy settings this deployment runs with, stored as JSON.
    public var deploySettings: DeploySettings?
    /// The variables snapshot, sealed to this row (`SQLiteStore.sealedSnapshot`): opaque
    /// here; values are user secrets, never logged.
    public var variables: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// Content address of the artifact (`Builder.PreparedBuild.artifactKey`).
    public var artifactKey: String?
    /// `yard up --no-cache`: the install step runs from scratch.
    public var noCache: Bool = false
    /// For a rollback: the deployment whose artifact this one runs again.
    public var rollbackOf: String?
    /// SHA-256 of the service's variables as resolved for this deployment (references
    /// followed, build secrets included); nil for deployments from before it was kept.
    public var variablesDigest: String?
    /// For a `git push` deployment: the commit it was built from, stored as JSON.
    public var gitCommit: GitCommit?

    public init(id: String, serviceID: String, environmentID: String, status: DeploymentStatus, reason: String?, trigger: String, sourceHash: String?, sourcePath: String?, artifactPath: String?, buildResult: BuildResult?, deploySettings: DeploySettings?, variables: String?, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.serviceID = serviceID
        self.environmentID = environmentID
        self.status = status
        self.reason = reason
        self.trigger = trigger
        self.sourceHash = sourceHash
        self.sourcePath = sourcePath
        self.artifactPath = artifactPath
        self.buildResult = buildResult
        self.deploySettings = deploySettings
        self.variables = variables
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, status, reason, trigger, variables
        case serviceID = "service_id"
        case environmentID = "environment_id"
        case sourceHash = "source_hash"
        case sourcePath = "source_path"
        case artifactPath = "artifact_path"
        case buildResult = "build_result"
        case deploySettings = "deploy_settings"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case artifactKey = "artifact_key"
        case noCache = "no_cache"
        case rollbackOf = "rollback_of"
        case variablesDigest = "variables_digest"
        case gitCommit = "git_commit"
    }
}

public struct DeploymentEventRecord: StoredRecord, Sendable, Equatable {
    public static let databaseTableName = "deployment_event"
    public var id: Int64?
    public var deploymentID: String
    public var status: DeploymentStatus
    public var reason: String?
    public var at: Date

    public init(id: Int64?, deploymentID: String, status: DeploymentStatus, reason: String?, at: Date) {
        self.id = id
        self.deploymentID = deploymentID
        self.status = status
        self.reason = reason
        self.at = at
    }

    enum CodingKeys: String, CodingKey {
        case id, status, reason, at
        case deploymentID = "deployment_id"
    }
}

public struct VariableRecord: StoredRecord, Sendable, Equatable {
    public static let databaseTableName = "variable"
    public static let keyColumns = ["service_id", "environment_id", "key"]
    public var serviceID: String
    public var environmentID: String
    public var key: String
    public var value: String
    public var sealed: Bool
    public var updatedAt: Date
    /// Visible to build steps only: never given to replicas, masked in build logs.
    public var buildSecret: Bool = false

    public init(serviceID: String, environmentID: String, key: String, value: String, sealed: Bool, updatedAt: Date, buildSecret: Bool = false) {
        self.buildSecret = buildSecret
        self.serviceID = serviceID
        self.environmentID = environmentID
        self.key = key
        self.value = value
        self.sealed = sealed
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case key, value, sealed
        case buildSecret = "build_secret"
        case serviceID = "service_id"
        case environmentID = "environment_id"
        case updatedAt = "updated_at"
    }
}

public struct DomainRecord: StoredRecord, Sendable, Equatable {
    public static let databaseTableName = "domain"
    public static let keyColumns = ["hostname", "path_prefix"]
    public var hostname: String
    /// The path prefix the domain routes (`/api`), or empty for the whole host.
    public var pathPrefix: String
    public var serviceID: String
    public var environmentID: String
    public var targetPort: Int?
    public var generated: Bool
    public var createdAt: Date

    public init(
        hostname: String, pathPrefix: String = "", serviceID: String, environmentID: String, targetPort: Int?, generated: Bool,
        createdAt: Date
    ) {
        self.hostname = hostname
        self.pathPrefix = pathPrefix
        self.serviceID = serviceID
        self.environmentID = environmentID
        self.targetPort = targetPort
        self.generated = generated
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case hostname, generated
        case pathPrefix = "path_prefix"
        case serviceID = "service_id"
        case environmentID = "environment_id"
        case targetPort = "target_port"
        case createdAt = "created_at"
    }
}

public struct ReplicaRecord: StoredRecord, Sendable, Equatable {
    public static let databaseTableName = "replica"
    public var id: String
    public var deploymentID: String
    public var ordinal: Int
    public var port: Int
    public var pid: Int32?
    public var status: ReplicaStatus
    public var restarts: Int
    public var updatedAt: Date
    /// The replica's address on its environment's private network (nil: loopback).
    public var address: String?
    /// How its process last ended, e.g. "OOM-killed: it went over its memory limit".
    public var lastExit: String?

    public init(
        id: String, deploymentID: String, ordinal: Int, port: Int, pid: Int32?, status: ReplicaStatus, restarts: Int,
        updatedAt: Date, address: String? = nil, lastExit: String? = nil
    ) {
        self.id = id
        self.deploymentID = deploymentID
        self.ordinal = ordinal
        self.port = port
        self.pid = pid
        self.status = status
        self.restarts = restarts
        self.updatedAt = updatedAt
        self.address = address
        self.lastExit = lastExit
    }

    enum CodingKeys: String, CodingKey {
        case id, ordinal, port, pid, status, restarts, address
        case deploymentID = "deployment_id"
        case updatedAt = "updated_at"
        case lastExit = "last_exit"
    }
}

public struct APITokenRecord: StoredRecord, Sendable, Equatable {
    public static let databaseTableName = "api_token"
    public var id: String
    public var name: String
    public var tokenHash: String
    public var createdAt: Date

    public init(id: String, name: String, tokenHash: String, createdAt: Date) {
        self.id = id
        self.name = name
        self.tokenHash = tokenHash
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, name
        case tokenHash = "token_hash"
        case createdAt = "created_at"
    }
}

public struct VolumeRecord: StoredRecord, Sendable, Equatable {
    public static let databaseTableName = "volume"
    public var id: String
    public var serviceID: String
    public var environmentID: String
    public var name: String
    public var mountPath: String
    public var createdAt: Date

    public init(id: String, serviceID: String, environmentID: String, name: String, mountPath: String, createdAt: Date) {
        self.id = id
        self.serviceID = serviceID
        self.environmentID = environmentID
        self.name = name
        self.mountPath = mountPath
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, name
        case serviceID = "service_id"
        case environmentID = "environment_id"
        case mountPath = "mount_path"
        case createdAt = "created_at"
    }
}

/// One run of a cron service's start command, or a run that was due and skipped.
public struct CronRunRecord: StoredRecord, Sendable, Equatable {
    public static let databaseTableName = "cron_run"
    public var id: String
    public var deploymentID: String
    public var serviceID: String
    public var environmentID: String
    /// The minute the schedule named.
    public var scheduledAt: Date
    public var startedAt: Date?
    public var endedAt: Date?
    public var status: CronRunStatus
    public var exitCode: Int?
    /// Why it was skipped, failed or interrupted.
    public var reason: String?

    public init(
        id: String, deploymentID: String, serviceID: String, environmentID: String, scheduledAt: Date, startedAt: Date? = nil,
        endedAt: Date? = nil, status: CronRunStatus, exitCode: Int? = nil, reason: String? = nil
    ) {
        self.id = id
        self.deploymentID = deploymentID
        self.serviceID = serviceID
        self.environmentID = environmentID
        self.scheduledAt = scheduledAt
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.status = status
        self.exitCode = exitCode
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case id, status, reason
        case deploymentID = "deployment_id"
        case serviceID = "service_id"
        case environmentID = "environment_id"
        case scheduledAt = "scheduled_at"
        case startedAt = "started_at"
        case endedAt = "ended_at"
        case exitCode = "exit_code"
    }
}

/// A variable of an environment that every service can reference as `${{shared.KEY}}`.
public struct SharedVariableRecord: StoredRecord, Sendable, Equatable {
    public static let databaseTableName = "shared_variable"
    public static let keyColumns = ["environment_id", "key"]
    public var environmentID: String
    public var key: String
    public var value: String
    public var sealed: Bool
    public var updatedAt: Date

    public init(environmentID: String, key: String, value: String, sealed: Bool = false, updatedAt: Date) {
        self.environmentID = environmentID
        self.key = key
        self.value = value
        self.sealed = sealed
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case key, value, sealed
        case environmentID = "environment_id"
        case updatedAt = "updated_at"
    }
}

/// A TCP proxy (`yard domain --tcp`): `hostPort` on the server's address forwards to
/// `targetPort` of the service's replicas in one environment.
public struct TCPProxyRecord: StoredRecord, Sendable, Equatable {
    public static let databaseTableName = "tcp_proxy"
    public static let keyColumns = ["service_id", "environment_id", "target_port"]
    public var serviceID: String
    public var environmentID: String
    public var targetPort: Int
    public var hostPort: Int
    public var createdAt: Date

    public init(serviceID: String, environmentID: String, targetPort: Int, hostPort: Int, createdAt: Date) {
        self.serviceID = serviceID
        self.environmentID = environmentID
        self.targetPort = targetPort
        self.hostPort = hostPort
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case serviceID = "service_id"
        case environmentID = "environment_id"
        case targetPort = "target_port"
        case hostPort = "host_port"
        case createdAt = "created_at"
    }
}

/// The branch whose pushes deploy a service in one environment (`yard service link --branch`).
public struct ServiceBranchRecord: StoredRecord, Sendable, Equatable {
    public static let databaseTableName = "service_branch"
    public static let keyColumns = ["service_id", "environment_id"]
    public var serviceID: String
    public var environmentID: String
    public var branch: String
    public var createdAt: Date

    public init(serviceID: String, environmentID: String, branch: String, createdAt: Date) {
        self.serviceID = serviceID
        self.environmentID = environmentID
        self.branch = branch
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case branch
        case serviceID = "service_id"
        case environmentID = "environment_id"
        case createdAt = "created_at"
    }
}
