import Foundation
import Testing
import YardClient
import YardCore

/// Issue 6's acceptance on seed 000's topology, and issue 7's "staging's database is
/// separate from production's", with real Postgres and Redis servers and a real driver.
@Suite("seed topology end to end", .serialized)
struct SeedTopologyEndToEndTests {
    struct Job: Decodable, Equatable {
        var id: Int
        var payload: String
        var result: String?
        var processedBy: String?
    }

    static let web = YardAPIClient.Scope(project: "jobs", environment: "production", service: "web")
    static let worker = YardAPIClient.Scope(project: "jobs", environment: "production", service: "worker")
    static let webHost = "web-jobs.localhost"
    static let workerHost = "worker-jobs.localhost"

    /// Adds a job through the web service and waits until the worker has processed it.
    func roundTrip(_ server: YardServer, _ payload: String) async throws -> Job {
        let added = try await server.eventually(host: Self.webHost, path: "/jobs/add?payload=\(payload)", timeout: .seconds(60)) {
            status, _ in status == 200
        }
        try #require(added.status == 200, "the web service could not add a job: \(added.body)")
        let id = try #require(try JSONSerialization.jsonObject(with: Data(added.body.utf8)) as? [String: Int])["id"]
        let deadline = ContinuousClock.now + .seconds(60)
        var last: Job?
        while ContinuousClock.now < deadline {
            if let answer = try? await server.get(host: Self.webHost, path: "/jobs"), answer.status == 200,
                let jobs = try? JSONDecoder().decode([Job].self, from: Data(answer.body.utf8))
            {
                last = jobs.first { $0.id == id }
                if last?.result != nil { return last! }
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        Issue.record("job \(payload) was never processed by the worker: \(String(describing: last))")
        return try #require(last)
    }

    func liveDeployment(_ client: YardAPIClient, _ scope: YardAPIClient.Scope) async throws -> String {
        try #require(try await client.deployments(scope).first { $0.status == .success }?.id)
    }

    func count(_ server: YardServer) async throws -> Int {
        let answer = try await server.eventually(host: Self.webHost, path: "/count", timeout: .seconds(60)) { status, _ in status == 200 }
        try #require(answer.status == 200, "redis through REDIS_URL failed: \(answer.body)")
        return try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Int])["count"] ?? -1
    }

    /// Every byte of the data directory's database files.
    static func databaseBytes(_ server: YardServer) -> Data {
        ["switchyard.sqlite", "switchyard.sqlite-wal"].reduce(into: Data()) { bytes, name in
            bytes += FileManager.default.contents(atPath: server.dataDirectory.appendingPathComponent(name).path) ?? Data()
        }
    }

