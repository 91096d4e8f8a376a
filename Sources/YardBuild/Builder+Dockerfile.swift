import Foundation
import Synchronization
import YardCore
import YardImage
import YardRuntime

/// A Dockerfile build: buildah builds the image, which is the deployment's artifact.
public struct DockerfileBuildRequest: Sendable {
    /// The upload (its root directory applied): the build context.
    public var sourceDirectory: URL
    /// `dockerfilePath` of the config, or nil for `Dockerfile` at the root.
    public var dockerfilePath: String?
    /// The service's resolved variables (`RAILWAY_DOCKERFILE_PATH` among them).
    public var variables: [String: String]
    /// Build secrets: passed as `RUN --mount=type=secret`, never as build arguments.
    public var secretNames: Set<String>
    public var serviceID: String
    public var deploymentID: String
    /// The service's start command, if it sets one (it overrides the image's ENTRYPOINT).
    public var startCommand: String?
    /// The build's egress-only network namespace (a name under /run/netns).
    public var networkNamespace: String
    public var limits: ResourceLimits
    public var noCache: Bool
    /// A private folder for the secret files and the image id file, removed afterwards.
    public var scratchDirectory: URL

    public init(
        sourceDirectory: URL, dockerfilePath: String?, variables: [String: String], secretNames: Set<String>, serviceID: String,
        deploymentID: String, startCommand: String?, networkNamespace: String, limits: ResourceLimits, noCache: Bool,
        scratchDirectory: URL
    ) {
        self.sourceDirectory = sourceDirectory
        self.dockerfilePath = dockerfilePath
        self.variables = variables
        self.secretNames = secretNames
        self.serviceID = serviceID
        self.deploymentID = deploymentID
        self.startCommand = startCommand
        self.networkNamespace = networkNamespace
        self.limits = limits
        self.noCache = noCache
        self.scratchDirectory = scratchDirectory
    }
}

extension Builder {
    /// Where the Dockerfile is: `dockerfilePath` of the config, else the service variable
    /// `RAILWAY_DOCKERFILE_PATH`, else `Dockerfile` at the root; resolved inside the upload.
    public static func locateDockerfile(
        in source: URL, configPath: String?, variables: [String: String]
    ) throws(YardError) -> (file: URL, shown: String, detected: Bool) {
        let chosen = configPath ?? variables["RAILWAY_DOCKERFILE_PATH"].flatMap { $0.isEmpty ? nil : $0 }
        let relative = chosen.map { $0.hasPrefix("/") ? String($0.drop { $0 == "/" }) : $0 } ?? "Dockerfile"
        let file: URL
        do {
            file = try UploadPath.resolve(relative, in: source)
        } catch {
            throw YardError(.buildFailed, "the Dockerfile path \(relative) leads outside the upload (\(error)): name a file inside it")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            let origin = configPath != nil ? "dockerfilePath" : chosen != nil ? "RAILWAY_DOCKERFILE_PATH" : "the DOCKERFILE builder"
            throw YardError(.buildFailed, "\(origin) names \(relative), which is not a file in the upload: add it or fix the path")
        }
        return (file, relative, chosen == nil)
    }

    /// Reads the Dockerfile the request names.
    public static func readDockerfile(at file: URL, shown: String) throws(YardError) -> Dockerfile {
        let text: String
        do {
            text = try String(contentsOf: file, encoding: .utf8)
        } catch {
            throw YardError(.buildFailed, "cannot read \(shown) as UTF-8 text", cause: error)
        }
        return try Dockerfile(parsing: text, file: shown)
    }

    /// The content address of a Dockerfile build: the context tree, the Dockerfile's path,
    /// the build arguments it declares and gets (names and values), the build secrets
    /// (names and values: a changed secret may change what a step does), the start command
    /// and the ids of its base images. Equal keys reuse the image with no build, as equal
    /// folder-artifact keys do.
    public static func dockerfileArtifactKey(
        _ request: DockerfileBuildRequest, baseImageIDs: [String]
    ) throws(YardError) -> String {
        let (file, shown, _) = try locateDockerfile(
            in: request.sourceDirectory, configPath: request.dockerfilePath, variables: request.variables)
        let dockerfile = try readDockerfile(at: file, shown: shown)
        let (names, _) = DockerfileBuildArguments.select(
            declared: dockerfile.declaredArguments, variables: request.variables, secrets: request.secretNames)
        var hasher = ContentHasher()
        hasher.add("switchyard-dockerfile-artifact-v1")
        do {
            hasher.add(try ContentHash.sha256(treeAt: request.sourceDirectory))
        } catch {
            throw YardError(.buildFailed, "could not read the build context to hash it", cause: error)
        }
        hasher.add(shown)
        for name in names {
            hasher.add(name)
            hasher.add(request.variables[name] ?? "")
        }
        for name in request.secretNames.sorted() {
            hasher.add("secret:" + name)
            hasher.add(request.variables[name] ?? "")
        }
        hasher.add(request.startCommand ?? "")
        for id in baseImageIDs { hasher.add(id) }
        return hasher.finish()
    }

