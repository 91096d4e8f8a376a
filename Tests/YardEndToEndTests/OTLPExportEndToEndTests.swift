import Foundation
import Testing
import YardClient
import YardCore
import YardRuntime

/// Issue 20's OTLP half: `yard serve --otlp-endpoint` sends a span per proxied request, the
/// collector's series and the apps' log lines to a real OTLP/HTTP receiver (opentelemetry-proto decoding, in
/// Fixtures/otlp-receiver), the router stamps `traceparent`, and a dead collector costs the
/// router nothing.
@Suite("OTLP export end to end", .serialized)
struct OTLPExportEndToEndTests {
    static var python: URL { YardServer.packageRoot.appendingPathComponent(".build-tools/otlp/bin/python") }

    /// The receiver, a child process writing what it decoded to a JSON-lines file.
    final class Receiver {
        let process = ChildProcess()
        let records: URL
        let port: Int

        init(in directory: URL) async throws {
            try #require(
                FileManager.default.isExecutableFile(atPath: OTLPExportEndToEndTests.python.path),
                "opentelemetry-proto is missing: run scripts/setup.sh (it installs it into .build-tools/otlp)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            records = directory.appendingPathComponent("otlp.jsonl")
            let portFile = directory.appendingPathComponent("otlp.port")
            let log = directory.appendingPathComponent("otlp.log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            defer { try? handle.close() }
            process.executableURL = OTLPExportEndToEndTests.python
            process.arguments = [YardServer.fixture("otlp-receiver").appendingPathComponent("receiver.py").path, records.path, portFile.path]
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let deadline = ContinuousClock.now + .seconds(15)
            var port: Int?
            while port == nil, process.isRunning, ContinuousClock.now < deadline {
                port = (try? String(contentsOf: portFile, encoding: .utf8)).flatMap { Int($0) }
                if port == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            guard let port else {
                if process.isRunning {
                    process.terminate()
                    process.waitUntilExit()
                }
                throw YardError(.unavailable, "the OTLP receiver did not start: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
            }
            self.port = port
        }

        func stop() {
            guard process.isRunning else { return }
            process.terminate()
            process.waitUntilExit()
        }

        struct Record: Decodable {
            var signal: String
            var name: String
            var headers: [String: String]
            var resource: [String: AttributeValue]
            var attributes: [String: AttributeValue]
            var traceId: String?
            var parentSpanId: String?
            var kind: Int?
            var start: UInt64?
            var end: UInt64?
            var status: Int?
            var value: Double?
        }

        var received: [Record] {
            let text = (try? String(contentsOf: records, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Record.self, from: Data($0.utf8)) }
        }
    }

    /// An OTLP attribute as the receiver wrote it: a string, a number or a bool.
    enum AttributeValue: Decodable, Equatable, CustomStringConvertible {
        case string(String)
        case number(Double)
        case bool(Bool)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let bool = try? container.decode(Bool.self) {
                self = .bool(bool)
            } else if let number = try? container.decode(Double.self) {
                self = .number(number)
            } else {
                self = .string(try container.decode(String.self))
            }
        }

        var description: String {
            switch self {
            case .string(let text): text
            case .number(let number): number == number.rounded() ? String(Int(number)) : String(number)
            case .bool(let bool): String(bool)
            }
        }
    }

    /// The `traceparent` the app got, from edge-echo's JSON list of its request headers.
    static func traceParent(inEcho body: String) throws -> String {
        let pairs = try JSONDecoder().decode([[String]].self, from: Data(body.utf8))
        let found = pairs.filter { $0.first?.lowercased() == "traceparent" }
        try #require(found.count == 1, "the app got \(found.count) traceparent headers: \(body)")
        return found[0][1]
    }

    static func get(_ server: YardServer, host: String, path: String, headers: [(String, String)] = []) async throws -> (status: Int, body: String) {
        let url = URL(string: "http://127.0.0.1:\(server.routerPort)\(path)")!
        let (head, data) = try await HTTPConnection.fetch(HTTPConnection.Request(url: url, headers: [("Host", host)] + headers))
        return (head.status, String(decoding: data, as: UTF8.self))
    }

    @Test(
        "every proxied request arrives as one span with the app's trace id; the collector's series and the app's lines arrive",
        .timeLimit(.minutes(5)))
    func spansAndMetrics() async throws {
        try IsolationEndToEndTests.requireIsolation()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("yard-otlp-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let receiver = try await Receiver(in: scratch)
        defer { receiver.stop() }
        // Headers come from a file, never argv.
        let secret = "otlp-key-" + UUID().uuidString
        let headersFile = scratch.appendingPathComponent("otlp-headers")
        FileManager.default.createFile(
            atPath: headersFile.path, contents: Data("# the collector's key\nX-Collector-Key: \(secret)\n".utf8),
            attributes: [.posixPermissions: 0o600])
        let arguments = [
            "--otlp-endpoint", "http://127.0.0.1:\(receiver.port)", "--otlp-headers-file", headersFile.path, "--otlp-interval", "1s",
            "--metrics-interval", "1s",
        ]
        try await YardServer.with(serveArguments: arguments) { server in
            let folder = try await server.prepareApp("edge-echo", project: "traced")
            // The echo app also writes a line per request, for the log export.
            let script = folder.appendingPathComponent("server.py")
            let quiet = "    def log_message(self, *args):\n        pass\n"
            let source = try String(contentsOf: script, encoding: .utf8)
            try #require(source.contains(quiet))
            try source.replacingOccurrences(
                of: quiet, with: "    def log_message(self, *args):\n        print('served ' + self.path.split('?')[0], flush=True)\n"
            ).write(to: script, atomically: true, encoding: .utf8)
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.output)\n\(server.serveLog)")
            let host = "traced-traced.localhost"
            _ = try await server.eventually(host: host) { status, _ in status == 200 }

            // Requests without a traceparent get a fresh one each; a valid one is kept; an
            // invalid one is replaced (and its tracestate dropped).
            var sent: [String: String] = [:]
            let fresh = 20
            for index in 0..<fresh {
                let answer = try await Self.get(server, host: host, path: "/traced/\(index)?token=hidden-\(index)")
                try #require(answer.status == 200)
                sent["/traced/\(index)"] = try Self.traceParent(inEcho: answer.body)
            }
            let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let kept = try await Self.get(server, host: host, path: "/given", headers: [("traceparent", given), ("tracestate", "vendor=1")])
            #expect(try Self.traceParent(inEcho: kept.body) == given)
            #expect(kept.body.contains("vendor=1"), "a valid traceparent's tracestate is passed on")
            let invalid = "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
            let replaced = try await Self.get(
                server, host: host, path: "/invalid", headers: [("traceparent", invalid), ("tracestate", "vendor=2")])
            let replacement = try Self.traceParent(inEcho: replaced.body)
            #expect(replacement != invalid)
            #expect(!replaced.body.contains("vendor=2"), "the tracestate of an invalid traceparent is dropped")
            sent["/given"] = given
            sent["/invalid"] = replacement
            let distinctTraces = Set(sent.values.map { $0.split(separator: "-")[1] })
            #expect(distinctTraces.count == sent.count, "each request without a valid traceparent gets a trace of its own")

            // One span per request, each with the trace and parent of the traceparent the app saw.
            var spans: [String: [Receiver.Record]] = [:]
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                spans = Dictionary(grouping: receiver.received.filter { $0.signal == "span" }) { $0.attributes["url.path"]?.description ?? "" }
                if sent.keys.allSatisfy({ spans[$0]?.count == 1 }) { break }
                try await Task.sleep(for: .milliseconds(300))
            }
            for (path, traceParent) in sent {
                let found = spans[path] ?? []
                try #require(found.count == 1, "\(found.count) spans for \(path)\n\(YardServer.lastLines(of: server.serveLog, 30))")
                let span = found[0]
                let parts = traceParent.split(separator: "-").map(String.init)
                #expect(span.traceId == parts[1], "\(path)")
                #expect(span.parentSpanId == parts[2], "\(path)")
                #expect(span.kind == 2, "a server span")
                #expect(span.attributes["yard.service"] == .string("traced"))
                #expect(span.attributes["yard.project"] == .string("traced"))
                #expect(span.attributes["server.address"] == .string(host))
                #expect(span.attributes["http.request.method"] == .string("GET"))
                #expect(span.attributes["http.response.status_code"] == .number(200))
                #expect(span.attributes["yard.replica"]?.description.isEmpty == false, "the upstream replica")
                #expect((span.end ?? 0) > (span.start ?? 0), "a duration")
                #expect(span.resource["service.name"] == .string("switchyard"))
                #expect(span.headers["x-collector-key"] == secret)
            }
            #expect(spans.keys.allSatisfy { !$0.contains("?") && !$0.contains("hidden") }, "no query string in a span")

            // The request counter and the replicas' memory arrive, labelled with the service.
            var requests = 0.0
            var memory: Double?
            let metricsDeadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < metricsDeadline {
                let metrics = receiver.received.filter { $0.signal == "metric" && $0.attributes["yard.service"] == .string("traced") }
                // Cumulative sums: the latest export holds the total so far.
                let counts = metrics.filter { $0.name == "yard.http.requests" && $0.attributes["http.response.status_class"] == .string("2xx") }
                requests = counts.last?.value ?? 0
                memory = metrics.last { $0.name == "yard.service.memory.usage" }?.value
                if requests >= Double(sent.count), memory != nil { break }
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(requests >= Double(sent.count), "yard.http.requests reached \(requests)")
            #expect((memory ?? 0) > 0, "yard.service.memory.usage: \(String(describing: memory))")

            // The app's lines arrive as log records naming the service, deployment and replica.
            var lines: [Receiver.Record] = []
            let logsDeadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < logsDeadline {
                lines = receiver.received.filter { $0.signal == "log" && $0.name.hasPrefix("served /traced/") }
                if lines.count >= fresh { break }
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(Set(lines.map(\.name)) == Set((0..<fresh).map { "served /traced/\($0)" }), "\(lines.map(\.name))")
            for line in lines {
                #expect(line.attributes["yard.service"] == .string("traced"))
                #expect(line.attributes["yard.deployment"]?.description.isEmpty == false)
                #expect(line.attributes["yard.replica"]?.description.isEmpty == false)
                #expect(line.attributes["log.iostream"] == .string("stdout"))
            }
            #expect(!server.serveLog.contains(secret), "the collector's key stays out of the log")
        }
    }

    @Test("a dead collector neither slows nor breaks the router; the spans it cannot take are dropped and counted", .timeLimit(.minutes(5)))
    func deadCollector() async throws {
        try IsolationEndToEndTests.requireIsolation()
        // Nothing listens there: every export fails.
        let dead = try PortAllocator.freePort()
        let arguments = ["--otlp-endpoint", "http://127.0.0.1:\(dead)", "--otlp-interval", "1s", "--otlp-queue-size", "8"]
        try await YardServer.with(serveArguments: arguments) { server in
            let folder = try await server.prepareApp("edge-echo", project: "lonely")
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.output)\n\(server.serveLog)")
            let host = "lonely-lonely.localhost"
            _ = try await server.eventually(host: host) { status, _ in status == 200 }
            let count = 300
            let clock = ContinuousClock()
            var slowest = Duration.zero
            let started = clock.now
            for index in 0..<count {
                let before = clock.now
                let answer = try await Self.get(server, host: host, path: "/r/\(index)")
                slowest = max(slowest, clock.now - before)
                try #require(answer.status == 200, "request \(index): \(answer.status)")
                #expect(answer.body.lowercased().contains("traceparent"))
            }
            let total = clock.now - started
            // Each export waits up to the 1 s interval; a router that waited on it would show
            // it in the slowest request and in the total.
            #expect(slowest < .milliseconds(900), "slowest request \(slowest)")
            #expect(total < .seconds(30), "\(count) requests took \(total)")
            var log = ""
            let deadline = ContinuousClock.now + .seconds(15)
            while ContinuousClock.now < deadline {
                log = server.serveLog
                if log.contains("dropped_count") { break }
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(log.contains("dropped_count"), "the full span queue's drops are counted in the log\n\(YardServer.lastLines(of: log, 20))")
        }
    }
}
