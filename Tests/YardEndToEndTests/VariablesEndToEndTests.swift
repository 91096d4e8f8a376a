import Foundation
import Testing
import YardClient
import YardCore

/// Reference variables end to end: shared variables, chains, cycles, the status's
/// "needs redeploy" and the redeploy that follows a change unless --skip-deploys.
@Suite("variables end to end", .serialized)
struct VariablesEndToEndTests {
    static let scope = YardAPIClient.Scope(project: "refs", environment: "production", service: "refs")
    static let host = "refs-refs.localhost"

    @Test("shared variables and chains reach the app; a change redeploys, --skip-deploys stages it; a cycle fails the deploy", .timeLimit(.minutes(8)))
    func sharedChainsAndRedeploys() async throws {
        try await YardServer.with { server in
            let folder = try await server.prepareApp("python-pip", project: "refs")
            try #require(try await server.yard(["up"], in: folder).status == 0)
            let client = try server.client()

            let shared = try await server.yard(["variables", "--shared", "--set", "WHO=${{shared.PLANET}}", "--set", "PLANET=world"], in: folder)
            #expect(shared.status == 0, "\(shared.output)")
            #expect(shared.stdout.contains("PLANET=world"), "\(shared.stdout)")
            // Nothing references them yet: nothing to redeploy.
            #expect(shared.stdout.contains("no running deployment uses them yet"), "\(shared.stdout)")

            // A chain: A → shared.WHO → shared.PLANET, mixed with text; the change redeploys.
            let set = try await server.yard(["variables", "--set", "A=hello ${{shared.WHO}} from ${{RAILWAY_SERVICE_NAME}}"], in: folder)
            #expect(set.status == 0, "\(set.output)")
            #expect(set.stdout.contains("redeploying refs"), "\(set.stdout)")
            let first = try await server.eventually(host: Self.host, timeout: .seconds(120)) { $1.hasSuffix("A=hello world from refs") }
            #expect(first.body.hasSuffix("A=hello world from refs"), "\(first)")
            try await Self.settle(client)

            // Staged: the status says a redeploy is due, and the app still has the old value.
            let staged = try await server.yard(["variables", "--shared", "--set", "PLANET=moon", "--skip-deploys"], in: folder)
            #expect(staged.status == 0, "\(staged.output)")
            let status = try await server.yard(["status"], in: folder)
            #expect(status.stdout.contains("NEEDS REDEPLOY"), "\(status.stdout)")
            #expect(try await server.get(host: Self.host).body.hasSuffix("A=hello world from refs"))

            // Without --skip-deploys, services that use the changed shared variable redeploy.
            let applied = try await server.yard(["variables", "--shared", "--set", "PLANET=mars"], in: folder)
            #expect(applied.stdout.contains("redeploying refs"), "\(applied.stdout)")
            let second = try await server.eventually(host: Self.host, timeout: .seconds(120)) { $1.hasSuffix("A=hello mars from refs") }
            #expect(second.body.hasSuffix("A=hello mars from refs"), "\(second)")
            try await Self.settle(client)
            #expect(!(try await server.yard(["status"], in: folder)).stdout.contains("NEEDS REDEPLOY"))

            // A cycle fails the deployment, naming it; the live one keeps serving.
            #expect(try await server.yard(["variables", "--set", "B=${{C}}", "--set", "C=x${{B}}", "--skip-deploys"], in: folder).status == 0)
            let redeploy = try await server.yard(["redeploy"], in: folder)
            #expect(redeploy.status != 0)
            #expect(redeploy.output.contains("reference cycle: refs.B → refs.C → refs.B") || redeploy.output.contains("reference cycle: refs.C → refs.B → refs.C"),
                    "\(redeploy.outputTail)")
            #expect(try await server.get(host: Self.host).body.hasSuffix("A=hello mars from refs"))
        }
    }

    /// Waits until no deployment of the service is queued or in progress.
    static func settle(_ client: YardAPIClient) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if try await client.deployments(scope).allSatisfy({ !$0.status.isInProgress }) { return }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}