    /// The `FROM` images of the request's Dockerfile as the store names them.
    public static func dockerfileBaseImages(_ request: DockerfileBuildRequest) throws(YardError) -> [String] {
        let (file, shown, _) = try locateDockerfile(
            in: request.sourceDirectory, configPath: request.dockerfilePath, variables: request.variables)
        return try readDockerfile(at: file, shown: shown).baseImages.filter { !$0.contains("$") }
            .map { (try? ImageReference(parsing: $0))?.description ?? $0 }
    }

    /// The plan `yard build --plan` shows for a Dockerfile service: nothing runs on the host.
    public static func dockerfilePlan(_ dockerfile: Dockerfile, shown: String, startCommand: String?) -> BuildPlan {
        var notes = ["Dockerfile: \(shown)"]
        notes.append("stages: " + dockerfile.stages.enumerated().map { index, stage in
            "\(stage.name ?? "#\(index + 1)") FROM \(stage.base)"
        }.joined(separator: ", "))
        if !dockerfile.declaredArguments.isEmpty { notes.append("ARGs: " + dockerfile.declaredArguments.joined(separator: ", ")) }
        if !dockerfile.exposedPorts.isEmpty { notes.append("exposes: " + dockerfile.exposedPorts.joined(separator: ", ")) }
        if let syntax = dockerfile.syntax {
            notes.append("the `# syntax=\(syntax)` line is ignored: buildah builds with its own Dockerfile frontend")
        }
        return BuildPlan(provider: "dockerfile", startCommand: startCommand ?? "", notes: notes, detectedFrom: shown)
    }

    /// Builds the Dockerfile with buildah into `localhost/yard/<service>:<deployment>`,
    /// streaming buildah's output (masked) to `log`. A failing step is named by its line.
    public func buildDockerfile(
        _ request: DockerfileBuildRequest, images: ImageStore,
        log unmaskedLog: @escaping @Sendable (LogLine.Stream, String) -> Void
    ) async throws(YardError) -> BuildResult {
        let secretValues = request.secretNames.compactMap { request.variables[$0] }.filter { !$0.isEmpty }
        let masker = SecretMasker(secretValues)
        let log: @Sendable (LogLine.Stream, String) -> Void = { stream, line in unmaskedLog(stream, masker.mask(line)) }

        let (file, shown, detected) = try Self.locateDockerfile(
            in: request.sourceDirectory, configPath: request.dockerfilePath, variables: request.variables)
        log(.system, detected ? "Using detected Dockerfile" : "Using Dockerfile \(shown)")
        let dockerfile = try Self.readDockerfile(at: file, shown: shown)
        let plan = Self.dockerfilePlan(dockerfile, shown: shown, startCommand: request.startCommand)
        for note in plan.notes.dropFirst() { log(.system, note) }
        try await checkBaseImages(dockerfile, images: images)

        let (names, warnings) = DockerfileBuildArguments.select(
            declared: dockerfile.declaredArguments, variables: request.variables, secrets: request.secretNames)
        for warning in warnings { log(.system, warning) }
        if !names.isEmpty { log(.system, "build arguments: " + names.joined(separator: ", ")) }
        let secrets = request.variables.filter { request.secretNames.contains($0.key) }
        if !secrets.isEmpty { log(.system, "build secrets (RUN --mount=type=secret,id=NAME): " + secrets.keys.sorted().joined(separator: ", ")) }

        let tag = ImageStore.deploymentImageName(serviceID: request.serviceID, deploymentID: request.deploymentID)
        let spec: DockerfileBuildSpec
        do {
            let cacheDirectory = try Self.prepareBuildCache(serviceID: request.serviceID, images: images)
            spec = DockerfileBuildSpec(
                contextDirectory: request.sourceDirectory, dockerfile: file, tag: tag,
                buildArguments: Dictionary(uniqueKeysWithValues: names.map { ($0, request.variables[$0] ?? "") }),
                secretFiles: try ImageStore.writeSecretFiles(secrets, in: request.scratchDirectory.appendingPathComponent("secrets")),
                cacheDirectory: cacheDirectory, networkNamespacePath: "/run/netns/" + request.networkNamespace,
                firstHostID: BuildIdentity.firstUID(forService: request.serviceID), limits: request.limits, noCache: request.noCache,
                imageIDFile: request.scratchDirectory.appendingPathComponent("image-id"))
        } catch let error as YardError {
            throw error
        } catch {
            throw YardError(.internal, "could not prepare the Dockerfile build's folders", cause: error)
        }
        defer { try? FileManager.default.removeItem(at: request.scratchDirectory.appendingPathComponent("secrets")) }

        // The stages' starts that read no context come from the layer cache (DockerfilePrefix).
        var remaining = (spec: spec, tracked: dockerfile)
        if !request.noCache {
            remaining = try await reusePrefixes(
                of: dockerfile, file: file, shown: shown, spec: spec, request: request, secrets: secrets, images: images,
                masker: masker, log: log)
        }
        try await runDockerfileBuild(remaining.spec, tracked: remaining.tracked, shown: shown, images: images, masker: masker, log: log)
        guard let image = try? await images.inspect(tag) else {
            throw YardError(.buildFailed, "buildah finished but the image \(tag) is not in the store")
        }
        log(.system, "image \(tag) built: \(image.id)")
        return BuildResult(plan: plan, startCommand: request.startCommand ?? "", environment: [:], image: image)
    }

