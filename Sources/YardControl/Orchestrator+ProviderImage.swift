import Foundation
import YardBuild
import YardCore
import YardImage

/// `yard serve --build-in-images`: a provider build's artifact is an image of the provider's
/// Debian environment (`Builder.buildProviderImage`), kept and collected as Dockerfile images.
extension Orchestrator {
    func buildProviderImage(
        _ prepared: ProviderImageBuild, _ request: DockerfileBuildRequest,
        log: @escaping @Sendable (LogLine.Stream, String) -> Void
    ) async throws -> BuildResult {
        guard !request.networkNamespace.isEmpty else {
            throw YardError(
                .buildFailed,
                "image builds run only in the sandbox (their steps must not share the host's network): "
                    + "start yard serve with the sandbox isolation, or with --build-in-folders")
        }
        let images = imageStore
        try images.prepare()
        return try await builder.buildProviderImage(prepared, request, images: images, log: log)
    }
}
