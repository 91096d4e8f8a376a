import Foundation
import YardBuild
import YardCore
import YardImage
import YardRuntime
import YardStore

/// Database services on a runtime that runs only images (the swarm): their server comes from
/// an image of Debian's package (`DatabaseImage`), built in the build sandbox on this machine
/// the first time (minutes; its progress is the deployment's build log), then reused from the
/// image store or the machine's cache.
extension Orchestrator {
    func databaseImage(_ kind: DatabaseKind, service: ServiceRecord, deploymentID id: String, key: ServiceKey) async throws -> ImageArtifact {
        let log = buildLog(id)
        let staging = buildsDirectory.appendingPathComponent(id)
        defer { try? FileManager.default.removeItem(at: staging) }
        // The build box wants a folder to hand to the build's user; the image has no context.
        let context = staging.appendingPathComponent("context")
        try FileManager.default.createDirectory(at: context, withIntermediateDirectories: true)
        let images = imageStore
        try images.prepare()
        let box = try await runtime.prepareBuild(BuildBoxRequest(
            deploymentID: id, serviceID: service.id, environmentID: key.environmentID, appDirectory: context.path,
            limits: buildLimits(of: service)))
        do {
            let request = DockerfileBuildRequest(
                sourceDirectory: context, dockerfilePath: nil, variables: [:], secretNames: [], serviceID: service.id, deploymentID: id,
                startCommand: nil, networkNamespace: box.sandbox?.networkNamespace ?? "", limits: buildLimits(of: service), noCache: false,
                scratchDirectory: staging.appendingPathComponent("image"))
            let image = try await builder.buildDatabaseImage(kind, request, images: images, log: log)
            await runtime.finishBuild(deploymentID: id)
            log(.system, "\(kind.rawValue) database image \(image.name) (\(image.id.prefix(19))): the server runs from it, as user \(image.config.user)")
            return image
        } catch {
            await runtime.finishBuild(deploymentID: id)
            throw error
        }
    }
}
