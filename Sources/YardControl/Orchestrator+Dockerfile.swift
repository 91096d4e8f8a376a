import Foundation
import YardBuild
import YardCore
import YardImage
import YardRuntime
import YardStore

/// DOCKERFILE services: buildah builds the image in the data directory's image store, and
/// the image is the deployment's artifact, kept and collected under the artifact retention.
extension Orchestrator {
    /// The data directory's image store (`<data>/images`), with the operator's mirror.
    public nonisolated var imageStore: ImageStore { configuration.imageStore }

    /// Builds a deployment's Dockerfile into an image; the result names it.
    func buildImage(
        _ request: DockerfileBuildRequest, log: @escaping @Sendable (LogLine.Stream, String) -> Void
    ) async throws -> BuildResult {
        guard !request.networkNamespace.isEmpty else {
            throw YardError(
                .buildFailed,
                "Dockerfile builds run only in the sandbox (their RUN steps must not share the host's network): "
                    + "start yard serve with the sandbox isolation")
        }
        let images = imageStore
        try images.prepare()
        return try await builder.buildDockerfile(request, images: images, log: log)
    }

    /// The content address of a Dockerfile build (`Builder.dockerfileArtifactKey`), with the
    /// ids its base images have in the store now.
    func dockerfileArtifactKey(_ request: DockerfileBuildRequest) async throws -> String {
        var baseIDs: [String] = []
        for name in try Builder.dockerfileBaseImages(request) {
            if let image = try? await imageStore.inspect(name) { baseIDs.append(image.id) }
        }
        return try Builder.dockerfileArtifactKey(request, baseImageIDs: baseIDs)
    }

    /// The finished image artifact with this key, if its image is still in the store.
    func reusableImageArtifact(key: String) async -> BuildResult? {
        guard let existing = artifacts.existing(key: key), let image = existing.image,
            (try? await imageStore.inspect(image.id)) != nil
        else { return nil }
        return existing
    }

    /// Whether `deployment`'s artifact can run again (a rollback): its image still in the
    /// store for an image artifact (an image service's pull, a Dockerfile build), else its folder.
    func artifactIsKept(_ deployment: DeploymentRecord) async -> Bool {
        if let image = deployment.buildResult?.image {
            return (try? await imageStore.inspect(image.id)) != nil
        }
        guard let path = deployment.artifactPath else { return false }
        return deployment.artifactKey.map { artifacts.existing(key: $0) != nil } ?? FileManager.default.fileExists(atPath: path)
    }

    /// Removes the images of deployments outside the retention that are not running, then
    /// the dangling layers, so the store stays bounded as deployments come and go.
    func collectImages() async {
        let images = imageStore
        guard FileManager.default.fileExists(atPath: images.storageDirectory.path) else { return }
        do {
            let (keys, retained) = try store.retainedArtifacts(perService: configuration.artifactRetention)
            let running = Set(live.values)
            // A deployment that reused an image keeps the image of the one that built it.
            // An image service's key is its image id: a rollback to a pull keeps that image.
            let kept = Set(keys.compactMap { artifacts.existing(key: $0)?.image?.id } + keys.filter { $0.hasPrefix("sha256:") })
            var removed = 0
            for name in try await images.deploymentImages() {
                guard let deploymentID = name.split(separator: ":").last.map(String.init),
                    !retained.contains(deploymentID), !running.contains(deploymentID)
                else { continue }
                if let image = try await images.inspect(name), kept.contains(image.id) { continue }
                try await images.remove(name)
                removed += 1
            }
            if removed > 0 {
                try await images.pruneDanglingImages()
                logger.info("images removed by retention", metadata: ["count": "\(removed)"])
            }
        } catch {
            logger.error("could not collect old images", metadata: ["error": "\(error)"])
        }
        // Copies elsewhere (the swarm's registry) follow the store.
        if let copies = runtime as? any ImageCollecting { await copies.collectImageCopies() }
    }
}
