import Foundation
import Testing
import YardClient
import YardCore

/// `preDeployCommand`: after the build, before the new replicas, in a sandbox of its own
/// with the private network and the variables but not the volume; a failure keeps the
/// live deployment serving and is not retried.
@Suite("pre-deploy command end to end", .serialized)
struct PreDeployEndToEndTests {
    static let scope = YardAPIClient.Scope(project: "migrate", environment: "production", service: "migrate")
    static let host = "migrate-migrate.localhost"

    @Test("the commands run in order before the replicas start, with the variables and private network, without the volume", .timeLimit(.minutes(5)))
    func preDeployRunsBeforeTheReplicas() async throws {
        try await YardServer.with(runtime: "sandbox") { server in
            let folder = try await server.prepareApp("node-app", project: "migrate")
            try #require(try await server.yard(["volume", "add", "--mount", "/srv/yard-migrate-volume"], in: folder).status == 0)
            try #require(try await server.yard(["variables", "set", "MIGRATION_TARGET=schema-7"], in: folder).status == 0)
            try """
                [deploy]
                preDeployCommand = ["echo migrating to $MIGRATION_TARGET", "ip -4 -o addr show scope global", "touch /srv/yard-migrate-volume/probe 2>/dev/null && echo volume writable || echo no volume here"]
                """.write(to: folder.appendingPathComponent("railway.toml"), atomically: true, encoding: .utf8)
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.outputTail)")
            let client = try server.client()
            let deployment = try #require(try await client.deployments(Self.scope).first)
            #expect(deployment.status == .success)
            var lines: [String] = []
            try await client.logs(deploymentID: deployment.id, kind: .deploy, follow: false) { lines.append($0.message) }
            let migrating = lines.firstIndex(of: "migrating to schema-7")
            let noVolume = lines.firstIndex(of: "no volume here")
            let replica = lines.firstIndex { $0.hasPrefix("starting replica") }
            #expect(migrating != nil && noVolume != nil, "\(lines)")
            #expect(replica != nil, "\(lines)")
            // On the environment's private network (10.<octet>.0.0/16), not the host's.
            #expect(lines.contains { $0.contains("inet 10.\(server.privateNetworkOctet).") }, "\(lines)")
            if let migrating, let noVolume, let replica {
                #expect(migrating < noVolume && noVolume < replica, "the commands run in order, before any replica: \(lines)")
            }
            #expect((try await server.get(host: Self.host)).status == 200)
        }
    }

    @Test("a failing pre-deploy command fails the deployment once, and the live one keeps serving", .timeLimit(.minutes(5)))
    func failingPreDeployKeepsTheLiveDeployment() async throws {
        try await YardServer.with(runtime: "sandbox") { server in
            let folder = try await server.prepareApp("node-app", project: "migrate")
            try #require(try await server.yard(["up"], in: folder).status == 0)
            let client = try server.client()
            let live = try #require(try await client.deployments(Self.scope).first)
            try "[deploy]\npreDeployCommand = \"echo broken migration; exit 3\"\n".write(
                to: folder.appendingPathComponent("railway.toml"), atomically: true, encoding: .utf8)
            let up = try await server.yard(["up"], in: folder)
            #expect(up.status != 0, "\(up.outputTail)")
            let deployments = try await client.deployments(Self.scope)
            let failed = try #require(deployments.first)
            #expect(failed.id != live.id)
            #expect(failed.status == .failed)
            #expect(failed.reason?.contains("pre-deploy command `echo broken migration; exit 3` exited with code 3") == true,
                    "\(failed.reason ?? "")")
            #expect(deployments.first { $0.id == live.id }?.status == .success, "the live deployment must stay live")
            let answer = try await server.get(host: Self.host)
            #expect(answer.status == 200, "\(answer)")
            var lines: [String] = []
            try await client.logs(deploymentID: failed.id, kind: .deploy, follow: false) { lines.append($0.message) }
            #expect(lines.filter { $0 == "broken migration" }.count == 1, "ran once, not retried: \(lines)")
            #expect(!lines.contains { $0.hasPrefix("starting replica") }, "\(lines)")
        }
    }

    @Test(
        "seed 001: a migration against Postgres creates the table the app reads; a failing one leaves the old deployment serving",
        .timeLimit(.minutes(6)))
    func migrationAgainstPostgres() async throws {
        try DatabaseEndToEndTests.requireDatabases()
        try await YardServer.with(runtime: "sandbox") { server in
            let folder = try await server.prepareApp("migrate-app", project: "shop")
            let added = try await server.yard(["add", "--database", "postgres"], in: folder)
            try #require(added.status == 0, "\(added.output)\n\(server.serveLog)")
            let set = try await server.yard(
                ["variables", "--set", "DATABASE_URL=${{Postgres.DATABASE_URL}}", "--set", "SCHEMA_VERSION=1", "--set", "BUILD=first"],
                in: folder)
            try #require(set.status == 0, "\(set.output)")
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.outputTail)\n\(YardServer.lastLines(of: server.serveLog, 40))")
            let host = "shop-shop.localhost"
            let page = try await server.get(host: host)
            // The app exits at start without its table: it answering proves the order.
            #expect(page.status == 200 && page.body.contains("schema versions 1; build first"), "\(page)")
            let client = try server.client()
            let scope = YardAPIClient.Scope(project: "shop", environment: "production", service: "shop")
            let first = try #require(try await client.deployments(scope).first)
            var lines: [String] = []
            try await client.logs(deploymentID: first.id, kind: .deploy, follow: false) { lines.append($0.message) }
            #expect(lines.contains("migrated to schema 1"), "\(lines)")

            // A broken migration: the deployment fails, the old one keeps serving.
            let breaking = try await server.yard(
                ["variables", "--set", "MIGRATION_FAIL=1", "--set", "BUILD=second", "--skip-deploys"], in: folder)
            try #require(breaking.status == 0, "\(breaking.output)")
            let broken = try await server.yard(["redeploy"], in: folder)
            #expect(broken.status != 0, "\(broken.outputTail)")
            let afterBroken = try await client.deployments(scope)
            let failed = try #require(afterBroken.first)
            #expect(failed.id != first.id && failed.status == .failed, "\(failed)")
            #expect(failed.reason?.contains("pre-deploy command") == true, "\(failed.reason ?? "")")
            #expect(afterBroken.first { $0.id == first.id }?.status == .success, "the live deployment must stay live")
            #expect(try await server.get(host: host).body.contains("schema versions 1; build first"))

            // Fixed: the next migration runs, and the new app sees its schema.
            let fixing = try await server.yard(
                ["variables", "--delete", "MIGRATION_FAIL", "--set", "SCHEMA_VERSION=2", "--set", "BUILD=third", "--skip-deploys"], in: folder)
            try #require(fixing.status == 0, "\(fixing.output)")
            let fixed = try await server.yard(["redeploy"], in: folder)
            try #require(fixed.status == 0, "\(fixed.outputTail)")
            let after = try await server.get(host: host)
            #expect(after.body.contains("schema versions 1,2; build third"), "\(after)")
        }
    }
}
