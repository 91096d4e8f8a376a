import Foundation
import Testing
import YardCore
import YardTestSupport

/// The replica alerts (`oom`, `crash-loop`) with real apps in the sandbox, a real memory
/// limit and the kernel's OOM killer, to the real webhook receiver of `AlertsEndToEndTests`.
@Suite("Replica alerts end to end")
struct AlertsReplicaEndToEndTests {
    /// A webhook delivery's `type` and `details.kind`.
    static func summary(_ delivery: AlertReceivers.Delivery) -> (type: String, kind: String) {
        let payload = (try? JSONSerialization.jsonObject(with: delivery.bodyData)) as? [String: Any] ?? [:]
        let details = payload["details"] as? [String: Any] ?? [:]
        return (payload["type"] as? String ?? "?", details["kind"] as? String ?? "?")
    }

    static let server = """
        import http.server, os

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/eat":
                    hoard = []
                    while True:
                        hoard.append(b"x" * (8 << 20))
                body = b"ok"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()

        """

    @Test(
        "an app past its memory limit raises oom; an app that exits at once raises crash-loop once while it loops; a good deploy resolves both",
        .timeLimit(.minutes(5)))
    func oomAndCrashLoop() async throws {
        let receivers = try await AlertReceivers()
        defer { receivers.stop() }
        try await YardServer.with { server in
            let folder = server.root.appendingPathComponent("apps/hungry")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let procfile = folder.appendingPathComponent("Procfile")
            try "web: python3 server.py\n".write(to: procfile, atomically: true, encoding: .utf8)
            try Self.server.write(to: folder.appendingPathComponent("server.py"), atomically: true, encoding: .utf8)
            try #require(try await server.yard(["init", "--name", "hungry"], in: folder).status == 0)
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.outputTail)")
            // The limit after the build (a service's limit also bounds its builds, and making
            // the venv needs more than 64M); `yard restart` applies it to the replica.
            let scale = try await server.yard(["scale", "--memory", "64M"], in: folder)
            try #require(scale.status == 0, "\(scale.output)")
            let restart = try await server.yard(["restart"], in: folder)
            try #require(restart.status == 0, "\(restart.output)")
            let hook = try await server.yard(["alerts", "channel", "add", "hook", "--webhook", receivers.webhookURL], in: folder)
            try #require(hook.status == 0, "\(hook.output)")
            for kind in ["oom", "crash-loop"] {
                let add = try await server.yard(["alerts", "add", kind, "--channel", "hook"], in: folder)
                try #require(add.status == 0, "\(add.output)")
            }
            let host = "hungry-hungry.localhost"
            #expect(try await server.get(host: host).status == 200)

            // Allocating past 64M: the kernel kills it, the supervisor reads memory.events.
            _ = try? await server.getOnce(host: host, path: "/eat")
            #expect(await receivers.wait(timeout: .seconds(30)) { receivers.deliveries().count == 1 },
                    "deliveries: \(receivers.deliveries().map(Self.summary))")
            #expect(receivers.deliveries().map(Self.summary).first.map { $0 == ("Alert.triggered", "oom") } == true,
                    "\(receivers.deliveries().map(Self.summary))")
            let status = try await server.yard(["status"], in: folder)
            #expect(status.stdout.contains("OOM-killed"), "\(status.output)")
            // It restarts and serves again.
            let again = try await server.eventually(host: host) { status, _ in status == 200 }
            #expect(again.status == 200)

            // Builds get their memory back for the next deploys.
            try #require(try await server.yard(["scale", "--memory", "0"], in: folder).status == 0)

            // A start command that exits 1 at once: the replica restarts (1 s, 2 s, 4 s, 8 s
            // apart) until the health check gives up; the rule fires on the third, once.
            try "web: sh -c 'echo crashing at once; exit 1'\n".write(to: procfile, atomically: true, encoding: .utf8)
            let settings = folder.appendingPathComponent("railway.toml")
            try "[deploy]\nhealthcheckPath = \"/\"\nhealthcheckTimeout = 25\n".write(to: settings, atomically: true, encoding: .utf8)
            let crashing = try await server.yard(["up"], in: folder)
            #expect(crashing.status != 0, "\(crashing.outputTail)")
            let logs = try await server.yard(["logs"], in: folder)
            let restarts = logs.stdout.components(separatedBy: "replica restarted (attempt").count - 1
            try await Task.sleep(for: .seconds(2))
            let loops = receivers.deliveries().map(Self.summary).filter { $0.kind == "crash-loop" }
            #expect(loops.count == 1 && loops.first?.type == "Alert.triggered", "\(loops); \(restarts) restarts")
            #expect(restarts > 3 || crashing.output.contains("(attempt 4)"), "restarts seen: \(restarts)\n\(crashing.outputTail)")
            let firing = try await server.yard(["alerts", "--json"], in: folder)
            let rules = try YardJSON.decoder().decode([AlertRuleView].self, from: Data(firing.stdout.utf8))
            #expect(rules.count == 2 && rules.allSatisfy { $0.state == .firing }, "\(firing.output)")

            // A good deploy replaces it: both resolve, once each.
            try "web: python3 server.py\n".write(to: procfile, atomically: true, encoding: .utf8)
            try FileManager.default.removeItem(at: settings)
            let fixed = try await server.yard(["up"], in: folder)
            try #require(fixed.status == 0, "\(fixed.outputTail)")
            #expect(await receivers.wait(timeout: .seconds(20)) { receivers.deliveries().count == 4 },
                    "\(receivers.deliveries().map(Self.summary))")
            let resolved = receivers.deliveries().map(Self.summary).filter { $0.type == "Alert.resolved" }.map(\.kind).sorted()
            #expect(resolved == ["crash-loop", "oom"], "\(receivers.deliveries().map(Self.summary))")
        }
    }
}
