import Foundation

public enum BuilderKind: String, Codable, Sendable, CaseIterable {
    case railpack = "RAILPACK"
    case dockerfile = "DOCKERFILE"
    case nixpacks = "NIXPACKS"
}

public enum RestartPolicyType: String, Codable, Sendable, CaseIterable {
    case onFailure = "ON_FAILURE"
    case always = "ALWAYS"
    case never = "NEVER"
}

/// Build settings after every source (service settings, config file, environment
/// overrides) has been merged.
public struct BuildSettings: Codable, Sendable, Equatable {
    public var builder: BuilderKind = .railpack
    public var buildCommand: String?
    public var watchPatterns: [String] = []
    public var dockerfilePath: String?

    public init() {}
}

/// Deploy settings after merging; defaults follow Railway's.
public struct DeploySettings: Codable, Sendable, Equatable {
    public var startCommand: String?
    public var preDeployCommand: [String]?
    public var healthcheckPath: String?
    public var healthcheckTimeout: Int = 300
    public var restartPolicyType: RestartPolicyType = .onFailure
    public var restartPolicyMaxRetries: Int = 10
    public var numReplicas: Int = 1
    public var multiRegionConfig: [String: Int]?
    public var cronSchedule: String?
    public var sleepApplication: Bool = false
    public var overlapSeconds: Int = 0
    /// Railway's default is 0; a few seconds lets in-flight work finish after SIGTERM.
    public var drainingSeconds: Int = 3
    public var region: String?

    public init() {}
}

/// One field of the build section, every one optional: a layer that may set it.
public struct BuildOverrides: Codable, Sendable, Equatable {
    public var builder: BuilderKind?
    public var buildCommand: String??
    public var watchPatterns: [String]?
    public var dockerfilePath: String??

    public init() {}

    public func apply(to settings: inout BuildSettings) {
        if let builder { settings.builder = builder }
        if let buildCommand { settings.buildCommand = buildCommand }
        if let watchPatterns { settings.watchPatterns = watchPatterns }
        if let dockerfilePath { settings.dockerfilePath = dockerfilePath }
    }
}

/// One field of the deploy section, every one optional. `String??` distinguishes
/// "not set" (nil) from an explicit JSON/TOML null that clears the value.
public struct DeployOverrides: Codable, Sendable, Equatable {
    public var startCommand: String??
    public var preDeployCommand: [String]?
    public var healthcheckPath: String??
    public var healthcheckTimeout: Int?
    public var restartPolicyType: RestartPolicyType?
    public var restartPolicyMaxRetries: Int?
    public var numReplicas: Int?
    public var multiRegionConfig: [String: Int]?
    public var cronSchedule: String??
    public var sleepApplication: Bool?
    public var overlapSeconds: Int?
    public var drainingSeconds: Int?
    public var region: String??

    public init() {}

    public func apply(to settings: inout DeploySettings) {
        if let startCommand { settings.startCommand = startCommand }
        if let preDeployCommand { settings.preDeployCommand = preDeployCommand }
        if let healthcheckPath { settings.healthcheckPath = healthcheckPath }
        if let healthcheckTimeout { settings.healthcheckTimeout = healthcheckTimeout }
        if let restartPolicyType { settings.restartPolicyType = restartPolicyType }
        if let restartPolicyMaxRetries { settings.restartPolicyMaxRetries = restartPolicyMaxRetries }
        if let numReplicas { settings.numReplicas = numReplicas }
        if let multiRegionConfig {
            settings.multiRegionConfig = multiRegionConfig
            // One machine: the replicas of every region run here.
            settings.numReplicas = max(1, multiRegionConfig.values.reduce(0, +))
        }
        if let cronSchedule { settings.cronSchedule = cronSchedule }
        if let sleepApplication { settings.sleepApplication = sleepApplication }
        if let overlapSeconds { settings.overlapSeconds = overlapSeconds }
        if let drainingSeconds { settings.drainingSeconds = drainingSeconds }
        if let region { settings.region = region }
    }
}

/// Limits applied through cgroups; nil means unlimited.
public struct ResourceLimits: Sendable, Hashable, Codable {
    public var memoryBytes: Int64?
    /// CPU cores, e.g. 0.5 for half a core.
    public var cpus: Double?
    public var maxProcesses: Int?

    public init(memoryBytes: Int64? = nil, cpus: Double? = nil, maxProcesses: Int? = nil) {
        self.memoryBytes = memoryBytes
        self.cpus = cpus
        self.maxProcesses = maxProcesses
    }
}

/// Live use read from a process's cgroup.
public struct ResourceUsage: Sendable, Hashable, Codable {
    /// Total CPU time used, in nanoseconds.
    public var cpuNanoseconds: UInt64
    public var memoryBytes: UInt64

    public init(cpuNanoseconds: UInt64, memoryBytes: UInt64) {
        self.cpuNanoseconds = cpuNanoseconds
        self.memoryBytes = memoryBytes
    }
}

extension DeploySettings {
    /// Railway's setting variables (`RAILWAY_HEALTHCHECK_TIMEOUT_SEC`,
    /// `RAILWAY_DEPLOYMENT_OVERLAP_SECONDS`, `RAILWAY_DEPLOYMENT_DRAINING_SECONDS`) override
    /// the config's values; read by the server and by `yard build --plan` alike.
    public mutating func applySettingVariables(_ variables: [String: String]) {
        if let value = variables["RAILWAY_HEALTHCHECK_TIMEOUT_SEC"].flatMap(Int.init) { healthcheckTimeout = value }
        if let value = variables["RAILWAY_DEPLOYMENT_OVERLAP_SECONDS"].flatMap(Int.init) { overlapSeconds = value }
        if let value = variables["RAILWAY_DEPLOYMENT_DRAINING_SECONDS"].flatMap(Int.init) { drainingSeconds = value }
    }
}
