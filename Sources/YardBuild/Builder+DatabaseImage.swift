import Foundation
import YardCore
import YardImage

/// A database service's server as an image, for runtimes that run only images (the swarm):
/// Debian's package of the server over the Debian base, with the kind's mount path owned by
/// the server's user and that user as the image's `USER` (postgres and mariadb refuse root; a
/// new Docker volume takes the owner of the image's folder at its mount path). Built once per
/// image store and kept in the machine's cache, as provider build environments are; the
/// database's start script (`DatabaseScripts`) is the same as on the sandbox.
public enum DatabaseImage {
    /// The server's user in Debian's package.
    static func user(of kind: DatabaseKind) -> String {
        switch kind {
        case .postgres: "postgres"
        case .redis: "redis"
        case .mysql: "mysql"
        }
    }

    /// `localhost/yard-env/database-<kind>:<hash of its Containerfile>`.
    public static func imageName(of kind: DatabaseKind) -> String {
        var hasher = ContentHasher()
        hasher.add("switchyard-database-image-v1")
        hasher.add(containerfile(of: kind))
        return "localhost/yard-env/database-\(kind.rawValue):\(hasher.finish().prefix(16))"
    }

    static func containerfile(of kind: DatabaseKind) -> String {
        let user = user(of: kind)
        // Debian's postgresql makes a cluster at install unless told not to; the script makes its own in the volume.
        let before = kind == .postgres
            ? "mkdir -p /etc/postgresql-common/createcluster.d && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/yard.conf && "
            : ""
        let install =
            before + "apt-get -o Acquire::Check-Valid-Until=false update"
            + " && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \(kind.debianPackage)"
            + " && rm -rf /var/lib/apt/lists/*"
            + " && mkdir -p \(kind.volumeMountPath) && chown \(user):\(user) \(kind.volumeMountPath) && chmod 700 \(kind.volumeMountPath)"
        return """
            FROM \(ProviderEnvironment.debianBase)
            RUN \(ProviderContainerfile.execForm(["/bin/sh", "-c", install]))
            USER \(user)

            """
    }

    static func recipe(of kind: DatabaseKind) -> EnvironmentImageRecipe {
        EnvironmentImageRecipe(
            name: imageName(of: kind), title: "the \(kind.rawValue) database image", packages: [kind.debianPackage],
            containerfile: containerfile(of: kind))
    }
}

extension Builder {
    /// The database image of `kind` in `images`: built (in the build's network namespace and
    /// user-namespace block of `request`) when neither the store nor the machine's cache has it.
    public func buildDatabaseImage(
        _ kind: DatabaseKind, _ request: DockerfileBuildRequest, images: ImageStore,
        log: @escaping @Sendable (LogLine.Stream, String) -> Void
    ) async throws(YardError) -> ImageArtifact {
        guard !request.networkNamespace.isEmpty else {
            throw YardError(
                .buildFailed,
                "a database image builds only in the sandbox (its steps must not share the host's network): start yard serve as root")
        }
        let firstHostID = BuildIdentity.firstUID(forService: request.serviceID)
        let cacheDirectory: URL
        do {
            cacheDirectory = try Self.prepareBuildCache(serviceID: request.serviceID, images: images)
            try FileManager.default.createDirectory(at: request.scratchDirectory, withIntermediateDirectories: true)
        } catch {
            throw YardError(.internal, "could not prepare the database image build's folders", cause: error)
        }
        defer { try? FileManager.default.removeItem(at: request.scratchDirectory) }
        let recipe = DatabaseImage.recipe(of: kind)
        try await ensureEnvironmentImage(
            recipe, request: request, images: images, firstHostID: firstHostID, cacheDirectory: cacheDirectory, log: log)
        guard let image = try? await images.inspect(recipe.name) else {
            throw YardError(.buildFailed, "the \(kind.rawValue) database image \(recipe.name) is not in the image store after its build")
        }
        return image
    }
}
