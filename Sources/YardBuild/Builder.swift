import Foundation
import YardCore
import YardRuntime

/// Builds an app's source into a directory it can run from: detects the provider, copies
/// the source into the app directory and runs the plan's steps through a
/// `ProcessLauncher` (plain processes today, the build sandbox next).
public struct Builder: Sendable {
    public struct Configuration: Sendable {
        /// Absolute path of the `yard` binary; static sites are started as
        /// `<yard> static-serve --root <dir> --port $PORT`.
        public var platformExecutable: String
        /// The install cache; nil builds every dependency set from scratch.
        public var cache: BuildCache?

        public init(platformExecutable: String, cache: BuildCache? = nil) {
            self.platformExecutable = platformExecutable
            self.cache = cache
        }
    }

    /// A plan checked against the machine and the build's identity, before anything runs.
    public struct PreparedBuild: Sendable {
        public var plan: BuildPlan
        /// Each toolchain's `--version` line, by toolchain name.
        public var toolchainVersions: [String: String]
        /// Content address of the artifact this build would produce: the source tree, the
        /// plan, the build settings, the build-visible variables and the toolchain
        /// versions. Equal keys mean the build can be skipped.
        public var artifactKey: String
        fileprivate var outcome: BuildPlanner.Outcome
    }

    public let configuration: Configuration
    let launcher: any ProcessLauncher

    public init(configuration: Configuration, launcher: any ProcessLauncher) {
        self.configuration = configuration
        self.launcher = launcher
    }

    /// Detects the provider and applies the overrides. Reads the source directory only.
    public func plan(for request: BuildRequest) throws(YardError) -> BuildPlan {
        try planner(for: request).plan().plan
    }

    /// Plans the build, checks that its toolchains exist and computes its artifact key.
    /// Reads the source directory and runs only the toolchains' version commands.
    public func prepare(_ request: BuildRequest) throws(YardError) -> PreparedBuild {
        var outcome = try planner(for: request).plan()
        if let missing = outcome.missingToolchain {
            throw YardError(.buildFailed, missing)
        }
        let path = request.hostEnvironment["PATH"].flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/local/bin:/usr/bin:/bin"
        var versions: [String: String] = [:]
        for toolchain in outcome.plan.toolchains {
            guard let executable = HostCommand.find(toolchain.executable, path: path) else {
                throw YardError(
                    .buildFailed,
                    "the \(outcome.plan.provider) build needs \(toolchain.executable), which is not installed on this machine: "
                        + "install it with `\(toolchain.installHint)`"
                )
            }
            let output = HostCommand.run(executable, toolchain.versionArguments) ?? ""
            versions[toolchain.name] = output.split(whereSeparator: \.isNewline).first.map(String.init) ?? "unknown"
        }
        if !versions.isEmpty {
            // The planner reads files only; with the versions known it checks the app's
            // stated requirements (engines.node, railpack packages) against them.
            var planner = planner(for: request)
            planner.hostVersions = versions
            outcome = try planner.plan()
        }

        var hasher = ContentHasher()
        hasher.add("switchyard-artifact-v1")
        do {
            hasher.add(try ContentHash.sha256(treeAt: request.sourceDirectory))
        } catch {
            throw YardError(.buildFailed, "could not read the source folder to hash it", cause: error)
        }
        hasher.add((try? YardJSON.encodeString(outcome.plan)) ?? "")
        hasher.add((try? YardJSON.encodeString(request.build)) ?? "")
        hasher.add(request.mountPath ?? request.appDirectory.standardizedFileURL.path)
        for name in versions.keys.sorted() { hasher.add("\(name)=\(versions[name] ?? "")") }
        // Values are hashed, never stored: the key is a digest.
        for name in request.variables.keys.sorted() { hasher.add("\(name)=\(request.variables[name] ?? "")") }
        return PreparedBuild(plan: outcome.plan, toolchainVersions: versions, artifactKey: hasher.finish(), outcome: outcome)
    }

