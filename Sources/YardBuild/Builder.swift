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

        public init(platformExecutable: String) {
            self.platformExecutable = platformExecutable
        }
    }

    public let configuration: Configuration
    private let launcher: any ProcessLauncher

    public init(configuration: Configuration, launcher: any ProcessLauncher) {
        self.configuration = configuration
        self.launcher = launcher
    }

    /// Detects the provider and applies the overrides. Reads the source directory only.
    public func plan(for request: BuildRequest) throws(YardError) -> BuildPlan {
        try planner(for: request).plan().plan
    }

    /// Copies the source into the app directory and runs the install and build steps,
    /// streaming their output to `log`. Stops at the first failing step.
    public func build(
        _ request: BuildRequest,
        log: @escaping @Sendable (LogLine.Stream, String) -> Void
    ) async throws(YardError) -> BuildResult {
        let outcome = try planner(for: request).plan()
        var plan = outcome.plan
        for note in plan.notes { log(.system, note) }

        try prepareAppDirectory(for: request)
        let directory = request.appDirectory.standardizedFileURL.path
        // Variables come last: a service may deliberately set PATH or PIP_INDEX_URL.
        let environment = request.hostEnvironment
            .merging(plan.environment) { $1 }
            .merging(request.variables) { $1 }

        for step in outcome.steps {
            log(.system, "$ \(step.command)")
            var spec = LaunchSpec.shell(step.command, environment: environment, workingDirectory: directory, label: "build")
            spec.sandbox = request.sandbox
            let reason = try await runToCompletion(spec, command: step.command, output: log)
            guard reason.isSuccess else {
                throw YardError(.buildFailed, failureMessage(step: step, reason: reason, provider: plan.provider))
            }
        }

        if let guessed = outcome.swiftExecutable {
            plan.startCommand = try await confirmSwiftExecutable(
                request: request,
                guessed: guessed,
                environment: environment,
                log: log
            )
        }
        log(.system, "build finished; start command: \(plan.startCommand)")
        return BuildResult(plan: plan, startCommand: plan.startCommand, environment: plan.environment)
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
    private func runToCompletion(
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
        environment: [String: String],
        log: @escaping OutputHandler
    ) async throws(YardError) -> String {
        let directory = request.appDirectory.standardizedFileURL
        let stdout = CapturedLines()
        var spec = LaunchSpec.shell(
            "swift package dump-package",
            environment: environment,
            workingDirectory: directory.path,
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
        return BuildPlanner.swiftStartCommand(product: product)
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
