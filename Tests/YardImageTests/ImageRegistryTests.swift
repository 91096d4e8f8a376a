import Foundation
import Testing
import YardCore
import YardRuntime
import YardTestSupport

@testable import YardImage

@Suite("Registry errors and auth files")
struct RegistryErrorTests {
    let store = ImageStore(configuration: .init(directory: URL(fileURLWithPath: "/nonexistent/images")))

    @Test("podman's failures become messages that name the fix")
    func classifies() throws {
        let reference = try ImageReference(parsing: "ghcr.io/org/app:tag")
        let missing = store.pullError(reference, credentials: nil, standardError: "Error: reading manifest tag in ghcr.io/org/app: manifest unknown")
        #expect(missing.code == .notFound)
        #expect(missing.message.hasPrefix("image ghcr.io/org/app:tag was not found in ghcr.io ("))
        let login = RegistryCredentials(username: "alice", password: "hunter2-secret")
        let refused = store.pullError(reference, credentials: login, standardError: "Error: unauthorized: authentication required")
        #expect(refused.code == .unauthorized)
        #expect(refused.message.contains("refused the credentials for ghcr.io/org/app:tag"))
        #expect(refused.message.contains("--registry-username"))
        #expect(!refused.message.contains("hunter2"))
        let offline = store.pullError(reference, credentials: nil, standardError: "Error: pinging container registry ghcr.io: dial tcp: lookup ghcr.io: no such host")
        #expect(offline.code == .unavailable)
        #expect(offline.message.contains("could not be reached"))
        #expect(offline.message.contains("--registry-mirror") && offline.message.contains("yard image import"))
        #expect(!"\(login)".contains("hunter2"))
    }

    @Test("a registry whose port holds 401 or 403 still reads a missing image as not found")
    func portIsNotAStatus() throws {
        for port in [40312, 54013, 40100, 403] {
            let reference = try ImageReference(parsing: "127.0.0.1:\(port)/team/nothing:1")
            let stderr = "Error: initializing source docker://127.0.0.1:\(port)/team/nothing:1: "
                + "reading manifest 1 in 127.0.0.1:\(port)/team/nothing: manifest unknown: manifest unknown"
            let missing = store.pullError(reference, credentials: nil, standardError: stderr)
            #expect(missing.code == .notFound, "port \(port): \(missing.code): \(missing.message)")
        }
        let reference = try ImageReference(parsing: "127.0.0.1:5000/team/app:1")
        let refused = store.pullError(
            reference, credentials: nil, standardError: "Error: reading manifest 1: received unexpected HTTP status: 403 Forbidden")
        #expect(refused.code == .unauthorized)
        #expect(ImageStore.containsStatus(401, in: "status 401 unauthorized"))
        #expect(!ImageStore.containsStatus(401, in: "sha256:40112 size 4013"))
    }

    @Test("only loopback registries are spoken to over HTTP without being named")
    func loopback() {
        #expect(ImageStore.isLoopback(registry: "127.0.0.1:5000"))
        #expect(ImageStore.isLoopback(registry: "localhost:5000"))
        #expect(ImageStore.isLoopback(registry: "[::1]:5000"))
        #expect(!ImageStore.isLoopback(registry: "ghcr.io"))
        #expect(!ImageStore.isLoopback(registry: "127.example.com"))
    }
}

@Suite("Pulls, pushes, mirrors and imports (real podman, skopeo, docker-registry)")
struct ImageRegistryTests {
    static let login = RegistryCredentials(username: "deployer", password: "pw-\(UUID().uuidString)")