    @Test(
        "seed 000: web and worker from one folder share Postgres; the worker has no domain; both survive redeploys and a restart; Redis counts across its redeploy; sealed values stay out of every output",
        .timeLimit(.minutes(12)))
    func webAndWorkerShareAPostgres() async throws {
        try DatabaseEndToEndTests.requireDatabases()
        try await YardServer.with { server in
            let folder = try await server.prepareApp("jobs-monorepo", project: "jobs")
            let client = try server.client()
            for kind in ["postgres", "redis"] {
                let added = try await server.yard(["add", "--database", kind], in: folder)
                try #require(added.status == 0, "\(added.output)\n\(server.serveLog)")
            }
            // Two services of one folder, each with its config file, as seed 000 sets them up.
            _ = try await client.createService(project: "jobs", name: "worker")
            _ = try await client.createService(project: "jobs", name: "web", configPath: "railway.web.toml")
            let secret = "api-secret-\(UUID().uuidString)"
            let webVariables = try await server.yard(
                [
                    "variables", "--service", "web", "--set", "DATABASE_URL=${{Postgres.DATABASE_URL}}",
                    "--set", "REDIS_URL=${{Redis.REDIS_URL}}", "--sealed", "API_SECRET=\(secret)",
                ], in: folder)
            try #require(webVariables.status == 0, "\(webVariables.output)")
            let workerVariables = try await server.yard(
                ["variables", "--service", "worker", "--set", "DATABASE_URL=${{Postgres.DATABASE_URL}}"], in: folder)
            try #require(workerVariables.status == 0, "\(workerVariables.output)")

            // The worker takes no public domain: the one it would get is removed before its
            // first deploy, and since it opens no port, it is live once its process runs.
            let removed = try await server.yard(["domain", "remove", Self.workerHost, "--service", "worker"], in: folder)
            #expect(removed.status == 0, "\(removed.output)")
            let workerUp = try await server.yard(["up", "--service", "worker"], in: folder)
            try #require(workerUp.status == 0, "worker failed:\n\(workerUp.outputTail)")
            #expect(workerUp.stdout.contains("config: railway.toml"), "\(workerUp.stdout)")
            #expect(!workerUp.stdout.contains("URL:"), "\(workerUp.stdout)")
            let webUp = try await server.yard(["up", "--service", "web"], in: folder)
            try #require(webUp.status == 0, "web failed:\n\(webUp.outputTail)")
            #expect(webUp.stdout.contains("config: railway.web.toml"), "\(webUp.stdout)")
            #expect(try await server.get(host: Self.workerHost).status == 404)
            #expect(try await client.domains(Self.worker).isEmpty)
            // A hostname that is neither a domain of the service nor the one it would get is refused.
            let wrong = try await server.yard(["domain", "remove", "nope.localhost", "--service", "worker"], in: folder)
            #expect(wrong.status != 0 && wrong.stderr.contains("has no domain nope.localhost"), "\(wrong.output)")

            let first = try await roundTrip(server, "hello")
            let firstWorker = try await liveDeployment(client, Self.worker)
            #expect(first.result == "HELLO" && first.processedBy == firstWorker, "\(first)")
            #expect(try await count(server) == 1)
            #expect(try await count(server) == 2)

            // A redeploy of each, the web service first, then the worker.
            let webRedeploy = try await server.yard(["redeploy", "--service", "web"], in: folder)
            try #require(webRedeploy.status == 0, "\(webRedeploy.outputTail)")
            #expect(try await roundTrip(server, "after-web").result == "AFTER-WEB")
            let workerRedeploy = try await server.yard(["redeploy", "--service", "worker"], in: folder)
            try #require(workerRedeploy.status == 0, "\(workerRedeploy.outputTail)")
            let secondWorker = try await liveDeployment(client, Self.worker)
            #expect(secondWorker != firstWorker)
            // The old worker stops after the new one is live; from then on only the new one works.
            let retired = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < retired, try await client.deployment(id: firstWorker).status != .removed {
                try await Task.sleep(for: .milliseconds(200))
            }
            let afterWorker = try await roundTrip(server, "after-worker")
            #expect(afterWorker.result == "AFTER-WORKER" && afterWorker.processedBy == secondWorker, "\(afterWorker)")
            #expect(try await server.get(host: Self.workerHost).status == 404, "the redeploy made a domain again")
            #expect(try await client.domains(Self.worker).isEmpty)

            // Redis keeps the count across a redeploy of the Redis service itself.
            let redisRedeploy = try await server.yard(["redeploy", "--service", "Redis"], in: folder)
            try #require(redisRedeploy.status == 0, "\(redisRedeploy.outputTail)")
            #expect(try await count(server) == 3)

            // The sealed value reached the app, but not `yard variables --json`, the API, the logs or the database file.
            let digest = ContentHash.sha256(secret)
            let seen = try await server.get(host: Self.webHost, path: "/secret")
            #expect(seen.body.contains(digest), "the app did not get API_SECRET: \(seen.body)")
            let listed = try await server.yard(["variables", "--service", "web", "--json"], in: folder)
            #expect(listed.status == 0 && listed.stdout.contains("\"API_SECRET\"") && !listed.output.contains(secret), "\(listed.output)")
            let token = try String(contentsOf: server.dataDirectory.appendingPathComponent("admin.token"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            for path in ["variables", "resolved-variables"] {
                let url = URL(string: "\(server.apiURL)/v1/projects/jobs/environments/production/services/web/\(path)")!
                let (head, body) = try await HTTPConnection.fetch(.init(url: url, headers: [("Authorization", "Bearer \(token)")]))
                let text = String(decoding: body, as: UTF8.self)
                if path == "variables" {
                    #expect(head.status == 200 && text.contains("API_SECRET") && !text.contains(secret), "\(head.status) \(text)")
                } else {
                    // `yard run`'s route withholds sealed values too.
                    #expect(head.status == 200 && !text.contains("API_SECRET") && !text.contains(secret), "\(head.status) \(text)")
                }
            }
            let webLogs = try await server.yard(["logs", "--service", "web"], in: folder)
            #expect(webLogs.stdout.contains("web: the API secret is ***"), "\(webLogs.stdout)")
            #expect(!webLogs.output.contains(secret))
            let pgPassword = try await client.databaseConnection(.init(project: "jobs", environment: "production", service: "Postgres")).password
            let workerLogs = try await server.yard(["logs", "--service", "worker"], in: folder)
            // Postgres's DATABASE_URL is sealed whole, so the whole address is masked.
            #expect(workerLogs.stdout.contains("🧠 orchestrator running against ***"), "\(workerLogs.stdout)")
            #expect(!workerLogs.output.contains(pgPassword))
            #expect(workerLogs.stdout.contains("no domain and no health check path: live once its process runs"), "\(workerLogs.stdout)")
            let logFiles =
                FileManager.default.enumerator(atPath: server.dataDirectory.appendingPathComponent("logs").path)?
                .compactMap { $0 as? String }.filter { $0.hasSuffix(".jsonl") } ?? []
            #expect(!logFiles.isEmpty)
            for file in logFiles {
                let text = (try? String(contentsOf: server.dataDirectory.appendingPathComponent("logs/\(file)"), encoding: .utf8)) ?? ""
                #expect(!text.contains(secret) && !text.contains(pgPassword), "a sealed value is in \(file)")
            }
            #expect(!server.serveLog.contains(secret) && !server.serveLog.contains(pgPassword))
            let bytes = Self.databaseBytes(server)
            #expect(
                bytes.range(of: Data(secret.utf8)) == nil && bytes.range(of: Data(pgPassword.utf8)) == nil,
                "a sealed value is in switchyard.sqlite in clear")

            // A reference to a missing variable fails the deploy, naming the variable, the
            // service and the reference; the live deployment keeps serving.
            #expect(
                try await server.yard(
                    ["variables", "--service", "web", "--set", "BROKEN=x${{Postgres.NOPE}}", "--skip-deploys"],
                    in: folder
                ).status == 0)
            let broken = try await server.yard(["redeploy", "--service", "web"], in: folder)
            #expect(broken.status != 0)
            #expect(
                broken.output.contains("variable BROKEN of") && broken.output.contains("web references ${{Postgres.NOPE}}")
                    && broken.output.contains("Postgres has no variable NOPE"),
                "\(broken.outputTail)")
            #expect(try await server.get(host: Self.webHost, path: "/health").status == 200)
            #expect(
                try await server.yard(["variables", "--service", "web", "--delete", "BROKEN", "--skip-deploys"], in: folder).status == 0)

