import Foundation
import Testing
import YardCore
import YardRuntime
import YardTestSupport

@testable import YardImage

@Suite("Dockerfile builds with buildah")
struct DockerfileBuildTests {
    static func spec(in directory: URL, arguments: [String: String] = [:], secrets: [String: URL] = [:]) -> DockerfileBuildSpec {
        DockerfileBuildSpec(
            contextDirectory: directory.appendingPathComponent("context"),
            dockerfile: directory.appendingPathComponent("context/Dockerfile"),
            tag: ImageStore.deploymentImageName(serviceID: "svc_Test", deploymentID: "dep_1"), buildArguments: arguments,
            secretFiles: secrets, cacheDirectory: directory.appendingPathComponent("cache"), networkNamespacePath: "/run/netns/none",
            firstHostID: BuildIdentity.firstUID(forService: "svc_Test"), limits: ResourceLimits(memoryBytes: 1 << 30, cpus: 1),
            noCache: false, imageIDFile: directory.appendingPathComponent("iid"))
    }

    @Test("buildah's argv: user namespace, runc, no pulls, values never in it, positional args after --")
    func arguments() {
        let directory = URL(fileURLWithPath: "/tmp/x")
        let spec = Self.spec(
            in: directory, arguments: ["APP_VERSION": "value-1.2"], secrets: ["API_TOKEN": URL(fileURLWithPath: "/tmp/x/s/secret-0")])
        let argv = ImageStore.budArguments(spec)
        #expect(argv.first == "bud")
        #expect(argv.contains("--layers=false") && argv.contains("--pull=never") && argv.contains("--isolation=oci") && argv.contains("--network=host"))
        let ids = "0:\(BuildIdentity.firstUID(forService: "svc_Test")):65536"
        #expect(argv.contains("--userns-uid-map=\(ids)") && argv.contains("--userns-gid-map=\(ids)"))
        #expect(argv.contains("--build-arg=APP_VERSION"))
        #expect(argv.contains("--secret=id=API_TOKEN,src=/tmp/x/s/secret-0"))
        #expect(argv.contains("--tag=localhost/yard/svc_test:dep_1"))
        #expect(argv.suffix(2) == ["--", "/tmp/x/context"])
        #expect(!argv.joined(separator: " ").contains("value-1.2"))
        #expect(argv.contains("--memory=1073741824") && argv.contains("--cpu-quota=100000"))
    }

    @Test("each service's build ids are a block of 65536 below the service uids, never host root")
    func identity() {
        for service in ["a", "svc_1", "svc_2", String(repeating: "z", count: 40)] {
            let first = BuildIdentity.firstUID(forService: service)
            #expect(first >= BuildIdentity.base)
            #expect(first + BuildIdentity.blockSize <= SandboxIdentity.serviceUIDBase)
            #expect((first - BuildIdentity.base) % BuildIdentity.blockSize == 0)
        }
        #expect(BuildIdentity.firstUID(forService: "svc_1") != BuildIdentity.firstUID(forService: "svc_2"))
    }

    @Test("an ARG reaches the build, a secret is readable in RUN yet in no layer, config or history")
    func argumentsAndSecrets() async throws {
        try await TestImages.withStore { store, scratch in
            let namespace = "ytdf\(UInt32.random(in: 0...UInt32.max))"
            try await SystemCommand("/usr/sbin/ip", ["netns", "add", namespace]).run()
            defer { _ = SystemCommand("/usr/sbin/ip", ["netns", "delete", namespace]).resultBlocking() }
            let context = scratch.appendingPathComponent("context")
            try FileManager.default.createDirectory(at: context, withIntermediateDirectories: true)
            try """
            FROM debian:bookworm-slim
            ARG APP_VERSION
            RUN --mount=type=secret,id=API_TOKEN wc -c < /run/secrets/API_TOKEN > /secret-length && echo "version=$APP_VERSION" > /version \
                && cat /proc/self/uid_map > /build-uidmap
            """.write(to: context.appendingPathComponent("Dockerfile"), atomically: true, encoding: .utf8)
            let secret = "tok-\(UUID().uuidString)"
            var spec = Self.spec(
                in: scratch, arguments: ["APP_VERSION": "1.2.3"],
                secrets: try ImageStore.writeSecretFiles(["API_TOKEN": secret], in: scratch.appendingPathComponent("secrets")))
            spec.networkNamespacePath = "/run/netns/" + namespace
            // The build's root must reach its steps' roots under the cache folder by path.
            try FileManager.default.setAttributes([.posixPermissions: 0o711], ofItemAtPath: scratch.path)
            try FileManager.default.createDirectory(
                at: spec.cacheDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
            let command = try store.buildCommand(spec)
            #expect(!command.arguments.joined(separator: " ").contains(secret))
            let result = try await command.result()
            #expect(result.succeeded, "\(result.standardError)")
            let image = try #require(try await store.inspect(spec.tag))
            #expect(try String(contentsOf: spec.imageIDFile, encoding: .utf8).contains(image.id.dropFirst("sha256:".count)))

            // Every blob of the exported image: layers unpacked, config and history as text.
            let oci = scratch.appendingPathComponent("oci")
            try await store.run(.skopeo, ["copy", "containers-storage:\(spec.tag)", "oci:\(oci.path)"])
            let unpacked = scratch.appendingPathComponent("unpacked")
            let blobs = oci.appendingPathComponent("blobs/sha256")
            for blob in try FileManager.default.contentsOfDirectory(atPath: blobs.path) {
                let folder = unpacked.appendingPathComponent(blob)
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                _ = try await SystemCommand("/usr/bin/tar", ["-xf", blobs.appendingPathComponent(blob).path, "-C", folder.path]).result()
            }
            let inBlobs = try await SystemCommand("/usr/bin/grep", ["-r", "-l", "-F", "--", secret, oci.path, unpacked.path]).result()
            #expect(inBlobs.status == 1, "the secret is in \(inBlobs.standardOutput)")
            let version = try await SystemCommand("/usr/bin/grep", ["-r", "-h", "-x", "version=1.2.3", unpacked.path]).result()
            #expect(version.succeeded, "the ARG did not reach the build")
            let length = try await SystemCommand("/usr/bin/find", [unpacked.path, "-name", "secret-length", "-exec", "cat", "{}", ";"]).result()
            #expect(length.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "\(secret.utf8.count)")
            // Root in the build is root of the user namespace only.
            let map = try await SystemCommand("/usr/bin/find", [unpacked.path, "-name", "build-uidmap", "-exec", "cat", "{}", ";"]).result()
            let fields = map.standardOutput.split(whereSeparator: \.isWhitespace)
            #expect(fields == ["0", "\(spec.firstHostID)", "65536"], "uid_map in the build: \(map.standardOutput)")
            #expect(try await store.buildContainers().isEmpty)
            try await store.remove(spec.tag)
        }
    }
}
