import Foundation
import Testing
import YardCore
import YardRouter
import YardRuntime
import YardStore

@testable import YardControl

/// One service as the collector sees it: its samples are set by the test.
final class FakeMetricsHost: MetricsHost, @unchecked Sendable {
    let lock = NSLock()
    var samples: [ServiceMetricsSample] = []

    func metricsSamples() async -> [ServiceMetricsSample] { lock.withLock { samples } }

    func metricLabels(serviceID: String, environmentID: String) -> MetricLabels? {
        MetricLabels(project: "shop", environment: "production", service: serviceID)
    }
}

@Suite("Metrics collector, storage and alert source")
struct MetricsCollectorTests {
    static func entry(status: Int, milliseconds: Int) -> AccessLogEntry {
        AccessLogEntry(
            timestamp: Date(), host: "api.test", method: "GET", path: "/", status: status, duration: .milliseconds(milliseconds),
            replicaID: "rep_1", bytesIn: 10, bytesOut: 100)
    }

    static func withStore(_ body: (SQLiteStore, URL) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-metrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await body(try SQLiteStore(directory: directory), directory)
    }

    static func sample(cpuSeconds: UInt64, memory: UInt64, volume: String?) -> ServiceMetricsSample {
        ServiceMetricsSample(
            serviceID: "api", environmentID: "env_1", labels: MetricLabels(project: "shop", environment: "production", service: "api"),
            replicas: [
                .init(
                    id: "rep_1", usage: ResourceUsage(cpuNanoseconds: cpuSeconds * 1_000_000_000, memoryBytes: memory),
                    traffic: ReplicaTraffic(receivedBytes: 1000 * cpuSeconds, sentBytes: 2000 * cpuSeconds), restarts: 1)
            ],
            memoryLimitBytes: 1 << 30, volumeDirectory: volume, isDatabase: false)
    }

