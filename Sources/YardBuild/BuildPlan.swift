import Foundation
import YardConfig
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
    /// The file, folder or setting that selected the provider ("requirements.txt").
    public var detectedFrom: String
    /// What the dependency install step produces and what it depends on; nil when the
    /// install step cannot be cached (no install, or a user's own install command).
    public var cache: InstallCache?
    /// Programs the steps need; a missing one fails the build before any step runs, and
    /// their versions are part of the install cache's key.
    public var toolchains: [Toolchain]
    /// Variable names visible to build steps only (railpack.json `secrets`).
    public var secrets: [String]

    public init(
        provider: String,
        installCommands: [String] = [],
        buildCommands: [String] = [],
        startCommand: String,
        environment: [String: String] = [:],
        notes: [String] = [],
        detectedFrom: String = "",
        cache: InstallCache? = nil,
        toolchains: [Toolchain] = [],
        secrets: [String] = []
    ) {
        self.provider = provider
        self.installCommands = installCommands
        self.buildCommands = buildCommands
        self.startCommand = startCommand
        self.environment = environment
        self.notes = notes
        self.detectedFrom = detectedFrom
        self.cache = cache
        self.toolchains = toolchains
        self.secrets = secrets
    }
}

/// The install step's cacheable output: the folders it fills, keyed by the files it reads.
public struct InstallCache: Codable, Sendable, Equatable {
    /// Folders relative to the app directory (".venv", "node_modules", ".build").
    public var directories: [String]
    /// Files relative to the app directory whose bytes decide what gets installed
    /// (lockfiles and manifests); missing ones count as absent in the key.
    public var keyFiles: [String]
    /// True when the install is a pure function of `keyFiles`, so a cache hit skips the
    /// install commands; false re-runs them over the restored folders (for example
    /// `pip install .`, which copies the app's own code).
    public var skipInstallOnHit: Bool

    public init(directories: [String], keyFiles: [String], skipInstallOnHit: Bool) {
        self.directories = directories
        self.keyFiles = keyFiles
        self.skipInstallOnHit = skipInstallOnHit
    }
}

/// A program a provider's steps run, e.g. python3 for the python provider.
public struct Toolchain: Codable, Sendable, Equatable {
    /// The provider's language name ("python", "go").
    public var name: String
    /// The executable looked up on PATH ("python3", "go").
    public var executable: String
    /// Arguments that print its version ("--version"; go uses "version").
    public var versionArguments: [String]
    /// How to get it on Debian, shown when it is missing ("apt-get install -y golang-go").
    public var installHint: String

    public init(name: String, executable: String, versionArguments: [String] = ["--version"], installHint: String) {
        self.name = name
        self.executable = executable
        self.versionArguments = versionArguments
        self.installHint = installHint
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
    /// Where build steps and replicas see the app directory: `/app` in the sandbox (as on
    /// Railway, and so cached folders such as a venv keep valid absolute paths); nil
    /// means the app directory's own path.
    public var mountPath: String?
    /// The `railpack.json` that applies to this service (its root's file, or its entry in
    /// a root file's `services` map), already parsed.
    public var railpack: RailpackConfig?
    /// `yard up --no-cache` or `NO_CACHE=1`: the install step runs from scratch.
    public var noCache: Bool
    /// Variable names that are build-only secrets (from the service settings); the
    /// plan's `secrets` add to them.
    public var secretNames: Set<String>

    public init(
        sourceDirectory: URL,
        appDirectory: URL,
        build: BuildSettings = BuildSettings(),
        startCommand: String? = nil,
        procfileWeb: String? = nil,
        variables: [String: String] = [:],
        hostEnvironment: [String: String] = [:],
        sandbox: SandboxSpec? = nil,
        mountPath: String? = nil,
        railpack: RailpackConfig? = nil,
        noCache: Bool = false,
        secretNames: Set<String> = []
    ) {
        self.sourceDirectory = sourceDirectory
        self.appDirectory = appDirectory
        self.build = build
        self.startCommand = startCommand
        self.procfileWeb = procfileWeb
        self.variables = variables
        self.hostEnvironment = hostEnvironment
        self.sandbox = sandbox
        self.mountPath = mountPath
        self.railpack = railpack
        self.noCache = noCache
        self.secretNames = secretNames
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
