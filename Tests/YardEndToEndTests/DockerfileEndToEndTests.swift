import Foundation
import Testing
import YardClient
import YardCore
import YardImage
import YardRuntime
import YardTestSupport

/// Issue 15 item 1 end to end: a real `yard serve` builds Dockerfiles with buildah into its
/// own image store (`<data>/images`, with Debian imported as the base), one server for the
/// whole suite's scenarios.
@Suite("Dockerfile builds end to end", .serialized)
struct DockerfileEndToEndTests {
    static func store(of server: YardServer) -> ImageStore {
        ImageStore(configuration: .init(directory: server.dataDirectory.appendingPathComponent("images")))
    }

    /// A sandboxed server whose image store holds Debian; the store's mounts (the test's
    /// own podman calls make them too) are undone before the folder is removed.
    static func withServer(_ body: (YardServer, ImageStore) async throws -> Void) async throws {
        try await YardServer.with(runtime: "sandbox") { server in
            let store = Self.store(of: server)
            do {
                _ = try await TestImages.storeWithDebian(in: store.configuration.directory)
                try await body(server, store)
            } catch {
                await server.stop()
                await store.unmountAll()
                throw error
            }
            await server.stop()
            await store.unmountAll()
        }
    }

    /// A linked project folder holding only what `files` says.
    static func project(_ server: YardServer, _ name: String, files: [String: String] = [:], httpServer: Bool = true) async throws -> URL {
        let folder = server.root.appendingPathComponent("apps/\(name)")
        if httpServer {
            try TestImages.writeHTTPServerContext(
                at: folder, user: "1000",
                extra: ["ARG APP_VERSION",
                        "RUN --mount=type=secret,id=BUILD_TOKEN echo \"version=$APP_VERSION\" > /srv/version && test -s /run/secrets/BUILD_TOKEN"])
        } else {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }
        for (path, text) in files {
            let file = folder.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        let initialized = try await server.yard(["init", "--name", name], in: folder)
        try #require(initialized.status == 0, "\(initialized.output)")
        return folder
    }

    /// The newest deployment of the project's service.
    static func newest(_ server: YardServer, _ name: String) async throws -> DeploymentView {
        let deployments = try await server.client().deployments(.init(project: name, environment: "production", service: name))
        return try #require(deployments.max { $0.createdAt < $1.createdAt })
    }

    /// Exports the image and returns the folder of every blob unpacked (layers) or copied
    /// (config, history, manifests).
    static func unpack(_ image: String, store: ImageStore, into folder: URL) async throws -> URL {
        let oci = folder.appendingPathComponent("oci")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try await store.run(.skopeo, ["copy", "containers-storage:\(image)", "oci:\(oci.path)"])
        let blobs = oci.appendingPathComponent("blobs/sha256")
        for blob in try FileManager.default.contentsOfDirectory(atPath: blobs.path) {
            let target = folder.appendingPathComponent("layers/\(blob)")
            try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
            _ = try await SystemCommand("/usr/bin/tar", ["-xf", blobs.appendingPathComponent(blob).path, "-C", target.path]).result()
        }
        return folder
    }

    @Test(
        "a Dockerfile-only repository builds into the deployment's image: ARG reaches the build, secrets stay out of every layer, a redeploy builds again, dockerfilePath in a subfolder builds",
        .timeLimit(.minutes(10)))
    func buildsImages() async throws {
        try await Self.withServer { server, store in
            let folder = try await Self.project(server, "dock")
            let secret = "build-secret-\(UUID().uuidString)"
            let set = try await server.yard(["variables", "set", "APP_VERSION=4.5.6", "--build-secret", "BUILD_TOKEN=\(secret)"], in: folder)
            try #require(set.status == 0, "\(set.output)")

            // The plan needs no server and no host toolchain.
            let plan = try await server.yard(["build", "--plan"], in: folder)
            #expect(plan.status == 0, "\(plan.output)")
            let planned = try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any]
            #expect(planned?["provider"] as? String == "dockerfile" && planned?["detectedFrom"] as? String == "Dockerfile", "\(plan.stdout)")
            #expect((planned?["notes"] as? [String])?.contains("exposes: 8080/tcp") == true, "\(plan.stdout)")

            let up = try await server.yard(["up"], in: folder)
            #expect(up.stdout.contains("Using detected Dockerfile"), "\(up.outputTail)")
            #expect(up.stdout.contains("build arguments: APP_VERSION"), "\(up.outputTail)")
            #expect(up.stdout.contains("STEP"), "buildah's output is streamed:\n\(up.outputTail)")
            #expect(!up.output.contains(secret))
            let first = try await Self.newest(server, "dock")
            let key = try #require(first.artifactKey, "no artifact: \(first.status) \(first.reason ?? "")\n\(up.outputTail)")
            let name = ImageStore.deploymentImageName(serviceID: first.serviceID, deploymentID: first.id)
            let image = try #require(try await store.inspect(name), "the deployment's image \(name) is not in the store")
            #expect(key.count == 64, "the artifact key is a content address: \(key)")
            #expect(image.config.exposedPorts == ["8080/tcp"])
            #expect(first.provider == "dockerfile")
            // The replica runs the image (non-root, its EXPOSE'd port) and answers through the router.
            #expect(up.status == 0, "\(up.outputTail)\nserver:\n\(YardServer.lastLines(of: server.serveLog, 30))")
            let answer = try await server.get(host: "dock-dock.localhost")
            #expect(answer.status == 200 && answer.body.contains("hello uid=1000 cwd=/srv"), "\(answer)")

            let unpacked = try await Self.unpack(name, store: store, into: server.root.appendingPathComponent("export-1"))
            let leaked = try await SystemCommand("/usr/bin/grep", ["-r", "-l", "-F", "--", secret, unpacked.path]).result()
            #expect(leaked.status == 1, "the build secret is in the image: \(leaked.standardOutput)")
            let version = try await SystemCommand("/usr/bin/grep", ["-r", "-h", "-x", "version=4.5.6", unpacked.path]).result()
            #expect(version.succeeded, "the ARG did not reach the build")

            // A redeploy of the same context, Dockerfile and arguments reuses the image, with no build.
            let redeploy = try await server.yard(["redeploy"], in: folder)
            #expect(redeploy.status == 0, "\(redeploy.outputTail)")
            let reused = try await Self.newest(server, "dock")
            #expect(reused.id != first.id && reused.artifactKey == key, "\(reused.status) \(reused.reason ?? "")")
            let reuseLog = try await server.yard(["logs", "--build", "--deployment", reused.id], in: folder)
            #expect(reuseLog.stdout.contains("reusing it, skipping the build"), "\(reuseLog.outputTail)")
            // A changed context builds again (no layer cache while buildah cannot keep user-namespaced layers).
            try "notes\n".write(to: folder.appendingPathComponent("NOTES.md"), atomically: true, encoding: .utf8)
            _ = try await server.yard(["up"], in: folder)
            let second = try await Self.newest(server, "dock")
            #expect(second.id != reused.id && second.artifactKey != nil && second.artifactKey != key, "\(second.status) \(second.reason ?? "")")
            // A rollback runs the first build's image again, with no build.
            let rollback = try await server.yard(["rollback", first.id], in: folder)
            #expect(rollback.status == 0, "\(rollback.outputTail)")
            let rolled = try await Self.newest(server, "dock")
            #expect(rolled.status == .success && rolled.artifactKey == key, "\(rolled.status) \(rolled.reason ?? "")")
            let again = try await server.get(host: "dock-dock.localhost")
            #expect(again.status == 200 && again.body.contains("hello uid=1000 cwd=/srv"), "\(again)")

            // dockerfilePath into a subfolder; the context stays the repository's root.
            let sub = try await Self.project(
                server, "subdir",
                files: ["deploy/web.Dockerfile": """
                            FROM debian:bookworm-slim
                            ENV PATH=/opt/tools/bin:/usr/bin:/bin
                            COPY deploy/say-hello /opt/tools/bin/say-hello
                            RUN chmod 755 /opt/tools/bin/say-hello
                            CMD ["sh", "-c", "say-hello"]

                            """,
                        "deploy/say-hello": "#!/bin/sh\necho \"hi home=$HOME path=$PATH\"\n",
                        "railway.toml": "[build]\ndockerfilePath = \"deploy/web.Dockerfile\"\n"],
                httpServer: false)
            let subUp = try await server.yard(["up"], in: sub)
            #expect(subUp.stdout.contains("Using Dockerfile deploy/web.Dockerfile"), "\(subUp.outputTail)")
            let subDeployment = try await Self.newest(server, "subdir")
            #expect(subDeployment.artifactKey != nil, "\(subDeployment.status) \(subDeployment.reason ?? "")\n\(subUp.outputTail)")
            // The image's own PATH finds its tools and HOME is its user's: nothing of the host's
            // environment (PATH with the host's toolchains, HOME) goes over the image's ENV.
            let expected = "hi home=/root path=/opt/tools/bin:/usr/bin:/bin"
            var said = try await server.yard(["logs", "--deployment", subDeployment.id], in: sub)
            for _ in 0..<20 where !said.stdout.contains(expected) {
                try await Task.sleep(for: .milliseconds(500))
                said = try await server.yard(["logs", "--deployment", subDeployment.id], in: sub)
            }
            #expect(said.stdout.contains(expected), "\(said.outputTail)")
        }
    }

