import Foundation
import Testing
import YardClient
import YardCore

/// Deployments of one service run one at a time; a newer one supersedes those still
/// queued; `yard remove` ends one deployment whatever its state.
@Suite("deployment actions end to end", .serialized)
struct DeploymentActionsEndToEndTests {
    static let scope = YardAPIClient.Scope(project: "queue", environment: "production", service: "queue")

    @Test("a newer deployment supersedes the queued one, which ends SKIPPED naming it; the newest goes live", .timeLimit(.minutes(5)))
    func newerDeploymentSupersedesQueued() async throws {
        try await YardServer.with(runtime: "sandbox") { server in
            let folder = try await server.prepareApp("shell-app", project: "queue")
            // A slow build keeps the first deployment busy while the next two queue up.
            try "[build]\nbuildCommand = \"sleep 4\"\n".write(
                to: folder.appendingPathComponent("railway.toml"), atomically: true, encoding: .utf8)
            var ids: [String] = []
            for _ in 0..<3 {
                let up = try await server.yard(["up", "--detach", "--json"], in: folder)
                try #require(up.status == 0, "\(up.output)")
                ids.append(try YardJSON.decoder().decode(DeploymentView.self, from: Data(up.stdout.utf8)).id)
            }
            let client = try server.client()
            let last = try await client.watch(deploymentID: ids[2]) { _ in }
            #expect(last.status == .success, "\(last.status) \(last.reason ?? "")")
            let skipped = try await client.deployment(id: ids[1])
            #expect(skipped.status == .skipped)
            #expect(skipped.reason == "superseded by the newer deployment \(ids[2]) before it started", "\(skipped.reason ?? "")")
            // The one that was already building was not interrupted; it went live, then was replaced.
            let first = try await client.deployment(id: ids[0])
            #expect([.removing, .removed].contains(first.status), "\(first.status) \(first.reason ?? "")")
        }
    }

    @Test("yard remove stops a live deployment and its routing; an ended one is refused with the reason", .timeLimit(.minutes(5)))
    func removeADeployment() async throws {
        try await YardServer.with(runtime: "sandbox") { server in
            let folder = try await server.prepareApp("shell-app", project: "queue")
            try #require(try await server.yard(["up"], in: folder).status == 0)
            let client = try server.client()
            let live = try #require(try await client.deployments(Self.scope).first)
            #expect(try await server.get(host: "queue-queue.localhost").status == 200)

            let removed = try await server.yard(["remove", live.id], in: folder)
            #expect(removed.status == 0, "\(removed.output)")
            #expect(removed.stdout.contains("REMOVED"), "\(removed.stdout)")
            #expect(try await client.deployment(id: live.id).status == .removed)
            let answer = try await server.get(host: "queue-queue.localhost")
            #expect(answer.status != 200, "a removed deployment must not serve: \(answer)")

            let again = try await server.yard(["remove", live.id], in: folder)
            #expect(again.status != 0)
            #expect(again.output.contains("already ended REMOVED"), "\(again.output)")
        }
    }
}
