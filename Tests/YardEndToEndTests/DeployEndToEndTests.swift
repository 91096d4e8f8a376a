import Foundation
import Testing
import YardClient
import YardCore
import YardRuntime

/// The issue's acceptance, end to end: the real `yard` binary against a real `yard serve`
/// on free ports with a temporary data directory.
@Suite("deploy end to end", .serialized)
struct DeployEndToEndTests {
    struct ProviderCase: CustomTestStringConvertible, Sendable {
        var fixture: String
        var provider: String
        var expectedBody: String
        var testDescription: String { fixture }
    }

    @Test(
        "each first provider deploys from a folder and answers at its domain",
        .timeLimit(.minutes(10)),
        arguments: [
            ProviderCase(fixture: "static-site", provider: "staticfile", expectedBody: "static fixture page"),
            ProviderCase(fixture: "python-pip", provider: "python", expectedBody: "python fixture, six 1.17.0"),
            ProviderCase(fixture: "shell-app", provider: "shell", expectedBody: "shell fixture on shell-app"),
            ProviderCase(fixture: "node-app", provider: "node", expectedBody: "node fixture v"),
            ProviderCase(fixture: "swift-app", provider: "swift", expectedBody: "swift fixture says hello"),
        ]
    )
    func providerDeploys(_ testCase: ProviderCase) async throws {
        try await YardServer.with { server in
            let folder = try await server.prepareApp(testCase.fixture, project: testCase.fixture)
            let up = try await server.yard(["up"], in: folder)
            #expect(up.status == 0, "yard up failed:\n\(up.outputTail)\nserver:\n\(YardServer.lastLines(of: server.serveLog, 30))")
            #expect(up.stdout.contains("detected \(testCase.provider)"), "build log should name the provider:\n\(up.stdout)")
            let host = "\(testCase.fixture)-\(testCase.fixture).localhost"
            #expect(up.stdout.contains("URL: http://\(host):\(server.routerPort)"))
            let answer = try await server.get(host: host)
            #expect(answer.status == 200)
            #expect(answer.body.contains(testCase.expectedBody), "got: \(answer.body)")
            // Host matching ignores case and port.
            let shouted = try await server.get(host: "\(host.uppercased()):\(server.routerPort)")
            #expect(shouted.body == answer.body)
        }
    }

    @Test("plain runtime: an app deploys as a plain process, and serve and status say there is no sandbox; unknown hosts get 404",
          .timeLimit(.minutes(3)))
    func plainFallbackAndUnknownHost() async throws {
        try await YardServer.with(runtime: "plain") { server in
            #expect(server.serveLog.contains("WARNING: replicas run as plain processes"), "\(server.serveLog)")
            let folder = try await server.prepareApp("static-site", project: "plain")
            try #require(try await server.yard(["up"], in: folder).status == 0)
            #expect(try await server.get(host: "plain-plain.localhost").body.contains("static fixture page"))
            let status = try await server.yard(["status"], in: folder)
            #expect(status.stdout.contains("Isolation: none: plain processes on loopback"), "\(status.stdout)")
            let answer = try await server.get(host: "nobody-here.localhost")
            #expect(answer.status == 404)
            #expect(answer.body.contains("nobody-here.localhost"))
        }
    }

