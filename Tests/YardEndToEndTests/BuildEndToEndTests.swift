import Foundation
import Testing
import YardClient
import YardCore
import YardRuntime

/// Issue 4's acceptance, end to end: real apps with real dependencies from PyPI, built in
/// the sandbox by a real `yard serve`, deployed and asked over HTTP through the router.
@Suite("builders end to end", .serialized)
struct BuildEndToEndTests {
    struct AppCase: CustomTestStringConvertible, Sendable {
        var fixture: String
        /// A line the build log must show (the provider, the way dependencies install).
        var logFragments: [String]
        var expectedBody: String
        var testDescription: String { fixture }
    }

    @Test(
        "python apps: FastAPI with pinned requirements and Flask via Procfile deploy and answer",
        .timeLimit(.minutes(15)),
        arguments: [
            AppCase(fixture: "fastapi-app", logFragments: ["detected python", "uvicorn main:app"], expectedBody: "fastapi-app ok"),
            AppCase(fixture: "flask-procfile", logFragments: ["detected python", "Procfile"], expectedBody: "flask-procfile ok"),
        ]
    )
    func pythonAppsDeploy(_ testCase: AppCase) async throws {
        try await deploysAndAnswers(testCase)
    }

    /// The same path with the dependencies installed by poetry and by uv (their plans are unit
    /// tested in YardBuildTests): a server and a PyPI install each, in the slow tier.
    @Test(
        "python apps: poetry and uv deploy and answer",
        SlowTier.only("a server and a PyPI install per package manager"),
        .timeLimit(.minutes(15)),
        arguments: [
            AppCase(fixture: "poetry-app", logFragments: ["detected python", "poetry"], expectedBody: "poetry-app ok"),
            AppCase(fixture: "uv-app", logFragments: ["detected python", "uv sync"], expectedBody: "uv-app ok"),
        ]
    )
    func pythonPackageManagersDeploy(_ testCase: AppCase) async throws {
        try await deploysAndAnswers(testCase)
    }