    /// The names of the build's secrets: the service's and the plan's.
    public static func secretNames(of request: BuildRequest, plan: BuildPlan) -> Set<String> {
        request.secretNames.union(plan.secrets)
    }

    /// Copies the source into the app directory and runs the install and build steps,
    /// streaming their output to `log` with every secret value masked. Stops at the first
    /// failing step.
    public func build(
        _ request: BuildRequest,
        log: @escaping @Sendable (LogLine.Stream, String) -> Void
    ) async throws(YardError) -> BuildResult {
        try await build(prepare(request), request, log: log)
    }

    public func build(
        _ prepared: PreparedBuild,
        _ request: BuildRequest,
        log unmaskedLog: @escaping @Sendable (LogLine.Stream, String) -> Void
    ) async throws(YardError) -> BuildResult {
        let secrets = Self.secretNames(of: request, plan: prepared.plan)
        let secretValues = secrets.compactMap { request.variables[$0] }.filter { !$0.isEmpty }
        let masker = SecretMasker(secretValues)
        let log: @Sendable (LogLine.Stream, String) -> Void = { stream, line in unmaskedLog(stream, masker.mask(line)) }

        let outcome = prepared.outcome
        var plan = prepared.plan
        for note in plan.notes { log(.system, note) }
        for name in secrets.sorted() where (request.variables[name]?.count ?? 0) > 0 && request.variables[name]!.count < SecretMasker.minimumLength {
            log(.system, "warning: secret \(name) is shorter than \(SecretMasker.minimumLength) characters, so it cannot be masked in logs")
        }
        if !prepared.toolchainVersions.isEmpty {
            log(.system, "toolchains: " + prepared.toolchainVersions.keys.sorted().map { "\($0) \(prepared.toolchainVersions[$0] ?? "")" }.joined(separator: ", "))
        }

        try prepareAppDirectory(for: request)
        let appDirectory = request.appDirectory.standardizedFileURL
        let directory = request.mountPath ?? appDirectory.path
        // Variables come last: a service may deliberately set PATH or PIP_INDEX_URL.
        let environment = request.hostEnvironment
            .merging(plan.environment) { $1 }
            .merging(request.variables) { $1 }

        let cacheUse = installCache(for: prepared, request: request, log: log)
        var skipInstall = false
        if let cacheUse, let cache = configuration.cache {
            if cache.restore(key: cacheUse.key, directories: cacheUse.settings.directories, into: appDirectory) {
                skipInstall = cacheUse.settings.skipInstallOnHit
                log(.system, "install cache hit (\(cacheUse.key.prefix(12))): restored \(cacheUse.settings.directories.joined(separator: ", "))"
                    + (skipInstall ? "; skipping the install step" : "; running the install step over them"))
            } else {
                log(.system, "install cache miss (\(cacheUse.key.prefix(12))): installing from scratch")
            }
        }

        for step in outcome.steps {
            if skipInstall, step.phase == .setup || step.phase == .install { continue }
            log(.system, "$ \(step.command)")
            var spec = LaunchSpec.shell(step.command, environment: environment, workingDirectory: directory, label: "build")
            spec.sandbox = request.sandbox
            let reason = try await runToCompletion(spec, command: step.command, output: log)
            guard reason.isSuccess else {
                throw YardError(.buildFailed, masker.mask(failureMessage(step: step, reason: reason, provider: plan.provider)))
            }
        }

        if let guessed = outcome.swiftExecutable {
            plan.startCommand = try await confirmSwiftExecutable(
                request: request,
                guessed: guessed,
                arguments: outcome.swiftStartArguments,
                environment: environment,
                log: log
            )
        }
        try checkNoSecretWritten(request: request, secrets: secrets, log: log)
        if let cacheUse, let cache = configuration.cache, !skipInstall {
            if let bytes = cache.save(key: cacheUse.key, directories: cacheUse.settings.directories, from: appDirectory) {
                log(.system, "install cache saved (\(cacheUse.key.prefix(12)), \(Self.describe(bytes: bytes)))")
            }
        }
        log(.system, "build finished; start command: \(plan.startCommand)")
        return BuildResult(plan: plan, startCommand: plan.startCommand, environment: plan.environment)
    }