    @Test(
        "a broken Dockerfile fails naming its step and line while the live deployment keeps serving; a missing base image is named with how to bring it; yard cancel stops a build and leaves no buildah container",
        .timeLimit(.minutes(10)))
    func failures() async throws {
        try await Self.withServer { server, store in
            // A folder app is live first.
            let folder = try await Self.project(server, "live", files: ["index.html": "<h1>still here</h1>\n"], httpServer: false)
            let first = try await server.yard(["up"], in: folder)
            try #require(first.status == 0, "\(first.outputTail)")
            #expect(try await server.get(host: "live-live.localhost").body.contains("still here"))

            try "FROM debian:bookworm-slim\nWORKDIR /srv\n\n# fails\nCOPY index.html /srv/\nRUN false\nCMD [\"true\"]\n".write(
                to: folder.appendingPathComponent("Dockerfile"), atomically: true, encoding: .utf8)
            let broken = try await server.yard(["up"], in: folder)
            #expect(broken.status != 0)
            #expect(broken.output.contains("Dockerfile line 6: RUN false exited with status 1"), "\(broken.outputTail)")
            let answer = try await server.get(host: "live-live.localhost")
            #expect(answer.status == 200 && answer.body.contains("still here"), "\(answer)")

            try "FROM docker.io/library/alpine:3.20\n".write(to: folder.appendingPathComponent("Dockerfile"), atomically: true, encoding: .utf8)
            let missing = try await server.yard(["up"], in: folder)
            #expect(missing.status != 0)
            #expect(missing.output.contains("alpine:3.20") && missing.output.contains("yard image import"), "\(missing.outputTail)")

            // A long RUN, cancelled.
            let marker = "yard-dockerfile-cancel-\(UUID().uuidString.prefix(8))"
            try "FROM debian:bookworm-slim\nRUN sleep 300 # \(marker)\n".write(
                to: folder.appendingPathComponent("Dockerfile"), atomically: true, encoding: .utf8)
            let before = try await store.buildContainers()
            let up = try await server.yard(["up", "--detach", "--json"], in: folder)
            try #require(up.status == 0, "\(up.output)")
            let deployment = try YardJSON.decoder().decode(DeploymentView.self, from: Data(up.stdout.utf8))
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline, BuildEndToEndTests.processes(containing: marker).isEmpty {
                try await Task.sleep(for: .milliseconds(200))
            }
            try #require(!BuildEndToEndTests.processes(containing: marker).isEmpty, "the RUN step never started")
            let cancel = try await server.yard(["cancel", deployment.id], in: folder)
            #expect(cancel.status == 0, "\(cancel.output)")
            let final = try await server.client().watch(deploymentID: deployment.id) { _ in }
            #expect(final.status == .removed, "\(final.status) \(final.reason ?? "")")
            let gone = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < gone, !BuildEndToEndTests.processes(containing: marker).isEmpty {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(BuildEndToEndTests.processes(containing: marker).isEmpty, "the RUN step is still running")
            #expect(try await store.buildContainers() == before, "a buildah working container was left behind")
            #expect(try await server.get(host: "live-live.localhost").body.contains("still here"))
        }
    }
}
