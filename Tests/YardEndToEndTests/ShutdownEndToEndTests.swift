import Foundation
import Testing
import YardClient
import YardCore

/// Issue 12's acceptance: `yard serve` stops within seconds whatever is in flight, and the
/// next start records what happened to a deployment it cut short.
@Suite("yard serve shutdown end to end", .serialized)
struct ShutdownEndToEndTests {
    @Test("SIGTERM to yard serve while a deployment waits for its health check: it exits within 10 s, and the next start records the deployment as interrupted",
          .timeLimit(.minutes(3)))
    func shutdownWhileADeploymentWaitsForItsHealthCheck() async throws {
        try await YardServer.with { server in
            // A worker with its generated domain that never opens its port: the health
            // check waits out healthcheckTimeout (300 s by default).
            let folder = try await server.prepareApp("shell-app", project: "portless")
            try "#!/bin/sh\n# Never listens on PORT.\nexec sleep 600.75\n"
                .write(to: folder.appendingPathComponent("start.sh"), atomically: true, encoding: .utf8)
            let up = try await server.yard(["up", "--detach", "--json"], in: folder)
            try #require(up.status == 0, "\(up.output)")
            let id = try YardJSON.decoder().decode(DeploymentView.self, from: Data(up.stdout.utf8)).id
            let client = try server.client()
            for _ in 0..<600 where YardServer.pids(withCommandLine: ["sleep", "600.75"]).isEmpty {
                try await Task.sleep(for: .milliseconds(100))
            }
            try #require(!YardServer.pids(withCommandLine: ["sleep", "600.75"]).isEmpty, "the replica should be running")
            try await Task.sleep(for: .seconds(1))
            #expect(try await client.deployment(id: id).status == .deploying)

            let began = ContinuousClock.now
            await server.stop()
            let took = ContinuousClock.now - began
            print("yard serve stopped \(took) after SIGTERM with a deployment waiting for its health check")
            #expect(took < .seconds(10), "yard serve took \(took) to stop; its output: \(YardServer.lastLines(of: server.serveLog, 30))")
            #expect(YardServer.pids(withCommandLine: ["sleep", "600.75"]).isEmpty, "the replica must be stopped with the server")

            try await server.start()
            let final = try await server.client().deployment(id: id)
            #expect(final.status == .failed)
            #expect(final.reason?.contains("interrupted") == true, "\(final.reason ?? "")")
            #expect(final.history.map(\.status).contains(.deploying))
            let shown = try await server.yard(["status"], in: folder)
            #expect(shown.stdout.contains("FAILED"), "\(shown.stdout)")
            let logs = try await server.yard(["logs", "--deployment", id], in: folder)
            #expect(logs.stdout.contains("interrupted: yard serve is stopping"), "\(YardServer.lastLines(of: logs.stdout, 20))")
        }
    }
}