            // A restart of `yard serve`: the same data directory and key; everything comes back.
            await server.stop()
            try await server.start()
            let afterRestart = try await roundTrip(server, "after-restart")
            #expect(afterRestart.result == "AFTER-RESTART", "\(afterRestart)")
            let all = try JSONDecoder().decode([Job].self, from: Data(try await server.get(host: Self.webHost, path: "/jobs").body.utf8))
            #expect(all.map(\.result) == ["HELLO", "AFTER-WEB", "AFTER-WORKER", "AFTER-RESTART"], "\(all)")
            #expect(try await count(server) == 4)
            let again = try await server.eventually(host: Self.webHost, path: "/secret") { $1.contains(digest) }
            #expect(again.body.contains(digest), "API_SECRET after the restart: \(again.body)")
            // The restarted replica printed it again: masked again.
            let liveWeb = try await liveDeployment(try server.client(), Self.web)  // the API has a new port now
            let restartedLogs = try await server.yard(["logs", "--service", "web", "--deployment", liveWeb], in: folder)
            #expect(restartedLogs.stdout.components(separatedBy: "web: the API secret is ***").count >= 3, "\(restartedLogs.stdout)")
            #expect(!restartedLogs.output.contains(secret))
            #expect(try await server.get(host: Self.workerHost).status == 404)
        }
    }

    @Test(
        "issue 7: staging's Postgres starts empty with its own credentials; each environment's app reaches its own database",
        .timeLimit(.minutes(8)))
    func stagingDatabaseIsSeparate() async throws {
        try DatabaseEndToEndTests.requireDatabases()
        try await YardServer.with { server in
            let folder = try await server.prepareApp("db-client", project: "stage")
            let added = try await server.yard(["add", "--database", "postgres"], in: folder)
            try #require(added.status == 0, "\(added.output)\n\(server.serveLog)")
            #expect(try await server.yard(["variables", "--set", "DATABASE_URL=${{Postgres.DATABASE_URL}}"], in: folder).status == 0)
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.outputTail)")
            let production = "stage-stage.localhost"
            let staging = "stage-stage-staging.localhost"
            let write = try await server.get(host: production, path: "/pg/write?value=production-row")
            try #require(write.status == 200, "\(write.body)")

            let created = try await server.yard(["environment", "new", "staging"], in: folder)
            try #require(created.status == 0, "\(created.output)")
            // A database's credentials are made anew in the copy, not left out.
            #expect(!created.stdout.contains("PGPASSWORD") && !created.stdout.contains("sealed variables not copied"), "\(created.stdout)")
            // …and said so.
            let postgresLine = created.stdout.split(separator: "\n").first { $0.hasPrefix("  Postgres: ") } ?? ""
            #expect(postgresLine.hasSuffix(", new credentials (sealed)"), "\(created.stdout)")
            #expect(try await server.yard(["environment", "use", "staging"], in: folder).status == 0)
            let database = try await server.yard(["redeploy", "--service", "Postgres"], in: folder)
            try #require(database.status == 0, "staging's Postgres did not start:\n\(database.outputTail)")
            let stagingUp = try await server.yard(["up"], in: folder)
            try #require(stagingUp.status == 0, "\(stagingUp.outputTail)")

            let client = try server.client()
            let productionPassword = try await client.databaseConnection(.init(project: "stage", environment: "production", service: "Postgres")).password
            let stagingPassword = try await client.databaseConnection(.init(project: "stage", environment: "staging", service: "Postgres")).password
            #expect(stagingPassword.count == 32 && stagingPassword != productionPassword)

            // Empty: production's table is not there; staging writes its own.
            let empty = try await server.get(host: staging, path: "/pg/read")
            #expect(empty.status == 500 && empty.body.contains("notes") && empty.body.contains("does not exist"), "\(empty.body)")
            #expect(try await server.get(host: staging, path: "/pg/write?value=staging-row").status == 200)
            #expect(try await server.get(host: staging, path: "/pg/read").body.contains("\"out\": \"staging-row\""))
            #expect(try await server.get(host: production, path: "/pg/read").body.contains("\"out\": \"production-row\""))
        }
    }
}
