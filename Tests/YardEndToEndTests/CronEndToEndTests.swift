import Foundation
import Testing
import YardClient
import YardCore

/// Cron services (`cronSchedule`): not kept running; the start command runs on schedule,
/// each run recorded with its exit code and output; a run due while the previous one
/// still runs is skipped. The server's cron clock runs 60 times faster than real time
/// (`--cron-time-scale 60`, the only fake clock), so `* * * * *` fires every second.
@Suite("cron services end to end", .serialized)
struct CronEndToEndTests {
    static let scope = YardAPIClient.Scope(project: "nightly", environment: "production", service: "nightly")

    static func deploy(_ server: YardServer, startCommand: String) async throws -> URL {
        let folder = try await server.prepareApp("node-app", project: "nightly")
        try """
            [deploy]
            cronSchedule = "* * * * *"
            startCommand = "\(startCommand)"
            """.write(to: folder.appendingPathComponent("railway.toml"), atomically: true, encoding: .utf8)
        let up = try await server.yard(["up"], in: folder)
        try #require(up.status == 0, "\(up.outputTail)")
        return folder
    }

    static func runs(until accept: ([CronRunView]) -> Bool, client: YardAPIClient) async throws -> [CronRunView] {
        let deadline = ContinuousClock.now + .seconds(60)
        var runs: [CronRunView] = []
        while ContinuousClock.now < deadline {
            runs = try await client.cronRuns(scope)
            if accept(runs) { return runs }
            try await Task.sleep(for: .milliseconds(200))
        }
        return runs
    }

    @Test("runs on schedule with the service's variables, records exit codes and output; no replica, no domain", .timeLimit(.minutes(5)))
    func runsOnSchedule() async throws {
        try await YardServer.with(runtime: "sandbox", serveArguments: ["--cron-time-scale", "60"]) { server in
            let folder = try await Self.deploy(server, startCommand: "echo report for $RAILWAY_SERVICE_NAME run $RAILWAY_CRON_RUN_ID")
            let client = try server.client()
            let deployment = try #require(try await client.deployments(Self.scope).first)
            #expect(deployment.status == .success)

            let runs = try await Self.runs(until: { $0.filter { $0.status == .succeeded }.count >= 3 }, client: client)
            let succeeded = runs.filter { $0.status == .succeeded }
            #expect(succeeded.count >= 3, "\(runs)")
            #expect(succeeded.allSatisfy { $0.exitCode == 0 && $0.deploymentID == deployment.id })
            // Each due minute once, in order.
            let due = runs.map(\.scheduledAt)
            #expect(Set(due).count == due.count, "\(due)")
            #expect(due == due.sorted(by: >))

            var lines: [String] = []
            try await client.logs(deploymentID: deployment.id, kind: .deploy, follow: false) { lines.append($0.message) }
            for run in succeeded {
                #expect(lines.contains("report for nightly run \(run.id)"), "\(run.id) in \(lines.suffix(20))")
            }
            #expect(!lines.contains { $0.hasPrefix("starting replica") }, "a cron service keeps no replica")
            #expect(lines.contains { $0.hasPrefix("cron service: `echo report") }, "\(lines.prefix(10))")

            let domains = try await server.yard(["domain", "--json"], in: folder)
            #expect(domains.status == 0, "\(domains.output)")
            #expect(try YardJSON.decoder().decode([DomainView].self, from: Data(domains.stdout.utf8)).isEmpty, "\(domains.stdout)")
            let refused = try await server.yard(["domain", "add", "nightly.example.test"], in: folder)
            #expect(refused.status != 0)
            #expect(refused.output.contains("cron service"), "\(refused.output)")

            let listed = try await server.yard(["runs"], in: folder)
            #expect(listed.status == 0, "\(listed.output)")
            #expect(listed.stdout.contains("SUCCEEDED") && listed.stdout.contains("exit 0"), "\(listed.stdout)")
        }
    }

    @Test("a run still going when the next is due makes that one skip; a failing run records its exit code", .timeLimit(.minutes(5)))
    func overlappingRunsSkip() async throws {
        try await YardServer.with(runtime: "sandbox", serveArguments: ["--cron-time-scale", "60"]) { server in
            _ = try await Self.deploy(server, startCommand: "echo started; sleep 3; exit 4")
            let client = try server.client()
            let runs = try await Self.runs(
                until: { runs in runs.contains { $0.status == .failed } && runs.contains { $0.status == .skipped } },
                client: client)
            let failed = try #require(runs.first { $0.status == .failed }, "\(runs)")
            #expect(failed.exitCode == 4)
            #expect(failed.reason?.contains("exited with code 4") == true, "\(failed.reason ?? "")")
            let skipped = try #require(runs.first { $0.status == .skipped }, "\(runs)")
            #expect(skipped.reason?.contains("still running") == true, "\(skipped.reason ?? "")")
            #expect(skipped.startedAt == nil)
            // Never two at once: every started run began after the one before it ended.
            let started = runs.filter { $0.startedAt != nil }.sorted { $0.startedAt! < $1.startedAt! }
            for (earlier, later) in zip(started, started.dropFirst()) {
                if let end = earlier.endedAt, let begin = later.startedAt {
                    #expect(begin >= end, "\(earlier.id) and \(later.id) overlapped")
                }
            }
        }
    }
}
