import Foundation
import Testing
import YardClient
import YardCore
import YardRuntime

/// Issue 20's metrics: `/metrics` on its own listener behind its own token, read with
/// prometheus_client's text parser; `yard metrics` from the stored points.
@Suite("metrics end to end", .serialized)
struct MetricsEndpointEndToEndTests {
    static var python: URL { YardServer.packageRoot.appendingPathComponent(".build-tools/prometheus/bin/python") }

    /// The request counter and histogram count of one service, from prometheus_client's parser.
    static let parser = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        service = sys.argv[1]
        found = {"requests": 0, "histogram": 0, "families": []}
        for family in text_string_to_metric_families(sys.stdin.read()):
            found["families"].append(family.name)
            for sample in family.samples:
                if sample.labels.get("service") != service:
                    continue
                if sample.name == "yard_http_requests_total":
                    found["requests"] += sample.value
                if sample.name == "yard_http_request_duration_seconds_count":
                    found["histogram"] += sample.value
        print(json.dumps(found))
        """

    struct Scrape: Decodable {
        var requests: Double
        var histogram: Double
        var families: [String]
    }

    static func scrape(port: Int, token: String?, service: String) async throws -> (status: Int, parsed: Scrape?) {
        let url = URL(string: "http://127.0.0.1:\(port)/metrics")!
        let headers = token.map { [("Authorization", "Bearer \($0)")] } ?? []
        let (head, data) = try await HTTPConnection.fetch(HTTPConnection.Request(url: url, headers: headers))
        guard head.status == 200 else { return (head.status, nil) }
        let result = try await SystemCommand(python.path, ["-c", parser, service], input: String(decoding: data, as: UTF8.self)).result()
        try #require(result.status == 0, "prometheus_client could not parse /metrics: \(result.standardError)")
        return (200, try JSONDecoder().decode(Scrape.self, from: Data(result.standardOutput.utf8)))
    }

    @Test(
        "the request counter on /metrics moves by exactly the requests sent; yard metrics shows the stored points",
        .timeLimit(.minutes(5)))
    func requestCounter() async throws {
        try IsolationEndToEndTests.requireIsolation()
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.python.path),
            "prometheus-client is missing: run scripts/setup.sh (it installs it into .build-tools/prometheus)")
        let port = try PortAllocator.freePort()
        let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("yard-metrics-token-\(UUID().uuidString)")
        let token = "scrape-" + UUID().uuidString
        FileManager.default.createFile(atPath: tokenFile.path, contents: Data(token.utf8), attributes: [.posixPermissions: 0o600])
        defer { try? FileManager.default.removeItem(at: tokenFile) }
        let arguments = ["--metrics-address", "127.0.0.1:\(port)", "--metrics-token-file", tokenFile.path, "--metrics-interval", "1s"]
        try await YardServer.with(serveArguments: arguments) { server in
            let folder = try await server.prepareApp("edge-echo", project: "metered")
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.output)\n\(server.serveLog)")
            let host = "metered-metered.localhost"
            _ = try await server.eventually(host: host) { status, _ in status == 200 }

            // Its own token, and not the admin token, opens /metrics.
            #expect(try await Self.scrape(port: port, token: nil, service: "metered").status == 401)
            let admin = try String(contentsOf: server.dataDirectory.appendingPathComponent("admin.token"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try await Self.scrape(port: port, token: admin, service: "metered").status == 401)

            // The counter settles (the access log writes in batches), then moves by exactly N.
            var before = try #require(try await Self.scrape(port: port, token: token, service: "metered").parsed)
            let settleDeadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < settleDeadline {
                try await Task.sleep(for: .milliseconds(500))
                let again = try #require(try await Self.scrape(port: port, token: token, service: "metered").parsed)
                if again.requests == before.requests && again.requests > 0 { break }
                before = again
            }
            try #require(before.requests > 0, "the requests that found the app were never counted")
            let sent = 37
            for _ in 0..<sent {
                let answer = try await server.getOnce(host: host, path: "/counted")
                try #require(answer.status == 200)
            }
            var after = before
            let deadline = ContinuousClock.now + .seconds(15)
            while after.requests < before.requests + Double(sent), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                after = try #require(try await Self.scrape(port: port, token: token, service: "metered").parsed)
            }
            try await Task.sleep(for: .seconds(1))
            after = try #require(try await Self.scrape(port: port, token: token, service: "metered").parsed)
            #expect(after.requests - before.requests == Double(sent), "before \(before.requests), after \(after.requests)")
            #expect(after.histogram - before.histogram == Double(sent))
            // The replicas' series appear at the collector's first sample after the deploy.
            #expect(after.families.contains("yard_http_requests"))
            #expect(after.families.contains("yard_memory_bytes"), "\(after.families)")
            #expect(after.families.contains("yard_network_receive_bytes"), "\(after.families)")

            // The stored 1 s points hold every request the counter counted (the last interval
            // is stored within a second).
            var stored = 0
            var output = ""
            let storedDeadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < storedDeadline {
                let metrics = try await server.yard(["metrics", "--since", "10m", "--json"], in: folder)
                try #require(metrics.status == 0, "\(metrics.output)")
                let series = try YardJSON.decoder().decode(MetricsSeriesView.self, from: Data(metrics.stdout.utf8))
                stored = series.points.reduce(0) { $0 + $1.requests.requests }
                output = metrics.stdout
                if stored == Int(after.requests) { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            #expect(stored == Int(after.requests), "\(output)")
            let table = try await server.yard(["metrics", "--since", "10m"], in: folder)
            #expect(table.status == 0)
            #expect(table.stdout.contains("Service metered (production)"), "\(table.output)")
            #expect(table.stdout.contains("requests"), "\(table.output)")
        }
    }
}