    /// Runs one `buildah bud` of `spec`, then gives the files its steps made their image
    /// owners back; a failing step is named by its line in `tracked`.
    func runDockerfileBuild(
        _ spec: DockerfileBuildSpec, tracked: Dockerfile, shown: String, images: ImageStore, masker: SecretMasker,
        log: @escaping @Sendable (LogLine.Stream, String) -> Void
    ) async throws(YardError) {
        let command = try images.buildCommand(spec)
        let tracker = StepTrackerBox()
        let launch = LaunchSpec(
            arguments: [command.executable] + command.arguments, environment: command.environment ?? [:],
            workingDirectory: spec.contextDirectory.path, label: "build")
        let reason = try await runBuildah(launch, images: images, firstHostID: spec.firstHostID) { stream, line in
            tracker.observe(line)
            log(stream, line)
        }
        guard reason.isSuccess else {
            let named = tracker.failure(in: tracked, file: shown)
            throw YardError(.buildFailed, masker.mask(named ?? "buildah could not build \(shown) (see the output above)"))
        }
        do {
            let restored = try await images.restoreBuildOwnership(
                of: spec.tag, firstHostID: spec.firstHostID, blockSize: BuildIdentity.blockSize)
            if restored > 0 { log(.system, "gave \(restored) files made by the build steps their image owners back") }
        } catch {
            throw YardError(.buildFailed, "could not fix the owners of the files the build made", cause: error)
        }
    }

    /// Runs buildah to its end. A cancelled build gets SIGTERM (buildah then stops its RUN
    /// container and exits), SIGKILL 10 s later; whatever fails leaves no working container
    /// and no process of the service's build ids behind.
    func runBuildah(
        _ spec: LaunchSpec, images: ImageStore, firstHostID: UInt32, output: @escaping OutputHandler
    ) async throws(YardError) -> ExitReason {
        if Task.isCancelled { throw YardError(.buildFailed, "the build was cancelled before buildah ran") }
        let before = (try? await images.buildContainers()) ?? []
        let process: any LaunchedProcess
        do {
            process = try await launcher.launch(spec, output: output)
        } catch {
            throw YardError(.buildFailed, "could not start buildah", cause: error)
        }
        let reason = await withTaskCancellationHandler {
            await process.wait()
        } onCancel: {
            process.signal(SIGTERM)
            // Bounded: a buildah that ignores SIGTERM is killed; signal() is a no-op once reaped.
            Task {
                try? await Task.sleep(for: .seconds(10))
                process.signal(SIGKILL)
            }
        }
        if Task.isCancelled || !reason.isSuccess {
            BuildIdentity.killProcesses(from: firstHostID)
            await images.removeBuildContainers(((try? await images.buildContainers()) ?? []).subtracting(before))
        }
        if Task.isCancelled { throw YardError(.buildFailed, "the build was cancelled while buildah ran") }
        return reason
    }

    /// Fails naming a `FROM` image the store lacks and how to bring it (no registry is
    /// pulled from during builds).
    private func checkBaseImages(_ dockerfile: Dockerfile, images: ImageStore) async throws(YardError) {
        for base in dockerfile.baseImages where !base.contains("$") {
            let reference = (try? ImageReference(parsing: base))?.description ?? base
            let found: ImageArtifact?
            do {
                found = try await images.inspect(reference)
            } catch {
                throw YardError(.buildFailed, "could not look up the base image \(base) in the image store", cause: error)
            }
            if found == nil {
                throw YardError(
                    .buildFailed,
                    "the Dockerfile starts FROM \(base), which is not in this machine's image store: bring it with "
                        + "`yard image import \(base) FILE.tar` (or `--debootstrap bookworm` for a Debian base), "
                        + "or run yard serve with --registry-mirror URL")
            }
        }
    }
}

/// The step tracker, shared with the output handler (which runs on the launcher's threads).
private final class StepTrackerBox: Sendable {
    private let tracker = Mutex(DockerfileStepTracker())

    func observe(_ line: String) { tracker.withLock { $0.observe(line) } }

    func failure(in dockerfile: Dockerfile, file: String) -> String? {
        tracker.withLock { $0.failure(in: dockerfile, file: file) }
    }
}

extension Builder {
    /// The service's build cache folder in the image store (`build-cache/<service id>`), made
    /// with the folders above it. buildah mounts each RUN step's root under them, and root of
    /// the build's user namespace must reach that by path: traversable, not listable (0711).
    static func prepareBuildCache(serviceID: String, images: ImageStore) throws -> URL {
        let cacheDirectory = images.configuration.directory.appendingPathComponent("build-cache").appendingPathComponent(serviceID)
        for folder in [images.configuration.directory, cacheDirectory.deletingLastPathComponent(), cacheDirectory] {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try FileManager.default.setAttributes([.posixPermissions: 0o711], ofItemAtPath: folder.path)
        }
        return cacheDirectory
    }
}