    /// Whether and under which key the install step is cached for this build.
    private func installCache(
        for prepared: PreparedBuild,
        request: BuildRequest,
        log: @Sendable (LogLine.Stream, String) -> Void
    ) -> (key: String, settings: InstallCache)? {
        guard let settings = prepared.plan.cache, configuration.cache != nil else { return nil }
        if request.noCache {
            log(.system, "install cache bypassed (NO_CACHE=1 or --no-cache)")
            return nil
        }
        guard let mountPath = request.mountPath else {
            // Cached folders hold absolute paths (a venv's scripts, SwiftPM's build
            // records); without the sandbox the app's folder moves with every deployment.
            log(.system, "install cache off: builds run without the sandbox, so the app folder moves with every deployment")
            return nil
        }
        let key = BuildCache.key(
            plan: prepared.plan,
            cache: settings,
            toolchainVersions: prepared.toolchainVersions,
            mountPath: mountPath,
            app: request.sourceDirectory.standardizedFileURL
        )
        return (key, settings)
    }

    /// A secret's value must not end up in the artifact: the build fails naming the secret
    /// and the files (never the value).
    private func checkNoSecretWritten(
        request: BuildRequest,
        secrets: Set<String>,
        log: @Sendable (LogLine.Stream, String) -> Void
    ) throws(YardError) {
        let values = Dictionary(uniqueKeysWithValues: secrets.sorted().compactMap { name -> (String, String)? in
            guard let value = request.variables[name], value.count >= SecretMasker.minimumLength else { return nil }
            return (name, value)
        })
        // In this process, never on a command line: see SecretScan.
        let found = SecretScan.files(containing: values, under: request.appDirectory)
        if let name = found.keys.sorted().first, let files = found[name] {
            throw YardError(
                .buildFailed,
                "the build wrote the value of secret \(name) into \(files.prefix(5).joined(separator: ", ")): "
                    + "secrets are for build steps only and must not be stored in the artifact; "
                    + "remove the command that writes it, or make \(name) a plain variable"
            )
        }
    }

    static func describe(bytes: Int64) -> String {
        let mebibytes = Double(bytes) / 1_048_576
        return mebibytes >= 1 ? String(format: "%.1f MiB", mebibytes) : "\(bytes / 1024) KiB"
    }

    private func planner(for request: BuildRequest) -> BuildPlanner {
        BuildPlanner(
            source: SourceTree(root: request.sourceDirectory),
            request: request,
            platformExecutable: configuration.platformExecutable
        )
    }

    // MARK: Steps

    /// Runs one process to its end; a cancelled build kills the step's whole process tree.
    func runToCompletion(
        _ spec: LaunchSpec,
        command: String,
        output: @escaping OutputHandler
    ) async throws(YardError) -> ExitReason {
        if Task.isCancelled {
            throw YardError(.buildFailed, "the build was cancelled before `\(command)` ran")
        }
        let process: any LaunchedProcess
        do {
            process = try await launcher.launch(spec, output: output)
        } catch let error as YardError {
            throw YardError(.buildFailed, "could not start build step `\(command)`: \(error.message)", cause: error)
        } catch {
            throw YardError(.buildFailed, "could not start build step `\(command)`", cause: error)
        }
        let reason = await withTaskCancellationHandler {
            await process.wait()
        } onCancel: {
            process.signal(SIGKILL)
        }
        if Task.isCancelled {
            throw YardError(.buildFailed, "the build was cancelled while `\(command)` ran")
        }
        return reason
    }

