import Foundation
import Logging
import Synchronization
import Testing
import YardCore
import YardImage
import YardRuntime
import YardTestSupport

@testable import YardSandbox

#if canImport(Glibc)
    import Glibc
#endif

/// Images in the sandbox runtime, for real: an image built with buildah from the machine's
/// Debian, replicas placed and started by `SandboxRuntime` on a private network, asked over
/// HTTP from the host.
@Suite(.serialized)
struct ImageSandboxTests {
    /// Every name this suite makes starts with it (namespaces, links, cgroups).
    static let prefix = "yti"

    @Test func imageReplicasRunWithTheImagesConfigEachInItsOwnLayer() async throws {
        try await Self.withRuntime { runtime, store, scratch, subnet in
            let image = try await Self.build(
                store, scratch, tag: "http-user", user: "1000", extra: [
                    "ENV REPLY=from-image", "ENV KEEP=image-value", "RUN mkdir /srv/state && chown 1000:1000 /srv/state",
                ])
            #expect(image.config.defaultPort == 8080)
            let base = SandboxIdentity.imageIDBlock(forService: "svc_images/env_images")

            // The image's own CMD, USER, WORKDIR and Env.
            let first = Self.request("rep_img-0", image: image, subnet: subnet, command: "")
            let firstAddress = try await runtime.placeReplica(first).address
            try await runtime.startReplica(id: first.id)
            let firstReply = try await Self.get("http://\(firstAddress):8080/a")
            #expect(firstReply == "from-image uid=1000 cwd=/srv path=/a")

            // The first replica left a spare instance of its image for the next one.
            await runtime.imageSparesReady()
            let named = await store.instanceNames()
            let spares = named.filter { $0.hasPrefix("spare-") }
            #expect(spares.count == 1, "\(named)")

            // A start command replaces the ENTRYPOINT (exec form); the service's variables win.
            var second = Self.request(
                "rep_img-1", image: image, subnet: subnet,
                command: #"/bin/sh -c "id -u > /srv/state/own && echo \"$KEEP\" >> /srv/state/own && exec perl /srv/server.pl""#)
            second.environment["REPLY"] = "from-service"
            let secondAddress = try await runtime.placeReplica(second).address
            try await runtime.startReplica(id: second.id)
            let secondReply = try await Self.get("http://\(secondAddress):8080/b")
            #expect(secondReply == "from-service uid=1000 cwd=/srv path=/b")

            // The second replica took the spare: no buildah run on its start.
            let secondName = try #require(await runtime.imageInstances[second.id])
            #expect([secondName] == spares)
            // The file went to the second replica's own layer, owned by the mapped uid on the host.
            let secondRoot = store.configuration.directory.appendingPathComponent("instances/\(secondName)").path
            let firstRoot = store.configuration.directory.appendingPathComponent("instances/rep_img-0").path
            var info = stat()
            #expect(lstat(secondRoot + "/srv/state/own", &info) == 0)
            #expect(info.st_uid == base + 1000)
            #expect((try? String(contentsOfFile: secondRoot + "/srv/state/own", encoding: .utf8)) == "1000\nimage-value\n")
            #expect(access(firstRoot + "/srv/state/own", F_OK) != 0)
            #expect(Set(await store.instanceNames()).isSuperset(of: ["rep_img-0", secondName]))

            // Another service whose id block hashes to the same one is refused while this one holds it.
            let other = try #require(
                (0..<1_000_000).lazy.map { "svc_other\($0)" }
                    .first { SandboxIdentity.imageIDBlock(forService: $0 + "/env_images") == base })
            var stranger = Self.request("rep_other-0", image: image, subnet: subnet, command: "")
            stranger.serviceID = other
            await #expect {
                _ = try await runtime.placeReplica(stranger)
            } throws: { error in
                (error as? YardError)?.message.contains("already another service's") == true
            }

            await runtime.stopReplica(id: first.id, grace: .seconds(5))
            await runtime.stopReplica(id: second.id, grace: .seconds(5))
            // Each replica's layer went with it; only the next spare stays, until shutdown.
            await runtime.imageSparesReady()
            let left = await store.instanceNames()
            #expect(left.count == 1 && left.allSatisfy { $0.hasPrefix("spare-") } && left != spares, "\(left)")
            let instances = store.configuration.directory.appendingPathComponent("instances").path
            #expect(Self.mounts(under: instances) == left.map { "\(instances)/\($0)" })
            await runtime.shutdown()
            #expect(await store.instanceNames().isEmpty)
            #expect(Self.mounts(under: instances).isEmpty)
        }
    }

    @Test func rootImageChownsItsVolumeAndDropsToAUser() async throws {
        try await Self.withRuntime { runtime, store, scratch, subnet in
            let image = try await Self.build(store, scratch, tag: "http-root", user: nil, extra: ["VOLUME /data"])
            #expect(image.config.runsAsRoot)
            let base = SandboxIdentity.imageIDBlock(forService: "svc_images/env_images")
            let volume = scratch.appendingPathComponent("volume").path
            // As the official postgres and redis images do: root chowns its data folder, then drops.
            let script = "grep -E \"^(CapPrm|CapEff|NoNewPrivs)\" /proc/self/status > /data/caps && mkdir -p /data/db && chown 1000:1000 /data/db"
                + " && exec setpriv --reuid=1000 --regid=1000 --clear-groups perl /srv/server.pl"
            var request = Self.request("rep_root-0", image: image, subnet: subnet, command: "/bin/sh -c '\(script)'")
            request.volume = ReplicaRequest.Volume(name: "data", hostDirectory: volume, mountPath: "/data")
            let address = try await runtime.placeReplica(request).address
            try await runtime.startReplica(id: request.id)
            #expect(try await Self.get("http://\(address):8080/c") == "hello uid=1000 cwd=/srv path=/c")

            var info = stat()
            #expect(lstat(volume, &info) == 0 && info.st_uid == base)
            #expect(lstat(volume + "/db", &info) == 0 && info.st_uid == base + 1000)
            // Docker's default capability set, nothing more, even for root inside, and no way to
            // gain more (no_new_privs).
            let caps = try String(contentsOfFile: volume + "/caps", encoding: .utf8)
            #expect(caps == "CapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\nNoNewPrivs:\t1\n")

            await runtime.stopReplica(id: request.id, grace: .seconds(5))
            // The next replica (a redeploy, a restart) finds the data where the entrypoint left it.
            request.id = "rep_root-1"
            let next = try await runtime.placeReplica(request).address
            try await runtime.startReplica(id: request.id)
            #expect(try await Self.get("http://\(next):8080/d") == "hello uid=1000 cwd=/srv path=/d")
            #expect(lstat(volume + "/db", &info) == 0 && info.st_uid == base + 1000)
            // Shutdown (with the replica still running) leaves no instance and no mount.
            await runtime.stopAll(grace: .seconds(5))
            await runtime.shutdown()
            #expect(await store.instanceNames().isEmpty)
            #expect(Self.mounts(under: store.configuration.directory.path).isEmpty)
        }
    }

    @Test func aTaskRunsInTheImageAndItsInstanceGoesWithIt() async throws {
        try await Self.withRuntime { runtime, store, scratch, subnet in
            let image = try await Self.build(store, scratch, tag: "http-task", user: "1000", extra: ["ENV STAGE=migrate"])
            // A pre-deploy command or cron run: exec form, in the image, as its user.
            let request = Self.request("pre-dep_images", image: image, subnet: subnet, command: #"/bin/sh -c "echo $STAGE as $(id -u) in $(pwd)""#)
            let lines = Mutex<[String]>([])
            let process = try await runtime.startTask(request) { _, line in lines.withLock { $0.append(line) } }
            #expect(await store.instanceNames() == ["pre-dep_images"])
            #expect(await process.wait() == .exited(code: 0))
            await runtime.endTask(id: request.id)
            #expect(lines.withLock { $0 } == ["migrate as 1000 in /srv"])
            #expect(await store.instanceNames().isEmpty)
        }
    }

    @Test func leftoverInstancesOfACrashedServerAreRemovedAtStart() async throws {
        try await Self.withRuntime { runtime, store, scratch, _ in
            let image = try await Self.build(store, scratch, tag: "http-left", user: "1000", extra: [])
            _ = try await store.createInstance(image: image, name: "rep_left-0", idBase: SandboxIdentity.imageIDBase)
            #expect(await store.instanceNames() == ["rep_left-0"])
            await runtime.cleanUpLeftovers()
            #expect(await store.instanceNames().isEmpty)
            #expect(Self.mounts(under: store.configuration.directory.appendingPathComponent("instances").path).isEmpty)
        }
    }

    // MARK: - Support

    static func request(_ id: String, image: ImageArtifact, subnet: Subnet, command: String) -> ReplicaRequest {
        ReplicaRequest(
            id: id, deploymentID: "dep_images", serviceID: "svc_images", serviceName: "web", environmentID: "env_images",
            subnetIndex: subnet.index, artifact: .image(image), command: command, environment: ["PORT": "8080"], port: 8080)
    }

    static func build(_ store: ImageStore, _ scratch: URL, tag: String, user: String?, extra: [String]) async throws -> ImageArtifact {
        let context = scratch.appendingPathComponent("context-\(tag)")
        try TestImages.writeHTTPServerContext(at: context, user: user, extra: extra)
        let name = "localhost/yard-test/\(tag):1"
        try await store.run(.buildah, ["bud", "--pull=never", "--quiet", "-t", name, context.path])
        return try #require(try await store.inspect(name))
    }

    /// GETs `url` with curl until it answers (the replica is starting), for up to 20 s.
    static func get(_ url: String) async throws -> String {
        let curl = try #require(SystemTool.locate("curl"), "curl is missing: apt-get install -y curl")
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            let result = try await SystemCommand(curl, ["--silent", "--fail", "--max-time", "2", url]).result()
            if result.succeeded { return result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) }
            guard ContinuousClock.now < deadline else {
                throw YardError(.unavailable, "\(url) did not answer within 20 s (curl exit \(result.status))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    static func mounts(under path: String) -> [String] {
        // Whole: Foundation reads only the first 4 KB of a /proc file.
        let text = ProcFile.read("/proc/self/mounts") ?? ""
        return text.split(separator: "\n").compactMap { $0.split(separator: " ").dropFirst().first.map(String.init) }
            .filter { $0.hasPrefix(path) }
    }

    /// A sandbox runtime whose data directory is a scratch folder holding a store with Debian,
    /// on a free subnet; everything is stopped and removed afterwards, also on failure.
    static func withRuntime(_ body: (SandboxRuntime, ImageStore, URL, Subnet) async throws -> Void) async throws {
        _ = try NetworkTestHost.requireTools()
        let (sandboxing, reason) = SandboxLauncher.isAvailable(cgroupParent: "\(prefix)-images")
        try #require(sandboxing, Comment(rawValue: reason))
        try SandboxRuntime.checkSubordinateIDs()
        try await TestImages.withStore { store, scratch in
            // As `DataDirectoryPrivacy` leaves a server's data directory: traversable, not listable.
            _ = chmod(scratch.path, 0o711)
            let logger = Logger(label: "yard.images.test")
            let fabric = NetworkFabric(configuration: .init(namePrefix: prefix), logger: logger)
            let runtime = SandboxRuntime(
                configuration: .init(dataDirectory: scratch, platformExecutable: "/bin/true", networkPrefix: prefix),
                launcher: SandboxLauncher(configuration: .init(cgroupParent: "\(prefix)-images")), network: fabric,
                logger: logger)
            let subnet = try #require(try await NetworkTestHost.freeSubnets(1).first)
            // What the replicas printed and how they ended, shown when the test fails.
            let seen = Mutex<[String]>([])
            let watcher = Task {
                for await event in runtime.events {
                    switch event {
                    case .output(let id, _, let line): seen.withLock { $0.append("\(id): \(line)") }
                    case .exited(let id, let reason, _): seen.withLock { $0.append("\(id) exited: \(reason)") }
                    case .launchFailed(let id, let message): seen.withLock { $0.append("\(id) failed: \(message)") }
                    default: break
                    }
                }
            }
            var failure: (any Error)?
            do {
                try await runtime.prepareNetwork(environmentID: "env_images", subnetIndex: subnet.index)
                try await body(runtime, store, scratch, subnet)
            } catch {
                failure = error
            }
            await runtime.stopAll(grace: .seconds(2))
            await runtime.shutdown()
            await NetworkFabric.removeLeftovers(prefix: prefix)
            _ = try? await SandboxLauncher.removeLeftovers(cgroupParent: "\(prefix)-images")
            runtime.closeEvents()
            await watcher.value
            if let failure {
                Issue.record(Comment(rawValue: "the replicas said:\n" + seen.withLock { $0.joined(separator: "\n") }))
                throw failure
            }
        }
    }
}
