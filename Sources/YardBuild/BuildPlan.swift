import Foundation
import YardCore
import YardRuntime

/// How one service is built and started: the detected provider's steps with every
/// override (config file, Procfile, `RAILPACK_*` variables) already applied.
public struct BuildPlan: Codable, Sendable, Equatable {
    /// The provider that matched: "staticfile", "shell", "python", "node" or "swift".
    public var provider: String
    /// Shell command lines that install dependencies, run with cwd = the app directory.
    public var installCommands: [String]
    /// Shell command lines that build the app, run after the install commands.
    public var buildCommands: [String]
    /// The shell command line that starts the app; it may reference `$PORT`.
    public var startCommand: String
    /// Extra environment for the build steps and for the running app (the venv's bin
    /// first on PATH, `VIRTUAL_ENV`). Never holds service variables.
    public var environment: [String: String]
    /// Human lines for the build log ("detected python from requirements.txt").
    public var notes: [String]

    public init(
        provider: String,
        installCommands: [String] = [],
        buildCommands: [String] = [],
        startCommand: String,
        environment: [String: String] = [:],
        notes: [String] = []
    ) {
        self.provider = provider
        self.installCommands = installCommands
        self.buildCommands = buildCommands
        self.startCommand = startCommand
        self.environment = environment
        self.notes = notes
    }
}

/// Everything the builder needs for one deployment, as plain values.
public struct BuildRequest: Sendable {
    /// The extracted upload. The builder copies it into `appDirectory` first, or builds
    /// in place when both are the same directory.
    public var sourceDirectory: URL
    /// Where the artifact lives; the app runs from here.
    public var appDirectory: URL
    /// Merged build settings; `buildCommand` replaces the plan's build commands.
    public var build: BuildSettings
    /// The resolved `deploy.startCommand`; overrides every other start command.
    public var startCommand: String?
    /// The `web:` command of a Procfile; overrides the provider's default start command.
    /// When nil, the builder reads `Procfile` from the source directory itself.
    public var procfileWeb: String?
    /// Service variables visible to build steps. Their values are never logged.
    public var variables: [String: String]
    /// The base environment of build steps (PATH, HOME, LANG).
    public var hostEnvironment: [String: String]
    /// The sandbox every build step runs in; nil runs them as plain processes.
    public var sandbox: SandboxSpec?

    public init(
        sourceDirectory: URL,
        appDirectory: URL,
        build: BuildSettings = BuildSettings(),
        startCommand: String? = nil,
        procfileWeb: String? = nil,
        variables: [String: String] = [:],
        hostEnvironment: [String: String] = [:],
        sandbox: SandboxSpec? = nil
    ) {
        self.sourceDirectory = sourceDirectory
        self.appDirectory = appDirectory
        self.build = build
        self.startCommand = startCommand
        self.procfileWeb = procfileWeb
        self.variables = variables
        self.hostEnvironment = hostEnvironment
        self.sandbox = sandbox
    }
}

/// A finished build: the plan that ran, and how to start what it produced.
public struct BuildResult: Codable, Sendable, Equatable {
    public var plan: BuildPlan
    /// The command that starts the app from the app directory; may reference `$PORT`.
    public var startCommand: String
    /// Environment the app needs at run time on top of its variables and `PORT`.
    public var environment: [String: String]

    public init(plan: BuildPlan, startCommand: String, environment: [String: String]) {
        self.plan = plan
        self.startCommand = startCommand
        self.environment = environment
    }
}
