import Foundation
import NIOHTTP1
import YardClient
import YardCore
import YardRuntime

/// Garbage collection of the registry the nodes pull from, following artifact retention:
/// after the orchestrator removed old images from the machine's store, each registry tag
/// (`switchyard/image:<first 32 hex of the image id>`) whose image left the store and that no
/// placed replica runs is deleted by its manifest digest through the registry API
/// (`DELETE /v2/…/manifests/<digest>`), then `docker-registry garbage-collect` removes the
/// blobs nothing references any more (only for the registry this server runs; an operator's
/// registry gets the manifest deletes and runs its own collection). Pushes wait while it runs:
/// a blob uploaded before its manifest would look unreferenced.
extension SwarmRuntime: ImageCollecting {
    static let registryRepository = "switchyard/image"

    public func collectImageCopies() async {
        guard let registry = configuration.registry else { return }
        do {
            let stored = Set(try await configuration.imageStore.images().map(\.id))
            let running = Set(placed.values.map(\.spec.TaskTemplate.ContainerSpec.Image))
            let tags = try await registry.tags(repository: Self.registryRepository)
            var removed: [String] = []
            for tag in tags {
                let kept = stored.contains { $0.replacingOccurrences(of: "sha256:", with: "").hasPrefix(tag) }
                guard !kept, let digest = try await registry.manifestDigest(repository: Self.registryRepository, tag: tag),
                    !running.contains("\(registry.host)/\(Self.registryRepository)@\(digest)")
                else { continue }
                try await registry.deleteManifest(repository: Self.registryRepository, digest: digest)
                removed.append(tag)
            }
            loadedImages = loadedImages.filter { stored.contains($0.key) }
            guard !removed.isEmpty else { return }
            try await registry.garbageCollect()
            logger.info("registry images removed by retention", metadata: ["count": "\(removed.count)"])
        } catch {
            logger.error("could not collect the swarm registry's old images", metadata: ["error": "\(error)"])
        }
    }
}

extension SwarmRegistry {
    /// Manifest types a `skopeo copy` push may have written.
    static let manifestTypes = [
        "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.oci.image.index.v1+json",
    ]

    func request(_ method: HTTPMethod, _ path: String, accept: Bool = false) async throws -> (HTTPHead, Data) {
        guard let url = URL(string: "http://\(host)/v2/\(path)") else {
            throw YardError(.internal, "\(path) is not a registry path")
        }
        let headers = accept ? [("Accept", Self.manifestTypes.joined(separator: ", "))] : []
        return try await HTTPConnection.fetch(.init(url: url, method: method, headers: headers))
    }

    /// The repository's tags (none when it does not exist yet).
    func tags(repository: String) async throws -> [String] {
        struct List: Decodable { var tags: [String]? }
        let (head, body) = try await request(.GET, "\(repository)/tags/list")
        if head.status == 404 { return [] }
        guard head.status == 200 else {
            throw YardError(.unavailable, "the swarm registry \(host) answered \(head.status) to the list of \(repository)'s tags")
        }
        return try JSONDecoder().decode(List.self, from: body).tags ?? []
    }

    func manifestDigest(repository: String, tag: String) async throws -> String? {
        let (head, _) = try await request(.GET, "\(repository)/manifests/\(tag)", accept: true)
        return head.status == 200 ? head.header("Docker-Content-Digest") : nil
    }

    func deleteManifest(repository: String, digest: String) async throws {
        let (head, _) = try await request(.DELETE, "\(repository)/manifests/\(digest)")
        guard head.status == 202 || head.status == 404 else {
            throw YardError(
                .unavailable,
                "the swarm registry \(host) refused to delete \(repository)@\(digest) (\(head.status)): its storage needs delete: enabled: true")
        }
    }

    /// `docker-registry garbage-collect` on this server's registry (blobs of deleted
    /// manifests go), while no push runs.
    func garbageCollect() async throws {
        guard let configFile else { return }
        await gate.acquire()
        let result: CommandResult
        do {
            result = try await SystemCommand(Self.binary, ["garbage-collect", configFile.path]).result()
        } catch {
            await gate.release()
            throw error
        }
        await gate.release()
        guard result.succeeded else {
            throw YardError(.unavailable, "docker-registry garbage-collect failed: \(result.standardError.suffix(300))")
        }
    }
}

/// One holder at a time (a push, or a garbage collection); the others wait in order.
actor RegistryGate {
    private var held = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        if !held {
            held = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { held = false } else { waiting.removeFirst().resume() }
    }
}