    @Test("railway.toml replicas: two run and alternate, a crash restarts, a failing health check keeps the old one",
          .timeLimit(.minutes(10)))
    func replicasRestartAndHealthCheck() async throws {
        try await YardServer.with { server in
            let folder = try await server.prepareApp("replicas", project: "replicas")
            let host = "replicas-replicas.localhost"
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "yard up failed:\n\(up.output)")
            #expect(up.stdout.contains("live (2 replicas)"))

            // Requests alternate between the two replicas.
            var seen: [String] = []
            for _ in 0..<6 {
                let answer = try await server.get(host: host)
                #expect(answer.status == 200)
                seen.append(String(answer.body.split(separator: " ")[1]))
            }
            #expect(Set(seen).count == 2, "both replicas should answer: \(seen)")
            for index in 1..<seen.count {
                #expect(seen[index] != seen[index - 1], "round robin should alternate: \(seen)")
            }

            // A replica that crashes (exit 3) is restarted by ON_FAILURE.
            let client = try server.client()
            let scope = YardAPIClient.Scope(project: "replicas", environment: "production", service: "replicas")
            let before = try #require(try await client.deployments(scope).first)
            let followed = LinesSeen()
            let follower = Task {
                try await client.logs(deploymentID: before.id, kind: .deploy, follow: true) { line in
                    await followed.add(line.message)
                    if line.message.contains("exited with code 3") { throw CancellationError() }
                }
            }
            let deadline = Task {
                try await Task.sleep(for: .seconds(20))
                follower.cancel()
            }
            try await Task.sleep(for: .milliseconds(300))
            let crashed = try await server.get(host: host, path: "/crash")
            #expect(crashed.body == "crashing")
            _ = try? await follower.value
            deadline.cancel()
            #expect(await followed.lines.contains { $0.contains("exited with code 3") },
                    "following the deploy log should deliver the crash line as it happens")
            var restarted = false
            for _ in 0..<100 {
                let now = try await client.deployment(id: before.id)
                if now.replicas.contains(where: { $0.restarts >= 1 && $0.status == .running }) {
                    restarted = true
                    break
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(restarted, "a crashed replica should be restarted")
            let logs = try await server.yard(["logs"], in: folder)
            #expect(logs.stdout.contains("exited with code 3; restarting"), "deploy log should record the crash:\n\(logs.stdout)")
            // The restarted replica rejoins the routes a moment after it shows as running
            // (longer on a busy machine): ask for up to 10 s, not 20 requests in a row.
            var answers: Set<String> = []
            for _ in 0..<100 where answers.count < 2 {
                let answer = try await server.get(host: host)
                if answer.status == 200 { answers.insert(String(answer.body.split(separator: " ")[1])) }
                if answers.count < 2 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(answers.count == 2, "both replicas answer again after the restart")

            // A deployment whose health check never passes ends FAILED; the old one keeps answering.
            let config = folder.appendingPathComponent("railway.toml")
            let text = try String(contentsOf: config, encoding: .utf8)
                .replacingOccurrences(of: "healthcheckPath = \"/health\"", with: "healthcheckPath = \"/never\"")
                .replacingOccurrences(of: "healthcheckTimeout = 60", with: "healthcheckTimeout = 3")
            try text.write(to: config, atomically: true, encoding: .utf8)
            let failing = try await server.yard(["up"], in: folder)
            #expect(failing.status != 0)
            #expect(failing.output.contains("FAILED"), "\(failing.output)")
            #expect(failing.output.contains("/never"), "the reason should name the health check path:\n\(failing.output)")
            let still = try await server.get(host: host)
            #expect(still.status == 200)
            #expect(still.body.hasPrefix("replica "))
            let latest = try await client.deployments(scope)
            #expect(latest.first?.status == .failed)
            #expect(latest.first(where: { $0.id == before.id })?.status == .success)
        }
    }

    @Test("a broken railway.toml names file, field and line, and nothing is deployed", .timeLimit(.minutes(3)))
    func brokenConfig() async throws {
        try await YardServer.with { server in
            let folder = try await server.prepareApp("broken-toml", project: "broken")
            let up = try await server.yard(["up"], in: folder)
            #expect(up.status != 0)
            #expect(up.stderr.contains("railway.toml"), "\(up.output)")
            #expect(up.stderr.contains("line 6"), "\(up.output)")
            #expect(up.stderr.contains("restartPolicyType"), "\(up.output)")
            #expect(up.stderr.contains("SOMETIMES"), "\(up.output)")
            let scope = YardAPIClient.Scope(project: "broken", environment: "production", service: "broken")
            let status = try await server.client().status(project: "broken", environment: "production")
            #expect(status.services.allSatisfy { $0.live == nil && $0.latest == nil }, "nothing may be deployed")
            #expect(try await server.client().deployments(scope).isEmpty, "nothing may be deployed")
            let answer = try await server.get(host: "broken-broken.localhost")
            #expect(answer.status == 404)
        }
    }

    @Test("a broken config uploaded anyway fails the deployment with the same message", .timeLimit(.minutes(3)))
    func brokenConfigOnServer() async throws {
        try await YardServer.with { server in
            let folder = try await server.prepareApp("broken-toml", project: "broken2")
            // Bypass the CLI's own check to see the server reject it too.
            let archive = server.root.appendingPathComponent("broken.tar.gz")
            let tar = ChildProcess()
            tar.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
            tar.arguments = ["-czf", archive.path, "-C", folder.path, "railway.toml", "main.py"]
            try tar.run()
            tar.waitUntilExit()
            let client = try server.client()
            let scope = YardAPIClient.Scope(project: "broken2", environment: "production", service: "web")
            let deployment = try await client.deploy(scope, archive: archive)
            let final = try await client.watch(deploymentID: deployment.id) { _ in }
            #expect(final.status == .failed)
            #expect(final.reason?.contains("railway.toml line 6") == true, "\(final.reason ?? "")")
            let deployLog = try await server.yard(["logs", "--deployment", deployment.id], in: folder)
            #expect(!deployLog.stdout.contains("must never start"))
        }
    }

    @Test("variables set with the CLI reach the app after a redeploy", .timeLimit(.minutes(5)))
    func variablesAndRedeploy() async throws {
        try await YardServer.with { server in
            let folder = try await server.prepareApp("python-pip", project: "vars")
            let host = "vars-vars.localhost"
            try #require(try await server.yard(["up"], in: folder).status == 0)
            #expect(try await server.get(host: host).body.hasSuffix("A="))
            // Staged with --skip-deploys: the status says a redeploy is due until it happens.
            let set = try await server.yard(["variables", "--set", "A=B", "--skip-deploys"], in: folder)
            #expect(set.status == 0, "\(set.output)")
            #expect(set.stdout.contains("A=B"))
            #expect(try await server.yard(["status"], in: folder).stdout.contains("NEEDS REDEPLOY"))
            let client = try server.client()
            let scope = YardAPIClient.Scope(project: "vars", environment: "production", service: "vars")
            let first = try #require(try await client.deployments(scope).first)
            let firstPids = first.replicas.compactMap(\.pid)
            let redeploy = try await server.yard(["redeploy"], in: folder)
            #expect(redeploy.status == 0, "\(redeploy.output)")
            let answer = try await server.get(host: host)
            #expect(answer.body.hasSuffix("A=B"), "got \(answer.body)")
            #expect(!(try await server.yard(["status"], in: folder)).stdout.contains("NEEDS REDEPLOY"))

            // The replaced deployment is stopped (SIGTERM, then up to drainingSeconds) and removed.
            var replaced = try await client.deployment(id: first.id)
            for _ in 0..<100 where replaced.status != .removed {
                try await Task.sleep(for: .milliseconds(150))
                replaced = try await client.deployment(id: first.id)
            }
            #expect(replaced.status == .removed)
            #expect(replaced.history.map(\.status).suffix(3) == [.success, .removing, .removed])
            #expect(!firstPids.isEmpty && !firstPids.contains(where: YardServer.isAlive), "old replica processes must be gone")

            // A custom domain routes to the same service at once.
            let domain = try await server.yard(["domain", "Shop.Example.test"], in: folder)
            #expect(domain.status == 0, "\(domain.output)")
            #expect(try await server.get(host: "shop.example.test").body.hasSuffix("A=B"))

            // Credentials from the environment work without `yard login`.
            var environment = server.environment
            environment["YARD_CONFIG_DIR"] = server.root.appendingPathComponent("empty-cli").path
            let anonymous = try await server.yard(["variables", "--project", "vars", "--service", "vars", "--json"], in: folder, environment: environment)
            #expect(anonymous.status != 0 && anonymous.stderr.contains("yard login"))
            environment["YARD_API_URL"] = server.apiURL
            environment["YARD_TOKEN"] = client.token
            let withEnv = try await server.yard(["variables", "--project", "vars", "--service", "vars", "--json"], in: folder, environment: environment)
            #expect(withEnv.status == 0, "\(withEnv.output)")
            let listed = try YardJSON.decoder().decode([VariableView].self, from: Data(withEnv.stdout.utf8))
            #expect(listed == [VariableView(key: "A", value: "B", sealed: false)])
            environment["YARD_TOKEN"] = "yard_wrong"
            let wrong = try await server.yard(["status", "--project", "vars"], in: folder, environment: environment)
            #expect(wrong.status != 0 && wrong.stderr.contains("not valid"), "\(wrong.output)")
        }
    }

    @Test("a failed build leaves the previous deployment serving; unknown fields warn", .timeLimit(.minutes(5)))
    func failedBuildKeepsServing() async throws {
        try await YardServer.with { server in
            let folder = try await server.prepareApp("static-site", project: "keep")
            let host = "keep-keep.localhost"
            try #require(try await server.yard(["up"], in: folder).status == 0)
            let config = folder.appendingPathComponent("railway.toml")
            try """
                [build]
                buildCommand = "echo compiling; exit 7"

                [deploy]
                fooBar = 1
                """.write(to: config, atomically: true, encoding: .utf8)
            try "<h1>new page</h1>".write(to: folder.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
            let up = try await server.yard(["up"], in: folder)
            #expect(up.status != 0)
            #expect(up.stdout.contains("warning: railway.toml line 5: unknown field deploy.fooBar"), "\(up.stdout)")
            #expect(up.stdout.contains("compiling"), "build output streams into the build log:\n\(up.stdout)")
            #expect(up.output.contains("exited with code 7"), "\(up.output)")
            let build = try await server.yard(["logs", "--build"], in: folder)
            #expect(build.stdout.contains("unknown field deploy.fooBar"), "the warning is in the build log:\n\(build.stdout)")
            let answer = try await server.get(host: host)
            #expect(answer.status == 200)
            #expect(answer.body.contains("static fixture page"))
        }
    }

    @Test("the API describes itself and refuses requests without a token", .timeLimit(.minutes(2)))
    func openAPIAndAuth() async throws {
        try await YardServer.with { server in
            let (head, data) = try await HTTPConnection.fetch(.init(url: URL(string: "\(server.apiURL)/v1/openapi.json")!))
            #expect(head.status == 200)
            let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let paths = try #require(document["paths"] as? [String: Any])
            for path in [
                "/v1/projects", "/v1/projects/{project}/environments/{environment}/status",
                "/v1/projects/{project}/environments/{environment}/services/{service}/deployments",
                "/v1/projects/{project}/environments/{environment}/services/{service}/variables",
                "/v1/projects/{project}/environments/{environment}/services/{service}/domains",
                "/v1/projects/{project}/environments/{environment}/services/{service}/redeploy",
                "/v1/deployments/{deployment}/logs", "/v1/deployments/{deployment}/events",
            ] {
                #expect(paths[path] != nil, "\(path) is not described")
            }
            let (denied, body) = try await HTTPConnection.fetch(.init(url: URL(string: "\(server.apiURL)/v1/projects")!))
            #expect(denied.status == 401)
            #expect(String(decoding: body, as: UTF8.self).contains("unauthorized"))
            let token = try String(contentsOf: server.dataDirectory.appendingPathComponent("admin.token"), encoding: .utf8)
            let attributes = try FileManager.default.attributesOfItem(atPath: server.dataDirectory.appendingPathComponent("admin.token").path)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            #expect(!token.isEmpty)
        }
    }

    @Test("after kill -9 and a restart the service answers with no redeploy and keeps its logs", .timeLimit(.minutes(5)))
    func survivesKill9() async throws {
        try await YardServer.with { server in
            let folder = try await server.prepareApp("python-pip", project: "durable")
            let host = "durable-durable.localhost"
            try #require(try await server.yard(["up"], in: folder).status == 0)
            let client = try server.client()
            let scope = YardAPIClient.Scope(project: "durable", environment: "production", service: "durable")
            let deployed = try await client.deployments(scope)
            let firstLogs = try await server.yard(["logs"], in: folder)
            let firstLine = try #require(firstLogs.stdout.split(separator: "\n").first { $0.contains("python fixture listening on") })

            let oldPids = try #require(deployed.first).replicas.compactMap(\.pid)
            #expect(!oldPids.isEmpty)
            await server.crash()
            try await server.start()
            let answer = try await server.eventually(host: host) { status, _ in status == 200 }
            #expect(!oldPids.contains(where: YardServer.isAlive), "the restarted platform stops what its predecessor left")
            #expect(answer.status == 200)
            #expect(answer.body.contains("python fixture"))
            let after = try await server.client().deployments(scope)
            #expect(after.map(\.id) == deployed.map(\.id), "no new deployment may be created")
            #expect(after.first?.status == .success)
            let logs = try await server.yard(["logs"], in: folder)
            #expect(logs.stdout.contains(firstLine), "the earlier log line must survive:\n\(logs.stdout)")

            // A graceful stop (SIGTERM) and start brings it back too.
            await server.stop()
            try await server.start()
            let again = try await server.eventually(host: host) { status, _ in status == 200 }
            #expect(again.status == 200)
            _ = client
        }
    }

    @Test("with restartPolicyType NEVER a crash leaves the deployment CRASHED and unrouted", .timeLimit(.minutes(3)))
    func crashedWhenRetriesRunOut() async throws {
        // A long hold: a crashed service's requests must not wait for it.
        try await YardServer.with(serveArguments: ["--hold-timeout", "120s"]) { server in
            let folder = try await server.prepareApp("replicas", project: "fragile")
            let config = folder.appendingPathComponent("railway.toml")
            let text = try String(contentsOf: config, encoding: .utf8)
                .replacingOccurrences(of: "restartPolicyType = \"ON_FAILURE\"", with: "restartPolicyType = \"NEVER\"")
                .replacingOccurrences(of: "numReplicas = 2", with: "numReplicas = 1")
            try text.write(to: config, atomically: true, encoding: .utf8)
            try #require(try await server.yard(["up"], in: folder).status == 0)
            _ = try await server.get(host: "fragile-fragile.localhost", path: "/crash")
            let client = try server.client()
            let scope = YardAPIClient.Scope(project: "fragile", environment: "production", service: "fragile")
            var status = DeploymentStatus.success
            for _ in 0..<100 where status != .crashed {
                try await Task.sleep(for: .milliseconds(100))
                status = try #require(try await client.deployments(scope).first).status
            }
            #expect(status == .crashed)
            let answer = try await server.get(host: "fragile-fragile.localhost")
            #expect(answer.status == 503, "a crashed service has no replica to route to: \(answer)")
            #expect(answer.body.contains("none is starting"), "answered at once, not held: \(answer.body)")
            let shown = try await server.yard(["status"], in: folder)
            #expect(shown.stdout.contains("CRASHED"), "\(shown.stdout)")
        }
    }

    @Test("a deployment that was building when yard serve died is FAILED with the reason", .timeLimit(.minutes(3)))
    func midBuildCrash() async throws {
        try await YardServer.with { server in
            let folder = try await server.prepareApp("shell-app", project: "midbuild")
            try """
                [build]
                buildCommand = "sleep 67.25"
                """.write(to: folder.appendingPathComponent("railway.toml"), atomically: true, encoding: .utf8)
            let up = try await server.yard(["up", "--detach", "--json"], in: folder)
            try #require(up.status == 0, "\(up.output)")
            let id = try YardJSON.decoder().decode(DeploymentView.self, from: Data(up.stdout.utf8)).id
            let client = try server.client()
            for _ in 0..<100 {
                if try await client.deployment(id: id).status == .building { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(try await client.deployment(id: id).status == .building)
            for _ in 0..<100 where YardServer.pids(withCommandLine: ["sleep", "67.25"]).isEmpty {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(!YardServer.pids(withCommandLine: ["sleep", "67.25"]).isEmpty, "the build step should be running")
            await server.crash()
            try await server.start()
            #expect(YardServer.pids(withCommandLine: ["sleep", "67.25"]).isEmpty, "the interrupted build step must be stopped")
            let final = try await server.client().deployment(id: id)
            #expect(final.status == .failed)
            #expect(final.reason?.contains("interrupted") == true, "\(final.reason ?? "")")
            #expect(final.history.map(\.status).contains(.building))
        }
    }
}

private actor LinesSeen {
    var lines: [String] = []
    func add(_ line: String) { lines.append(line) }
}
