import Foundation
import Logging
import Prometheus
import Synchronization
import YardCore
import YardRouter
import YardRuntime
import YardStore

/// One service's replicas and disks as the collector samples them, from its host.
struct ServiceMetricsSample: Sendable {
    struct Replica: Sendable {
        var id: String
        var usage: ResourceUsage?
        var traffic: ReplicaTraffic?
        var restarts: Int
    }

    var serviceID: String
    var environmentID: String
    var labels: MetricLabels
    var replicas: [Replica]
    /// One replica's memory limit, nil without one.
    var memoryLimitBytes: Int64?
    /// The volume's folder, nil without a volume.
    var volumeDirectory: String?
    var isDatabase: Bool

    var key: String { "\(serviceID) \(environmentID)" }
}

/// What the collector reads from the orchestrator every interval.
protocol MetricsHost: Sendable {
    func metricsSamples() async -> [ServiceMetricsSample]
    func metricLabels(serviceID: String, environmentID: String) -> MetricLabels?
}

/// Samples every running service every interval (CPU, memory and its limit, network,
/// restarts from the runtime; requests from the router's access log path; volume and
/// database sizes once a minute), stores a 10 s point per service, sums older points into
/// 1 min and 10 min ones, and keeps the Prometheus registry `/metrics` serves up to date.
/// It is also what alert rules read (`AlertMetricsSource`).
public actor MetricsCollector: AlertMetricsSource {
    public nonisolated let registry: PrometheusCollectorRegistry
    /// Request counters per service, fed by the access log writer.
    public nonisolated let requests: RouterMetrics
    /// Requests and points on their way to the OTLP exporter, when one runs.
    public nonisolated let telemetry = OTelTap()
    let store: SQLiteStore
    let interval: Duration
    let clock: any YardClock
    private let logger: Logger

    /// CPU time and network counters of each replica at the last sample (for the deltas).
    private var lastUsage: [String: ResourceUsage] = [:]
    private var lastTraffic: [String: ReplicaTraffic] = [:]
    /// Volume sizes, measured once a minute (walking a volume costs more than a sample).
    private var diskSizes: [String: (used: Int64, total: Int64)] = [:]
    private var disksMeasuredAt: Date?
    /// The service labels by service key, for the access log path (emptied every interval,
    /// so renames show up).
    private nonisolated let labelCache = Mutex<[String: MetricLabels]>([:])
    private var gauges: [MetricLabels: ResourceGauges] = [:]

    public init(store: SQLiteStore, interval: Duration, clock: any YardClock, logger: Logger) {
        self.registry = PrometheusCollectorRegistry()
        self.requests = RouterMetrics(registry: registry)
        self.store = store
        self.interval = interval
        self.clock = clock
        self.logger = logger
    }

    /// Counts a batch of the router's answers, by the service each went to.
    nonisolated func recordRequests(_ entries: [(serviceID: String, environmentID: String, entry: AccessLogEntry)], host: some MetricsHost)
    {
        guard !entries.isEmpty else { return }
        var labels: [String: MetricLabels] = [:]
        var keyed: [(key: String, labels: MetricLabels, entry: AccessLogEntry)] = []
        keyed.reserveCapacity(entries.count)
        // The last entry's service, reused while the entries are the same service's (a
        // batch is mostly one busy service's): no key made and looked up for each.
        var last: (serviceID: String, environmentID: String, key: String, labels: MetricLabels?)?
        for (serviceID, environmentID, entry) in entries {
            if let last, last.serviceID == serviceID, last.environmentID == environmentID {
                if let found = last.labels { keyed.append((last.key, found, entry)) }
                continue
            }
            let key = "\(serviceID) \(environmentID)"
            if labels[key] == nil {
                let cached = labelCache.withLock { $0[key] }
                if let found = cached ?? host.metricLabels(serviceID: serviceID, environmentID: environmentID) {
                    if cached == nil { labelCache.withLock { $0[key] = found } }
                    labels[key] = found
                }
            }
            last = (serviceID, environmentID, key, labels[key])
            if let found = labels[key] { keyed.append((key, found, entry)) }
        }
        requests.record(keyed)
        telemetry.offer(requests: keyed)
    }

    /// Samples every `interval` until cancelled.
    func run(host: some MetricsHost) async {
        while !Task.isCancelled {
            do { try await clock.sleep(for: interval) } catch { return }
            let samples = await host.metricsSamples()
            labelCache.withLock { $0 = [:] }
            do {
                try await collect(samples, at: clock.now)
            } catch {
                logger.warning("metrics: could not store a sample", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Turns one round of samples into 10 s points, stores them, downsamples, and updates
    /// the Prometheus gauges.
    func collect(_ samples: [ServiceMetricsSample], at now: Date) async throws {
        let tallies = requests.takeTallies()
        let measureDisks = disksMeasuredAt.map { now.timeIntervalSince($0) >= 60 } ?? true
        if measureDisks {
            disksMeasuredAt = now
            diskSizes = [:]
            for sample in samples {
                if let directory = sample.volumeDirectory, let size = Self.diskUsage(directory) { diskSizes[sample.key] = size }
            }
        }
        // The finest tier holds one point per interval (10 s unless a test runs it faster).
        let seconds = max(1, Double(interval.components.seconds))
        let start = Date(timeIntervalSince1970: (now.timeIntervalSince1970 / seconds).rounded(.down) * seconds)
        var points: [(serviceID: String, environmentID: String, point: MetricsPoint)] = []
        var seenReplicas: Set<String> = []
        for sample in samples {
            var point = MetricsPoint(at: start, step: 10, replicas: sample.replicas.count, memoryLimitBytes: sample.memoryLimitBytes)
            point.requests = tallies[sample.key] ?? RequestTally()
            var fraction: Double?
            var networkIn: Int64?
            var networkOut: Int64?
            for replica in sample.replicas {
                seenReplicas.insert(replica.id)
                point.restarts += replica.restarts
                if let usage = replica.usage {
                    let before = lastUsage[replica.id]
                    if let before, usage.cpuNanoseconds >= before.cpuNanoseconds {
                        point.cpuSeconds += Double(usage.cpuNanoseconds - before.cpuNanoseconds) / 1e9
                    }
                    lastUsage[replica.id] = usage
                    point.memoryBytes += Int64(usage.memoryBytes)
                    if let limit = sample.memoryLimitBytes, limit > 0 {
                        fraction = max(fraction ?? 0, Double(usage.memoryBytes) / Double(limit))
                    }
                }
                if let traffic = replica.traffic {
                    let before = lastTraffic[replica.id] ?? ReplicaTraffic(receivedBytes: 0, sentBytes: 0)
                    networkIn = (networkIn ?? 0) + Int64(traffic.receivedBytes &- min(before.receivedBytes, traffic.receivedBytes))
                    networkOut = (networkOut ?? 0) + Int64(traffic.sentBytes &- min(before.sentBytes, traffic.sentBytes))
                    lastTraffic[replica.id] = traffic
                }
            }
            point.memoryFraction = fraction
            point.networkInBytes = networkIn
            point.networkOutBytes = networkOut
            if let disk = diskSizes[sample.key] {
                point.volumeUsedBytes = disk.used
                point.volumeTotalBytes = disk.total
                if sample.isDatabase { point.databaseBytes = disk.used }
            }
            points.append((sample.serviceID, sample.environmentID, point))
            updateGauges(sample.labels, point: point)
        }
        telemetry.offer(points: zip(samples, points).map { OTelServicePoint(labels: $0.labels, point: $1.point) })
        lastUsage = lastUsage.filter { seenReplicas.contains($0.key) }
        lastTraffic = lastTraffic.filter { seenReplicas.contains($0.key) }
        // Services that stopped keep their series, at zero.
        let current = Set(samples.map(\.labels))
        for (labels, gauges) in self.gauges where !current.contains(labels) {
            gauges.replicas.set(to: 0)
            gauges.memory.set(to: 0)
        }
        try store.appendMetricsPoints(points)
        try store.downsampleMetrics(now: now)
    }

    /// Bytes the files under `directory` use (allocated blocks, each inode once) and the size
    /// of the file system it is on.
    static func diskUsage(_ directory: String) -> (used: Int64, total: Int64)? {
        var fileSystem = statvfs()
        guard statvfs(directory, &fileSystem) == 0 else { return nil }
        let total = Int64(fileSystem.f_blocks) * Int64(fileSystem.f_frsize)
        var used: Int64 = 0
        var seen: Set<UInt64> = []
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return (0, total) }
        while let path = walker.nextObject() as? String {
            var status = stat()
            guard lstat(directory + "/" + path, &status) == 0, seen.insert(UInt64(status.st_ino)).inserted else { continue }
            used += Int64(status.st_blocks) * 512
        }
        return (used, total)
    }

    // MARK: AlertMetricsSource

    public func requestSummary(serviceID: String, environmentID: String, over window: Duration) async -> RequestSummary? {
        guard let points = recentPoints(serviceID, environmentID, over: window), !points.isEmpty else { return nil }
        var tally = RequestTally()
        for point in points { tally.merge(point.requests) }
        return RequestSummary(requests: tally.requests, serverErrors: tally.serverErrors, p95Milliseconds: tally.latencyQuantileMs(0.95))
    }

    public func memoryFraction(serviceID: String, environmentID: String, over window: Duration) async -> Double? {
        guard let points = recentPoints(serviceID, environmentID, over: window) else { return nil }
        let fractions = points.compactMap(\.memoryFraction)
        // A window with a point lacking a sample is not "above N for the whole window".
        guard !fractions.isEmpty, fractions.count == points.count else { return nil }
        return fractions.min()
    }

    public func volumeFraction(serviceID: String, environmentID: String) async -> Double? {
        guard let points = recentPoints(serviceID, environmentID, over: .seconds(120)),
            let point = points.last(where: { $0.volumeTotalBytes != nil }), let used = point.volumeUsedBytes,
            let total = point.volumeTotalBytes, total > 0
        else { return nil }
        return Double(used) / Double(total)
    }

    /// The 10 s points that started within the last `window`.
    private func recentPoints(_ serviceID: String, _ environmentID: String, over window: Duration) -> [MetricsPoint]? {
        let since = clock.now.addingTimeInterval(-Double(window.components.seconds))
        return try? store.metricsPoints(serviceID: serviceID, environmentID: environmentID, step: 10, since: since)
    }

    // MARK: Prometheus

    private struct ResourceGauges: Sendable {
        var replicas: Gauge
        var cpu: Counter
        var memory: Gauge
        var memoryLimit: Gauge
        var networkIn: Counter
        var networkOut: Counter
        var restarts: Gauge
        var volumeUsed: Gauge
        var volumeTotal: Gauge
        var database: Gauge
    }

    private func updateGauges(_ labels: MetricLabels, point: MetricsPoint) {
        let gauges = self.gauges[labels] ?? makeGauges(labels)
        self.gauges[labels] = gauges
        gauges.replicas.set(to: Double(point.replicas))
        if point.cpuSeconds > 0 { gauges.cpu.increment(by: point.cpuSeconds) }
        gauges.memory.set(to: Double(point.memoryBytes))
        gauges.memoryLimit.set(to: Double(point.memoryLimitBytes ?? 0))
        if let bytes = point.networkInBytes, bytes > 0 { gauges.networkIn.increment(by: bytes) }
        if let bytes = point.networkOutBytes, bytes > 0 { gauges.networkOut.increment(by: bytes) }
        gauges.restarts.set(to: Double(point.restarts))
        if let used = point.volumeUsedBytes { gauges.volumeUsed.set(to: Double(used)) }
        if let total = point.volumeTotalBytes { gauges.volumeTotal.set(to: Double(total)) }
        if let database = point.databaseBytes { gauges.database.set(to: Double(database)) }
    }

    private func makeGauges(_ labels: MetricLabels) -> ResourceGauges {
        let pairs = [("project", labels.project), ("environment", labels.environment), ("service", labels.service)]
        func gauge(_ name: String, _ unit: String, _ help: String) -> Gauge {
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: unit, helpText: help), labels: pairs)
        }
        func counter(_ name: String, _ unit: String, _ help: String) -> Counter {
            registry.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: unit, helpText: help), labels: pairs)
        }
        return ResourceGauges(
            replicas: gauge("yard_replicas", "", "Running replicas"),
            cpu: counter("yard_cpu_seconds", "total", "CPU time the replicas used"),
            memory: gauge("yard_memory", "bytes", "Memory the replicas use"),
            memoryLimit: gauge("yard_memory_limit", "bytes", "One replica's memory limit (0: none)"),
            networkIn: counter("yard_network_receive_bytes", "total", "Bytes the replicas received"),
            networkOut: counter("yard_network_transmit_bytes", "total", "Bytes the replicas sent"),
            restarts: gauge("yard_replica_restarts", "", "Restarts of the running replicas"),
            volumeUsed: gauge("yard_volume_used", "bytes", "Bytes the volume's files use"),
            volumeTotal: gauge("yard_volume_size", "bytes", "Size of the disk the volume is on"),
            database: gauge("yard_database_size", "bytes", "A database service's data on disk")
        )
    }
}