    private func failureMessage(step: BuildPlanner.Step, reason: ExitReason, provider: String) -> String {
        let ended: String =
            switch reason {
            case .exited(let code): "exited with code \(code)"
            case .signaled(let signal): "was killed by signal \(signal)"
            case .oomKilled: "was killed for going over its memory limit"
            }
        let message = "build step `\(step.command)` \(ended)"
        if let hint = step.failureHint {
            return message + ": " + hint + " (see the output above)"
        }
        switch (step.phase, provider) {
        case (.install, "node"):
            return message
                + ": the node dependencies could not be installed; the npm registry may not be reachable from this "
                + "machine (see the npm output above)"
        case (.install, "python"):
            return message + ": the python dependencies could not be installed (see the pip output above)"
        case (.install, _):
            return message + ": the dependencies could not be installed (see the output above)"
        case (.setup, "python"):
            return message + ": could not create the virtual environment; check that python3 and its venv module are installed"
        default:
            return message + " (see the output above)"
        }
    }

    // MARK: Source copy

    private func prepareAppDirectory(for request: BuildRequest) throws(YardError) {
        let source = request.sourceDirectory.standardizedFileURL.resolvingSymlinksInPath()
        let app = request.appDirectory.standardizedFileURL.resolvingSymlinksInPath()
        if source.path == app.path { return }
        let sourceParts = source.pathComponents
        let appParts = app.pathComponents
        // Nested directories would copy into themselves, or the cleanup would delete the source.
        if appParts.starts(with: sourceParts) || sourceParts.starts(with: appParts) {
            throw YardError(
                .invalidInput,
                "the app directory \(app.path) and the source directory \(source.path) are nested: use separate directories"
            )
        }
        let files = FileManager.default
        do {
            // A rebuild starts from a clean copy: leftovers of an earlier build must not leak in.
            if files.fileExists(atPath: app.path) {
                try files.removeItem(at: app)
            }
            try files.createDirectory(at: app.deletingLastPathComponent(), withIntermediateDirectories: true)
            try files.copyItem(at: source, to: app)
        } catch {
            throw YardError(.buildFailed, "could not copy the source into \(app.path): check free disk space and permissions", cause: error)
        }
    }

    // MARK: Swift

    /// The start command's product was guessed from Package.swift's text; SwiftPM's own
    /// reading of the manifest decides, and the binary must exist.
    private func confirmSwiftExecutable(
        request: BuildRequest,
        guessed: String,
        arguments: String?,
        environment: [String: String],
        log: @escaping OutputHandler
    ) async throws(YardError) -> String {
        let directory = request.appDirectory.standardizedFileURL
        let stdout = CapturedLines()
        var spec = LaunchSpec.shell(
            "swift package dump-package",
            environment: environment,
            workingDirectory: request.mountPath ?? directory.path,
            label: "build"
        )
        spec.sandbox = request.sandbox
        let reason = try await runToCompletion(spec, command: "swift package dump-package") { stream, line in
            if stream == .stdout { stdout.append(line) } else { log(stream, line) }
        }
        var product = guessed
        if reason.isSuccess,
            let manifest = SwiftManifest(dumpPackageJSON: Data(stdout.joined().utf8)),
            let confirmed = manifest.preferredExecutable(
                directoryName: request.sourceDirectory.standardizedFileURL.lastPathComponent)
        {
            product = confirmed
        } else {
            log(.system, "could not read the package with `swift package dump-package`; starting \(guessed) as guessed from Package.swift")
        }
        let binary = directory.appendingPathComponent(".build/release").appendingPathComponent(product)
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw YardError(
                .buildFailed,
                "swift build finished but .build/release/\(product) is not an executable: declare an executable product in Package.swift or set deploy.startCommand"
            )
        }
        return BuildPlanner.swiftStartCommand(product: product, arguments: arguments)
    }
}

/// Lines collected from a process's output, appended from the launcher's reader.
private final class CapturedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    func append(_ line: String) {
        lock.withLock { lines.append(line) }
    }

    func joined() -> String {
        lock.withLock { lines.joined(separator: "\n") }
    }
}
