import Foundation
import Testing
import YardClient
import YardCore
import YardImage
import YardTestSupport

/// Issue 15, item 2: image services pulled from a real `docker-registry` (private, with
/// credentials; and as a Docker Hub mirror), imported images, redeploys that pull again.
@Suite("image services end to end", .serialized)
struct ImageServiceEndToEndTests {
    static let login = RegistryCredentials(username: "deployer", password: "img-\(UUID().uuidString)")

    /// Waits until the deployment is no longer in progress.
    static func settled(_ client: YardAPIClient, _ id: String, timeout: Duration = .seconds(180)) async throws -> DeploymentView {
        let deadline = ContinuousClock.now + timeout
        var deployment = try await client.deployment(id: id)
        while deployment.status.isInProgress, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
            deployment = try await client.deployment(id: id)
        }
        return deployment
    }

    static func buildLog(_ client: YardAPIClient, _ id: String) async throws -> String {
        var lines: [String] = []
        try await client.logs(deploymentID: id, kind: .build, follow: false) { lines.append($0.message) }
        return lines.joined(separator: "\n")
    }

    /// The newest deployment of `service`.
    static func latest(_ client: YardAPIClient, _ service: String) async throws -> DeploymentView {
        let scope = YardAPIClient.Scope(project: "imgs", environment: "production", service: service)
        return try #require(try await client.deployments(scope).max { $0.createdAt < $1.createdAt })
    }

    /// The pull worked: BUILDING was the pull, the deployment carries the image, and the
    /// service answers through the router.
    static func expectPulled(
        _ server: YardServer, _ client: YardAPIClient, _ deployment: DeploymentView, host: String
    ) async throws -> String {
        let log = try await buildLog(client, deployment.id)
        #expect(log.contains("pulling "), "\(log)")
        #expect(log.contains("digest sha256:"), "\(log)")
        #expect(log.contains("size ") && log.contains("MB"), "\(log)")
        #expect(deployment.provider == "image")
        #expect(deployment.artifactKey?.hasPrefix("sha256:") == true, "\(deployment)")
        #expect(deployment.history.contains { $0.status == .deploying }, "\(deployment.history)")
        #expect(deployment.status == .success, "\(deployment.reason ?? "")\n\(server.serveLog)")
        let answer = try await server.eventually(host: host) { status, body in status == 200 && body.contains("hello") }
        #expect(answer.body.contains("hello uid=1000"), "\(answer)")
        return log
    }

    @Test("a private image pulls with credentials and is refused without; redeploy pulls again; a mirror serves Docker Hub names; imports deploy",
          .timeLimit(.minutes(10)))
    func imageServices() async throws {
        try IsolationEndToEndTests.requireIsolation()
        try TestImages.requireTools()
        try await TestImages.withStore { images, scratch in
            // An image made here, named like Docker Hub's redis:7.
            let context = scratch.appendingPathComponent("context")
            try TestImages.writeHTTPServerContext(at: context, user: "1000")
            try await images.run(.buildah, ["bud", "--pull=never", "--isolation=chroot", "-t", "docker.io/library/redis:7", context.path])
            let tarball = scratch.appendingPathComponent("redis.tar")
            try await images.run(.podman, ["save", "-o", tarball.path, "docker.io/library/redis:7"])
            // Its next version, pushed under the same tag later on: what a rollback leaves.
            let next = scratch.appendingPathComponent("context-v2")
            try TestImages.writeHTTPServerContext(at: next, user: "1000", extra: ["ENV REPLY=hello-v2"])
            try await images.run(.buildah, ["bud", "--pull=never", "--isolation=chroot", "-t", "localhost/redis:v2", next.path])

            try await TestRegistry.with(credentials: Self.login) { registry in
                try await TestRegistry.with { mirror in
                    let remote = try registry.reference("team/redis:7")
                    try await images.push("docker.io/library/redis:7", to: remote, credentials: Self.login)
                    try await images.push("docker.io/library/redis:7", to: try mirror.reference("library/redis:7"))
                    try await YardServer.with(serveArguments: ["--registry-mirror", "http://\(mirror.host)"]) { server in
                        try await run(server, remote: remote, tarball: tarball)
                        try await images.push("localhost/redis:v2", to: remote, credentials: Self.login)
                        try await rollBack(server, remote: remote)
                    }
                }
            }
        }
    }

    @Test("an image whose entrypoint chowns its data folder and drops to a user keeps its volume's data across redeploys and yard serve restarts",
          .timeLimit(.minutes(6)))
    func keepsData() async throws {
        try IsolationEndToEndTests.requireIsolation()
        try TestImages.requireTools()
        try await TestImages.withStore { images, scratch in
            // As the official redis and postgres images do (with gosu): root chowns, then drops.
            let context = scratch.appendingPathComponent("context")
            try TestImages.writeHTTPServerContext(at: context, user: nil, extra: [
                "COPY entrypoint.sh /entrypoint.sh", "RUN chmod 755 /entrypoint.sh", "ENTRYPOINT [\"/entrypoint.sh\"]",
            ])
            try """
                #!/bin/sh
                set -e
                mkdir -p /data
                chown -R 1000:1000 /data
                exec setpriv --reuid=1000 --regid=1000 --clear-groups sh -c \
                    'echo start >> /data/starts; export REPLY="starts-$(wc -l < /data/starts)-owner-$(stat -c %u /data/starts)"; exec "$@"' \
                    sh "$@"

                """.write(to: context.appendingPathComponent("entrypoint.sh"), atomically: true, encoding: .utf8)
            try await images.run(.buildah, ["bud", "--pull=never", "--isolation=chroot", "-t", "docker.io/library/redis:7", context.path])
            try await TestRegistry.with { mirror in
                try await images.push("docker.io/library/redis:7", to: try mirror.reference("library/redis:7"))
                try await YardServer.with(serveArguments: ["--registry-mirror", "http://\(mirror.host)"]) { server in
                    let folder = server.root.appendingPathComponent("apps/imgs")
                    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                    try #require(try await server.yard(["init", "--name", "imgs"], in: folder).status == 0)
                    let client = try server.client()
                    let host = "redis-imgs.localhost"
                    let add = try await server.yard(["add", "--image", "redis:7", "--detach"], in: folder)
                    try #require(add.status == 0, "\(add.output)")
                    let first = try await Self.settled(client, try await Self.latest(client, "redis").id)
                    try #require(first.status == .success, "\(first.reason ?? "")\n\(server.serveLog)")
                    let volume = try await server.yard(["volume", "add", "--mount", "/data", "--service", "redis"], in: folder)
                    try #require(volume.status == 0, "\(volume.output)")
                    for (round, expected) in ["starts-1-owner-1000", "starts-2-owner-1000"].enumerated() {
                        let redeploy = try await server.yard(["redeploy", "--service", "redis", "--detach"], in: folder)
                        try #require(redeploy.status == 0, "\(redeploy.output)")
                        let deployment = try await Self.settled(client, try await Self.latest(client, "redis").id)
                        try #require(deployment.status == .success, "round \(round): \(deployment.reason ?? "")\n\(server.serveLog)")
                        let answer = try await server.eventually(host: host) { status, body in status == 200 && body.contains(expected) }
                        #expect(answer.body.hasPrefix("\(expected) uid=1000"), "round \(round): \(answer)")
                    }
                    await server.stop()
                    try await server.start()
                    let answer = try await server.eventually(host: host, timeout: .seconds(90)) { status, body in
                        status == 200 && body.contains("starts-3-owner-1000")
                    }
                    #expect(answer.body.hasPrefix("starts-3-owner-1000 uid=1000"), "\(answer)\n\(server.serveLog)")
                }
            }
        }
    }

    /// Runs `action` while `workers` clients keep asking `host` through the router, and 3 s
    /// more (the old replicas' drain and stop); returns what they saw.
    static func underLoad(
        _ server: YardServer, host: String, workers: Int = 8, _ action: @escaping @Sendable () async throws -> Void
    ) async throws -> ZeroDowntimeEndToEndTests.Tally {
        let tally = ZeroDowntimeEndToEndTests.Tally()
        let stop = Box(false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<workers {
                group.addTask {
                    while !stop.value {
                        do {
                            let answer = try await server.getOnce(host: host)
                            if answer.status == 200 { tally.succeeded() } else { tally.fail("\(answer.status): \(answer.body)") }
                        } catch {
                            tally.fail("\(error)")
                        }
                    }
                }
            }
            group.addTask {
                defer { stop.value = true }
                try await action()
                // The old replicas' drain and stop, under load too.
                try await Task.sleep(for: .seconds(3))
            }
            try await group.waitForAll()
        }
        return tally
    }

    /// v2 of the private image, pulled by a redeploy; then a rollback to v1 (an image no tag
    /// names any more) and a roll-out of v2 again, each under load with no failed request.
    private func rollBack(_ server: YardServer, remote: ImageReference) async throws {
        let folder = server.root.appendingPathComponent("apps/imgs")
        let client = try server.client()
        let host = "private-imgs.localhost"
        let v1 = try await Self.latest(client, "private")
        let redeploy = try await server.yard(["redeploy", "--service", "private", "--detach"], in: folder)
        try #require(redeploy.status == 0, "\(redeploy.output)")
        let v2 = try await Self.settled(client, try await Self.latest(client, "private").id)
        try #require(v2.status == .success, "\(v2.reason ?? "")\n\(server.serveLog)")
        #expect(v2.artifactKey != v1.artifactKey, "the redeploy pulled the new digest")
        _ = try await server.eventually(host: host) { status, body in status == 200 && body.hasPrefix("hello-v2 uid=1000") }

        for (target, reply) in [(v1, "hello uid=1000"), (v2, "hello-v2 uid=1000")] {
            let tally = try await Self.underLoad(server, host: host) {
                let rollback = try await server.yard(["rollback", target.id], in: folder)
                #expect(rollback.status == 0, "\(rollback.output)\n\(YardServer.lastLines(of: server.serveLog, 30))")
            }
            let rolled = try await Self.latest(client, "private")
            #expect(rolled.status == .success && rolled.artifactKey == target.artifactKey, "\(rolled.status) \(rolled.reason ?? "")")
            let answer = try await server.getOnce(host: host)
            #expect(answer.status == 200 && answer.body.hasPrefix(reply), "rolled back to \(target.id): \(answer)")
            #expect(tally.failures.isEmpty, "\(tally.failures.count) failed requests during the rollback: \(tally.failures.prefix(5))")
            #expect(tally.okCount > 20, "the load ran: \(tally.okCount) requests")
        }
    }

    private func run(_ server: YardServer, remote: ImageReference, tarball: URL) async throws {
        let folder = server.root.appendingPathComponent("apps/imgs")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try #require(try await server.yard(["init", "--name", "imgs"], in: folder).status == 0)
        let client = try server.client()
        let password = Self.login.password

        // With credentials (the password on stdin): the pull works.
        let add = try await server.yard(
            ["add", "--image", remote.familiarName, "--name", "private", "--registry-username", "deployer",
             "--registry-password-stdin", "--detach"], in: folder, input: password + "\n")
        try #require(add.status == 0, "\(add.output)\n\(server.serveLog)")
        #expect(add.stdout.contains("Added image service private (\(remote.description))"), "\(add.stdout)")
        let first = try await Self.settled(client, try await Self.latest(client, "private").id)
        let firstLog = try await Self.expectPulled(server, client, first, host: "private-imgs.localhost")

        // Redeploy pulls again: the same digest, the same image.
        let redeploy = try await server.yard(["redeploy", "--service", "private", "--detach"], in: folder)
        try #require(redeploy.status == 0, "\(redeploy.output)")
        let second = try await Self.settled(client, try await Self.latest(client, "private").id)
        #expect(second.id != first.id)
        let secondLog = try await Self.expectPulled(server, client, second, host: "private-imgs.localhost")
        #expect(second.artifactKey == first.artifactKey)
        let digest = { (log: String) in log.split(separator: "\n").first { $0.hasPrefix("digest ") } }
        #expect(digest(firstLog) != nil && digest(firstLog) == digest(secondLog))

        // Without credentials: FAILED, saying what to set.
        let anonymous = try await server.yard(["add", "--image", remote.familiarName, "--name", "anon", "--detach"], in: folder)
        try #require(anonymous.status == 0, "\(anonymous.output)")
        let refused = try await Self.settled(client, try await Self.latest(client, "anon").id)
        #expect(refused.status == .failed)
        #expect(refused.reason?.contains("asks for credentials and none are set for \(remote.familiarName)") == true, "\(refused.reason ?? "")")
        #expect(refused.reason?.contains("--registry-username") == true)
        // The fix the error names: set the login, redeploy, and the pull works.
        let login = try await server.yard(
            ["service", "--service", "anon", "--registry-username", "deployer", "--registry-password-stdin"], in: folder,
            input: password + "\n")
        try #require(login.status == 0, "\(login.output)")
        #expect(login.stdout.contains("The registry login applies from the next pull"), "\(login.stdout)")
        let retry = try await server.yard(["redeploy", "--service", "anon", "--detach"], in: folder)
        try #require(retry.status == 0, "\(retry.output)")
        let accepted = try await Self.settled(client, try await Self.latest(client, "anon").id)
        _ = try await Self.expectPulled(server, client, accepted, host: "anon-imgs.localhost")

        // A Docker Hub short name comes from the mirror.
        let mirrored = try await server.yard(["add", "--image", "redis:7", "--name", "mirrored", "--detach"], in: folder)
        try #require(mirrored.status == 0, "\(mirrored.output)")
        let fromMirror = try await Self.settled(client, try await Self.latest(client, "mirrored").id)
        let mirrorLog = try await Self.expectPulled(server, client, fromMirror, host: "mirrored-imgs.localhost")
        #expect(mirrorLog.contains("(mirror http://"), "\(mirrorLog)")

        // Imports: a podman save tarball, and a debootstrapped Debian, then an image service of one.
        let data = ["--data-dir", server.dataDirectory.path]
        let imported = try await server.yard(["image", "import", "localhost/imported:1", tarball.path] + data, in: folder)
        try #require(imported.status == 0, "\(imported.output)")
        let debian = try await server.yard(["image", "import", "localhost/debian:bookworm", "--debootstrap", "bookworm"] + data, in: folder)
        try #require(debian.status == 0, "\(debian.output)")
        let list = try await server.yard(["image", "ls"] + data, in: folder)
        #expect(list.stdout.contains("localhost/imported:1") && list.stdout.contains("localhost/debian:bookworm"), "\(list.output)")
        let local = try await server.yard(["add", "--image", "localhost/imported:1", "--name", "local", "--detach"], in: folder)
        try #require(local.status == 0, "\(local.output)")
        let fromImport = try await Self.settled(client, try await Self.latest(client, "local").id)
        let importLog = try await Self.buildLog(client, fromImport.id)
        #expect(importLog.contains("is local"), "\(importLog)")
        #expect(fromImport.artifactKey == first.artifactKey)

        // The status names the image; the password is nowhere.
        let status = try await server.yard(["status"], in: folder)
        #expect(status.stdout.contains("(image \(remote.description))"), "\(status.stdout)")
        let json = try await server.yard(["status", "--json"], in: folder)
        for text in [add.output, login.output, status.output, json.output, firstLog, secondLog, refused.reason ?? "", server.serveLog] {
            #expect(!text.contains(password))
        }
        let run = try FileManager.default.contentsOfDirectory(atPath: server.dataDirectory.appendingPathComponent("images/run").path)
        #expect(!run.contains { $0.hasPrefix("auth-") }, "an auth file outlived its pull: \(run)")
    }
}
