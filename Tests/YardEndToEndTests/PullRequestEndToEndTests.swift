import Foundation
import Testing
import YardClient
import YardCore
import YardRuntime

/// Issue 7 point 4: signed GitHub-style webhooks open a `pr-<n>` environment from the PR's
/// branch (with `environments.pr` applied, at its own domain) and delete it, with every
/// process, namespace, cgroup and volume, when the PR closes. Real git, real HMAC.
@Suite("PR environments end to end", .serialized)
struct PullRequestEndToEndTests {
    @Test(
        "signed pull_request opened creates pr-7 serving the branch; closed deletes it with all it ran; bad signatures change nothing",
        .timeLimit(.minutes(10)))
    func pullRequestEnvironmentLifecycle() async throws {
        try IsolationEndToEndTests.requireIsolation()
        try await YardServer.with { server in
            let repo = server.root.appendingPathComponent("apps/prs")
            try Self.writeService(in: repo, page: "main page")
            try #require(try await server.yard(["init", "--name", "prs"], in: repo).status == 0)
            let link = try await server.yard(["service", "link", "--branch", "main", "--service", "web", "--root", "web"], in: repo)
            try #require(link.status == 0, "link failed: \(link.output)")
            let volume = try await server.yard(["volume", "add", "--mount", "/data", "--service", "web"], in: repo)
            try #require(volume.status == 0, "\(volume.output)")
            let pushURL = try await server.yard(["git", "remote", "--with-token"], in: repo).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)

            try GitPushEndToEndTests.git(["init", "--quiet", "--initial-branch=main"], in: repo)
            try GitPushEndToEndTests.git(["add", "."], in: repo)
            try GitPushEndToEndTests.git(["commit", "--quiet", "-m", "main version"], in: repo)
            let push = try GitPushEndToEndTests.git(["push", pushURL, "main"], in: repo)
            #expect(push.output.contains("web is live"), "\(push.output)\nserver:\n\(YardServer.lastLines(of: server.serveLog, 30))")
            let production = "web-prs.localhost"
            let pr7 = "web-prs-pr-7.localhost"
            #expect(try await server.get(host: production).body == "main page mode=base branch=main\n")

            // The PR's branch is in the repository; nothing follows it yet.
            try GitPushEndToEndTests.git(["checkout", "--quiet", "-b", "feature-x"], in: repo)
            try "feature page".write(to: repo.appendingPathComponent("web/page.txt"), atomically: true, encoding: .utf8)
            try GitPushEndToEndTests.git(["commit", "--quiet", "-am", "feature"], in: repo)
            let featureSHA = try GitPushEndToEndTests.git(["rev-parse", "HEAD"], in: repo).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let featurePush = try GitPushEndToEndTests.git(["push", pushURL, "feature-x"], in: repo)
            #expect(featurePush.output.contains("no service is linked to branch feature-x"), "\(featurePush.output)")

            // Deliveries are refused until the project has a secret.
            let opened = Self.pullRequestEvent(action: "opened", number: 7, head: "feature-x", sha: featureSHA, base: "main")
            let early = try await Self.deliver(server, event: "pull_request", body: opened, secret: "no secret yet")
            #expect(early.status == 401, "\(early.body)")
            let generated = try await server.yard(["webhook", "secret"], in: repo)
            try #require(generated.status == 0, "\(generated.output)")
            let secret = try #require(
                generated.stdout.split(separator: "\n").first { $0.hasPrefix("Secret: ") }.map { String($0.dropFirst(8)) })
            #expect(secret.count == 64, "\(generated.stdout)")
            #expect(generated.stdout.contains("/v1/projects/prs/webhooks/github"), "\(generated.stdout)")
            let shown = try await server.yard(["webhook"], in: repo)
            #expect(shown.stdout.contains("Secret: set") && !shown.output.contains(secret), "\(shown.output)")
            #expect(!server.serveLog.contains(secret), "the webhook secret must never be logged")
            let database = ["switchyard.sqlite", "switchyard.sqlite-wal"].reduce(into: Data()) { bytes, name in
                bytes += FileManager.default.contents(atPath: server.dataDirectory.appendingPathComponent(name).path) ?? Data()
            }
            #expect(!database.isEmpty && database.range(of: Data(secret.utf8)) == nil, "the webhook secret is in the database in clear")

