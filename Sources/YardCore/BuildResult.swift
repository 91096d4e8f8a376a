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
    /// The version the app asks for, as written ("3.12", ">=1.22", "yarn@4.1.0"); nil
    /// when it names none. Optional fields: plans stored before them still decode.
    public var requested: String?
    /// Where `requested` was read from (".python-version", "go.mod", "RAILPACK_GO_VERSION").
    public var source: String?
    /// Whether this machine has the executable to build with; a build-time fact: a plan
    /// whose toolchain is missing still plans, and its build fails before any step.
    public var available: Bool?
    /// Whether the version found satisfies `requested`; nil when either is unknown.
    public var matches: Bool?
    /// What the build will do about this toolchain, in words.
    public var message: String?

    public init(name: String, executable: String, versionArguments: [String] = ["--version"], installHint: String) {
        self.name = name
        self.executable = executable
        self.versionArguments = versionArguments
        self.installHint = installHint
    }
}

/// A finished build: the plan that ran, and how to start what it produced.
public struct BuildResult: Codable, Sendable, Equatable {
    public var plan: BuildPlan
    /// The command that starts the app from the app directory; may reference `$PORT`.
    public var startCommand: String
    /// Environment the app needs at run time on top of its variables and `PORT`.
    public var environment: [String: String]
    /// The image the build produced (a Dockerfile build, an image service): replicas run
    /// it as their root filesystem. Nil for a folder artifact.
    public var image: ImageArtifact?

    public init(plan: BuildPlan, startCommand: String, environment: [String: String], image: ImageArtifact? = nil) {
        self.plan = plan
        self.startCommand = startCommand
        self.environment = environment
        self.image = image
    }
}
