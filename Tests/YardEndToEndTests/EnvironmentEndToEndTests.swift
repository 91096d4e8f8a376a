import Foundation
import Testing
import YardClient
import YardCore

/// Environments, end to end: a copy of production with its own domain, variables and
/// private network, where `environments.staging` of railway.toml applies; deleting it
/// leaves production serving and nothing of staging behind.
@Suite("environments end to end", .serialized)
struct EnvironmentEndToEndTests {
    @Test(
        "staging: its own config overrides, variables and domain; sealed values not copied; delete leaves production alone",
        .timeLimit(.minutes(8)))
    func stagingCopyAndDelete() async throws {
        // Each environment's own private network is part of what is checked.
        try IsolationEndToEndTests.requireIsolation()
        try await YardServer.with { server in
            let folder = try await server.prepareApp("environments", project: "envs")
            let production = "envs-envs.localhost"
            let staging = "envs-envs-staging.localhost"
            let set = try await server.yard(["variables", "--set", "GREETING=hello", "--sealed", "SECRET=s3cret-value"], in: folder)
            #expect(set.status == 0, "\(set.output)")
            #expect(set.stdout.contains("SECRET=<sealed>") && !set.output.contains("s3cret-value"), "\(set.stdout)")
            let volume = try await server.yard(["volume", "add", "--mount", "/data"], in: folder)
            #expect(volume.status == 0, "\(volume.output)")
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "yard up failed:\n\(up.outputTail)")
            #expect(try await server.get(host: production).body.contains("base page in production; GREETING=hello; SECRET set"))

            // The copy: variables yes, sealed values no (listed by name), nothing deployed.
            let created = try await server.yard(["environment", "new", "staging"], in: folder)
            #expect(created.status == 0, "\(created.output)")
            #expect(created.stdout.contains("Created environment staging from production"), "\(created.stdout)")
            #expect(created.stdout.contains("sealed variables not copied, set them again: SECRET"), "\(created.stdout)")
            #expect(!created.output.contains("s3cret-value"))
            #expect(created.stdout.contains("envs: 1 variable copied, an empty volume at /data"), "\(created.stdout)")
            #expect(try await server.get(host: staging).status == 404)
            let again = try await server.yard(["environment", "new", "staging"], in: folder)
            #expect(again.status != 0 && again.stderr.contains("already has an environment named 'staging'"), "\(again.output)")
            let bad = try await server.yard(["environment", "new", "Staging_2"], in: folder)
            #expect(bad.status != 0 && bad.stderr.contains("lower-case letters, digits and dashes"), "\(bad.output)")

            let listed = try await server.yard(["environment", "list"], in: folder)
            #expect(listed.stdout.contains("* production") && listed.stdout.contains("  staging"), "\(listed.stdout)")
            let use = try await server.yard(["environment", "use", "staging"], in: folder)
            #expect(use.status == 0, "\(use.output)")
            #expect(try await server.yard(["environment"], in: folder).stdout.contains("* staging"))
            let stagingVariables = try await server.yard(["variables", "--json"], in: folder)
            let copied = try YardJSON.decoder().decode([VariableView].self, from: Data(stagingVariables.stdout.utf8))
            #expect(copied == [VariableView(key: "GREETING", value: "hello", sealed: false)])

            // Staging's variable changes and deploy stay in staging; its config section applies there only.
            #expect(try await server.yard(["variables", "--set", "GREETING=bonjour"], in: folder).status == 0)
            let stagingUp = try await server.yard(["up"], in: folder)
            try #require(stagingUp.status == 0, "yard up in staging failed:\n\(stagingUp.outputTail)")
            #expect(stagingUp.stdout.contains("URL: http://\(staging):\(server.routerPort)"), "\(stagingUp.stdout)")
            let stagingPage = try await server.get(host: staging)
            #expect(stagingPage.body.contains("staging-override page in staging; GREETING=bonjour; SECRET \n"), "\(stagingPage.body)")
            #expect(try await server.get(host: production).body.contains("base page in production; GREETING=hello; SECRET set"))
            let productionVariables = try await server.yard(["variables", "-e", "production"], in: folder)
            #expect(productionVariables.stdout.contains("GREETING=hello"), "\(productionVariables.stdout)")

            // What staging has running, to check it is all gone after the delete.
            let client = try server.client()
            let stagingStatus = try await client.status(project: "envs", environment: "staging")
            let stagingID = stagingStatus.environment.id
            let replicas = try #require(stagingStatus.services.first?.live?.replicas)
            try #require(!replicas.isEmpty)
            let pids = replicas.compactMap(\.pid)
            try #require(replicas.allSatisfy { $0.address != nil }, "replicas run in the sandbox, on their environment's network")
            let productionReplica = try #require(
                try await client.status(project: "envs", environment: "production").services.first?.live?.replicas.first)
            let productionAddress = try #require(productionReplica.address)
            let stagingAddress = try #require(replicas.first?.address)
            // Two private networks: each environment has its own /24.
            #expect(
                productionAddress.split(separator: ".").prefix(3) != stagingAddress.split(separator: ".").prefix(3),
                "production \(productionAddress), staging \(stagingAddress)")
            let bridge = server.networkPrefix + "b" + String(ContentHash.sha256(stagingID).prefix(8))
            let namespaces = replicas.map { "\(server.networkPrefix)-\($0.id)" }
            let before = YardServer.networkObjects(prefix: server.networkPrefix)
            #expect(before.contains(bridge), "staging has its own bridge: \(before)")
            #expect(!Set(before).isDisjoint(with: namespaces), "staging's replicas have namespaces: \(before)")

            // Each environment's volume has its own folder.
            let volumes = server.dataDirectory.appendingPathComponent("volumes")
            let volumeFolders = try FileManager.default.contentsOfDirectory(atPath: volumes.path)
            #expect(volumeFolders.count == 2, "\(volumeFolders)")

            // Deleting asks first; a wrong answer deletes nothing.
            let refused = try await server.yard(["environment", "delete", "staging"], in: folder, input: "nope\n")
            #expect(refused.status != 0 && refused.stderr.contains("not confirmed"), "\(refused.output)")
            #expect(try await server.get(host: staging).status == 200)
            let deleted = try await server.yard(["environment", "delete", "staging", "--yes"], in: folder)
            #expect(deleted.status == 0, "\(deleted.output)\n\(YardServer.lastLines(of: server.serveLog, 30))")
            #expect(deleted.stdout.contains("Deleted environment staging: 1 deployment stopped, 1 domain"), "\(deleted.stdout)")
            #expect(deleted.stdout.contains("This folder now uses environment production"), "\(deleted.stdout)")
            #expect(deleted.stdout.contains("1 volume removed"), "\(deleted.stdout)")
            // Staging's volume data is gone; production's stays.
            let foldersLeft = try FileManager.default.contentsOfDirectory(atPath: volumes.path)
            #expect(foldersLeft.count == 1 && Set(foldersLeft).isSubset(of: volumeFolders), "\(foldersLeft)")

            #expect(try await server.get(host: staging).status == 404)
            #expect(try await server.get(host: production).body.contains("base page in production; GREETING=hello; SECRET set"))
            #expect(!pids.isEmpty && !pids.contains(where: YardServer.isAlive), "staging's replica processes must be gone")
            let left = YardServer.networkObjects(prefix: server.networkPrefix)
            #expect(!left.contains(bridge), "staging's bridge is left: \(left)")
            #expect(Set(left).isDisjoint(with: namespaces), "staging's namespaces are left: \(left)")
            // Production's network is still there: its replica keeps its namespace.
            #expect(left.contains("\(server.networkPrefix)-\(productionReplica.id)"), "\(left)")
            let remaining = try await client.environments(project: "envs")
            #expect(remaining.map(\.name) == ["production"])
            let status = try await server.yard(["status"], in: folder)
            #expect(status.status == 0 && status.stdout.contains(production), "\(status.output)")

            let last = try await server.yard(["environment", "delete", "production", "--yes"], in: folder)
            #expect(last.status != 0 && last.stderr.contains("only environment"), "\(last.output)")
            #expect(try await server.get(host: production).status == 200)
        }
    }
}
