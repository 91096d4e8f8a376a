import Foundation

#if canImport(Glibc)
    import Glibc
#endif
import Synchronization
import YardCore
import YardImage
import YardRuntime

/// A provider build whose artifact is an image (`yard serve --build-in-images`): planned
/// without the host, its toolchains resolved against the provider's environment image.
public struct ProviderImageBuild: Sendable {
    public var plan: BuildPlan
    /// The provider's Debian 12 environment (providers without one fail in `prepare`).
    public var environment: ProviderEnvironment
    public var containerfile: ProviderContainerfile
    /// The content address of the image: the source tree, the Containerfile, the
    /// environment image's name (a hash of its packages) and the variables' values.
    public var artifactKey: String
}

extension Builder {
    /// Where the app is in a provider image, as on Railway.
    public static let imageAppPath = "/app"

    /// Plans the build for an image and resolves its toolchains: mise when `mise` is given
    /// (it can download), else the environment's Debian packages. A version nothing here
    /// provides fails now, before any step. Reads the source directory only.
    public func prepareProviderImage(_ request: BuildRequest, mise: MiseInstaller? = nil) throws(YardError) -> ProviderImageBuild {
        var imageRequest = request
        imageRequest.mountPath = Self.imageAppPath
        imageRequest.hostEnvironment = ["PATH": ProviderEnvironment.imagePath, "HOME": "/root", "LANG": "C.UTF-8"]
        var planner = BuildPlanner(
            source: SourceTree(root: request.sourceDirectory), request: imageRequest, platformExecutable: configuration.platformExecutable)
        planner.planningForImage = true
        let outcome = try planner.plan()
        var plan = outcome.plan
        var environment = ProviderEnvironment.debian12(provider: plan.provider)?.narrowed(
            toolchains: plan.toolchains.map(\.name), commands: outcome.steps.map(\.command) + [plan.startCommand])
        let aptPackages = try ProviderEnvironment.requestedAptPackages(railpack: request.railpack, variables: request.variables)
        if !aptPackages.isEmpty, let base = environment {
            environment = base.adding(aptPackages: aptPackages)
            plan.notes.append("apt packages the app asks for are installed into its build environment: \(aptPackages.joined(separator: " "))")
        }
        // A node single-page app is served statically, as static sites are.
        if plan.startCommand.hasPrefix("busybox "), environment?.packages.contains("busybox") == false {
            environment?.packages.append("busybox")
        }
        let resolution = ToolchainResolver(environment: environment, mise: mise).resolve(plan.toolchains, provider: plan.provider)
        plan.toolchains = resolution.toolchains
        if let failure = resolution.failure {
            throw YardError(.buildFailed, failure)
        }
        guard let environment else {
            throw YardError(
                .buildFailed,
                "the \(plan.provider) provider has no build environment: Debian 12 packages none of its toolchains; "
                    + "deploy it with a Dockerfile, or start yard serve with --build-in-folders")
        }
        if outcome.swiftExecutable != nil {
            plan.notes.append("the start command's product was read from Package.swift")
        }
        let installs = resolution.toolchains.compactMap { toolchain -> MiseInstaller.Invocation? in
            if case .mise(let invocation) = resolution.sources[toolchain.name] { return invocation }
            return nil
        }
        var imageEnvironment = environment.environment.merging(plan.environment) { _, planned in planned }
        imageEnvironment["PATH"] = imageEnvironment["PATH"] ?? ProviderEnvironment.imagePath
        var containerfile = ProviderContainerfile(
            base: environment.imageName, environment: imageEnvironment, cacheFolders: environment.cacheFolders,
            miseInstalls: installs, steps: outcome.steps.map(\.command), startCommand: plan.startCommand)
        containerfile.hostCertificates = request.trustedCertificates
        // An install that reads only its cache key files is an image of its own (`reuseInstallImage`).
        if let cache = plan.cache, cache.skipInstallOnHit {
            containerfile.installStepCount = outcome.steps.prefix { $0.phase == .setup || $0.phase == .install }.count
            containerfile.installFiles = cache.keyFiles.filter { file in
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: request.sourceDirectory.appendingPathComponent(file).path, isDirectory: &isDirectory)
                    && !isDirectory.boolValue
            }
        }

