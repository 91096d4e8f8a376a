import Foundation
import Testing
import YardCore
import YardTestSupport

@testable import YardImage

@Suite("Image references")
struct ImageReferenceTests {
    @Test("Docker's short names are normalized as Docker does")
    func normalizes() throws {
        #expect(try ImageReference(parsing: "redis:7").description == "docker.io/library/redis:7")
        #expect(try ImageReference(parsing: "redis").description == "docker.io/library/redis:latest")
        #expect(try ImageReference(parsing: "bitnami/redis:7.2").description == "docker.io/bitnami/redis:7.2")
        #expect(try ImageReference(parsing: "ghcr.io/org/app:v1").description == "ghcr.io/org/app:v1")
        #expect(try ImageReference(parsing: "127.0.0.1:5000/team/app").description == "127.0.0.1:5000/team/app:latest")
        #expect(try ImageReference(parsing: "localhost/app:1").registry == "localhost")
        let digest = "sha256:" + String(repeating: "ab", count: 32)
        let pinned = try ImageReference(parsing: "ghcr.io/org/app@\(digest)")
        #expect(pinned.tag == nil && pinned.digest == digest)
        #expect(try ImageReference(parsing: "redis:7").familiarName == "redis:7")
    }

    @Test(
        "bad references are refused, naming what is wrong",
        arguments: [
            "", "-rm", "Redis:7", "redis:", "redis:-x", "ghcr.io//app", "app@sha256:xyz", "host:99999/app",
        ])
    func refuses(text: String) {
        #expect(throws: YardError.self) { try ImageReference(parsing: text) }
    }

    @Test("the lowest exposed TCP port is the default target port")
    func defaultPort() {
        #expect(ImageConfig(exposedPorts: ["9000/tcp", "53/udp", "8080/tcp"]).defaultPort == 8080)
        #expect(ImageConfig(exposedPorts: []).defaultPort == nil)
        #expect(ImageConfig(user: "").runsAsRoot && ImageConfig(user: "0:0").runsAsRoot && !ImageConfig(user: "app").runsAsRoot)
    }
}

@Suite("Image store (real podman and buildah)")
struct ImageStoreTests {
    @Test("a debootstrapped Debian imports under Docker Hub's name, and a Dockerfile builds FROM it")
    func importsAndInspects() async throws {
        try await TestImages.withStore { store, directory in
            let debian = try #require(try await store.inspect("docker.io/library/debian:bookworm-slim"))
            #expect(debian.id.hasPrefix("sha256:"))
            #expect(debian.config.command == ["bash"])
            #expect(debian.config.environment.contains { $0.hasPrefix("PATH=") })

            let context = directory.appendingPathComponent("context")
            try FileManager.default.createDirectory(at: context, withIntermediateDirectories: true)
            try "FROM debian:bookworm-slim\nUSER 1000\nEXPOSE 8080\nWORKDIR /srv\nENTRYPOINT [\"/bin/sh\", \"-c\"]\nCMD [\"echo hi\"]\n"
                .write(to: context.appendingPathComponent("Dockerfile"), atomically: true, encoding: .utf8)
            try await store.run(.buildah, ["bud", "--pull=never", "--isolation=chroot", "-t", "localhost/test:1", context.path])
            let built = try #require(try await store.inspect("localhost/test:1"))
            #expect(
                built.config
                    == ImageConfig(
                        user: "1000", environment: debian.config.environment, entrypoint: ["/bin/sh", "-c"], command: ["echo hi"],
                        workingDirectory: "/srv", exposedPorts: ["8080/tcp"], volumes: []))
            try await store.remove("localhost/test:1")
            #expect(try await store.inspect("localhost/test:1") == nil)
        }
    }
}

@Suite("Test images")
struct TestImagesTests {
    @Test("the perl HTTP server context builds and its server answers")
    func httpServerAnswers() async throws {
        try await TestImages.withStore { store, directory in
            let context = directory.appendingPathComponent("context")
            try TestImages.writeHTTPServerContext(at: context)
            try await store.run(.buildah, ["bud", "--pull=never", "--isolation=chroot", "-t", "localhost/perl-server:1", context.path])
            let image = try #require(try await store.inspect("localhost/perl-server:1"))
            #expect(image.config.command == ["perl", "/srv/server.pl"] && image.config.user == "1000")
            // The script compiles with the perl that minbase ships (perl-base only, no modules beyond it).
            let check = try await store.run(
                .podman,
                [
                    "run", "--rm", "--network=none", "localhost/perl-server:1", "perl", "-c", "/srv/server.pl",
                ])
            #expect(check.standardError.contains("syntax OK"))
        }
    }
}
