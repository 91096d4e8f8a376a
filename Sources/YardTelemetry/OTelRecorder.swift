import CoreMetrics
import Foundation
import Logging
import Tracing
import YardControl
import YardCore
import YardRouter

/// Turns the queue's batches into spans, metric updates and log records, on the exporter's one task.
struct OTelRecorder<SpanTracer: Tracer, Factory: MetricsFactory> {
    let tracer: SpanTracer
    let factory: Factory
    /// Apps' lines go out through it (swift-otel's log handler).
    let appLogger: Logger
    let logger: Logger
    /// Requests dropped before they became spans, since the start.
    private(set) var droppedSpans = 0
    private(set) var droppedLogs = 0
    private var counters: [String: any CounterHandler] = [:]
    private var floatingCounters: [String: any FloatingPointCounterHandler] = [:]
    private var gauges: [String: any MeterHandler] = [:]
    private var timers: [String: any TimerHandler] = [:]

    init(tracer: SpanTracer, factory: Factory, appLogger: Logger, logger: Logger) {
        self.tracer = tracer
        self.factory = factory
        self.appLogger = appLogger
        self.logger = logger
    }

    mutating func record(_ batch: OTelQueue.Batch) {
        if batch.dropped > 0 {
            droppedSpans += batch.dropped
            logger.warning(
                "otlp: the exporter fell behind; requests were not traced",
                metadata: ["otlp.dropped_spans": "\(batch.dropped)", "otlp.dropped_spans_total": "\(droppedSpans)"])
        }
        for request in batch.requests {
            span(request)
            count(request)
        }
        for point in batch.points { gauge(point) }
        if batch.droppedLogs > 0 {
            droppedLogs += batch.droppedLogs
            logger.warning(
                "otlp: the exporter fell behind; app log lines were not exported",
                metadata: ["otlp.dropped_logs": "\(batch.droppedLogs)", "otlp.dropped_logs_total": "\(droppedLogs)"])
        }
        for line in batch.logs { log(line) }
    }

    /// An app's line as a log record with its service, deployment, replica and stream.
    private func log(_ line: OTelLogLine) {
        appLogger.info(
            "\(line.message)",
            metadata: [
                "yard.project": "\(line.labels.project)", "yard.environment": "\(line.labels.environment)",
                "yard.service": "\(line.labels.service)", "yard.deployment": "\(line.deploymentID)",
                "yard.replica": "\(line.replicaID)", "log.iostream": "\(line.stream.rawValue)",
            ])
    }

    /// A server span over the request's time at the router, a child of its `traceparent`.
    private func span(_ request: OTelRequest) {
        let entry = request.entry
        var context = ServiceContext.topLevel
        if let traceParent = entry.traceParent {
            tracer.extract(["traceparent": traceParent], into: &context, using: HeaderExtractor())
        }
        let start = Self.instant(entry.timestamp)
        let span = tracer.startSpan("\(entry.method) \(entry.host)", context: context, ofKind: .server, at: start)
        span.attributes["yard.project"] = request.labels.project
        span.attributes["yard.environment"] = request.labels.environment
        span.attributes["yard.service"] = request.labels.service
        span.attributes["server.address"] = entry.host
        span.attributes["http.request.method"] = entry.method
        span.attributes["url.path"] = entry.path
        span.attributes["http.response.status_code"] = entry.status
        span.attributes["http.request.body.size"] = entry.bytesIn
        span.attributes["http.response.body.size"] = entry.bytesOut
        if let replica = entry.replicaID { span.attributes["yard.replica"] = replica }
        if entry.status >= 500 { span.setStatus(SpanStatus(code: .error)) }
        let nanoseconds = UInt64(max(0, entry.duration.components.seconds)) * 1_000_000_000
            + UInt64(max(0, entry.duration.components.attoseconds / 1_000_000_000))
        span.end(at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: start.nanosecondsSinceEpoch + nanoseconds))
    }

    private mutating func count(_ request: OTelRequest) {
        let labels = request.labels
        let statusClass = "\(request.entry.status / 100)xx"
        counter("yard.http.requests", labels, [("http.response.status_class", statusClass)]).increment(by: 1)
        let components = request.entry.duration.components
        timer("yard.http.request.duration", labels).recordNanoseconds(components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000)
    }

    private mutating func gauge(_ sample: OTelServicePoint) {
        let labels = sample.labels
        let point = sample.point
        meter("yard.service.replicas", labels).set(Int64(point.replicas))
        meter("yard.service.memory.usage", labels).set(point.memoryBytes)
        if let limit = point.memoryLimitBytes { meter("yard.service.memory.limit", labels).set(limit) }
        meter("yard.service.restarts", labels).set(Int64(point.restarts))
        floatingCounter("yard.service.cpu.time", labels).increment(by: point.cpuSeconds)
        if let received = point.networkInBytes {
            counter("yard.service.network.io", labels, [("network.io.direction", "receive")]).increment(by: received)
        }
        if let sent = point.networkOutBytes {
            counter("yard.service.network.io", labels, [("network.io.direction", "transmit")]).increment(by: sent)
        }
    }

    private static func instant(_ date: Date) -> DefaultTracerClock.Timestamp {
        DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: UInt64(max(0, date.timeIntervalSince1970 * 1e9)))
    }

    private static func dimensions(_ labels: MetricLabels, _ extra: [(String, String)]) -> [(String, String)] {
        [("yard.project", labels.project), ("yard.environment", labels.environment), ("yard.service", labels.service)] + extra
    }

    private static func key(_ name: String, _ dimensions: [(String, String)]) -> String {
        ([name] + dimensions.map { "\($0.0)=\($0.1)" }).joined(separator: "\u{1}")
    }

    /// The handler of `name` for the service, made once and kept (`make` runs on a miss).
    private static func handler<Handler>(
        _ cache: inout [String: Handler], _ name: String, _ labels: MetricLabels, _ extra: [(String, String)],
        _ make: (String, [(String, String)]) -> Handler
    ) -> Handler {
        let dimensions = dimensions(labels, extra)
        let key = key(name, dimensions)
        if let found = cache[key] { return found }
        let made = make(name, dimensions)
        cache[key] = made
        return made
    }

    private mutating func counter(_ name: String, _ labels: MetricLabels, _ extra: [(String, String)] = []) -> any CounterHandler {
        let factory = self.factory
        return Self.handler(&counters, name, labels, extra) { factory.makeCounter(label: $0, dimensions: $1) }
    }

    private mutating func floatingCounter(_ name: String, _ labels: MetricLabels) -> any FloatingPointCounterHandler {
        let factory = self.factory
        return Self.handler(&floatingCounters, name, labels, []) { factory.makeFloatingPointCounter(label: $0, dimensions: $1) }
    }

    private mutating func meter(_ name: String, _ labels: MetricLabels) -> any MeterHandler {
        let factory = self.factory
        return Self.handler(&gauges, name, labels, []) { factory.makeMeter(label: $0, dimensions: $1) }
    }

    private mutating func timer(_ name: String, _ labels: MetricLabels) -> any TimerHandler {
        let factory = self.factory
        return Self.handler(&timers, name, labels, []) { factory.makeTimer(label: $0, dimensions: $1) }
    }
}

/// Reads `traceparent` out of the one-entry carrier the recorder builds.
struct HeaderExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? {
        carrier[key]
    }
}
