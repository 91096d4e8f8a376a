import Foundation
import Synchronization
import YardCore
import YardRouter

/// Where `yard serve --otlp-endpoint` sends metrics and traces (the exporter is in YardTelemetry).
public struct OTLPExportConfiguration: Sendable {
    /// The collector's OTLP/HTTP base URL, e.g. `http://127.0.0.1:4318`; `/v1/traces`,
    /// `/v1/metrics` and `/v1/logs` are added.
    public var endpoint: String
    /// Headers every export carries (an API key, say); read from a file, never from argv.
    public var headers: [(String, String)]
    /// How often metrics are exported and spans batched out.
    public var interval: Duration
    /// Spans waiting for export at most; more are dropped and counted, so a dead collector
    /// costs memory up to this bound and never slows the router.
    public var maxQueuedSpans: Int
    /// The OTel resource's `service.name`.
    public var serviceName: String

    public init(
        endpoint: String, headers: [(String, String)] = [], interval: Duration = .seconds(10), maxQueuedSpans: Int = 4096,
        serviceName: String = "switchyard"
    ) {
        self.endpoint = endpoint
        self.headers = headers
        self.interval = interval
        self.maxQueuedSpans = maxQueuedSpans
        self.serviceName = serviceName
    }
}

/// One answered request of a routed service, as the access log path hands it to the exporter.
public struct OTelRequest: Sendable {
    public var labels: MetricLabels
    public var entry: AccessLogEntry

    public init(labels: MetricLabels, entry: AccessLogEntry) {
        self.labels = labels
        self.entry = entry
    }
}

/// One line an app wrote, with where it came from.
public struct OTelLogLine: Sendable {
    public var labels: MetricLabels
    public var deploymentID: String
    public var replicaID: String
    public var stream: LogLine.Stream
    public var timestamp: Date
    public var message: String
}

/// One service's point of a collector round.
public struct OTelServicePoint: Sendable {
    public var labels: MetricLabels
    public var point: MetricsPoint
}

/// The seam between the platform and the OTLP exporter: the collector offers each request
/// batch and each round's points, the orchestrator each app log line; with no exporter
/// attached, offering costs one lock.
public final class OTelTap: Sendable {
    /// The observers are held in a struct: see `ObserverSlot` on reabstracted closures.
    private struct Observers: Sendable {
        var requests: (@Sendable ([OTelRequest]) -> Void)?
        var points: (@Sendable ([OTelServicePoint]) -> Void)?
        var logs: (@Sendable (OTelLogLine) -> Void)?
    }

    private let observers = Mutex(Observers())
    /// The labels of each deployment whose lines were exported (one store read per deployment).
    private let deploymentLabels = Mutex<[String: MetricLabels]>([:])
    static let maxCachedDeployments = 1024

    public init() {}

    /// Calls `observer` with every batch of routed requests, from the access log writer: return at once.
    public func onRequests(_ observer: @escaping @Sendable ([OTelRequest]) -> Void) {
        observers.withLock { $0.requests = observer }
    }

    /// Calls `observer` with every collector round's points, from the collector: return at once.
    public func onPoints(_ observer: @escaping @Sendable ([OTelServicePoint]) -> Void) {
        observers.withLock { $0.points = observer }
    }

    /// Calls `observer` with every app log line, from the orchestrator: return at once.
    public func onLogs(_ observer: @escaping @Sendable (OTelLogLine) -> Void) {
        observers.withLock { $0.logs = observer }
    }

    /// Stops every observer (the exporter is gone).
    public func detach() {
        observers.withLock { $0 = Observers() }
        deploymentLabels.withLock { $0 = [:] }
    }

    /// Offers an app's line; `labels` names its service the first time its deployment is seen.
    func offer(
        deploymentID: String, replicaID: String, stream: LogLine.Stream, message: String, labels: () -> MetricLabels?
    ) {
        guard let observer = observers.withLock({ $0.logs }) else { return }
        var found = deploymentLabels.withLock { $0[deploymentID] }
        if found == nil, let looked = labels() {
            found = looked
            deploymentLabels.withLock { cache in
                if cache.count >= Self.maxCachedDeployments { cache = [:] }
                cache[deploymentID] = looked
            }
        }
        guard let found else { return }
        observer(
            OTelLogLine(
                labels: found, deploymentID: deploymentID, replicaID: replicaID, stream: stream, timestamp: Date(), message: message))
    }

    func offer(requests keyed: [(key: String, labels: MetricLabels, entry: AccessLogEntry)]) {
        guard let observer = observers.withLock({ $0.requests }), !keyed.isEmpty else { return }
        observer(keyed.map { OTelRequest(labels: $0.labels, entry: $0.entry) })
    }

    func offer(points: [OTelServicePoint]) {
        guard let observer = observers.withLock({ $0.points }), !points.isEmpty else { return }
        observer(points)
    }
}
