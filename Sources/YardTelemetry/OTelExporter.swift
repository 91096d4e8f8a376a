import CoreMetrics
import Foundation
import Logging
import OTel
import ServiceLifecycle
import Synchronization
import Tracing
import YardControl
import YardCore
import YardRouter

/// `yard serve --otlp-endpoint`: the collector's per-service series as OTLP metrics, a
/// server span per proxied request, built from the access log batches off the event loops
/// with the trace id of the `traceparent` the replica got, and the apps' log lines, all sent
/// over OTLP/HTTP with swift-otel. Turns the router's `traceparent` stamping on while it runs.
public struct OTelExporter: Service {
    let configuration: OTLPExportConfiguration
    let tap: OTelTap
    let router: Router
    let logger: Logger

    public init(configuration: OTLPExportConfiguration, tap: OTelTap, router: Router, logger: Logger) {
        self.configuration = configuration
        self.tap = tap
        self.router = router
        self.logger = logger
    }

    public func run() async throws {
        let otel = Self.otelConfiguration(configuration, logger: logger)
        let (tracer, tracing) = try OTel.makeTracingBackend(configuration: otel)
        let (factory, metrics) = try OTel.makeMetricsBackend(configuration: otel)
        let (logHandlers, logging) = try OTel.makeLoggingBackend(configuration: otel)
        let queue = OTelQueue(limit: configuration.maxQueuedSpans)
        tap.onRequests { queue.add($0) }
        tap.onPoints { queue.add($0) }
        tap.onLogs { queue.add($0) }
        router.stampTraceParents(true)
        defer {
            router.stampTraceParents(false)
            tap.detach()
        }
        logger.info("otlp: exporting metrics, traces and app logs", metadata: ["otlp.endpoint": "\(configuration.endpoint)"])
        let appLogger = Logger(label: "app", factory: logHandlers)
        try await withThrowingDiscardingTaskGroup { [logger] group in
            group.addTask { try await tracing.run() }
            group.addTask { try await metrics.run() }
            group.addTask { try await logging.run() }
            group.addTask {
                var recorder = OTelRecorder(tracer: tracer, factory: factory, appLogger: appLogger, logger: logger)
                for await _ in queue.arrivals.cancelOnGracefulShutdown() {
                    recorder.record(queue.take())
                }
                recorder.record(queue.take())
            }
        }
    }

    /// swift-otel's settings: OTLP/HTTP protobuf to `endpoint`'s `/v1/…` paths, every span
    /// sampled (one per request), spans and log records each bounded by `maxQueuedSpans`;
    /// its own warnings go to the server's log.
    static func otelConfiguration(_ configuration: OTLPExportConfiguration, logger: Logger) -> OTel.Configuration {
        var otel = OTel.Configuration.default
        otel.serviceName = configuration.serviceName
        otel.diagnosticLogger = .custom(logger)
        otel.diagnosticLogLevel = .warning
        otel.propagators = [.traceContext]
        let base = configuration.endpoint.hasSuffix("/") ? String(configuration.endpoint.dropLast()) : configuration.endpoint
        func exporter(_ path: String) -> OTel.Configuration.OTLPExporterConfiguration {
            var exporter = OTel.Configuration.OTLPExporterConfiguration.default
            exporter.endpoint = base + path
            exporter.protocol = .httpProtobuf
            exporter.headers = configuration.headers
            exporter.timeout = configuration.interval
            return exporter
        }
        otel.traces.sampler = .alwaysOn
        otel.traces.otlpExporter = exporter("/v1/traces")
        otel.traces.batchSpanProcessor.scheduleDelay = configuration.interval
        otel.traces.batchSpanProcessor.exportTimeout = configuration.interval
        otel.traces.batchSpanProcessor.maxQueueSize = configuration.maxQueuedSpans
        otel.traces.batchSpanProcessor.maxExportBatchSize = min(512, configuration.maxQueuedSpans)
        otel.metrics.otlpExporter = exporter("/v1/metrics")
        otel.metrics.exportInterval = configuration.interval
        otel.metrics.exportTimeout = configuration.interval
        otel.logs.level = .info
        otel.logs.otlpExporter = exporter("/v1/logs")
        otel.logs.batchLogRecordProcessor.scheduleDelay = configuration.interval
        otel.logs.batchLogRecordProcessor.exportTimeout = configuration.interval
        otel.logs.batchLogRecordProcessor.maxQueueSize = configuration.maxQueuedSpans
        otel.logs.batchLogRecordProcessor.maxExportBatchSize = min(512, configuration.maxQueuedSpans)
        return otel
    }
}

/// Requests and points between the collector and the recorder: the tap only appends here
/// (bounded; drops counted), the recorder takes everything on each wake-up.
final class OTelQueue: Sendable {
    struct Batch {
        var requests: [OTelRequest] = []
        var points: [OTelServicePoint] = []
        var logs: [OTelLogLine] = []
        /// Requests dropped because the recorder fell `limit` behind, since the last take.
        var dropped = 0
        /// Log lines dropped the same way.
        var droppedLogs = 0
    }

    private let state = Mutex(Batch())
    private let limit: Int
    let arrivals: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init(limit: Int) {
        self.limit = max(1, limit)
        (arrivals, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func add(_ requests: [OTelRequest]) {
        state.withLock { batch in
            let room = max(0, limit - batch.requests.count)
            batch.requests.append(contentsOf: requests.prefix(room))
            batch.dropped += max(0, requests.count - room)
        }
        continuation.yield()
    }

    func add(_ line: OTelLogLine) {
        let added = state.withLock { batch in
            guard batch.logs.count < limit else {
                batch.droppedLogs += 1
                return false
            }
            batch.logs.append(line)
            return true
        }
        if added { continuation.yield() }
    }

    func add(_ points: [OTelServicePoint]) {
        state.withLock { $0.points.append(contentsOf: points) }
        continuation.yield()
    }

    func take() -> Batch {
        state.withLock { batch in
            defer { batch = Batch() }
            return batch
        }
    }
}