    private func deploysAndAnswers(_ testCase: AppCase) async throws {
        try await YardServer.with(runtime: "sandbox") { server in
            let folder = try await server.prepareApp(testCase.fixture, project: testCase.fixture)
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "yard up failed:\n\(up.outputTail)\nserver:\n\(YardServer.lastLines(of: server.serveLog, 30))")
            for fragment in testCase.logFragments {
                #expect(up.stdout.contains(fragment), "the build log should mention \(fragment):\n\(up.stdout)")
            }
            let host = "\(testCase.fixture)-\(testCase.fixture).localhost"
            let answer = try await server.get(host: host)
            #expect(answer.status == 200)
            #expect(answer.body.contains(testCase.expectedBody), "got: \(answer.body)")
            let health = try await server.get(host: host, path: "/health")
            #expect(health.status == 200)
        }
    }

    @Test("a code-only change reuses the install cache, the same source reuses the artifact, a rollback runs the old artifact",
          .timeLimit(.minutes(10)))
    func cacheArtifactReuseAndRollback() async throws {
        try await YardServer.with(runtime: "sandbox") { server in
            let folder = try await server.prepareApp("fastapi-app", project: "cache")
            let host = "cache-cache.localhost"
            let first = try await server.yard(["up"], in: folder)
            try #require(first.status == 0, "first deploy failed:\n\(first.output)")
            #expect(first.stdout.contains("install cache miss"), "\(first.stdout)")
            #expect(first.stdout.contains("install cache saved"), "\(first.stdout)")
            let firstBody = try await server.get(host: host).body

            // Code only: the dependency set is unchanged, so pip does not run.
            let main = folder.appendingPathComponent("main.py")
            let code = try String(contentsOf: main, encoding: .utf8)
            try code.replacingOccurrences(of: "fastapi-app ok", with: "fastapi-app v2").write(to: main, atomically: true, encoding: .utf8)
            let second = try await server.yard(["up"], in: folder)
            try #require(second.status == 0, "second deploy failed:\n\(second.output)")
            #expect(second.stdout.contains("install cache hit"), "\(second.stdout)")
            #expect(!second.stdout.contains("$ pip install"), "the install step should be skipped:\n\(second.stdout)")
            #expect(try await server.get(host: host).body.contains("fastapi-app v2"))

            // The same source and plan again: no build at all.
            let third = try await server.yard(["up"], in: folder)
            try #require(third.status == 0, "third deploy failed:\n\(third.output)")
            #expect(third.stdout.contains("reusing it, skipping the build"), "\(third.stdout)")
            #expect(!third.stdout.contains("$ python3 -m venv"), "\(third.stdout)")

            // Roll back to the first deployment: its artifact runs again, nothing is built.
            let client = try server.client()
            let scope = YardAPIClient.Scope(project: "cache", environment: "production", service: "cache")
            let deployments = try await client.deployments(scope)
            let oldest = try #require(deployments.min { $0.createdAt < $1.createdAt })
            let rollback = try await client.rollback(deploymentID: oldest.id)
            let final = try await client.watch(deploymentID: rollback.id) { _ in }
            #expect(final.status == .success, "rollback ended \(final.status): \(final.reason ?? "")")
            let answer = try await server.eventually(host: host) { _, body in body == firstBody }
            #expect(answer.body == firstBody, "the rollback should serve the first code again: \(answer.body)")
            var buildLines: [String] = []
            try await client.logs(deploymentID: rollback.id, kind: .build, follow: false) { buildLines.append($0.message) }
            #expect(!buildLines.contains { $0.hasPrefix("$ ") }, "a rollback runs no build step: \(buildLines)")
        }
    }

    @Test("a build secret printed by the build is masked and never reaches the app; one written into the app fails the build",
          .timeLimit(.minutes(5)))
    func buildSecrets() async throws {
        try await YardServer.with(runtime: "sandbox") { server in
            let secret = "s3cret-\(UUID().uuidString.prefix(8))"
            let folder = try await server.prepareApp("build-secret", project: "secret")
            let set = try await server.yard(["variables", "set", "--build-secret", "BUILD_TOKEN=\(secret)"], in: folder)
            try #require(set.status == 0, "\(set.output)")
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "deploy failed:\n\(up.output)")
            #expect(up.stdout.contains("***"), "the build printed the secret; the log should show ***:\n\(up.stdout)")
            #expect(!up.output.contains(secret))
            let logs = try await server.yard(["logs", "--build"], in: folder)
            #expect(!logs.output.contains(secret))
            // Nothing the platform stored holds it: artifacts, logs, database.
            let grep = try await runProcess("/bin/grep", ["-rlF", "--", secret, server.dataDirectory.appendingPathComponent("artifacts").path])
            #expect(grep.status == 1, "the secret was found in the artifacts: \(grep.output)")
            let grepLogs = try await runProcess("/bin/grep", ["-rlF", "--", secret, server.dataDirectory.appendingPathComponent("logs").path])
            #expect(grepLogs.status == 1, "the secret was found in the logs: \(grepLogs.output)")
            // At run time the app does not get it.
            let answer = try await server.get(host: "secret-secret.localhost")
            #expect(answer.status == 200)
            #expect(answer.body.contains("BUILD_TOKEN at run time: absent"), "\(answer.body)")

            let leak = try await server.prepareApp("build-secret-leak", project: "leak")
            try #require(try await server.yard(["variables", "set", "--build-secret", "BUILD_TOKEN=\(secret)"], in: leak).status == 0)
            let failed = try await server.yard(["up"], in: leak)
            #expect(failed.status != 0)
            #expect(failed.output.contains("the build wrote the value of secret BUILD_TOKEN into leaked.txt"), "\(failed.output)")
            #expect(!failed.output.contains(secret))
            // Only the variable store holds the value: no artifact, build folder, cache or log.
            for folder in ["artifacts", "builds", "cache", "logs", "sources"] {
                let path = server.dataDirectory.appendingPathComponent(folder).path
                guard FileManager.default.fileExists(atPath: path) else { continue }
                let found = try await runProcess("/bin/grep", ["-rlF", "--", secret, path])
                #expect(found.status == 1, "the secret is stored in \(folder): \(found.output)")
            }
        }
    }

    @Test("seed 002: a root railpack.json services map deploys backend and frontend from one upload",
          .timeLimit(.minutes(10)))
    func seed002ServicesMap() async throws {
        try await YardServer.with(runtime: "sandbox") { server in
            let folder = try await server.prepareApp("monorepo-railpack", project: "monkey")
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "yard up failed:\n\(up.outputTail)\nserver:\n\(YardServer.lastLines(of: server.serveLog, 30))")
            let backend = try await server.get(host: "backend-monkey.localhost", path: "/health")
            #expect(backend.status == 200, "\(backend)")
            let frontendHealth = try await server.get(host: "frontend-monkey.localhost", path: "/api/health")
            #expect(frontendHealth.status == 200, "\(frontendHealth)")
            let frontend = try await server.get(host: "frontend-monkey.localhost")
            // ${{backend.RAILWAY_PUBLIC_DOMAIN}} resolved into the frontend's variable.
            #expect(frontend.body.contains("https://backend-monkey.localhost"), "\(frontend.body)")

            let client = try server.client()
            let backendDeployment = try #require(try await client.deployments(
                YardAPIClient.Scope(project: "monkey", environment: "production", service: "backend")).first)
            var log: [String] = []
            try await client.logs(deploymentID: backendDeployment.id, kind: .build, follow: false) { log.append($0.message) }
            #expect(log.contains { $0.contains("$ cd packages/core && pip install -e .") }, "\(log)")
            let frontendDeployment = try #require(try await client.deployments(
                YardAPIClient.Scope(project: "monkey", environment: "production", service: "frontend")).first)
            var frontendLog: [String] = []
            try await client.logs(deploymentID: frontendDeployment.id, kind: .build, follow: false) { frontendLog.append($0.message) }
            #expect(frontendLog.contains { $0.contains("root directory: packages/web") }, "\(frontendLog)")
            #expect(frontendLog.contains { $0.contains("railpack.json sets provider node") }, "\(frontendLog)")
            // The frontend references the backend: it went live only after the backend did.
            let backendLive = try #require(backendDeployment.history.first { $0.status == .success }?.at)
            let frontendLive = try #require(frontendDeployment.history.first { $0.status == .success }?.at)
            #expect(frontendLive >= backendLive, "frontend live at \(frontendLive), backend at \(backendLive)")
        }
    }

    @Test("seed 000: two services from one folder, selected by railway.toml and railway.web.toml",
          .timeLimit(.minutes(10)))
    func seed000ConfigFiles() async throws {
        try await YardServer.with(runtime: "sandbox") { server in
            let folder = try await server.prepareApp("monorepo-configs", project: "meshhook")
            let worker = try await server.yard(["up", "--service", "worker"], in: folder)
            try #require(worker.status == 0, "worker failed:\n\(worker.output)")
            #expect(worker.output.contains("RAILPACKS"), "the builder typo should be warned about:\n\(worker.output)")
            let web = try await server.yard(["up", "--service", "web", "--config", "railway.web.toml"], in: folder)
            try #require(web.status == 0, "web failed:\n\(web.output)")
            #expect(web.stdout.contains("config: railway.web.toml"), "\(web.stdout)")
            let workerAnswer = try await server.get(host: "worker-meshhook.localhost", path: "/health")
            #expect(workerAnswer.status == 200)
            let webAnswer = try await server.get(host: "web-meshhook.localhost")
            #expect(webAnswer.status == 200)
            #expect(webAnswer.body != workerAnswer.body)
        }
    }

    @Test("a running build can be cancelled: its process stops and the deployment ends REMOVED",
          .timeLimit(.minutes(3)))
    func cancelRunningBuild() async throws {
        try await YardServer.with(runtime: "sandbox") { server in
            let folder = try await server.prepareApp("shell-app", project: "cancel")
            let marker = "yard-cancel-\(UUID().uuidString.prefix(8))"
            try "[build]\nbuildCommand = \"sleep 300 # \(marker)\"\n".write(
                to: folder.appendingPathComponent("railway.toml"), atomically: true, encoding: .utf8)
            let up = try await server.yard(["up", "--detach", "--json"], in: folder)
            try #require(up.status == 0, "\(up.output)")
            let deployment = try YardJSON.decoder().decode(DeploymentView.self, from: Data(up.stdout.utf8))
            let client = try server.client()
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline, try await client.deployment(id: deployment.id).status != .building {
                try await Task.sleep(for: .milliseconds(200))
            }
            while ContinuousClock.now < deadline, Self.processes(containing: marker).isEmpty {
                try await Task.sleep(for: .milliseconds(200))
            }
            try #require(!Self.processes(containing: marker).isEmpty, "the build step never started")

            let cancel = try await server.yard(["cancel", deployment.id], in: folder)
            #expect(cancel.status == 0, "\(cancel.output)")
            let final = try await client.watch(deploymentID: deployment.id) { _ in }
            #expect(final.status == .removed, "\(final.status) \(final.reason ?? "")")
            #expect(final.reason?.contains("cancelled") == true)
            let gone = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < gone, !Self.processes(containing: marker).isEmpty {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(Self.processes(containing: marker).isEmpty, "the build step is still running")
        }
    }

    /// A release build of a Swift server and its dependencies takes minutes: the slow tier.
    @Test(
        "Swift: a Hummingbird app is detected, built in release mode and answers",
        SlowTier.only("a release build of a Swift server and its packages"), .timeLimit(.minutes(30)))
    func hummingbirdApp() async throws {
        try await YardServer.with(runtime: "sandbox") { server in
            let folder = try await server.prepareApp("hummingbird-app", project: "bird")
            let up = try await server.yard(["up"], in: folder, timeout: .seconds(1500))
            try #require(up.status == 0, "yard up failed:\n\(up.outputTail)\nserver:\n\(YardServer.lastLines(of: server.serveLog, 30))")
            #expect(up.stdout.contains("Hummingbird"), "\(up.stdout)")
            #expect(up.stdout.contains("swift build -c release"), "\(up.stdout)")
            let answer = try await server.get(host: "bird-bird.localhost")
            #expect(answer.status == 200)
            #expect(answer.body.contains("hummingbird-app ok"), "\(answer.body)")
        }
    }

    // MARK: Helpers

    /// Pids of live processes whose command line contains `fragment`.
    static func processes(containing fragment: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let line = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return line.contains(fragment) && YardServer.isAlive(pid)
        }
    }

    func runProcess(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
