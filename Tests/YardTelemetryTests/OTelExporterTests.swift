import Foundation
import Testing
import YardControl
import YardCore
import YardRouter

@testable import YardTelemetry

/// The exporter's queue and its swift-otel settings, without a collector.
@Suite("OTLP exporter")
struct OTelExporterTests {
    static func request(_ index: Int) -> OTelRequest {
        OTelRequest(
            labels: MetricLabels(project: "p", environment: "production", service: "s"),
            entry: AccessLogEntry(
                timestamp: Date(), host: "s.localhost", method: "GET", path: "/\(index)", status: 200, duration: .milliseconds(3),
                replicaID: "r-1", bytesIn: 0, bytesOut: 10))
    }

    @Test func theQueueKeepsAtMostItsLimitAndCountsTheRest() {
        let queue = OTelQueue(limit: 5)
        queue.add((0..<3).map(Self.request))
        queue.add((3..<9).map(Self.request))
        let first = queue.take()
        #expect(first.requests.map(\.entry.path) == ["/0", "/1", "/2", "/3", "/4"])
        #expect(first.dropped == 4)
        // Taking empties it: room again, and the count starts over.
        queue.add([Self.request(9)])
        let second = queue.take()
        #expect(second.requests.map(\.entry.path) == ["/9"])
        #expect(second.dropped == 0)
    }

    @Test func signalsGoToTheirOwnPathsWithTheHeadersAndBounds() {
        let configuration = OTLPExportConfiguration(
            endpoint: "http://127.0.0.1:4318/", headers: [("X-Key", "k")], interval: .seconds(2), maxQueuedSpans: 100)
        let otel = OTelExporter.otelConfiguration(configuration, logger: .init(label: "test"))
        #expect(otel.traces.otlpExporter.endpoint == "http://127.0.0.1:4318/v1/traces")
        #expect(otel.metrics.otlpExporter.endpoint == "http://127.0.0.1:4318/v1/metrics")
        #expect(otel.logs.otlpExporter.endpoint == "http://127.0.0.1:4318/v1/logs")
        #expect(otel.traces.otlpExporter.headers.map(\.0) == ["X-Key"])
        #expect(otel.traces.batchSpanProcessor.maxQueueSize == 100)
        #expect(otel.logs.batchLogRecordProcessor.maxQueueSize == 100)
        #expect(otel.metrics.exportInterval == .seconds(2))
        #expect(otel.traces.otlpExporter.timeout == .seconds(2))
    }
}
