import Foundation
import Testing
import YardClient
import YardCore
import YardRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 13 (hostile tenants), what an upload or a repository can make the server do with
/// files: each attack performed against a real `yard serve` with the sandbox runtime,
/// asserting that it fails with a clear error and that nothing outside the box changed.
@Suite("security: uploads end to end", .serialized)
struct SecurityUploadsEndToEndTests {
    static func requireSandbox() throws {
        try #require(getuid() == 0, "the sandbox tests need root: run them as root (sudo scripts/test.sh)")
        for (tool, package) in [("/usr/bin/bwrap", "bubblewrap"), ("/usr/bin/setpriv", "util-linux"), ("/usr/bin/curl", "curl")] {
            try #require(FileManager.default.isExecutableFile(atPath: tool), "\(tool) is missing: apt-get install -y \(package)")
        }
    }

    // MARK: Building hostile uploads

    /// A .tar.gz made by GNU tar from a folder `build` fills, with `arguments` before the
    /// member list (so a test can ask for `--hard-dereference` or not).
    static func archive(in server: YardServer, _ arguments: [String] = [], build: (URL) throws -> Void) throws -> URL {
        let id = UUID().uuidString.prefix(8)
        let folder = server.root.appendingPathComponent("hostile-\(id)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try build(folder)
        let archive = server.root.appendingPathComponent("hostile-\(id).tar.gz")
        let status = try run("/usr/bin/tar", ["-czf", archive.path] + arguments + ["-C", folder.path, "."]).status
        try #require(status == 0, "tar could not pack the hostile upload")
        try? FileManager.default.removeItem(at: folder)
        return archive
    }

    static func write(_ text: String, _ name: String, in folder: URL) throws {
        let url = folder.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    static func link(_ name: String, to target: String, in folder: URL) throws {
        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent(name).path, withDestinationPath: target)
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// `curl` with a body from a file: status code and answer (curl copes with a server that
    /// answers 413 before it read the whole body).
    static func post(_ url: String, body: URL, headers: [String]) throws -> (status: Int, body: String) {
        let answer = body.appendingPathExtension("answer")
        defer { try? FileManager.default.removeItem(at: answer) }
        var arguments = ["-s", "-o", answer.path, "-w", "%{http_code}", "-X", "POST", "--data-binary", "@\(body.path)"]
        for header in headers { arguments += ["-H", header] }
        let result = try run("/usr/bin/curl", arguments + [url])
        let text = (try? String(contentsOf: answer, encoding: .utf8)) ?? ""
        return (Int(result.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, text)
    }

    static func token(_ server: YardServer) throws -> String {
        try String(contentsOf: server.dataDirectory.appendingPathComponent("admin.token"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: Looking outside the box

    /// Paths under `folder` that are device nodes or FIFOs (no link followed).
    static func specialFiles(under folder: URL) -> [String] {
        guard let names = try? FileManager.default.subpathsOfDirectory(atPath: folder.path) else { return [] }
        return names.filter { name in
            var info = stat()
            guard lstat(folder.path + "/" + name, &info) == 0 else { return false }
            let kind = info.st_mode & S_IFMT
            return kind == S_IFCHR || kind == S_IFBLK || kind == S_IFIFO
        }
    }

    /// Paths under `folder` whose name contains `marker`.
    static func files(named marker: String, under folder: URL) -> [String] {
        ((try? FileManager.default.subpathsOfDirectory(atPath: folder.path)) ?? []).filter { $0.contains(marker) }
    }

    static func diskUsage(_ folder: URL) throws -> Int64 {
        let output = try run("/usr/bin/du", ["-sb", folder.path]).output
        return Int64(output.split(separator: "\t").first ?? "") ?? 0
    }

    static func mode(_ url: URL) -> mode_t {
        var info = stat()
        return lstat(url.path, &info) == 0 ? info.st_mode & 0o777 : 0
    }

    /// What a deployment ended as, with its reason and build log, once it stopped moving
    /// (an unpatched server accepts the upload and runs the attack in its pipeline).
    static func settle(_ client: YardAPIClient, _ deployment: DeploymentView) async throws -> (status: DeploymentStatus, text: String) {
        let deadline = ContinuousClock.now + .seconds(120)
        var view = deployment
        while view.status.isInProgress, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(300))
            view = try await client.deployment(id: deployment.id)
        }
        var lines: [String] = []
        try? await client.logs(deploymentID: deployment.id, kind: .build, follow: false) { line in lines.append(line.message) }
        return (view.status, (view.reason ?? "") + "\n" + lines.joined(separator: "\n"))
    }

    /// The upload's error, or (when the server took it) the settled deployment's.
    static func outcome(_ upload: () async throws -> [DeploymentView], client: YardAPIClient) async -> (refused: Bool, text: String) {
        do {
            var text = ""
            for deployment in try await upload() {
                let settled = try await settle(client, deployment)
                text += "\(settled.status.rawValue): \(settled.text)\n"
            }
            return (false, text)
        } catch {
            return (true, "\(error)")
        }
    }

    // MARK: The attacks

    /// 13.2, 13.4, 13.10, 13.16 against one server with the default limits.
    @Test("hostile uploads: symlinked roots, links to host files, device nodes, FIFOs, temp files, modes, oversized JSON",
          .timeLimit(.minutes(8)))
    func hostileUploads() async throws {
        try Self.requireSandbox()
        try await YardServer.with(runtime: "sandbox") { server in
            let client = try server.client()
            _ = try await client.createProject(name: "tenant")
            let marker = "PWNED-\(UUID().uuidString.prefix(8))"

            // 13.2: a services map whose root is a symlink to two folders up; its build
            // step reads the database and drops a marker wherever it can write.
            let probe = "head -c 15 /app/switchyard.sqlite; echo; "
                + "for d in /app /app/* /app/*/* /app/*/*/*; do touch \\\"$d/\(marker)\\\" 2>/dev/null; done; true"
            let servicesMap = try Self.archive(in: server) { folder in
                try Self.write("""
                    {"services": {"web": {"root": "./sub",
                      "build": {"provider": "staticfile", "steps": {"build": {"commands": ["\(probe)"]}}},
                      "deploy": {"startCommand": "sleep 600"}}}}
                    """, "railpack.json", in: folder)
                try Self.link("sub", to: "../..", in: folder)
            }
            let mapped = await Self.outcome({
                try await client.deployServices(project: "tenant", environment: "production", archive: servicesMap)
            }, client: client)
            #expect(mapped.refused, "the upload with a root linked out of it was taken: \(mapped.text)")
            #expect(mapped.text.contains("lead outside it") && mapped.text.contains("'sub' -> '../..'"), "\(mapped.text)")
            #expect(!mapped.text.contains("SQLite format"), "a build step read the server's database")

            // 13.2: the same through the service's root directory setting (`yard service --root sub`).
            _ = try await client.createService(project: "tenant", name: "rooted", rootDirectory: "sub")
            let rooted = YardAPIClient.Scope(project: "tenant", environment: "production", service: "rooted")
            // Variables, not files, pick the provider and the build: the root holds none of the upload's.
            _ = try await client.changeVariables(
                rooted, set: ["RAILPACK_STATIC_FILE_ROOT": ".", "RAILPACK_BUILD_CMD": probe.replacingOccurrences(of: "\\\"", with: "\"")],
                delete: [])
            let rootedUpload = try Self.archive(in: server) { folder in
                try Self.link("sub", to: "../..", in: folder)
            }
            let viaSetting = await Self.outcome({ [try await client.deploy(rooted, archive: rootedUpload)] }, client: client)
            #expect(viaSetting.text.contains("lead outside it"), "\(viaSetting.text)")
            #expect(!viaSetting.text.contains("SQLite format"), "a build step read the server's database")

            // 13.2: what the planner reads (.python-version, Staticfile) must not be host files.
            let planner = try Self.archive(in: server) { folder in
                try Self.write("flask\n", "requirements.txt", in: folder)
                try Self.link(".python-version", to: "/etc/shadow", in: folder)
                try Self.link("Staticfile", to: "../../../../../../../../etc/passwd", in: folder)
            }
            let plannerScope = YardAPIClient.Scope(project: "tenant", environment: "production", service: "planner")
            let planned = await Self.outcome({ [try await client.deploy(plannerScope, archive: planner)] }, client: client)
            #expect(planned.text.contains("lead outside it") && planned.text.contains("/etc/shadow"), "\(planned.text)")
            #expect(!planned.text.contains("root:"), "a host file's content reached the deployment's log")
            #expect(Self.files(named: marker, under: server.root).isEmpty, "a build step wrote outside its app folder")

            // 13.4: device nodes, FIFOs and hard links never reach the host's disk.
            let devices = YardAPIClient.Scope(project: "tenant", environment: "production", service: "devices")
            let specials: [(String, (URL) throws -> Void)] = [
                ("character device", { folder in
                    #expect(mknod(folder.appendingPathComponent("null").path, S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0)
                }),
                ("block device", { folder in
                    #expect(mknod(folder.appendingPathComponent("disk").path, S_IFBLK | 0o666, dev_t(7 << 8)) == 0)
                }),
                ("FIFO", { folder in #expect(mkfifo(folder.appendingPathComponent("pipe").path, 0o666) == 0) }),
                ("hard link", { folder in
                    try Self.write("x", "a", in: folder)
                    try FileManager.default.linkItem(at: folder.appendingPathComponent("a"), to: folder.appendingPathComponent("b"))
                }),
            ]
            for (kind, build) in specials {
                let upload = try Self.archive(in: server) { folder in
                    try Self.write("echo hi\n", "start.sh", in: folder)
                    try build(folder)
                }
                let result = await Self.outcome({ [try await client.deploy(devices, archive: upload)] }, client: client)
                #expect(result.refused, "an upload holding a \(kind) was taken: \(result.text)")
                #expect(result.text.contains("a \(kind); uploads may hold only regular files, folders and symlinks"), "\(result.text)")
            }
            #expect(Self.specialFiles(under: server.dataDirectory).isEmpty,
                    "uploads made device nodes or FIFOs on the host: \(Self.specialFiles(under: server.dataDirectory))")

            // 13.10: nothing of the server's is readable by another local user, here nobody.
            // 0711: traversable by path for a root-in-user-namespace box, never listable.
            #expect(Self.mode(server.dataDirectory) == 0o711, "data directory mode \(String(Self.mode(server.dataDirectory), radix: 8))")
            let database = server.dataDirectory.appendingPathComponent("switchyard.sqlite")
            #expect(Self.mode(database) == 0o600, "database mode \(String(Self.mode(database), radix: 8))")
            let asNobody = ["--reuid=65534", "--regid=65534", "--clear-groups", "--"]
            let read = try Self.run("/usr/bin/setpriv", asNobody + ["/bin/cat", database.path])
            #expect(read.status != 0 && !read.output.contains("SQLite format"), "nobody read the server's database")
            let listed = try Self.run("/usr/bin/setpriv", asNobody + ["/bin/ls", server.dataDirectory.appendingPathComponent("sources").path])
            #expect(listed.status != 0, "nobody listed the stored sources: \(listed.output)")
            let listedTop = try Self.run("/usr/bin/setpriv", asNobody + ["/bin/ls", server.dataDirectory.path])
            #expect(listedTop.status != 0, "nobody listed the data directory: \(listedTop.output)")

            // 13.10: a refused upload leaves no temporary file, in /tmp or under the data directory.
            let unique = try Self.archive(in: server) { folder in try Self.write(UUID().uuidString, "no-railpack.txt", in: folder) }
            let refused = await Self.outcome({
                try await client.deployServices(project: "tenant", environment: "production", archive: unique)
            }, client: client)
            #expect(refused.refused && refused.text.contains("services"), "\(refused.text)")
            let uploaded = try Data(contentsOf: unique)
            let temporaries = [URL(fileURLWithPath: "/tmp"), server.dataDirectory.appendingPathComponent("tmp")]
            for folder in temporaries {
                for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] where name.hasPrefix("yard-") {
                    let file = folder.appendingPathComponent(name)
                    #expect(FileManager.default.contents(atPath: file.path) != uploaded, "the refused upload stayed in \(file.path)")
                }
            }
            let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: temporaries[1].path)) ?? []
            #expect(leftovers.isEmpty, "temporary files left under the data directory: \(leftovers)")

            // 13.16: an oversized JSON body is 413 with a clear message, not 500.
            let big = server.root.appendingPathComponent("big.json")
            try Data(("{\"name\": \"" + String(repeating: "a", count: 3 << 20) + "\"}").utf8).write(to: big)
            let answer = try Self.post(
                "\(server.apiURL)/v1/projects", body: big,
                headers: ["Authorization: Bearer \(try Self.token(server))", "Content-Type: application/json"])
            #expect(answer.status == 413, "HTTP \(answer.status): \(answer.body.prefix(300))")
            #expect(answer.body.contains("too_large") && answer.body.contains("larger than 2 MiB"), "\(answer.body.prefix(300))")
        }
    }

    /// 13.4's caps and the suspected unbounded git body, against a server with small limits.
    @Test("upload limits: a tar bomb, too many entries, an oversized upload and git body get clear refusals",
          .timeLimit(.minutes(5)))
    func uploadLimits() async throws {
        try Self.requireSandbox()
        let limits = ["--max-upload-size", "1M", "--max-source-size", "32M", "--max-source-entries", "500"]
        try await YardServer.with(runtime: "sandbox", serveArguments: limits) { server in
            let client = try server.client()
            _ = try await client.createProject(name: "bombs")
            let scope = YardAPIClient.Scope(project: "bombs", environment: "production", service: "bomb")
            let before = try Self.diskUsage(server.dataDirectory)

            // 200 MiB of zeros packs to well under a megabyte.
            let bomb = try Self.archive(in: server) { folder in
                try Self.write("echo hi\n", "start.sh", in: folder)
                let file = folder.appendingPathComponent("zeros.bin")
                FileManager.default.createFile(atPath: file.path, contents: nil)
                let handle = try FileHandle(forWritingTo: file)
                try handle.truncate(atOffset: 200 << 20)
                try handle.close()
            }
            let bombSize = (try FileManager.default.attributesOfItem(atPath: bomb.path)[.size] as? Int) ?? 0
            #expect(bombSize < 1 << 20, "the bomb is \(bombSize) bytes")
            let exploded = await Self.outcome({ [try await client.deploy(scope, archive: bomb)] }, client: client)
            #expect(exploded.refused && exploded.text.contains("unpacks to more than 32 MiB (the server's --max-source-size)"),
                    "\(exploded.text)")

            let many = try Self.archive(in: server) { folder in
                for index in 0..<600 { try Self.write("", "f\(index)", in: folder) }
            }
            let crowded = await Self.outcome({ [try await client.deploy(scope, archive: many)] }, client: client)
            #expect(crowded.refused && crowded.text.contains("more than 500 files, folders and links"), "\(crowded.text)")
            #expect(Self.files(named: "zeros.bin", under: server.dataDirectory).isEmpty, "the bomb was unpacked")
            let grown = try Self.diskUsage(server.dataDirectory) - before
            #expect(grown < 16 << 20, "the data directory grew by \(grown) bytes")

            // The compressed upload itself past --max-upload-size: 413.
            let large = server.root.appendingPathComponent("large.bin")
            try Data((0..<(3 << 19)).map { _ in UInt8.random(in: 0...255) }).write(to: large)
            let token = try Self.token(server)
            let upload = try Self.post(
                "\(server.apiURL)/v1/projects/bombs/environments/production/services/bomb/deployments?create=true",
                body: large, headers: ["Authorization: Bearer \(token)", "Content-Type: application/gzip"])
            #expect(upload.status == 413 && upload.body.contains("--max-upload-size"), "HTTP \(upload.status): \(upload.body)")

            // Suspected: git's smart HTTP wrote any request body to disk. It is bounded too,
            // and its temporary file removed.
            let basic = Data("yard:\(token)".utf8).base64EncodedString()
            let push = try Self.post(
                "\(server.apiURL)/git/bombs.git/git-receive-pack", body: large,
                headers: ["Authorization: Basic \(basic)", "Content-Type: application/x-git-receive-pack-request"])
            #expect(push.status == 413 && push.body.contains("--max-upload-size"), "HTTP \(push.status): \(push.body)")

            // The git push path unpacks `git archive` output the same way: a 40 MiB file of
            // zeros is a few KiB in a pack, and a pushed link can leave the tree.
            let repo = server.root.appendingPathComponent("apps/gitbomb")
            try Self.write("echo hi\n", "web/start.sh", in: repo)
            try Self.write("echo hi\n", "linked/start.sh", in: repo)
            try #require(try await server.yard(["init", "--name", "gitbomb"], in: repo).status == 0)
            for (service, root) in [("web", "web"), ("linked", "escape")] {
                let link = try await server.yard(["service", "link", "--branch", "main", "--service", service, "--root", root], in: repo)
                try #require(link.status == 0, "\(link.output)")
            }
            let zeros = repo.appendingPathComponent("web/zeros.bin")
            FileManager.default.createFile(atPath: zeros.path, contents: nil)
            let handle = try FileHandle(forWritingTo: zeros)
            try handle.truncate(atOffset: 40 << 20)
            try handle.close()
            let pushURL = try await server.yard(["git", "remote", "--with-token"], in: repo).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            try GitPushEndToEndTests.git(["init", "--quiet", "--initial-branch=main"], in: repo)
            try GitPushEndToEndTests.git(["add", "."], in: repo)
            try GitPushEndToEndTests.git(["commit", "--quiet", "-m", "a bomb"], in: repo)
            let bombPush = try GitPushEndToEndTests.git(["push", pushURL, "main"], in: repo, allowFailure: true)
            #expect(bombPush.output.contains("unpacks to more than 32 MiB"), "\(bombPush.output)")
            try FileManager.default.removeItem(at: zeros)
            try Self.link("escape", to: "../..", in: repo)
            try GitPushEndToEndTests.git(["add", "-A"], in: repo)
            try GitPushEndToEndTests.git(["commit", "--quiet", "-m", "a link out"], in: repo)
            let linkPush = try GitPushEndToEndTests.git(["push", pushURL, "main"], in: repo, allowFailure: true)
            #expect(linkPush.output.contains("'escape' -> '../..'"), "\(linkPush.output)")
            #expect(Self.files(named: "zeros.bin", under: server.dataDirectory).isEmpty, "the pushed bomb was unpacked")

            let temporary = server.dataDirectory.appendingPathComponent("tmp")
            let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? []
            #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
        }
    }

    /// 13.11: while the server looks for a build secret in the built app, no process's
    /// command line holds the secret (another local user reads them all in /proc).
    @Test("a build secret's value is on no command line while the build is checked", .timeLimit(.minutes(6)))
    func buildSecretNotInArgv() async throws {
        try Self.requireSandbox()
        try await YardServer.with(runtime: "sandbox") { server in
            let folder = try await server.prepareApp("build-secret", project: "argv")
            // Many files and a large one: the check takes long enough to be seen.
            try Data("""
                [build]
                builder = "RAILPACK"
                buildCommand = "mkdir -p gen && cd gen && seq 1 20000 | xargs touch && cd .. && head -c 150000000 /dev/zero > big.bin"

                [deploy]
                startCommand = "python3 server.py"
                """.utf8).write(to: folder.appendingPathComponent("railway.toml"))
            let secret = "argv-secret-\(UUID().uuidString)"
            let set = try await server.yard(["variables", "set", "--build-secret", "BUILD_TOKEN=\(secret)"], in: folder)
            try #require(set.status == 0, "\(set.output)")

            let seen = Watcher()
            let watch = Task {
                while !Task.isCancelled {
                    await Task.yield()
                    for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where pid.first?.isNumber == true {
                        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
                        if data.range(of: Data(secret.utf8)) != nil {
                            let line = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
                            seen.add(line.replacingOccurrences(of: secret, with: "<secret>"))
                        }
                    }
                }
            }
            let up = try await server.yard(["up"], in: folder)
            watch.cancel()
            _ = await watch.value
            #expect(up.status == 0, "\(up.outputTail)")
            #expect(seen.lines.isEmpty, "the secret was on a command line: \(seen.lines)")
        }
    }
}

/// Command lines the /proc watcher saw holding the secret.
final class Watcher: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [String] = []
    func add(_ line: String) { lock.withLock { seen.append(line) } }
    var lines: [String] { lock.withLock { seen } }
}
