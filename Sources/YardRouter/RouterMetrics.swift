import Prometheus
import Synchronization
import YardCore

/// Names that label a service's series (never ids alone, never secrets).
public struct MetricLabels: Hashable, Sendable {
    public var project: String
    public var environment: String
    public var service: String

    public init(project: String, environment: String, service: String) {
        self.project = project
        self.environment = environment
        self.service = service
    }

    var pairs: [(String, String)] { [("project", project), ("environment", environment), ("service", service)] }
}

/// The router's request metrics per service, fed in batches from the access log path (never
/// on an event loop): Prometheus counters and a histogram that only grow, and a tally per
/// service that the collector takes every interval for its stored points.
public final class RouterMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    private struct Series: Sendable {
        var requests: [Counter]
        var duration: DurationHistogram
        var bytesIn: Counter
        var bytesOut: Counter
    }

    private struct State {
        var series: [MetricLabels: Series] = [:]
        /// Since the collector's last take, by the service's key (its id and environment id).
        var tallies: [String: RequestTally] = [:]
    }

    private let state = Mutex(State())

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// One service's requests in a batch.
    private struct Pending {
        var labels: MetricLabels
        var tally = RequestTally()
        var durations: [Duration] = []

        mutating func add(_ other: Pending) {
            self.tally.merge(other.tally)
            self.durations += other.durations
        }
    }

    /// Counts a batch of answered requests, each with its service's key (its id and
    /// environment id) and labels.
    ///
    /// A run of entries of one service (usually the whole batch: a busy service fills it)
    /// is summed in a local tally before a dictionary is touched; looking the key up for
    /// each entry, twice, cost about 1,600 instructions a request.
    public func record(_ entries: [(key: String, labels: MetricLabels, entry: AccessLogEntry)]) {
        guard let first = entries.first else { return }
        var batch: [String: Pending] = [:]
        var runKey = first.key
        var run = Pending(labels: first.labels)
        run.durations.reserveCapacity(entries.count)
        // Each entry bound once: reading its fields through the array's subscript copied
        // the whole element (its strings retained) for each field, about 320 instructions
        // a copy.
        for (key, labels, entry) in entries {
            if key != runKey {
                batch[runKey, default: Pending(labels: run.labels)].add(run)
                runKey = key
                run = Pending(labels: labels)
            }
            let (seconds, attoseconds) = entry.duration.components
            run.tally.add(
                status: entry.status, durationMs: Double(seconds) * 1000 + Double(attoseconds) / 1e15,
                bytesIn: entry.bytesIn, bytesOut: entry.bytesOut)
            run.durations.append(entry.duration)
        }
        batch[runKey, default: Pending(labels: run.labels)].add(run)
        let series = state.withLock { state in
            var series: [(value: Pending, series: Series)] = []
            for (key, value) in batch {
                state.tallies[key, default: RequestTally()].merge(value.tally)
                if let existing = state.series[value.labels] {
                    series.append((value, existing))
                } else {
                    let made = makeSeries(value.labels)
                    state.series[value.labels] = made
                    series.append((value, made))
                }
            }
            return series
        }
        for (value, series) in series {
            for (index, count) in value.tally.statusClasses.enumerated() where count > 0 {
                series.requests[index].increment(by: Int64(count))
            }
            let other = value.tally.requests - value.tally.statusClasses.reduce(0, +)
            if other > 0 { series.requests[5].increment(by: Int64(other)) }
            for duration in value.durations { series.duration.record(duration) }
            if value.tally.bytesIn > 0 { series.bytesIn.increment(by: Int64(value.tally.bytesIn)) }
            if value.tally.bytesOut > 0 { series.bytesOut.increment(by: Int64(value.tally.bytesOut)) }
        }
    }

    /// The tallies since the last take, by service key, and starts new ones.
    public func takeTallies() -> [String: RequestTally] {
        state.withLock { state in
            defer { state.tallies = [:] }
            return state.tallies
        }
    }

    public static let durationBuckets: [Duration] = RequestTally.latencyBoundsMs.map { .microseconds(Int64($0 * 1000)) }
    static let statusClassNames = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"]
    static var requests: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "yard_http_requests", unitName: "total", helpText: "Requests the router answered, by status class")
    }
    static var duration: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "yard_http_request_duration", unitName: "seconds", helpText: "From request head to response end")
    }
    static var requestBytes: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "yard_http_request_bytes", unitName: "total", helpText: "Request body bytes received")
    }
    static var responseBytes: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "yard_http_response_bytes", unitName: "total", helpText: "Response body bytes sent")
    }

    private func makeSeries(_ labels: MetricLabels) -> Series {
        let pairs = labels.pairs
        let series = Series(
            requests: Self.statusClassNames.map {
                registry.makeCounter(descriptor: Self.requests, labels: pairs + [("status_class", $0)])
            },
            duration: registry.makeDurationHistogram(descriptor: Self.duration, labels: pairs, buckets: Self.durationBuckets),
            bytesIn: registry.makeCounter(descriptor: Self.requestBytes, labels: pairs),
            bytesOut: registry.makeCounter(descriptor: Self.responseBytes, labels: pairs)
        )
        return series
    }
}
