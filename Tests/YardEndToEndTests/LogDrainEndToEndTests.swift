import Foundation
import Testing
import YardCore
import YardTestSupport

/// Log drains beyond `AlertsEndToEndTests.logDrains`: syslog over TLS to real receivers
/// (one trusted through `--drain-ca-file`, one not), and the app's latency with a stalled drain.
@Suite("Log drains end to end")
struct LogDrainEndToEndTests {
    /// An app that prints `lines` lines of ~100 bytes per request.
    static func chattyApp(lines: Int) -> String {
        """
        import http.server, os, sys

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                sys.stdout.write("".join("request %s line %d %s\\n" % (self.path, i, "y" * 80) for i in range(\(lines))))
                sys.stdout.flush()
                body = b"ok"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()

        """
    }

    @Test("a tls:// drain delivers every line to a receiver it trusts and nothing to one it does not", .timeLimit(.minutes(3)))
    func tlsSyslogDrain() async throws {
        let certificates = FileManager.default.temporaryDirectory.appendingPathComponent("yard-tls-drain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: certificates, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: certificates) }
        let trusted = try await SyslogReceiver.makeCertificate(in: certificates, name: "trusted")
        let stranger = try await SyslogReceiver.makeCertificate(in: certificates, name: "stranger")
        let receiver = try await SyslogReceiver(tls: trusted)
        defer { receiver.stop() }
        let impostor = try await SyslogReceiver(tls: stranger)
        defer { impostor.stop() }
        try await YardServer.with(serveArguments: ["--drain-ca-file", trusted.certificate.path]) { server in
            let folder = try await server.prepareApp("shell-app", project: "tlsdrain")
            for url in [receiver.url, impostor.url] {
                let add = try await server.yard(["drain", "add", "--syslog", url], in: folder)
                try #require(add.status == 0, "\(add.output)")
            }
            let start = folder.appendingPathComponent("start.sh")
            let original = try String(contentsOf: start, encoding: .utf8)
            try original.replacingOccurrences(
                of: "set -e\n", with: "set -e\ni=0; while [ $i -lt 500 ]; do echo \"tls line $i\"; i=$((i+1)); done\n"
            ).write(to: start, atomically: true, encoding: .utf8)
            try #require(try await server.yard(["up"], in: folder).status == 0)
            let deadline = ContinuousClock.now + .seconds(30)
            while receiver.messages().filter({ $0.contains("tls line") }).count < 500, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
            }
            let lines = receiver.messages().filter { $0.contains("tls line") }
            #expect(lines.count == 500, "\(lines.count) lines")
            #expect(Set(lines.compactMap { $0.components(separatedBy: "stdout - ").last }) == Set((0..<500).map { "tls line \($0)" }))
            // RFC 5424 over RFC 5425's framing: the message parses as `<PRI>1 TIMESTAMP …`.
            #expect(lines.first?.hasPrefix("<14>1 ") == true, "\(lines.first ?? "")")
            // The receiver whose certificate no CA vouches for gets nothing; its lines are counted as dropped.
            let listed = try await server.yard(["drain", "ls", "--json"], in: folder)
            let drains = try YardJSON.decoder().decode([LogDrainView].self, from: Data(listed.stdout.utf8))
            #expect(impostor.messages().isEmpty, "\(impostor.messages().prefix(3))")
            let refused = drains.first { $0.target.contains("\(impostor.port)") }
            #expect(refused.map { $0.sent == 0 && $0.dropped > 0 } == true, "\(drains)")
            #expect(drains.first { $0.target.contains("\(receiver.port)") }.map { $0.sent >= 500 && $0.dropped == 0 } == true, "\(drains)")
        }
    }

    /// p50 and p99 of `count` sequential GETs, in milliseconds.
    static func latencies(_ server: YardServer, host: String, count: Int) async throws -> (p50: Double, p99: Double) {
        var samples: [Double] = []
        for index in 0..<count {
            let started = ContinuousClock.now
            let answer = try await server.getOnce(host: host, path: "/r\(index)")
            let elapsed = ContinuousClock.now - started
            #expect(answer.status == 200)
            samples.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
        }
        samples.sort()
        return (samples[count / 2], samples[min(count - 1, count * 99 / 100)])
    }

    @Test("a drain whose receiver never reads does not slow the app (p50/p99 measured)", .timeLimit(.minutes(3)))
    func stalledDrainLatency() async throws {
        let stalled = try await SyslogReceiver(stalled: true)
        defer { stalled.stop() }
        try await YardServer.with { server in
            let folder = server.root.appendingPathComponent("apps/latency")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try "web: python3 server.py\n".write(to: folder.appendingPathComponent("Procfile"), atomically: true, encoding: .utf8)
            // 100 lines a request: 300 requests offer 30,000 lines, three times the drain's buffer.
            try Self.chattyApp(lines: 100).write(to: folder.appendingPathComponent("server.py"), atomically: true, encoding: .utf8)
            try #require(try await server.yard(["init", "--name", "latency"], in: folder).status == 0)
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.outputTail)")
            let host = "latency-latency.localhost"
            _ = try await Self.latencies(server, host: host, count: 50)
            let without = try await Self.latencies(server, host: host, count: 300)
            let add = try await server.yard(["drain", "add", "--syslog", stalled.url], in: folder)
            try #require(add.status == 0, "\(add.output)")
            let with = try await Self.latencies(server, host: host, count: 300)
            let listed = try await server.yard(["drain", "ls", "--json"], in: folder)
            let drains = try YardJSON.decoder().decode([LogDrainView].self, from: Data(listed.stdout.utf8))
            let figures = String(
                format: "without p50 %.2f ms p99 %.2f ms; with a stalled drain p50 %.2f ms p99 %.2f ms", without.p50, without.p99, with.p50, with.p99)
            print("stalled drain latency: \(figures); drain \(drains.map { "sent \($0.sent) dropped \($0.dropped) queued \($0.queued)" })")
            // The drain really stalled: its buffer filled and lines were dropped.
            #expect(drains.first.map { $0.dropped > 0 } == true, "\(drains)")
            // Generous: a stalled drain may not double the median nor triple the tail (plus scheduling noise).
            #expect(with.p50 <= without.p50 * 2 + 5, "p50 \(without.p50) → \(with.p50) ms")
            #expect(with.p99 <= without.p99 * 3 + 20, "p99 \(without.p99) → \(with.p99) ms")
        }
    }
}
