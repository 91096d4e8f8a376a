import Foundation
import Testing
import YardClient
import YardCore

/// Sleeping services (`sleepApplication`): stopped when idle, woken by the next request,
/// which is held until a replica is ready rather than answered 502.
@Suite("sleeping services end to end", .serialized)
struct SleepEndToEndTests {
    static let scope = YardAPIClient.Scope(project: "sleepy", environment: "production", service: "sleepy")
    static let host = "sleepy-sleepy.localhost"

    @Test("50 requests in a row, each to a service put to sleep just before, all answer 200", .timeLimit(.minutes(10)))
    func everyRequestWakesTheService() async throws {
        try await YardServer.with(serveArguments: ["--hold-timeout", "30s"]) { server in
            let folder = try await server.prepareApp("sleepy", project: "sleepy")
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.output)")
            let client = try server.client()

            let slept = try await server.yard(["sleep"], in: folder)
            #expect(slept.status == 0, "\(slept.output)")
            #expect(slept.stdout.contains("SLEEPING"), "\(slept.stdout)")
            var answered = 0
            for round in 0..<50 {
                if round > 0 {
                    let asleep = try await client.sleep(Self.scope)
                    #expect(asleep.status == .sleeping)
                }
                let status = try await client.deployments(Self.scope).first?.status
                #expect(status == .sleeping, "round \(round): the service should be asleep before the request")
                let answer = try await server.get(host: Self.host)
                #expect(answer.status == 200, "round \(round): \(answer)")
                #expect(answer.body.contains("sleepy ok"), "\(answer.body)")
                if answer.status == 200 { answered += 1 }
            }
            #expect(answered == 50)
            let latest = try #require(try await client.deployments(Self.scope).first)
            #expect(latest.status == .success)
            var lines: [String] = []
            try await client.logs(deploymentID: latest.id, kind: .deploy, follow: false) { lines.append($0.message) }
            #expect(lines.filter { $0.contains("waking: a request arrived") }.count >= 50, "\(lines.suffix(20))")
        }
    }

    @Test("an idle service falls asleep by itself and the next request wakes it", .timeLimit(.minutes(5)))
    func idleServiceSleepsAndWakes() async throws {
        try await YardServer.with(serveArguments: ["--hold-timeout", "30s", "--sleep-after", "2s"]) { server in
            let folder = try await server.prepareApp("sleepy", project: "sleepy")
            try #require(try await server.yard(["up"], in: folder).status == 0)
            let client = try server.client()
            var status = try await client.deployments(Self.scope).first?.status
            let deadline = ContinuousClock.now + .seconds(30)
            while status != .sleeping, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                status = try await client.deployments(Self.scope).first?.status
            }
            #expect(status == .sleeping, "no request for 2 s should put it to sleep")
            let shown = try await server.yard(["status"], in: folder)
            #expect(shown.stdout.contains("SLEEPING"), "\(shown.stdout)")
            let answer = try await server.get(host: Self.host)
            #expect(answer.status == 200, "\(answer)")
            #expect(try await client.deployments(Self.scope).first?.status == .success)
        }
    }

    @Test("yard service --sleep overrides the config at once: off keeps it awake and wakes it, on puts it to sleep", .timeLimit(.minutes(5)))
    func sleepSettingFromTheCLI() async throws {
        try await YardServer.with(serveArguments: ["--hold-timeout", "30s", "--sleep-after", "2s"]) { server in
            let folder = try await server.prepareApp("sleepy", project: "sleepy")
            try #require(try await server.yard(["up"], in: folder).status == 0)
            let client = try server.client()
            let off = try await server.yard(["service", "--sleep", "off"], in: folder)
            #expect(off.status == 0, "\(off.output)")
            #expect(off.stdout.contains("sleeps when idle: no"), "\(off.stdout)")
            // Three idle checks' worth past --sleep-after: the config alone would have slept by now.
            try await Task.sleep(for: .seconds(5))
            #expect(try await client.deployments(Self.scope).first?.status == .success, "--sleep off should keep it awake")

            #expect(try await server.yard(["service", "--sleep", "on"], in: folder).status == 0)
            #expect(try await Self.waitFor(.sleeping, client: client), "--sleep on and 2 s idle should put it to sleep")

            // Turning sleep off wakes it with no request.
            #expect(try await server.yard(["service", "--sleep", "off"], in: folder).status == 0)
            #expect(try await Self.waitFor(.success, client: client), "--sleep off should wake a sleeping service")
            let answer = try await server.get(host: Self.host)
            #expect(answer.status == 200, "\(answer)")

            let back = try await server.yard(["service", "--sleep", "config", "--json"], in: folder)
            #expect(back.status == 0, "\(back.output)")
            let settings = try YardJSON.decoder().decode(ServiceSettingsView.self, from: Data(back.stdout.utf8))
            #expect(settings.sleepApplication == nil)
            let wrong = try await server.yard(["service", "--sleep", "sometimes"], in: folder)
            #expect(wrong.status != 0)
            #expect(wrong.output.contains("on") && wrong.output.contains("config"), "\(wrong.output)")
        }
    }

    static func waitFor(_ wanted: DeploymentStatus, client: YardAPIClient) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if try await client.deployments(scope).first?.status == wanted { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }
}