        var hasher = ContentHasher()
        hasher.add("switchyard-provider-image-v1")
        do {
            hasher.add(try ContentHash.sha256(treeAt: request.sourceDirectory))
        } catch {
            throw YardError(.buildFailed, "could not read the source folder to hash it", cause: error)
        }
        hasher.add(containerfile.text)
        hasher.add((try? YardJSON.encodeString(plan)) ?? "")
        // Values are hashed, never stored: the key is a digest.
        for name in request.variables.keys.sorted() { hasher.add("\(name)=\(request.variables[name] ?? "")") }
        return ProviderImageBuild(plan: plan, environment: environment, containerfile: containerfile, artifactKey: hasher.finish())
    }

    /// Builds the provider image: the environment image first when the store lacks it (once
    /// per store), then the app's Containerfile with buildah, in the build's network
    /// namespace and user-namespace block, as a Dockerfile build. `request` gives the
    /// service, deployment, context (the app folder), namespace, limits and scratch folder.
    public func buildProviderImage(
        _ prepared: ProviderImageBuild, _ request: DockerfileBuildRequest, images: ImageStore,
        log unmaskedLog: @escaping @Sendable (LogLine.Stream, String) -> Void
    ) async throws(YardError) -> BuildResult {
        let secretValues = request.secretNames.compactMap { request.variables[$0] }.filter { !$0.isEmpty }
        let masker = SecretMasker(secretValues)
        let log: @Sendable (LogLine.Stream, String) -> Void = { stream, line in unmaskedLog(stream, masker.mask(line)) }
        let plan = prepared.plan
        for note in plan.notes { log(.system, note) }
        for toolchain in plan.toolchains {
            log(.system, "toolchain \(toolchain.name): \(toolchain.message ?? "")")
        }
        let firstHostID = BuildIdentity.firstUID(forService: request.serviceID)
        let cacheDirectory: URL
        do {
            cacheDirectory = try Self.prepareBuildCache(serviceID: request.serviceID, images: images)
            try FileManager.default.createDirectory(at: request.scratchDirectory, withIntermediateDirectories: true)
            // buildah makes a cache mount's folder (`$TMPDIR/buildah-cache/<id>`) owned by host
            // root, which the build's user-namespace root cannot write: made here, it is the build's.
            let ids = prepared.containerfile.cacheMountIDs
            for id in ids {
                let folder = cacheDirectory.appendingPathComponent("buildah-cache").appendingPathComponent(id)
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                guard chown(folder.path, firstHostID, firstHostID) == 0 else {
                    throw YardError(.internal, "could not give the build's cache folder \(id) to the build's ids (errno \(errno))")
                }
            }
        } catch let error as YardError {
            throw error
        } catch {
            throw YardError(.internal, "could not prepare the image build's folders", cause: error)
        }
        defer { try? FileManager.default.removeItem(at: request.scratchDirectory) }

        try await ensureEnvironmentImage(
            prepared.environment.recipe, request: request, images: images, firstHostID: firstHostID, cacheDirectory: cacheDirectory, log: log)

        let spec: DockerfileBuildSpec
        do {
            // Every variable reaches the steps through one build secret: none is in the image.
            var contents = [ProviderContainerfile.variablesSecret: ProviderContainerfile.variablesFile(request.variables)]
            if let bundle = prepared.containerfile.hostCertificates {
                contents[ProviderContainerfile.certificatesSecret] = try String(contentsOf: bundle, encoding: .utf8)
            }
            let secrets = try ImageStore.writeSecretFiles(contents, in: request.scratchDirectory.appendingPathComponent("secrets"))
            spec = DockerfileBuildSpec(
                contextDirectory: request.sourceDirectory, dockerfile: request.scratchDirectory.appendingPathComponent("Containerfile"),
                tag: ImageStore.deploymentImageName(serviceID: request.serviceID, deploymentID: request.deploymentID), buildArguments: [:],
                secretFiles: secrets, cacheDirectory: cacheDirectory, networkNamespacePath: "/run/netns/" + request.networkNamespace,
                firstHostID: firstHostID, limits: request.limits, noCache: request.noCache,
                imageIDFile: request.scratchDirectory.appendingPathComponent("image-id"))
        } catch let error as YardError {
            throw error
        } catch {
            throw YardError(.internal, "could not write the image build's secrets", cause: error)
        }
        let installImage = try await reuseInstallImage(prepared, spec: spec, request: request, images: images, masker: masker, log: log)
        let tag = spec.tag
        do {
            try Data(prepared.containerfile.text(from: installImage).utf8).write(to: spec.dockerfile)
        } catch {
            throw YardError(.internal, "could not write the image build's Containerfile", cause: error)
        }
        log(.system, "building the app image from \(installImage ?? prepared.environment.imageName)")
        try await runProviderBuild(
            spec, steps: prepared.containerfile.runCommands(install: false, fromInstallImage: installImage != nil), provider: plan.provider,
            images: images, masker: masker, log: log)
        try await restoreOwnership(of: tag, images: images, firstHostID: firstHostID, log: log)
        guard let image = try? await images.inspect(tag) else {
            throw YardError(.buildFailed, "buildah finished but the image \(tag) is not in the store")
        }
        log(.system, "image \(tag) built: \(image.id); start command: \(plan.startCommand)")
        // The image's command is the plan's start command; the result sets none over it. Its
        // environment goes over the host's, which replicas otherwise start from (PATH).
        return BuildResult(plan: plan, startCommand: "", environment: prepared.containerfile.imageEnvironment, image: image)
    }

    /// Builds an environment image (`localhost/yard-env/<provider>:<hash>`, a database's image)
    /// from Debian's image and packages, unless the store has it; imports the Debian base first
    /// when the store has none. One build per store and image at a time: a second build that
    /// needs it waits and reuses it.
    func ensureEnvironmentImage(
        _ recipe: EnvironmentImageRecipe, request: DockerfileBuildRequest, images: ImageStore, firstHostID: UInt32,
        cacheDirectory: URL, log: @escaping @Sendable (LogLine.Stream, String) -> Void
    ) async throws(YardError) {
        let key = images.configuration.directory.standardizedFileURL.path + "\n" + recipe.name
        let lock = KeyedBuildLock.environments
        if await lock.isHeld(key) {
            log(.system, "waiting for another build that is making \(recipe.title) \(recipe.name)")
        }
        try await lock.withLock(key) { () async throws(YardError) in
            try await makeEnvironmentImage(
                recipe, request: request, images: images, firstHostID: firstHostID, cacheDirectory: cacheDirectory, log: log)
        }
    }

    private func makeEnvironmentImage(
        _ recipe: EnvironmentImageRecipe, request: DockerfileBuildRequest, images: ImageStore, firstHostID: UInt32,
        cacheDirectory: URL, log: @escaping @Sendable (LogLine.Stream, String) -> Void
    ) async throws(YardError) {
        let name = recipe.name
        let packages = recipe.packages.joined(separator: " ")
        if (try? await images.inspect(name)) != nil {
            log(.system, "\(recipe.title) \(name) (Debian 12: \(packages)) is in the store")
            return
        }
        let started = ContinuousClock.now
        if !recipe.packages.isEmpty, await images.loadCachedImage(name) {
            log(.system, "\(recipe.title) \(name) loaded from this machine's cache in \(Self.seconds(since: started)) s")
            return
        }
        if (try? await images.inspect(ProviderEnvironment.debianBase)) == nil {
            log(.system, "importing \(ProviderEnvironment.debianBase) (debootstrap, cached per machine)")
            do {
                _ = try await images.importDebootstrap(suite: "bookworm") { line in log(.system, line) }
            } catch {
                throw YardError(.buildFailed, "could not import the Debian base image of \(recipe.title)", cause: error)
            }
        }
        guard !recipe.packages.isEmpty else { return }
        log(.system, "building \(recipe.title) \(name): apt-get install \(packages) (once per data directory; minutes the first time)")
        let folder = request.scratchDirectory.appendingPathComponent("environment")
        let spec: DockerfileBuildSpec
        do {
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("context"), withIntermediateDirectories: true)
            try Data(recipe.containerfile.utf8).write(to: folder.appendingPathComponent("Containerfile"))
            spec = DockerfileBuildSpec(
                contextDirectory: folder.appendingPathComponent("context"), dockerfile: folder.appendingPathComponent("Containerfile"),
                tag: name, buildArguments: [:], secretFiles: [:], cacheDirectory: cacheDirectory,
                networkNamespacePath: "/run/netns/" + request.networkNamespace, firstHostID: firstHostID, limits: request.limits,
                noCache: false, imageIDFile: folder.appendingPathComponent("image-id"))
        } catch {
            throw YardError(.internal, "could not write the Containerfile of \(recipe.title)", cause: error)
        }
        let reason = try await runBuildah(
            try launchSpec(images.buildCommand(spec), directory: folder), images: images, firstHostID: firstHostID, output: log)
        guard reason.isSuccess else {
            throw YardError(
                .buildFailed,
                "could not install the Debian packages of \(recipe.title) (\(packages)): "
                    + "the build's network must reach Debian's mirror (see the apt-get output above)")
        }
        try await restoreOwnership(of: name, images: images, firstHostID: firstHostID, log: log)
        log(.system, "\(recipe.title) \(name) built in \(Self.seconds(since: started)) s; later builds reuse it")
        do {
            try await images.cacheImage(name)
        } catch {
            log(.system, "warning: could not keep \(name) in this machine's cache (\(error)); other image stores build it again")
        }
    }

    private static func seconds(since start: ContinuousClock.Instant) -> String {
        let elapsed = ContinuousClock.now - start
        return String(format: "%.1f", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    func restoreOwnership(
        of image: String, images: ImageStore, firstHostID: UInt32, log: @Sendable (LogLine.Stream, String) -> Void
    ) async throws(YardError) {
        do {
            let restored = try await images.restoreBuildOwnership(of: image, firstHostID: firstHostID, blockSize: BuildIdentity.blockSize)
            if restored > 0 { log(.system, "gave \(restored) files made by the build steps their image owners back") }
        } catch {
            throw YardError(.buildFailed, "could not fix the owners of the files the build made", cause: error)
        }
    }

    func launchSpec(_ command: SystemCommand, directory: URL) -> LaunchSpec {
        LaunchSpec(
            arguments: [command.executable] + command.arguments, environment: command.environment ?? [:],
            workingDirectory: directory.path, label: "build")
    }
}

extension Builder {
    /// Runs one `buildah bud` of a provider build; a failure names the plan's step that failed
    /// (`steps`: the file's `RUN` commands in order).
    func runProviderBuild(
        _ spec: DockerfileBuildSpec, steps: [String], provider: String, images: ImageStore, masker: SecretMasker,
        log: @escaping @Sendable (LogLine.Stream, String) -> Void
    ) async throws(YardError) {
        let runs = RunStepCounter()
        let reason = try await runBuildah(
            try launchSpec(images.buildCommand(spec), directory: spec.contextDirectory), images: images, firstHostID: spec.firstHostID
        ) { stream, line in
            runs.observe(line)
            log(stream, line)
        }
        guard reason.isSuccess else {
            let failed = runs.count > 0 && runs.count <= steps.count ? "build step `\(steps[runs.count - 1])` failed" : "the image build failed"
            throw YardError(.buildFailed, masker.mask("\(failed) in the \(provider) build environment (see the output above)"))
        }
    }
}

/// Counts buildah's `STEP n/m: RUN` lines, so a failure names the plan's step.
private final class RunStepCounter: Sendable {
    private let runs = Mutex(0)

    var count: Int { runs.withLock { $0 } }

    func observe(_ line: String) {
        guard line.hasPrefix("STEP "), line.contains(": RUN ") else { return }
        runs.withLock { $0 += 1 }
    }
}
