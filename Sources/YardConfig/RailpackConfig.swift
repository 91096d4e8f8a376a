import Foundation
import YardCore

/// A `railpack.json` file (schema `https://schema.railpack.com`), as Railway's builder
/// reads it, plus the `services` map that seed 002 writes at a monorepo's root.
///
/// Fields a build does not use (`$schema`, `version`, `metadata`) are accepted silently;
/// other unknown fields become warnings, as in `railway.toml`.
public struct RailpackConfig: Sendable, Equatable {
    /// The file, relative to the directory it was read from (`railpack.json`).
    public var fileName: String
    /// Forces a provider ("python", "node", ...) instead of detecting one.
    public var provider: String?
    /// Toolchain versions by name (`{"python": "3.12"}`).
    public var packages: [String: String]
    public var buildAptPackages: [String]
    /// Variable names visible to build steps only, never at run time, never logged.
    public var secrets: [String]
    /// Steps in the order the file lists them.
    public var steps: [RailpackStep]
    public var deploy: RailpackDeploy?
    /// Seed 002's shape: one entry per service, in file order. Empty for a plain file.
    public var services: [RailpackService]
    public var warnings: [ConfigWarning]

    public init(
        fileName: String = "railpack.json",
        provider: String? = nil,
        packages: [String: String] = [:],
        buildAptPackages: [String] = [],
        secrets: [String] = [],
        steps: [RailpackStep] = [],
        deploy: RailpackDeploy? = nil,
        services: [RailpackService] = [],
        warnings: [ConfigWarning] = []
    ) {
        self.fileName = fileName
        self.provider = provider
        self.packages = packages
        self.buildAptPackages = buildAptPackages
        self.secrets = secrets
        self.steps = steps
        self.deploy = deploy
        self.services = services
        self.warnings = warnings
    }

    public func step(named name: String) -> RailpackStep? {
        steps.first { $0.name == name }
    }
}

/// One entry of `steps`.
public struct RailpackStep: Sendable, Equatable {
    public var name: String
    /// nil: the file does not set `commands`, so the provider's default commands stay.
    /// A `.extend` element stands where the provider's default commands go.
    public var commands: [RailpackCommand]?
    public var secrets: [String]
    public var variables: [String: String]
    /// Other steps this one starts from (`{"step": "install"}`); informational here.
    public var inputs: [String]
    public var caches: [String]

    public init(
        name: String,
        commands: [RailpackCommand]? = nil,
        secrets: [String] = [],
        variables: [String: String] = [:],
        inputs: [String] = [],
        caches: [String] = []
    ) {
        self.name = name
        self.commands = commands
        self.secrets = secrets
        self.variables = variables
        self.inputs = inputs
        self.caches = caches
    }
}

/// One element of a step's `commands`.
public enum RailpackCommand: Sendable, Equatable {
    /// `"npm ci"` or `{"cmd": "npm ci", "customName": "..."}`: a shell command line.
    case exec(String)
    /// `{"path": "/app/bin"}`: prepends a directory to PATH for the later commands and the app.
    case path(String)
    /// `{"src": "a", "dest": "b"}`: copies a file or folder inside the app.
    case copy(source: String, destination: String)
    /// `"..."`: the provider's default commands for this step go here.
    case extend
}

/// `deploy`, at the top level or inside a service.
public struct RailpackDeploy: Sendable, Equatable {
    public var startCommand: String?
    /// `variables` and seed 002's `environment`, merged (`environment` wins on a clash).
    /// Values may hold `${{service.KEY}}` references, resolved at deploy time.
    public var variables: [String: String]
    /// `healthCheckPath` (seed 002) or `healthcheckPath` (railway.toml's spelling).
    public var healthcheckPath: String?
    /// `healthCheckTimeout` or `healthcheckTimeout`, in seconds.
    public var healthcheckTimeout: Int?
    /// Directories prepended to PATH at run time.
    public var paths: [String]
    public var aptPackages: [String]

    public init(
        startCommand: String? = nil,
        variables: [String: String] = [:],
        healthcheckPath: String? = nil,
        healthcheckTimeout: Int? = nil,
        paths: [String] = [],
        aptPackages: [String] = []
    ) {
        self.startCommand = startCommand
        self.variables = variables
        self.healthcheckPath = healthcheckPath
        self.healthcheckTimeout = healthcheckTimeout
        self.paths = paths
        self.aptPackages = aptPackages
    }
}

/// One entry of seed 002's `services` map.
public struct RailpackService: Sendable, Equatable {
    public var name: String
    /// The service's root directory, relative to the file's directory, normalised
    /// (`"./"` → `"."`, `"./packages/web"` → `"packages/web"`).
    public var root: String
    /// The service's `build` object, read like a whole `railpack.json` (provider,
    /// packages, steps, secrets); its `deploy` is the service's `deploy` object.
    public var config: RailpackConfig

    public init(name: String, root: String, config: RailpackConfig) {
        self.name = name
        self.root = root
        self.config = config
    }
}

extension RailpackDeploy {
    /// The settings `railway.toml` also has (start command, health check path and timeout),
    /// as a layer for ``ConfigLoader/load(directory:configPath:environment:isPullRequestEnvironment:serviceBuild:serviceDeploy:railpackDeploy:)``.
    /// Unset fields stay unset, so lower layers show through.
    public var deployOverrides: DeployOverrides {
        var overrides = DeployOverrides()
        if let startCommand { overrides.startCommand = .some(startCommand) }
        if let healthcheckPath { overrides.healthcheckPath = .some(healthcheckPath) }
        overrides.healthcheckTimeout = healthcheckTimeout
        return overrides
    }
}
