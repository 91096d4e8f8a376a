import Foundation
import Testing
import YardClient
import YardCore
import YardRuntime
import YardTestSupport

/// Issue 18 (stateful parts) on a real two-node swarm: a service's volume is a Docker volume
/// on one node the service is pinned to, its data surviving a redeploy with a new image, a
/// `yard redeploy` and a restart of `yard serve`; pre-deploy commands and cron runs are swarm
/// jobs whose exit code and output come back; the registry the nodes pull from drops the
/// image of a deployment artifact retention no longer keeps (manifest and blobs); and a
/// postgres database runs from its image on the other node than the app that uses it through
/// `postgres.railway.internal`, its data kept across a redeploy and a restart of `yard serve`;
/// redis and mysql databases keep what `yard connect` wrote across a redeploy.
@Suite("swarm runtime: volumes, jobs, registry GC end to end", .serialized)
struct SwarmStatefulEndToEndTests {
    static let host = "keeper-keeper.localhost"

    @Test("a volume pins its service to one node and keeps its data across deploys and a restart; pre-deploy and cron run as swarm jobs; the registry drops images retention no longer keeps; postgres works across nodes; redis and mysql keep their data",
          .timeLimit(.minutes(15)))
    func statefulServicesOnTheSwarm() async throws {
        try IsolationEndToEndTests.requireIsolation()
        try TestImages.requireTools()
        try DatabaseEndToEndTests.requireDatabases()
        try DatabaseEndToEndTests.requireMySQL()
        try await TestDockerDaemon.with(userns: false) { daemon in
            try await YardServer.with(
                runtime: "swarm",
                serveArguments: [
                    "--docker-socket", daemon.socketPath, "--artifact-retention", "1", "--cron-time-scale", "60",
                    "--tcp-proxy-ports", "24300-24349",
                ]
            ) { server in
                do {
                    try await run(server, daemon: daemon)
                } catch {
                    await server.stop()
                    throw error
                }
                await server.stop()
                #expect(try await SwarmEndToEndTests.engine(daemon, "/services") == "[]")
            }
        }
    }

    private func run(_ server: YardServer, daemon: TestDockerDaemon) async throws {
        let folder = server.root.appendingPathComponent("apps/keeper")
        // Every start appends a line to the volume and answers how many there are.
        try TestImages.writeHTTPServerContext(
            at: folder, user: "1000",
            extra: [
                "COPY version.txt /srv/version.txt",
                // The mount point belongs to the app's user: a new Docker volume takes its owner.
                "RUN mkdir /data && chown 1000:1000 /data",
                #"ENTRYPOINT ["/bin/sh", "-c", "echo start >> /data/starts; REPLY=\"starts=$(wc -l < /data/starts) $(cat /srv/version.txt)\" exec \"$@\"", "sh"]"#,
            ])
        try "v1".write(to: folder.appendingPathComponent("version.txt"), atomically: true, encoding: .utf8)
        try #"{"deploy": {"healthcheckPath": "/health", "preDeployCommand": ["/bin/sh -c 'echo pre-deploy on swarm as $(id -u)'"]}}"#
            .write(to: folder.appendingPathComponent("railway.json"), atomically: true, encoding: .utf8)
        let base = try await server.yard(
            ["image", "import", "debian:bookworm-slim", "--debootstrap", "bookworm", "--data-dir", server.dataDirectory.path], in: folder)
        try #require(base.status == 0, "\(base.output)")
        try #require(try await server.yard(["init", "--name", "keeper"], in: folder).status == 0)
        let volume = try await server.yard(["volume", "add", "--mount", "/data"], in: folder)
        try #require(volume.status == 0, "\(volume.output)")

        let up = try await server.yard(["up"], in: folder)
        try #require(up.status == 0, "\(up.outputTail)\nserver:\n\(YardServer.lastLines(of: server.serveLog, 40))")
        var answer = try await server.eventually(host: Self.host) { status, body in status == 200 && body.hasPrefix("starts=1 v1") }
        #expect(answer.body.hasPrefix("starts=1 v1"), "\(answer)")

        // Pinned to the node the volume is on, the volume mounted at its path.
        let services = try await SwarmEndToEndTests.engine(daemon, "/services")
        #expect(services.contains("\"Constraints\":[\"node.id==") && services.contains("\"Target\":\"/data\""), "\(services)")
        let firstImage = try #require(Self.imageDigest(in: services), "\(services)")

        // The pre-deploy command ran as a swarm job (an image's start commands are exec form,
        // as on Railway: a shell is named); its output is in the deploy log.
        let client = try server.client()
        let scope = YardAPIClient.Scope(project: "keeper", environment: "production", service: "keeper")
        let first = try #require(try await client.deployments(scope).first)
        var lines: [String] = []
        try await client.logs(deploymentID: first.id, kind: .deploy, follow: false) { lines.append($0.message) }
        #expect(lines.contains("pre-deploy on swarm as 1000"), "\(lines.suffix(20))")

        // A new image (a changed file): the data is still there.
        try "v2".write(to: folder.appendingPathComponent("version.txt"), atomically: true, encoding: .utf8)
        let second = try await server.yard(["up"], in: folder)
        try #require(second.status == 0, "\(second.outputTail)")
        answer = try await server.eventually(host: Self.host) { status, body in status == 200 && body.hasPrefix("starts=2 v2") }
        #expect(answer.body.hasPrefix("starts=2 v2"), "\(answer)")

        // Artifact retention 1: the first deployment's image leaves the registry, blobs and all.
        try await expectRemovedFromRegistry(firstImage, server: server)

        // A postgres database on the other node than an app that uses it by reference.
        let databasePassword = try await postgresAcrossNodes(server, daemon: daemon, keeper: folder)

        // A redeploy, then a restart of yard serve: still the same volume.
        let redeploy = try await client.redeploy(scope)
        let redeployed = try await client.watch(deploymentID: redeploy.id) { _ in }
        #expect(redeployed.status == .success, "\(redeployed.reason ?? "")")
        answer = try await server.eventually(host: Self.host) { status, body in status == 200 && body.hasPrefix("starts=3") }
        #expect(answer.body.hasPrefix("starts=3 v2"), "\(answer)")
        await server.stop()
        try await server.start()
        answer = try await server.eventually(host: Self.host, timeout: .seconds(60)) { status, body in
            status == 200 && body.hasPrefix("starts=4")
        }
        #expect(answer.body.hasPrefix("starts=4 v2"), "\(answer)\n\(YardServer.lastLines(of: server.serveLog, 30))")
        // The database came back on its node with its data: the app's third start sees three rows.
        let marks = try await server.eventually(host: Self.databaseAppHost, timeout: .seconds(180)) { status, body in
            status == 200 && body.hasPrefix("marks=3")
        }
        #expect(marks.body.hasPrefix("marks=3"), "\(marks)\n\(YardServer.lastLines(of: server.serveLog, 30))")
        #expect(!server.serveLog.contains(databasePassword), "the database's password is in the server's log")

        try await cronRunsAsJobs(server, from: folder)
        try await redisAndMySQLKeepTheirData(server, keeper: folder)
    }

