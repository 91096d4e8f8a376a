import Foundation
import Testing
import YardClient
import YardCore

/// Railway's lifecycle where apps meet it, on a real `yard serve`: a script that exits 0 is
/// COMPLETED (not FAILED), and a bot that never opens a port is live (SUCCESS, Railway's
/// "Active") with its replica running.
@Suite("deployment lifecycle end to end", .serialized)
struct LifecycleEndToEndTests {
    @Test(
        "a script that exits 0 ends COMPLETED and its domain answers 503; a bot without a port is live and its domain holds, then 503",
        .timeLimit(.minutes(5)))
    func jobCompletesAndBotIsLive() async throws {
        try await YardServer.with(serveArguments: ["--hold-timeout", "2s"]) { server in
            let client = try server.client()

            let job = try await server.prepareApp("run-once", project: "job")
            let up = try await server.yard(["up"], in: job)
            #expect(up.status == 0, "a clean exit is no failure: \(up.outputTail)\n\(server.serveLog)")
            #expect(up.stdout.contains("completed: its process exited 0"), "\(up.outputTail)")
            let done = try #require(try await client.deployments(.init(project: "job", environment: "production", service: "job")).first)
            #expect(done.status == .completed, "\(done.status) \(done.reason ?? "")")
            #expect(done.replicas.allSatisfy { $0.status == .exited }, "\(done.replicas)")
            var lines: [String] = []
            try await client.logs(deploymentID: done.id, kind: .deploy, follow: false) { lines.append($0.message) }
            #expect(lines.contains("job ran on job"), "\(lines)")
            #expect(!lines.contains { $0.contains("restarting") }, "ON_FAILURE does not restart a clean exit: \(lines)")
            // Nothing will serve it: an answer at once, naming the host, not a held request.
            let started = ContinuousClock.now
            let answer = try await server.get(host: "job-job.localhost")
            #expect(answer.status == 503 && answer.body.contains("job-job.localhost"), "\(answer)")
            #expect(ContinuousClock.now - started < .seconds(1), "a COMPLETED service's requests are not held")

            let bot = try await server.prepareApp("bot", project: "bot")
            let botUp = try await server.yard(["up"], in: bot)
            #expect(botUp.status == 0, "\(botUp.outputTail)\n\(server.serveLog)")
            let live = try #require(try await client.deployments(.init(project: "bot", environment: "production", service: "bot")).first)
            #expect(live.status == .success, "\(live.status) \(live.reason ?? "")")
            #expect(live.replicas.count == 1 && live.replicas.allSatisfy { $0.status == .running }, "\(live.replicas)")
            // Still running a while later, its ticks in the log.
            try await Task.sleep(for: .seconds(2))
            let later = try #require(try await client.deployments(.init(project: "bot", environment: "production", service: "bot")).first)
            #expect(later.id == live.id && later.status == .success, "\(later.status) \(later.reason ?? "")")
            var ticks: [String] = []
            try await client.logs(deploymentID: live.id, kind: .deploy, follow: false) { ticks.append($0.message) }
            #expect(ticks.filter { $0 == "bot tick" }.count >= 2, "\(ticks)")
            // Its port may open at any time: a request is held (--hold-timeout 2s), then 503 naming the host.
            let held = try await server.get(host: "bot-bot.localhost")
            #expect(held.status == 503 && held.body.contains("bot-bot.localhost"), "\(held)")
        }
    }
}
