import Foundation
import YardConfig
import YardCore
import YardRuntime

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
    /// This machine's CA bundle, for image builds to trust (`ProviderContainerfile.hostCertificates`).
    public var trustedCertificates: URL?

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
