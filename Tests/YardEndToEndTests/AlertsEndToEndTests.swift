import Foundation
import Testing
import YardCore
import YardTestSupport

/// Alerts through the real CLI and server, to real receivers on loopback: python's
/// http.server (the signed webhook) and aiosmtpd (the email relay `yard serve --smtp-url` names).
@Suite("Alerts end to end")
struct AlertsEndToEndTests {
    @Test("a failed deployment reaches a signed webhook and an email; the next good one resolves both", .timeLimit(.minutes(5)))
    func failedDeploymentAlerts() async throws {
        let receivers = try await AlertReceivers()
        defer { receivers.stop() }
        try await YardServer.with(serveArguments: [
            "--smtp-url", "smtp://127.0.0.1:\(receivers.smtpPort)", "--smtp-from", "yard@example.com",
        ]) { server in
            let folder = try await server.prepareApp("static-site", project: "alerts")
            try #require(try await server.yard(["up"], in: folder).status == 0)

            let hook = try await server.yard(["alerts", "channel", "add", "hook", "--webhook", receivers.webhookURL], in: folder)
            try #require(hook.status == 0, "\(hook.output)")
            let secretLine = try #require(hook.stdout.split(separator: "\n").first { $0.hasPrefix("Signing secret: ") })
            let secret = String(secretLine.dropFirst("Signing secret: ".count))
            #expect(secret.count >= 32)
            let mail = try await server.yard(["alerts", "channel", "add", "mail", "--email", "ops@example.com"], in: folder)
            try #require(mail.status == 0, "\(mail.output)")
            // The secret is never shown again.
            let channels = try await server.yard(["alerts", "channel", "ls", "--json"], in: folder)
            #expect(channels.status == 0 && !channels.stdout.contains(secret), "\(channels.output)")

            // Bad input gets a clear error.
            let unknownKind = try await server.yard(["alerts", "add", "cpu", "--channel", "hook"], in: folder)
            #expect(unknownKind.status != 0 && unknownKind.stderr.contains("not an alert kind"), "\(unknownKind.output)")
            let noUnit = try await server.yard(["alerts", "add", "error-rate", "--above", "20", "--channel", "hook"], in: folder)
            #expect(noUnit.status != 0 && noUnit.stderr.contains("needs a unit"), "\(noUnit.output)")
            let noChannel = try await server.yard(["alerts", "add", "crashed", "--channel", "pager"], in: folder)
            #expect(noChannel.status != 0 && noChannel.stderr.contains("no alert channel 'pager'"), "\(noChannel.output)")

            for channel in ["hook", "mail"] {
                let add = try await server.yard(["alerts", "add", "deployment-failed", "--channel", channel], in: folder)
                try #require(add.status == 0, "\(add.output)")
            }
            let test = try await server.yard(["alerts", "test", "mail"], in: folder)
            #expect(test.status == 0, "\(test.output)")
            #expect(await receivers.wait { receivers.mails().count == 1 })

            try """
                [build]
                buildCommand = "echo compiling; exit 7"
                """.write(to: folder.appendingPathComponent("railway.toml"), atomically: true, encoding: .utf8)
            #expect(try await server.yard(["up"], in: folder).status != 0)
            #expect(await receivers.wait { receivers.deliveries().count == 1 && receivers.mails().count == 2 })
            let fired = try #require(receivers.deliveries().first)
            #expect(
                AlertWebhookSignature.isValid(
                    signature: fired.header(AlertWebhookSignature.signatureHeader),
                    timestamp: fired.header(AlertWebhookSignature.timestampHeader), body: fired.bodyData, secret: secret))
            let payload = try #require(try JSONSerialization.jsonObject(with: fired.bodyData) as? [String: Any])
            #expect(payload["type"] as? String == "Deployment.failed", "\(payload)")
            #expect(((payload["resource"] as? [String: Any])?["project"] as? [String: Any])?["name"] as? String == "alerts")
            #expect(receivers.mails().contains { $0.contains("FIRING: a deployment of alerts failed") })
            let listed = try await server.yard(["alerts"], in: folder)
            #expect(listed.stdout.contains("FIRING"), "\(listed.output)")

            // Fixed: the next deployment goes live and both channels hear the resolution.
            try FileManager.default.removeItem(at: folder.appendingPathComponent("railway.toml"))
            try #require(try await server.yard(["up"], in: folder).status == 0)
            #expect(await receivers.wait { receivers.deliveries().count == 2 && receivers.mails().count == 3 })
            let resolved = try #require(receivers.deliveries().last)
            let resolution = try #require(try JSONSerialization.jsonObject(with: resolved.bodyData) as? [String: Any])
            #expect(resolution["type"] as? String == "Alert.resolved")
            #expect(receivers.mails().contains { $0.contains("RESOLVED: a deployment of alerts failed") })
            let json = try await server.yard(["alerts", "--json"], in: folder)
            let rules = try YardJSON.decoder().decode([AlertRuleView].self, from: Data(json.stdout.utf8))
            #expect(rules.count == 2 && rules.allSatisfy { $0.state == .resolved }, "\(json.output)")
        }
    }

    @Test("a drain to a real syslog receiver gets every line; a stalled one slows nothing", .timeLimit(.minutes(5)))
    func logDrains() async throws {
        let receiver = try await SyslogReceiver()
        defer { receiver.stop() }
        let stalled = try await SyslogReceiver(stalled: true)
        defer { stalled.stop() }
        try await YardServer.with { server in
            let folder = try await server.prepareApp("shell-app", project: "drains")
            try #require(try await server.yard(["up"], in: folder).status == 0)
            for url in [receiver.url, stalled.url] {
                let add = try await server.yard(["drain", "add", "--syslog", url], in: folder)
                try #require(add.status == 0, "\(add.output)")
            }
            let bad = try await server.yard(["drain", "add", "--syslog", "udp://127.0.0.1:514"], in: folder)
            #expect(bad.status != 0 && bad.stderr.contains("tcp://host:port"), "\(bad.output)")
            let start = folder.appendingPathComponent("start.sh")
            let original = try String(contentsOf: start, encoding: .utf8)
            try original.replacingOccurrences(
                of: "set -e\n", with: "set -e\ni=0; while [ $i -lt 500 ]; do echo \"drain line $i\"; i=$((i+1)); done\n"
            ).write(to: start, atomically: true, encoding: .utf8)
            let started = ContinuousClock.now
            try #require(try await server.yard(["up"], in: folder).status == 0)
            // The app's lines are in `yard logs` at once, whatever the stalled drain does.
            var logged = false
            while !logged, ContinuousClock.now - started < .seconds(30) {
                logged = try await server.yard(["logs"], in: folder).stdout.contains("drain line 499")
                if !logged { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(logged)
            let deadline = ContinuousClock.now + .seconds(30)
            while receiver.messages().filter({ $0.contains("drain line") }).count < 500, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
            }
            let lines = receiver.messages().filter { $0.contains("drain line") }
            #expect(lines.count == 500, "\(lines.count) lines")
            #expect((0..<500).allSatisfy { index in lines.contains { $0.hasSuffix("stdout - drain line \(index)") } })
            let listed = try await server.yard(["drain", "ls", "--json"], in: folder)
            let drains = try YardJSON.decoder().decode([LogDrainView].self, from: Data(listed.stdout.utf8))
            #expect(drains.count == 2, "\(listed.output)")
            #expect(drains.first { $0.target.contains("\(receiver.port)") }.map { $0.sent >= 500 && $0.dropped == 0 } == true, "\(drains)")
        }
    }

    @Test(
        "an app failing half its requests fires the error-rate alert from the real metrics (signed webhook and email); healthy traffic resolves it",
        .timeLimit(.minutes(5)))
    func errorRateAlert() async throws {
        let receivers = try await AlertReceivers()
        defer { receivers.stop() }
        try await YardServer.with(serveArguments: [
            "--smtp-url", "smtp://127.0.0.1:\(receivers.smtpPort)", "--smtp-from", "yard@example.com", "--metrics-interval", "1s",
        ]) { server in
            let folder = server.root.appendingPathComponent("apps/flaky")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try "web: python3 server.py\n".write(to: folder.appendingPathComponent("Procfile"), atomically: true, encoding: .utf8)
            try """
                import http.server, os

                class Handler(http.server.BaseHTTPRequestHandler):
                    def do_GET(self):
                        status = 500 if self.path.startswith("/fail") else 200
                        body = b"failed" if status == 500 else b"ok"
                        self.send_response(status)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)

                    def log_message(self, *args):
                        pass

                http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()

                """.write(to: folder.appendingPathComponent("server.py"), atomically: true, encoding: .utf8)
            try #require(try await server.yard(["init", "--name", "flaky"], in: folder).status == 0)
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.outputTail)")

            let hook = try await server.yard(["alerts", "channel", "add", "hook", "--webhook", receivers.webhookURL], in: folder)
            try #require(hook.status == 0, "\(hook.output)")
            let secretLine = try #require(hook.stdout.split(separator: "\n").first { $0.hasPrefix("Signing secret: ") })
            let secret = String(secretLine.dropFirst("Signing secret: ".count))
            try #require(try await server.yard(["alerts", "channel", "add", "mail", "--email", "ops@example.com"], in: folder).status == 0)
            for channel in ["hook", "mail"] {
                let add = try await server.yard(
                    ["alerts", "add", "error-rate", "--above", "20%", "--over", "10s", "--channel", channel], in: folder)
                try #require(add.status == 0, "\(add.output)")
            }

            // Half of a bounded load fails: one alert per channel, signed.
            var statuses: [Int: Int] = [:]
            for index in 0..<40 {
                let answer = try await server.get(host: "flaky-flaky.localhost", path: index.isMultiple(of: 2) ? "/fail" : "/ok")
                statuses[answer.status, default: 0] += 1
            }
            #expect(statuses == [500: 20, 200: 20], "\(statuses)")
            #expect(await receivers.wait(timeout: .seconds(40)) { receivers.deliveries().count == 1 && receivers.mails().count == 1 },
                    "deliveries \(receivers.deliveries().count), mails \(receivers.mails().count)")
            let fired = try #require(receivers.deliveries().first)
            #expect(
                AlertWebhookSignature.isValid(
                    signature: fired.header(AlertWebhookSignature.signatureHeader),
                    timestamp: fired.header(AlertWebhookSignature.timestampHeader), body: fired.bodyData, secret: secret))
            #expect(String(decoding: fired.bodyData, as: UTF8.self).contains("error rate"), "\(String(decoding: fired.bodyData, as: UTF8.self))")
            #expect(receivers.mails().first?.contains("FIRING") == true, "\(receivers.mails())")

            // Fixed: only good answers from now on; once the window holds no failure, both hear the resolution.
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline, !(receivers.deliveries().count == 2 && receivers.mails().count == 2) {
                _ = try await server.get(host: "flaky-flaky.localhost", path: "/ok")
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(receivers.deliveries().count == 2 && receivers.mails().count == 2,
                    "deliveries \(receivers.deliveries().count), mails \(receivers.mails().count)")
            let resolved = try #require(receivers.deliveries().last)
            let resolution = try #require(try JSONSerialization.jsonObject(with: resolved.bodyData) as? [String: Any])
            #expect(resolution["type"] as? String == "Alert.resolved", "\(resolution)")
            #expect(receivers.mails().last?.contains("RESOLVED") == true, "\(receivers.mails())")
        }
    }
}