    @Test("a private image pulls with its credentials and is refused without them, clearly")
    func privatePull() async throws {
        try await TestImages.withStore { store, _ in
            try await TestRegistry.with(credentials: Self.login) { registry in
                let remote = try registry.reference("team/redis:7")
                try await store.push("docker.io/library/debian:bookworm-slim", to: remote, credentials: Self.login)
                let lines = LinesBox()
                let pulled = try await store.pull(remote, credentials: Self.login, progress: { lines.append($0) })
                let digest = try #require(pulled.digest)
                #expect(digest.hasPrefix("sha256:"))
                #expect(lines.all.first == "pulling \(registry.host)/team/redis:7 from \(registry.host)")
                #expect(lines.all.contains { $0.hasPrefix("digest \(digest)") })
                #expect(lines.all.contains { $0.hasPrefix("size ") && $0.contains("MB") })
                // Pulling again: the same digest, the same image.
                #expect(try await store.pull(remote, credentials: Self.login).id == pulled.id)

                let anonymous = await #expect(throws: YardError.self) { try await store.pull(remote) }
                #expect(anonymous?.code == .unauthorized)
                #expect(anonymous?.message.contains("--registry-username") == true)
                let wrong = RegistryCredentials(username: "deployer", password: "not-the-password-xyz")
                let refused = await #expect(throws: YardError.self) { try await store.pull(remote, credentials: wrong) }
                #expect(refused?.message.contains("refused the credentials") == true)
                #expect(refused?.message.contains("not-the-password-xyz") == false)

                let missing = await #expect(throws: YardError.self) {
                    try await store.pull(try registry.reference("team/nothing:1"), credentials: Self.login)
                }
                #expect(
                    missing?.message.hasPrefix("image \(registry.host)/team/nothing:1 was not found in \(registry.host)") == true,
                    "\(missing.map { "\($0.code): \($0.message)" } ?? "no error")")
                // No auth file outlives a pull.
                let run = try FileManager.default.contentsOfDirectory(atPath: store.runDirectory.path)
                #expect(!run.contains { $0.hasPrefix("auth-") })
            }
        }
    }

    @Test("an unreachable registry names the mirror and import as the way out")
    func unreachable() async throws {
        try await TestImages.withStore { store, _ in
            // A port just freed: nothing listens on it.
            let port = try PortAllocator.freePort(host: "127.0.0.1")
            let error = await #expect(throws: YardError.self) {
                try await store.pull(try ImageReference(parsing: "127.0.0.1:\(port)/team/app:1"))
            }
            #expect(error?.code == .unavailable)
            #expect(error?.message.contains("could not be reached") == true)
            #expect(error?.message.contains("--registry-mirror") == true)
        }
    }

    @Test("with --registry-mirror a Docker Hub short name comes from the mirror")
    func mirror() async throws {
        try await TestImages.withStore { store, _ in
            try await TestRegistry.with { registry in
                try await store.push("docker.io/library/debian:bookworm-slim", to: try registry.reference("library/redis:7"))
                let mirrored = ImageStore(configuration: .init(
                    directory: store.configuration.directory, registryMirror: URL(string: "http://\(registry.host)")))
                try mirrored.prepare()
                let lines = LinesBox()
                let image = try await mirrored.pull(try ImageReference(parsing: "redis:7"), progress: { lines.append($0) })
                #expect(image.digest != nil)
                #expect(lines.all.first?.contains("mirror http://\(registry.host)") == true)
                #expect(try await mirrored.inspect("docker.io/library/redis:7") != nil)
            }
        }
    }

    @Test("podman save tarballs import, docker-archive and oci-archive alike")
    func importsArchives() async throws {
        try await TestImages.withStore { store, directory in
            let debian = try #require(try await store.inspect("docker.io/library/debian:bookworm-slim"))
            for format in ["docker-archive", "oci-archive"] {
                let tarball = directory.appendingPathComponent("\(format).tar")
                try await store.run(.podman, ["save", "--format", format, "-o", tarball.path, "docker.io/library/debian:bookworm-slim"])
                let reference = try ImageReference(parsing: "example.com/imported/\(format):1")
                let imported = try await store.importArchive(tarball, as: reference)
                #expect(imported.id == debian.id)
                #expect(imported.config.command == ["bash"])
                let listed = try await store.images()
                #expect(listed.contains { $0.names.contains(reference.description) })
                #expect(listed.filter { $0.id == debian.id }.count == 1, "one entry per image: \(listed)")
            }
            let junk = directory.appendingPathComponent("junk.tar")
            try "not a tarball".write(to: junk, atomically: true, encoding: .utf8)
            let error = await #expect(throws: YardError.self) {
                try await store.importArchive(junk, as: try ImageReference(parsing: "junk:1"))
            }
            #expect(error?.message.contains("podman save") == true)
        }
    }
}

/// Collects progress lines from a `@Sendable` callback.
final class LinesBox: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}