            // Unsigned and wrongly signed: 401, nothing created.
            let unsigned = try await Self.deliver(server, event: "pull_request", body: opened, secret: nil)
            #expect(unsigned.status == 401 && unsigned.body.contains("not signed"), "\(unsigned.body)")
            let forged = try await Self.deliver(server, event: "pull_request", body: opened, secret: "not-the-secret")
            #expect(forged.status == 401 && forged.body.contains("does not match"), "\(forged.body)")
            // Signed, but the body changed after signing.
            let tampered = try await Self.deliver(
                server, event: "pull_request", body: opened, secret: secret,
                sendBody: Self.pullRequestEvent(action: "opened", number: 8, head: "feature-x", sha: featureSHA, base: "main"))
            #expect(tampered.status == 401, "\(tampered.body)")
            let client = try server.client()
            #expect(try await client.environments(project: "prs").map(\.name) == ["production"])
            #expect(try await server.get(host: pr7).status == 404)

            // Signed, but the PR's branch was never pushed here: 404 naming the branch and the push; nothing created.
            let unknownSHA = String(repeating: "cd", count: 20)
            let unpushed = try await Self.deliver(
                server, event: "pull_request",
                body: Self.pullRequestEvent(action: "opened", number: 9, head: "feature-y", sha: unknownSHA, base: "main"), secret: secret)
            #expect(
                unpushed.status == 404 && unpushed.body.contains("branch feature-y of pull request #9 is not in the project's repository")
                    && unpushed.body.contains("nothing was created") && unpushed.body.contains("git push <yard git remote> feature-y"),
                "\(unpushed.body)")
            // Its branch is here, but not the PR's head commit: push the branch again.
            let behind = try await Self.deliver(
                server, event: "pull_request",
                body: Self.pullRequestEvent(action: "opened", number: 9, head: "feature-x", sha: unknownSHA, base: "main"), secret: secret)
            #expect(
                behind.status == 404 && behind.body.contains("its branch feature-x is at \(featureSHA.prefix(12)) there")
                    && behind.body.contains("git push <yard git remote> feature-x"),
                "\(behind.body)")
            #expect(try await client.environments(project: "prs").map(\.name) == ["production"])

            // Signed opened: pr-7 from feature-x with environments.pr applied, at its own domain.
            let created = try await Self.deliver(server, event: "pull_request", body: opened, secret: secret)
            #expect(created.status == 201, "\(created.body)\n\(YardServer.lastLines(of: server.serveLog, 30))")
            let result = try YardJSON.decoder().decode(WebhookResultView.self, from: Data(created.body.utf8))
            #expect(result.environment?.name == "pr-7")
            let deploymentID = try #require(result.deploymentIDs.first, "\(created.body)")
            let deployed = try await client.watch(deploymentID: deploymentID) { _ in }
            #expect(deployed.status == .success, "\(deployed.status) \(deployed.reason ?? "")")
            let page = try await server.eventually(host: pr7) { status, _ in status == 200 }
            #expect(page.body == "feature page mode=pr branch=feature-x\n", "\(page.body)")
            #expect(try await server.get(host: production).body == "main page mode=base branch=main\n")
            #expect(deployed.trigger == "pull request #7")

            // synchronize redeploys from the new head.
            try "feature page v2".write(to: repo.appendingPathComponent("web/page.txt"), atomically: true, encoding: .utf8)
            try GitPushEndToEndTests.git(["commit", "--quiet", "-am", "feature v2"], in: repo)
            let v2 = try GitPushEndToEndTests.git(["rev-parse", "HEAD"], in: repo).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            // The push itself redeploys pr-7: its service follows feature-x there.
            let push2 = try GitPushEndToEndTests.git(["push", pushURL, "feature-x"], in: repo)
            #expect(push2.output.contains("deploying web in pr-7"), "\(push2.output)")
            let synchronize = Self.pullRequestEvent(action: "synchronize", number: 7, head: "feature-x", sha: v2, base: "main")
            let synced = try await Self.deliver(server, event: "pull_request", body: synchronize, secret: secret)
            #expect(synced.status == 200, "\(synced.body)")
            let syncResult = try YardJSON.decoder().decode(WebhookResultView.self, from: Data(synced.body.utf8))
            let syncID = try #require(syncResult.deploymentIDs.first, "\(synced.body)")
            #expect(try await client.watch(deploymentID: syncID) { _ in }.status == .success)
            #expect(try await server.get(host: pr7).body == "feature page v2 mode=pr branch=feature-x\n")

            // What pr-7 runs, to check it is all gone after the close.
            let status = try await client.status(project: "prs", environment: "pr-7")
            let environmentID = status.environment.id
            let replicas = try #require(status.services.first { $0.service.name == "web" }?.live?.replicas)
            try #require(!replicas.isEmpty)
            let pids = replicas.compactMap(\.pid)
            let namespaces = replicas.map { "\(server.networkPrefix)-\($0.id)" }
            let bridge = server.networkPrefix + "b" + String(ContentHash.sha256(environmentID).prefix(8))
            let before = YardServer.networkObjects(prefix: server.networkPrefix)
            #expect(before.contains(bridge) && !Set(before).isDisjoint(with: namespaces), "\(before)")
            let cgroups = pids.flatMap(Self.cgroupDirectories(of:))
            #expect(
                !cgroups.isEmpty && cgroups.allSatisfy { FileManager.default.fileExists(atPath: $0) }, "pr-7's replica cgroups: \(cgroups)")
            let volumes = server.dataDirectory.appendingPathComponent("volumes")
            let volumeFolders = try FileManager.default.contentsOfDirectory(atPath: volumes.path)
            #expect(volumeFolders.count == 2, "production's and pr-7's volumes: \(volumeFolders)")

            // A wrongly signed close changes nothing.
            let closed = Self.pullRequestEvent(action: "closed", number: 7, head: "feature-x", sha: v2, base: "main")
            #expect(try await Self.deliver(server, event: "pull_request", body: closed, secret: "wrong").status == 401)
            #expect(try await server.get(host: pr7).status == 200)

            // Closed (merged or not): pr-7 goes with every process, namespace, cgroup and volume.
            let deleted = try await Self.deliver(server, event: "pull_request", body: closed, secret: secret)
            #expect(deleted.status == 200 && deleted.body.contains("deleted environment pr-7"), "\(deleted.body)")
            #expect(try await client.environments(project: "prs").map(\.name) == ["production"])
            #expect(try await server.get(host: pr7).status == 404)
            #expect(!pids.isEmpty && !pids.contains(where: YardServer.isAlive), "pr-7's replica processes must be gone")
            #expect(
                Self.processes(mentioning: replicas.map(\.id)).isEmpty,
                "processes of pr-7 left: \(Self.processes(mentioning: replicas.map(\.id)))")
            let left = YardServer.networkObjects(prefix: server.networkPrefix)
            #expect(!left.contains(bridge) && Set(left).isDisjoint(with: namespaces), "pr-7's network is left: \(left)")
            #expect(Self.namespacesListed().allSatisfy { !namespaces.contains($0) }, "ip netns list still shows pr-7's")
            let cgroupsLeft = cgroups.filter { FileManager.default.fileExists(atPath: $0) }
            #expect(cgroupsLeft.isEmpty, "pr-7's cgroups are left: \(cgroupsLeft)")
            let foldersLeft = try FileManager.default.contentsOfDirectory(atPath: volumes.path)
            #expect(foldersLeft.count == 1 && Set(foldersLeft).isSubset(of: volumeFolders), "pr-7's volume is left: \(foldersLeft)")
            #expect(try await server.get(host: production).body == "main page mode=base branch=main\n")
            // A second close (GitHub's body differs each time; the same body again is a replay, refused).
            let closedAgain = Self.pullRequestEvent(action: "closed", number: 7, head: "feature-x", sha: featureSHA, base: "main")
            let again = try await Self.deliver(server, event: "pull_request", body: closedAgain, secret: secret)
            #expect(again.status == 200 && again.body.contains("no environment pr-7"), "\(again.body)")

            // push events: only for commits the repository has.
            let unknown = String(repeating: "ab", count: 20)
            let missing = try await Self.deliver(
                server, event: "push", body: Self.pushEvent(ref: "refs/heads/main", before: unknown, after: unknown), secret: secret)
            #expect(missing.status == 404 && missing.body.contains("is not in the project's repository"), "\(missing.body)")

            // The CLI does the same as an opened event; delete removes it.
            let cli = try await server.yard(["environment", "new", "--pr", "42", "--branch", "feature-x"], in: repo)
            #expect(cli.status == 0 && cli.stdout.contains("Created environment pr-42"), "\(cli.output)")
            #expect(try await client.environments(project: "prs").map(\.name).sorted() == ["pr-42", "production"])
            let noBranch = try await server.yard(["environment", "new", "--pr", "43", "--branch", "no-such-branch"], in: repo)
            #expect(
                noBranch.status != 0 && noBranch.stderr.contains("branch no-such-branch is not in the project's repository"),
                "\(noBranch.output)")
            let removed = try await server.yard(["environment", "delete", "pr-42", "--yes"], in: repo)
            #expect(removed.status == 0, "\(removed.output)")
            #expect(try await client.environments(project: "prs").map(\.name) == ["production"])
            #expect(!server.serveLog.contains(secret), "the webhook secret must never be logged")
        }
    }

    /// One service in `web/`: its page says which config layer chose the start command.
    static func writeService(in repo: URL, page: String) throws {
        let folder = repo.appendingPathComponent("web")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try page.write(to: folder.appendingPathComponent("page.txt"), atomically: true, encoding: .utf8)
        try """
        [deploy]
        startCommand = "sh start.sh base"

        [environments.pr.deploy]
        startCommand = "sh start.sh pr"
        """.write(to: folder.appendingPathComponent("railway.toml"), atomically: true, encoding: .utf8)
        try """
        #!/bin/sh
        set -e
        dir=/tmp/pr-fixture-$PORT
        mkdir -p $dir
        echo "$(cat page.txt) mode=$1 branch=$RAILWAY_GIT_BRANCH" > $dir/index.html
        cd $dir
        exec python3 -m http.server "$PORT"
        """.write(to: folder.appendingPathComponent("start.sh"), atomically: true, encoding: .utf8)
    }

    static func pullRequestEvent(action: String, number: Int, head: String, sha: String, base: String) -> Data {
        let payload: [String: Any] = [
            "action": action, "number": number,
            "pull_request": [
                "number": number, "state": action == "closed" ? "closed" : "open",
                "head": ["ref": head, "sha": sha], "base": ["ref": base],
            ],
        ]
        return try! JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])
    }

    static func pushEvent(ref: String, before: String, after: String) -> Data {
        try! JSONSerialization.data(withJSONObject: ["ref": ref, "before": before, "after": after], options: [.sortedKeys])
    }

    /// POSTs a webhook delivery signed (when `secret` is given) over `body`; `sendBody` sends
    /// another body under that signature.
    static func deliver(
        _ server: YardServer, event: String, body: Data, secret: String?, sendBody: Data? = nil
    ) async throws -> (status: Int, body: String) {
        var headers = [("Content-Type", "application/json"), ("X-GitHub-Event", event), ("X-GitHub-Delivery", UUID().uuidString)]
        if let secret { headers.append((WebhookSignature.headerName, WebhookSignature.header(body: body, secret: secret))) }
        let url = URL(string: "\(server.apiURL)/v1/projects/prs/webhooks/github")!
        let (head, data) = try await HTTPConnection.fetch(.init(url: url, method: .POST, headers: headers, body: sendBody ?? body))
        return (Int(head.status), String(decoding: data, as: UTF8.self))
    }

    /// The cgroup directories a process is in (under a sandbox's own cgroup, never the root), from `/proc/<pid>/cgroup`.
    static func cgroupDirectories(of pid: Int32) -> [String] {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, fields[2] != "/" else { return nil }
            let controllers = fields[1].split(separator: ",").first.map(String.init) ?? ""
            let hierarchy = fields[1].isEmpty ? "" : (controllers.hasPrefix("name=") ? String(controllers.dropFirst(5)) : String(fields[1]))
            let path = "/sys/fs/cgroup" + (hierarchy.isEmpty ? "" : "/" + hierarchy) + fields[2]
            return FileManager.default.fileExists(atPath: path) ? path : nil
        }
    }

    /// `ip netns list`.
    static func namespacesListed() -> [String] {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "list"]
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("netns-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        guard let handle = try? FileHandle(forWritingTo: output) else { return [] }
        process.standardOutput = handle
        try? process.run()
        process.waitUntilExit()
        try? handle.close()
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
    }

    /// Live processes whose command line mentions one of `words` (a sandbox's hostname is its replica id).
    static func processes(mentioning words: [String]) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).compactMap { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), YardServer.isAlive(pid) else { return nil }
            let line = String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\0", with: " ")
            return words.contains(where: line.contains) ? "\(pid): \(line.prefix(120))" : nil
        }
    }
}
