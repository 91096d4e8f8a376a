import Foundation
import Testing
import YardClient
import YardCore
import YardRuntime

/// Issue 7: `git push` to the project's repository deploys the services linked to the
/// branch, and watch patterns skip the services a push did not touch.
@Suite("git push end to end", .serialized)
struct GitPushEndToEndTests {
    @Test(
        "a two-service monorepo: the first push deploys both, a push changing one service's path skips the other; no token, no push",
        .timeLimit(.minutes(10)))
    func pushDeploysAndWatchPatternsSkip() async throws {
        try await YardServer.with { server in
            let repo = server.root.appendingPathComponent("apps/mono")
            try Self.writeService("api", in: repo, page: "api page")
            try Self.writeService("web", in: repo, page: "web page")
            try #require(try await server.yard(["init", "--name", "mono"], in: repo).status == 0)
            for name in ["api", "web"] {
                let link = try await server.yard(["service", "link", "--branch", "main", "--service", name, "--root", name], in: repo)
                try #require(link.status == 0, "link failed: \(link.output)")
                #expect(link.stdout.contains("Pushes to main deploy \(name)"), "\(link.stdout)")
            }
            let token = try String(contentsOf: server.dataDirectory.appendingPathComponent("admin.token"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)

            // The remote URL; the token only on request.
            let remote = try await server.yard(["git", "remote"], in: repo)
            try #require(remote.status == 0, "\(remote.output)")
            let plainURL = remote.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(plainURL.hasPrefix(server.apiURL) && plainURL.hasSuffix(".git"), "\(plainURL)")
            #expect(!remote.output.contains(token), "the token must not be printed without --with-token")
            let withToken = try await server.yard(["git", "remote", "--with-token"], in: repo)
            let pushURL = withToken.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(pushURL.contains("yard:\(token)@"), "\(pushURL)")

            try Self.git(["init", "--quiet", "--initial-branch=main"], in: repo)
            try Self.git(["add", "."], in: repo)
            try Self.git(["commit", "--quiet", "-m", "first version"], in: repo)
            let first = try Self.git(["rev-parse", "HEAD"], in: repo).stdout.trimmingCharacters(in: .whitespacesAndNewlines)

            // Without credentials: 401 asking for Basic auth, and nothing is deployed.
            let url = URL(string: "\(plainURL)/info/refs?service=git-receive-pack")!
            let (head, _) = try await HTTPConnection.fetch(HTTPConnection.Request(url: url))
            #expect(head.status == 401)
            #expect(head.header("WWW-Authenticate") == "Basic realm=\"Switchyard\"")
            let noCredentials = try Self.git(["push", plainURL, "main"], in: repo, allowFailure: true)
            #expect(noCredentials.status != 0, "\(noCredentials.output)")
            let wrongToken = pushURL.replacingOccurrences(of: token, with: "yard_not-a-token")
            let refused = try Self.git(["push", wrongToken, "main"], in: repo, allowFailure: true)
            #expect(refused.status != 0)
            #expect(refused.output.contains("Authentication failed"), "\(refused.output)")
            let client = try server.client()
            let apiScope = YardAPIClient.Scope(project: "mono", environment: "production", service: "api")
            let webScope = YardAPIClient.Scope(project: "mono", environment: "production", service: "web")
            #expect(try await client.deployments(apiScope).isEmpty)

            // First push: both services deploy, with the commit in their variables.
            let push = try Self.git(["push", pushURL, "main"], in: repo)
            #expect(push.output.contains("remote: switchyard: deploying api in production"), "\(push.output)")
            #expect(push.output.contains("remote: switchyard: deploying web in production"), "\(push.output)")
            #expect(push.output.contains("remote: switchyard: api: BUILDING"), "\(push.output)")
            #expect(
                push.output.contains("remote: switchyard: api is live at http://api-mono.localhost:\(server.routerPort)"),
                "\(push.output)\nserver:\n\(YardServer.lastLines(of: server.serveLog, 30))")
            #expect(
                push.output.contains("remote: switchyard: web is live at http://web-mono.localhost:\(server.routerPort)"), "\(push.output)")
            let api = try await server.get(host: "api-mono.localhost")
            #expect(api.body == "api page \(first) main Test Author: first version\n", "\(api.body)")
            let web = try await server.get(host: "web-mono.localhost")
            #expect(web.body == "web page \(first) main Test Author: first version\n", "\(web.body)")

            // Second push changes only web/: web deploys, api gets a SKIPPED deployment.
            try "web page v2".write(to: repo.appendingPathComponent("web/page.txt"), atomically: true, encoding: .utf8)
            try Self.git(["commit", "--quiet", "-am", "change web only"], in: repo)
            let second = try Self.git(["rev-parse", "HEAD"], in: repo).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let push2 = try Self.git(["push", pushURL, "main"], in: repo)
            #expect(push2.output.contains("remote: switchyard: deploying web in production"), "\(push2.output)")
            #expect(
                push2.output.contains(
                    "remote: switchyard: skipped api in production: no changed path matches its watch patterns (/api/**)"),
                "\(push2.output)")
            #expect(push2.output.contains("web is live"), "\(push2.output)")
            let web2 = try await server.get(host: "web-mono.localhost")
            #expect(
                web2.body == "web page v2 \(second) main Test Author: change web only\n",
                "status \(web2.status): \(web2.body)\npush:\n\(push2.output)\nserver:\n\(YardServer.lastLines(of: server.serveLog, 40))")
            #expect(try await server.get(host: "api-mono.localhost").body == api.body, "the skipped service keeps serving the first commit")
            let apiDeployments = try await client.deployments(apiScope)
            #expect(apiDeployments.count == 2)
            #expect(apiDeployments.first?.status == .skipped)
            #expect(apiDeployments.first?.trigger == "git push")
            #expect(
                apiDeployments.first?.reason?.contains("no changed path matches its watch patterns (/api/**)") == true,
                "\(apiDeployments.first?.reason ?? "")")
            let webDeployments = try await client.deployments(webScope)
            #expect(webDeployments.count == 2 && webDeployments.first?.status == .success, "\(webDeployments.map(\.status))")

            // The repository serves fetches too: a clone has both commits.
            let clone = server.root.appendingPathComponent("clone")
            try Self.git(["clone", "--quiet", pushURL, clone.path], in: server.root)
            #expect(try Self.git(["rev-parse", "HEAD"], in: clone).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == second)
            #expect(try Self.git(["rev-parse", "HEAD~1"], in: clone).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == first)

            // A branch nothing follows: the push says so.
            try Self.git(["checkout", "--quiet", "-b", "feature"], in: repo)
            let push3 = try Self.git(["push", pushURL, "feature"], in: repo)
            #expect(push3.output.contains("remote: switchyard: no service is linked to branch feature"), "\(push3.output)")
            #expect(try await client.deployments(webScope).count == 2)
        }
    }

    /// A shell service in `folder/`: serves a page with its commit variables; deploys only
    /// when a path under its folder changes.
    static func writeService(_ name: String, in repo: URL, page: String) throws {
        let folder = repo.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try page.write(to: folder.appendingPathComponent("page.txt"), atomically: true, encoding: .utf8)
        try """
        [build]
        watchPatterns = ["/\(name)/**"]
        """.write(to: folder.appendingPathComponent("railway.toml"), atomically: true, encoding: .utf8)
        let script = folder.appendingPathComponent("start.sh")
        try """
        #!/bin/sh
        set -e
        dir=/tmp/git-fixture-$PORT
        mkdir -p $dir
        echo "$(cat page.txt) $RAILWAY_GIT_COMMIT_SHA $RAILWAY_GIT_BRANCH $RAILWAY_GIT_AUTHOR: $RAILWAY_GIT_COMMIT_MESSAGE" > $dir/index.html
        cd $dir
        exec python3 -m http.server "$PORT"
        """.write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
    }

    struct GitResult {
        var status: Int32
        var stdout: String
        var output: String
    }

    /// Runs the real git; fails the test unless `allowFailure`. A git that has not finished
    /// after `timeout` (a push whose answer never ends) is killed and fails the test with
    /// what it printed, instead of hanging the run. Output goes to files, not pipes, so no
    /// process that inherited a descriptor can hold the wait open.
    @discardableResult
    static func git(
        _ arguments: [String], in directory: URL, allowFailure: Bool = false, timeout: Duration = .seconds(240)
    ) throws -> GitResult {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            [
                "git", "-c", "user.name=Test Author", "-c", "user.email=test@example.invalid",
                "-c", "credential.helper=", "-c", "core.askPass=",
            ] + arguments
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment
        environment["GIT_TERMINAL_PROMPT"] = "0"
        environment["GIT_CONFIG_NOSYSTEM"] = "1"
        environment.removeValue(forKey: "GIT_ASKPASS")
        environment.removeValue(forKey: "SSH_ASKPASS")
        process.environment = environment
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("yard-test-git-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outURL = scratch.appendingPathComponent("out")
        let errURL = scratch.appendingPathComponent("err")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        defer {
            try? out.close()
            try? err.close()
        }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()
        let seconds = Double(timeout.components.seconds)
        if finished.wait(timeout: .now() + seconds) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
            let printed = ((try? String(contentsOf: outURL, encoding: .utf8)) ?? "") + ((try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
            Issue.record("git \(arguments.joined(separator: " ")) did not finish within \(Int(seconds)) s (killed); it printed:\n\(printed)")
            throw YardError(.internal, "git timed out")
        }
        let stdout = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        let result = GitResult(status: process.terminationStatus, stdout: stdout, output: stdout + stderr)
        if !allowFailure && result.status != 0 {
            Issue.record("git \(arguments.joined(separator: " ")) failed (\(result.status)):\n\(result.output)")
            throw YardError(.internal, "git failed")
        }
        return result
    }
}
