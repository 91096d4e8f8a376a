import Foundation
import YardCore
import YardImage

extension Builder {
    /// Starts every stage whose start reads no context (`DockerfilePrefix`) from that start's
    /// cached image, building the ones the store lacks first (each as a build of its own, with
    /// the same isolation, arguments and secrets); removes the service's cached starts the
    /// build no longer uses. Returns the build that remains: its spec (a rewritten Dockerfile
    /// in the scratch folder) and the Dockerfile its steps are named by.
    func reusePrefixes(
        of dockerfile: Dockerfile, file: URL, shown: String, spec: DockerfileBuildSpec, request: DockerfileBuildRequest,
        secrets: [String: String], images: ImageStore, masker: SecretMasker,
        log: @escaping @Sendable (LogLine.Stream, String) -> Void
    ) async throws(YardError) -> (spec: DockerfileBuildSpec, tracked: Dockerfile) {
        let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        let prefixes = DockerfilePrefix.cacheable(in: dockerfile, text: text)
        guard !prefixes.isEmpty else { return (spec, dockerfile) }
        let global = DockerfilePrefix.globalPart(of: text, dockerfile: dockerfile)
        var names: [Int: String] = [:]
        for prefix in prefixes {
            let base = dockerfile.stages[prefix.stage].base
            let reference = (try? ImageReference(parsing: base))?.description ?? base
            // checkBaseImages found it; a lookup that fails now builds the file as written.
            guard let baseImage = try? await images.inspect(reference) else { return (spec, dockerfile) }
            let key = prefix.key(
                globalPart: global, baseImageID: baseImage.id, buildArguments: spec.buildArguments, secrets: secrets)
            let name = ImageStore.prefixImageName(serviceID: request.serviceID, key: key)
            if (try? await images.inspect(name)) != nil {
                log(.system, "\(shown) lines \(prefix.lines) are unchanged (same base image, build arguments and secrets): "
                    + "starting from the image an earlier build made of them, without running them")
            } else {
                log(.system, "\(shown) lines \(prefix.lines) read nothing from the context: building them as an image of their own, "
                    + "kept for the next builds")
                var prefixSpec = spec
                let folder = request.scratchDirectory.appendingPathComponent("prefix-\(prefix.stage)")
                prefixSpec.contextDirectory = folder.appendingPathComponent("context")
                prefixSpec.dockerfile = folder.appendingPathComponent("Dockerfile")
                prefixSpec.tag = name
                prefixSpec.imageIDFile = folder.appendingPathComponent("image-id")
                try Self.write(prefix.dockerfile(globalPart: global), to: prefixSpec.dockerfile, making: prefixSpec.contextDirectory)
                var tracked = dockerfile
                tracked.stages = [Dockerfile.Stage(
                    base: base, name: nil, instructions: prefix.instructions,
                    arguments: prefix.instructions.filter { $0.keyword == "ARG" }.map(\.arguments))]
                try await runDockerfileBuild(prefixSpec, tracked: tracked, shown: shown, images: images, masker: masker, log: log)
            }
            names[prefix.stage] = name
        }
        // One generation per service: the starts this build used.
        await images.removePrefixImages(serviceID: request.serviceID, keeping: Set(names.values))
        let rewritten = DockerfilePrefix.rewrite(dockerfile, globalPart: global, prefixes: prefixes, images: names)
        var remaining = spec
        remaining.dockerfile = request.scratchDirectory.appendingPathComponent("Dockerfile.cached")
        try Self.write(rewritten.text, to: remaining.dockerfile, making: nil)
        return (remaining, rewritten.tracked)
    }

    private static func write(_ text: String, to file: URL, making folder: URL?) throws(YardError) {
        do {
            try FileManager.default.createDirectory(at: folder ?? file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: file, atomically: true, encoding: .utf8)
        } catch {
            throw YardError(.internal, "could not write the Dockerfile of a cached build step", cause: error)
        }
    }
}
