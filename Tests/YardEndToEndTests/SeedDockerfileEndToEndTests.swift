import Foundation
import Testing
import YardClient
import YardCore

/// Issue 15's seed 003 (Netia): a multi-stage Dockerfile (Elixir from Debian's packages in
/// the builder stage, a slim non-root runtime stage, an entrypoint that migrates Postgres
/// before it starts), Redis beside it, a custom domain over HTTPS, logs, a shell, a backup,
/// and a redeploy after a code change that drops no request.
@Suite("seed 003 end to end", .serialized)
struct SeedDockerfileEndToEndTests {
    static let scope = YardAPIClient.Scope(project: "netia", environment: "production", service: "netia")
    static let host = "netia-netia.localhost"
    static let customDomain = "app.netia.test"

    @Test(
        "seed 003: a multi-stage Dockerfile with migrations, Postgres and Redis, HTTPS on a custom domain, logs, shell, backup, and a code change redeployed under load with no failed request",
        .timeLimit(.minutes(15)))
    func netiaFromItsDockerfile() async throws {
        try DatabaseEndToEndTests.requireDatabases()
        try await YardServer.with { server in
            let folder = try await server.prepareApp("netia", project: "netia")
            let base = try await server.yard(["image", "import", "debian:bookworm-slim", "--debootstrap", "bookworm", "--data-dir", server.dataDirectory.path], in: folder)
            try #require(base.status == 0, "\(base.output)")
            for kind in ["postgres", "redis"] {
                let added = try await server.yard(["add", "--database", kind], in: folder)
                try #require(added.status == 0, "\(added.output)\n\(server.serveLog)")
            }
            let secretKeyBase = "skb-\(UUID().uuidString)-\(UUID().uuidString)"
            let variables = try await server.yard(
                [
                    "variables", "--set", "DATABASE_URL=${{Postgres.DATABASE_URL}}", "--set", "REDIS_URL=${{Redis.REDIS_URL}}",
                    "--set", "MIX_ENV=prod", "--sealed", "SECRET_KEY_BASE=\(secretKeyBase)",
                ], in: folder)
            try #require(variables.status == 0, "\(variables.output)")

            let up = try await server.yard(["up"], in: folder, timeout: .seconds(900))
            try #require(up.status == 0, "netia failed:\n\(up.outputTail)")
            let client = try server.client()
            let first = try #require(try await client.deployments(Self.scope).first { $0.status == .success })
            let buildLog = try await server.yard(["logs", "--build", "--deployment", first.id], in: folder)
            #expect(buildLog.stdout.contains("Dockerfile"), "\(buildLog.outputTail)")
            #expect(!buildLog.output.contains(secretKeyBase))
            // The entrypoint migrated before the server started.
            let deployLog = try await server.yard(["logs", "--deployment", first.id], in: folder)
            #expect(deployLog.stdout.contains("migrate: 001_messages.sql"), "\(deployLog.outputTail)")
            #expect(deployLog.stdout.contains("netia v1 listening"), "\(deployLog.outputTail)")

            #expect(try await server.get(host: Self.host).body == "netia v1\n")
            let stored = try await server.get(host: Self.host, path: "/messages/add?body=hello")
            #expect(stored.status == 201, "\(stored.body)")
            #expect(try await server.get(host: Self.host, path: "/messages").body == "hello\n")
            #expect(try await server.get(host: Self.host, path: "/visits").body.trimmingCharacters(in: .whitespacesAndNewlines) == "1")

            // A custom domain with the team's own certificate, over HTTPS.
            let authority = server.root.appendingPathComponent("netia-ca")
            try HTTPSEndToEndTests.makeAuthority(in: authority)
            try HTTPSEndToEndTests.issue(in: authority, name: "app", hosts: [Self.customDomain])
            let domain = try await server.yard(
                [
                    "domain", "add", Self.customDomain, "--cert", authority.appendingPathComponent("app.pem").path,
                    "--key", authority.appendingPathComponent("app.key").path,
                ], in: folder)
            try #require(domain.status == 0, "\(domain.output)")
            let https = try HTTPSEndToEndTests.curl(
                host: Self.customDomain, port: server.httpsPort, trusting: authority.appendingPathComponent("ca.pem").path)
            #expect(https.status == 0 && https.stdout == "netia v1\n", "\(https.output)")

            // A shell in the running replica sees the image's files (the release), as the
            // shell's own unprivileged uid (never the app's, never root).
            let shell = try await server.yard(["shell"], in: folder, input: "pwd; id -u; ls /app/bin; cat /app/migrations/001_messages.sql\n")
            #expect(shell.status == 0, "\(shell.output)")
            // It starts in the image's WORKDIR, as `docker exec` does.
            #expect(shell.stdout.split(separator: "\n").first == "/app", "\(shell.output)")
            #expect(shell.stdout.contains("netia.bat") && shell.stdout.contains("CREATE TABLE IF NOT EXISTS messages"), "\(shell.output)")
            #expect(!shell.stdout.split(separator: "\n").contains("0") && !shell.stdout.split(separator: "\n").contains("1000"), "\(shell.output)")

            // A backup of the database the app migrated.
            let backup = try await server.yard(["backup", "create", "Postgres"], in: folder)
            #expect(backup.status == 0, "\(backup.output)")
            let backups = try await server.yard(["backup", "list", "Postgres", "--json"], in: folder)
            #expect(backups.status == 0 && backups.stdout.contains("\"status\""), "\(backups.output)")

            // A code change, redeployed while requests keep coming: none fails, and v2 answers.
            let source = folder.appendingPathComponent("lib/netia.ex")
            let code = try String(contentsOf: source, encoding: .utf8)
            try code.replacingOccurrences(of: "@version \"v1\"", with: "@version \"v2\"").write(to: source, atomically: true, encoding: .utf8)
            let tally = try await ImageServiceEndToEndTests.underLoad(server, host: Self.host, workers: 4) {
                let again = try await server.yard(["up"], in: folder, timeout: .seconds(900))
                #expect(again.status == 0, "\(again.outputTail)")
            }
            #expect(tally.failures.isEmpty, "\(tally.failures.count) failed requests: \(tally.failures.prefix(5))")
            #expect(tally.okCount > 50, "\(tally.okCount) requests answered")
            #expect(try await server.get(host: Self.host).body == "netia v2\n")
            // The data survived the new image; the migration ran again and changed nothing.
            #expect(try await server.get(host: Self.host, path: "/messages").body == "hello\n")
        }
    }
}