    @Test("samples become 10 s points that answer the alert rules' questions")
    func alertSource() async throws {
        try await Self.withStore { store, directory in
            let clock = ManualClock(hour: 14, minute: 0)
            let collector = MetricsCollector(store: store, interval: .seconds(10), clock: clock, logger: .init(label: "test"))
            let host = FakeMetricsHost()
            let volume = directory.appendingPathComponent("volume")
            try FileManager.default.createDirectory(at: volume, withIntermediateDirectories: true)
            try Data(repeating: 7, count: 64 * 1024).write(to: volume.appendingPathComponent("data"))

            // Nothing sampled yet: nothing is known, so no rule can fire.
            #expect(await collector.requestSummary(serviceID: "api", environmentID: "env_1", over: .seconds(60)) == nil)
            #expect(await collector.memoryFraction(serviceID: "api", environmentID: "env_1", over: .seconds(60)) == nil)

            clock.advance(by: .seconds(10))
            try await collector.collect([Self.sample(cpuSeconds: 1, memory: 256 << 20, volume: volume.path)], at: clock.now)
            let entries = (0..<20).map { Self.entry(status: $0 % 2 == 0 ? 500 : 200, milliseconds: $0 < 19 ? 20 : 900) }
            collector.recordRequests(entries.map { ("api", "env_1", $0) }, host: host)
            clock.advance(by: .seconds(10))
            try await collector.collect([Self.sample(cpuSeconds: 3, memory: 512 << 20, volume: volume.path)], at: clock.now)

            let summary = try #require(await collector.requestSummary(serviceID: "api", environmentID: "env_1", over: .seconds(60)))
            #expect(summary.requests == 20)
            #expect(summary.serverErrors == 10)
            #expect(summary.errorRate == 0.5)
            // 19 of 20 took 20 ms (the 10–25 ms bucket): the 95th percentile lies in it.
            let p95 = try #require(summary.p95Milliseconds)
            #expect(p95 > 10 && p95 <= 25)
            // The lowest of the two samples' highest replica: 256 MB of 1 GB.
            #expect(await collector.memoryFraction(serviceID: "api", environmentID: "env_1", over: .seconds(60)) == 0.25)
            let volumeFraction = try #require(await collector.volumeFraction(serviceID: "api", environmentID: "env_1"))
            #expect(volumeFraction > 0 && volumeFraction < 1)

            let points = try store.metricsPoints(serviceID: "api", environmentID: "env_1", step: 10, since: .distantPast)
            #expect(points.count == 2)
            // CPU is the delta between samples; the first sample only sets the base.
            #expect(points.map(\.cpuSeconds) == [0, 2])
            #expect(points.last?.networkInBytes == 2000 && points.last?.networkOutBytes == 4000)
            #expect(points.last?.memoryLimitBytes == 1 << 30)
            #expect((points.last?.volumeUsedBytes ?? 0) >= 64 * 1024)

            let text = collector.registry.emitToString()
            #expect(
                text.contains(#"yard_http_requests_total{project="shop",environment="production",service="api",status_class="5xx"} 10"#))
            #expect(text.contains(#"yard_memory_bytes{project="shop",environment="production",service="api"} 536870912.0"#))
        }
    }

    @Test("10 s points sum into minutes and ten minutes; each step is dropped after its retention")
    func downsampling() async throws {
        try await Self.withStore { store, _ in
            let start = ManualClock.date(hour: 14, minute: 0)
            var points: [(serviceID: String, environmentID: String, point: MetricsPoint)] = []
            for index in 0..<12 {  // two minutes of 10 s points
                var tally = RequestTally()
                tally.add(status: index == 0 ? 503 : 200, durationMs: 30, bytesIn: 1, bytesOut: 2)
                points.append(
                    (
                        "api", "env_1",
                        MetricsPoint(
                            at: start.addingTimeInterval(Double(index * 10)), step: 10, replicas: 1, cpuSeconds: 0.5,
                            memoryBytes: Int64(100 + index), memoryLimitBytes: 1000, memoryFraction: Double(100 + index) / 1000,
                            restarts: index / 6, requests: tally)
                    ))
            }
            try store.appendMetricsPoints(points)
            try store.downsampleMetrics(now: start.addingTimeInterval(120))
            let minutes = try store.metricsPoints(serviceID: "api", environmentID: "env_1", step: 60, since: .distantPast)
            #expect(minutes.map(\.at) == [start, start.addingTimeInterval(60)])
            #expect(minutes.map(\.requests.requests) == [6, 6])
            #expect(minutes.map(\.requests.serverErrors) == [1, 0])
            #expect(minutes.map(\.cpuSeconds) == [3, 3])
            #expect(minutes.map(\.memoryBytes) == [102, 108])  // the average, cut to whole bytes
            #expect(minutes.map(\.memoryFraction) == [0.105, 0.111])  // the highest
            #expect(minutes.map(\.restarts) == [0, 1])

            // A second pass adds nothing twice.
            try store.downsampleMetrics(now: start.addingTimeInterval(130))
            #expect(try store.metricsPoints(serviceID: "api", environmentID: "env_1", step: 60, since: .distantPast).count == 2)

            // Ten minutes later the minutes are summed into one ten-minute point.
            try store.downsampleMetrics(now: start.addingTimeInterval(600))
            let tens = try store.metricsPoints(serviceID: "api", environmentID: "env_1", step: 600, since: .distantPast)
            #expect(tens.map(\.requests.requests) == [12])

            // A day on, the 10 s points are gone; the minutes stay a week, the ten minutes a month.
            try store.downsampleMetrics(now: start.addingTimeInterval(86_400 + 200))
            #expect(try store.metricsPoints(serviceID: "api", environmentID: "env_1", step: 10, since: .distantPast).isEmpty)
            #expect(try store.metricsPoints(serviceID: "api", environmentID: "env_1", step: 60, since: .distantPast).count == 2)
            try store.downsampleMetrics(now: start.addingTimeInterval(8 * 86_400))
            #expect(try store.metricsPoints(serviceID: "api", environmentID: "env_1", step: 60, since: .distantPast).isEmpty)
            #expect(try store.metricsPointCount() == 1)
            try store.downsampleMetrics(now: start.addingTimeInterval(31 * 86_400))
            #expect(try store.metricsPointCount() == 0)
        }
    }

    @Test("a batch that interleaves services counts each service's requests in its own series")
    func interleavedServices() async throws {
        try await Self.withStore { store, _ in
            let collector = MetricsCollector(
                store: store, interval: .seconds(10), clock: ManualClock(hour: 14, minute: 0), logger: .init(label: "test"))
            // Runs of one service, then the other, then the first again, and a last single one.
            let services = ["api", "api", "web", "api", "api", "api", "web", "web", "api"]
            let statuses = [200, 500, 200, 404, 200, 200, 503, 200, 301]
            let entries = zip(services, statuses).map { service, status in
                (service, "env_1", Self.entry(status: status, milliseconds: 20))
            }
            collector.recordRequests(entries, host: FakeMetricsHost())
            collector.recordRequests([("web", "env_1", Self.entry(status: 200, milliseconds: 20))], host: FakeMetricsHost())

            let text = collector.registry.emitToString()
            func count(_ service: String, _ statusClass: String) -> String {
                #"yard_http_requests_total{project="shop",environment="production",service="\#(service)",status_class="\#(statusClass)"}"#
            }
            #expect(text.contains(count("api", "2xx") + " 3"), "\(text)")
            #expect(text.contains(count("api", "3xx") + " 1"), "\(text)")
            #expect(text.contains(count("api", "4xx") + " 1"), "\(text)")
            #expect(text.contains(count("api", "5xx") + " 1"), "\(text)")
            #expect(text.contains(count("web", "2xx") + " 3"), "\(text)")
            #expect(text.contains(count("web", "5xx") + " 1"), "\(text)")
            // Ten bytes in a request, a hundred out.
            #expect(text.contains(#"yard_http_request_bytes_total{project="shop",environment="production",service="api"} 60"#))
            #expect(text.contains(#"yard_http_response_bytes_total{project="shop",environment="production",service="web"} 400"#))
            #expect(text.contains(#"yard_http_request_duration_seconds_count{project="shop",environment="production",service="api"} 6"#))
        }
    }

    @Test("a tally's quantiles come from its buckets")
    func quantiles() {
        var tally = RequestTally()
        #expect(tally.latencyQuantileMs(0.95) == nil)
        for _ in 0..<100 { tally.add(status: 200, durationMs: 7, bytesIn: 0, bytesOut: 0) }
        #expect(tally.latencyQuantileMs(0.5) == 7.5)  // halfway through the 5–10 ms bucket
        tally.add(status: 200, durationMs: 60_000, bytesIn: 0, bytesOut: 0)
        #expect(tally.latencyQuantileMs(1) == 5000)  // the open last bucket answers its lower bound
        #expect(tally.statusClasses == [0, 101, 0, 0, 0])
    }
}
