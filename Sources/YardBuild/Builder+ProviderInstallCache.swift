import Foundation
import YardCore
import YardImage

/// The layer cache of provider image builds, as the Dockerfile stage cache: the install steps
/// (a venv and `pip install -r requirements.txt`, `npm ci`, `bundle install`) read only the
/// plan's cache key files, so they are built once as an image of their own, keyed by
/// everything they depend on, and a code-only change starts the app's build from that image.
extension Builder {
    /// The install steps' image for this build (`localhost/yard-cache/<service>:<key>`), built
    /// first when the store lacks it or the build asks for no cache; nil when the plan has no
    /// install that reads only its key files. Keeps one such image per service.
    func reuseInstallImage(
        _ prepared: ProviderImageBuild, spec: DockerfileBuildSpec, request: DockerfileBuildRequest, images: ImageStore,
        masker: SecretMasker, log: @escaping @Sendable (LogLine.Stream, String) -> Void
    ) async throws(YardError) -> String? {
        let containerfile = prepared.containerfile
        guard let text = containerfile.installText else { return nil }
        guard let environment = try? await images.inspect(prepared.environment.imageName) else { return nil }
        var hasher = ContentHasher()
        hasher.add("switchyard-provider-install-v1")
        hasher.add(text)
        hasher.add(environment.id)
        for file in containerfile.installFiles {
            hasher.add(file)
            guard let data = FileManager.default.contents(atPath: request.sourceDirectory.appendingPathComponent(file).path) else {
                throw YardError(.buildFailed, "could not read \(file), which the install steps read")
            }
            hasher.add(data)
        }
        // The steps source every variable: a changed value may change what they install.
        for name in request.variables.keys.sorted() { hasher.add("\(name)=\(request.variables[name] ?? "")") }
        let key = hasher.finish()
        let name = ImageStore.prefixImageName(serviceID: request.serviceID, key: key)
        let files = containerfile.installFiles.isEmpty ? "no files" : containerfile.installFiles.joined(separator: ", ")
        if request.noCache {
            log(.system, "install cache bypassed (NO_CACHE=1 or --no-cache): running the install steps again")
        } else if (try? await images.inspect(name)) != nil {
            log(.system, "install cache hit (\(key.prefix(12))): the install steps' image of the same \(files), environment and variables "
                + "is reused, without running them")
            await images.removePrefixImages(serviceID: request.serviceID, keeping: [name])
            return name
        } else {
            log(.system, "install cache miss (\(key.prefix(12))): the install steps read only \(files); building them as an image of their own, "
                + "kept for the next builds")
        }
        var installSpec = spec
        let folder = request.scratchDirectory.appendingPathComponent("install")
        installSpec.contextDirectory = folder.appendingPathComponent("context")
        installSpec.dockerfile = folder.appendingPathComponent("Containerfile")
        installSpec.tag = name
        installSpec.imageIDFile = folder.appendingPathComponent("image-id")
        do {
            try FileManager.default.createDirectory(at: installSpec.contextDirectory, withIntermediateDirectories: true)
            for file in containerfile.installFiles {
                let target = installSpec.contextDirectory.appendingPathComponent(file)
                try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                try FileManager.default.copyItem(at: request.sourceDirectory.appendingPathComponent(file), to: target)
            }
            try Data(text.utf8).write(to: installSpec.dockerfile)
        } catch {
            throw YardError(.internal, "could not write the install steps' Containerfile", cause: error)
        }
        try await runProviderBuild(
            installSpec, steps: containerfile.runCommands(install: true, fromInstallImage: false), provider: prepared.plan.provider,
            images: images, masker: masker, log: log)
        try await restoreOwnership(of: name, images: images, firstHostID: spec.firstHostID, log: log)
        await images.removePrefixImages(serviceID: request.serviceID, keeping: [name])
        return name
    }
}