    /// `yard add --database redis` and `mysql` on the swarm: each image is built, each runs
    /// pinned to its volume's node, `yard connect` writes and reads through its TCP proxy and
    /// relay, and the data survives a redeploy; the passwords stay out of the output.
    private func redisAndMySQLKeepTheirData(_ server: YardServer, keeper: URL) async throws {
        let client = try server.client()
        for (kind, service, port) in [("redis", "Redis", "6379"), ("mysql", "MySQL", "3306")] {
            let added = try await server.yard(["add", "--database", kind], in: keeper)
            try #require(added.status == 0, "\(added.outputTail)\n\(YardServer.lastLines(of: server.serveLog, 40))")
            let proxy = try await server.yard(["domain", "--tcp", port, "--service", service], in: keeper)
            try #require(proxy.status == 0, "\(proxy.output)")
        }
        let write = [
            "Redis": ["SET", "swarm", "kept"],
            "MySQL": ["-e", "CREATE TABLE notes (v TEXT); INSERT INTO notes VALUES ('kept')"],
        ]
        let read = ["Redis": ["GET", "swarm"], "MySQL": ["-N", "-e", "SELECT v FROM notes"]]
        for service in ["Redis", "MySQL"] {
            let scope = YardAPIClient.Scope(project: "keeper", environment: "production", service: service)
            let password = try await client.databaseConnection(scope).password
            let written = try await server.yard(["connect", "--service", service, "--"] + write[service, default: []], in: keeper)
            #expect(written.status == 0, "\(service): \(written.output)")
            let redeployed = try await client.watch(deploymentID: try await client.redeploy(scope).id) { _ in }
            #expect(redeployed.status == .success, "\(service): \(redeployed.reason ?? "")")
            let again = try await server.yard(["connect", "--service", service, "--"] + read[service, default: []], in: keeper)
            #expect(
                again.status == 0 && again.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "kept",
                "\(service) after a redeploy: \(again.output)")
            for output in [written.output, again.output, server.serveLog] {
                #expect(!output.contains(password), "\(service)'s password was printed")
            }
        }
    }

    static let databaseAppHost = "pgapp-keeper.localhost"

    /// `yard add --database postgres` on the swarm: its image is built (the build log says
    /// so), it runs pinned to its volume's node, and an app on the other node (pinned by a
    /// volume of its own) writes and reads it through `postgres.railway.internal` with
    /// `DATABASE_URL` from a reference; its rows survive a redeploy of the database. Each
    /// start of the app adds a row and answers how many there are.
    private func postgresAcrossNodes(
        _ server: YardServer, daemon: TestDockerDaemon, keeper: URL
    ) async throws -> String {
        let added = try await server.yard(["add", "--database", "postgres"], in: keeper)
        try #require(added.status == 0, "\(added.outputTail)\n\(YardServer.lastLines(of: server.serveLog, 40))")
        #expect(added.stdout.contains("postgres.railway.internal:"), "\(added.stdout)")
        let client = try server.client()
        let scope = YardAPIClient.Scope(project: "keeper", environment: "production", service: "Postgres")
        let password = try await client.databaseConnection(scope).password
        let deployment = try #require(try await client.deployments(scope).first)
        var built: [String] = []
        try await client.logs(deploymentID: deployment.id, kind: .build, follow: false) { built.append($0.message) }
        let imageLine = try #require(built.first { $0.contains("database image localhost/yard-env/database-postgres:") }, "\(built.suffix(20))")
        let imageRange = try #require(imageLine.range(of: #"localhost/yard-env/database-postgres:[0-9a-f]+"#, options: .regularExpression))

        // The app: the database's image (it has psql), a start that adds a row, the HTTP server.
        let folder = server.root.appendingPathComponent("apps/pgapp")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try TestImages.httpServerScript.write(to: folder.appendingPathComponent("server.pl"), atomically: true, encoding: .utf8)
        let psql = #"$(ls -d /usr/lib/postgresql/*/bin | tail -n 1)/psql"#
        let start =
            // A connection attempt to a database task that is not there yet gives up after
            // 5 s (psql's default waits for ever), so the loop really tries again.
            #"export PGCONNECT_TIMEOUT=5; for i in $(seq 60); do \#(psql) "$DATABASE_URL" -qAtc 'CREATE TABLE IF NOT EXISTS marks (at timestamptz DEFAULT now()); INSERT INTO marks DEFAULT VALUES' && break; sleep 1; done; "#
            + #"REPLY="marks=$(\#(psql) "$DATABASE_URL" -Atc 'SELECT count(*) FROM marks')" exec "$@""#
        let entrypoint = try String(decoding: JSONEncoder().encode(["/bin/sh", "-c", start, "sh"]), as: UTF8.self)
        try """
            FROM \(imageLine[imageRange])
            COPY server.pl /srv/server.pl
            ENTRYPOINT \(entrypoint)
            CMD ["perl", "/srv/server.pl"]

            """.write(to: folder.appendingPathComponent("Dockerfile"), atomically: true, encoding: .utf8)
        _ = try await client.createService(project: "keeper", name: "pgapp")
        for step in [
            ["link", "keeper", "-s", "pgapp"], ["volume", "add", "--mount", "/marks"],
            ["variables", "--set", "DATABASE_URL=${{Postgres.DATABASE_URL}}", "--skip-deploys"], ["up"],
        ] {
            let done = try await server.yard(step, in: folder)
            try #require(done.status == 0, "yard \(step.joined(separator: " ")): \(done.outputTail)")
        }
        var answer = try await Self.untilAnswers(server, prefix: "marks=1 ")
        #expect(answer.body.hasPrefix("marks=1 "), "\(answer)")

        // Each on its own node, the database with its volume at its path; no password in a spec.
        let services = try await SwarmEndToEndTests.engine(daemon, "/services")
        #expect(!services.contains(password), "the database's password is in a service spec")
        let nodes = try await Self.taskNodes(daemon)
        let databaseNode = try #require(nodes["/var/lib/postgresql/data"], "\(nodes)")
        let appNode = try #require(nodes["/marks"], "\(nodes)")
        #expect(databaseNode != appNode, "the database and the app run on one node: \(nodes)")

        // A redeploy of the database keeps its rows; the app's next start sees them.
        let redeploy = try await client.redeploy(scope)
        let redeployed = try await client.watch(deploymentID: redeploy.id) { _ in }
        #expect(redeployed.status == .success, "\(redeployed.reason ?? "")")
        let app = YardAPIClient.Scope(project: "keeper", environment: "production", service: "pgapp")
        let again = try await client.watch(deploymentID: try await client.redeploy(app).id) { _ in }
        #expect(again.status == .success, "\(again.reason ?? "")")
        answer = try await Self.untilAnswers(server, prefix: "marks=2 ")
        #expect(answer.body.hasPrefix("marks=2 "), "\(answer)")
        return password
    }

    /// Polls the database app until it answers `prefix`. The app has no health check path
    /// and listens only after its psql loop, while its relay and swarm's port proxy accept from
    /// the start: a 502 on the way (a connection they closed at once) means it was routed
    /// before it listened, which the port check's settle time prevents.
    static func untilAnswers(_ server: YardServer, prefix: String) async throws -> (status: Int, body: String) {
        let deadline = ContinuousClock.now + .seconds(60)
        var answer = (status: 0, body: "")
        while ContinuousClock.now < deadline {
            answer = try await server.getOnce(host: databaseAppHost)
            #expect(answer.status != 502, "routed before it listened: \(answer)")
            if answer.status == 200 && answer.body.hasPrefix(prefix) { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        return answer
    }

    /// The node of each running task, by the target of its volume.
    static func taskNodes(_ daemon: TestDockerDaemon) async throws -> [String: String] {
        let services = try JSONSerialization.jsonObject(with: Data(try await SwarmEndToEndTests.engine(daemon, "/services").utf8)) as? [[String: Any]] ?? []
        var targets: [String: String] = [:]
        for service in services {
            let template = (service["Spec"] as? [String: Any])?["TaskTemplate"] as? [String: Any]
            let mounts = (template?["ContainerSpec"] as? [String: Any])?["Mounts"] as? [[String: Any]] ?? []
            if let id = service["ID"] as? String, let target = mounts.first?["Target"] as? String { targets[id] = target }
        }
        let tasks = try JSONSerialization.jsonObject(with: Data(try await SwarmEndToEndTests.engine(daemon, "/tasks").utf8)) as? [[String: Any]] ?? []
        var nodes: [String: String] = [:]
        for task in tasks where (task["Status"] as? [String: Any])?["State"] as? String == "running" {
            if let service = task["ServiceID"] as? String, let target = targets[service], let node = task["NodeID"] as? String {
                nodes[target] = node
            }
        }
        return nodes
    }

    /// A cron service on the swarm: each run is a job; its exit code and output come back.
    private func cronRunsAsJobs(_ server: YardServer, from keeper: URL) async throws {
        let folder = server.root.appendingPathComponent("apps/ticker")
        try TestImages.writeHTTPServerContext(at: folder, user: "1000")
        try #"{"deploy": {"cronSchedule": "* * * * *", "startCommand": "/bin/sh -c 'echo tick $RAILWAY_CRON_RUN_ID; exit 3'"}}"#
            .write(to: folder.appendingPathComponent("railway.json"), atomically: true, encoding: .utf8)
        try #require(try await server.yard(["init", "--name", "ticker"], in: folder).status == 0)
        let up = try await server.yard(["up"], in: folder)
        try #require(up.status == 0, "\(up.outputTail)")
        let client = try server.client()
        let scope = YardAPIClient.Scope(project: "ticker", environment: "production", service: "ticker")
        let deadline = ContinuousClock.now + .seconds(60)
        var runs: [CronRunView] = []
        while ContinuousClock.now < deadline {
            runs = try await client.cronRuns(scope)
            if runs.contains(where: { $0.status == .failed }) { break }
            try await Task.sleep(for: .milliseconds(300))
        }
        let failed = try #require(runs.first { $0.status == .failed }, "\(runs)\n\(YardServer.lastLines(of: server.serveLog, 30))")
        #expect(failed.exitCode == 3, "\(failed)")
        let deployment = try #require(try await client.deployments(scope).first)
        var lines: [String] = []
        try await client.logs(deploymentID: deployment.id, kind: .deploy, follow: false) { lines.append($0.message) }
        #expect(lines.contains("tick \(failed.id)"), "\(lines.suffix(20))")
    }

    /// The digest of the (one) service's image, `…/switchyard/image@sha256:…`.
    static func imageDigest(in services: String) -> String? {
        guard let range = services.range(of: #"switchyard/image@sha256:[0-9a-f]{64}"#, options: .regularExpression) else { return nil }
        return String(services[range].split(separator: "@")[1])
    }

    /// Waits until the registry no longer has the manifest `digest` nor its blob file.
    private func expectRemovedFromRegistry(_ digest: String, server: YardServer) async throws {
        let hex = digest.replacingOccurrences(of: "sha256:", with: "")
        let blob = server.dataDirectory.appendingPathComponent(
            "swarm-registry/data/docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)")
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, FileManager.default.fileExists(atPath: blob.path) {
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(!FileManager.default.fileExists(atPath: blob.path), "\(digest) is still in the registry\n\(YardServer.lastLines(of: server.serveLog, 30))")
        let tags = server.dataDirectory.appendingPathComponent("swarm-registry/data/docker/registry/v2/repositories/switchyard/image/_manifests/tags")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: tags.path)) ?? []
        #expect(left.count == 1, "one image kept (the live one): \(left)")
    }
}
