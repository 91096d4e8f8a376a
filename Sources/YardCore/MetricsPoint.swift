import Foundation

/// What the router answered for one service over some time: requests by status class,
/// a latency histogram and body bytes. Tallies add up (`merge`), so 10 s points sum into
/// minutes and minutes into ten-minute points.
public struct RequestTally: Sendable, Hashable, Codable {
    /// Upper bounds of the latency buckets, in milliseconds; a last bucket holds the rest.
    public static let latencyBoundsMs: [Double] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000]

    public var requests = 0
    /// Answers by status class: index 0 is 1xx, … index 4 is 5xx (others count in none).
    public var statusClasses = [0, 0, 0, 0, 0]
    /// Requests per latency bucket (`latencyBoundsMs`, then one more for slower ones).
    public var latencyBuckets = [Int](repeating: 0, count: RequestTally.latencyBoundsMs.count + 1)
    public var latencySumMs = 0.0
    public var bytesIn = 0
    public var bytesOut = 0

    public init() {}

    public var serverErrors: Int { statusClasses[4] }

    public mutating func add(status: Int, durationMs: Double, bytesIn: Int, bytesOut: Int) {
        requests += 1
        if (100..<600).contains(status) { statusClasses[status / 100 - 1] += 1 }
        let bucket = Self.latencyBoundsMs.firstIndex { durationMs <= $0 } ?? Self.latencyBoundsMs.count
        latencyBuckets[bucket] += 1
        latencySumMs += durationMs
        self.bytesIn += bytesIn
        self.bytesOut += bytesOut
    }

    public mutating func merge(_ other: RequestTally) {
        requests += other.requests
        for index in statusClasses.indices { statusClasses[index] += other.statusClasses[index] }
        for index in latencyBuckets.indices where index < other.latencyBuckets.count {
            latencyBuckets[index] += other.latencyBuckets[index]
        }
        latencySumMs += other.latencySumMs
        bytesIn += other.bytesIn
        bytesOut += other.bytesOut
    }

    /// The `quantile` (0...1) of latency in milliseconds, interpolated inside its bucket (the
    /// open last bucket answers its lower bound); nil with no requests.
    public func latencyQuantileMs(_ quantile: Double) -> Double? {
        let total = latencyBuckets.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = quantile * Double(total)
        var below = 0
        for (index, count) in latencyBuckets.enumerated() where count > 0 {
            if Double(below + count) >= rank {
                let lower = index == 0 ? 0 : Self.latencyBoundsMs[index - 1]
                guard index < Self.latencyBoundsMs.count else { return lower }
                let upper = Self.latencyBoundsMs[index]
                return lower + (upper - lower) * max(0, rank - Double(below)) / Double(count)
            }
            below += count
        }
        return Self.latencyBoundsMs.last
    }
}

/// One stored point of a service's metrics in one environment: `step` seconds from `at`.
/// Counters (CPU time, bytes, requests) are what happened in the step; gauges (memory,
/// volume) are the average over it, `memoryFraction` its highest value.
public struct MetricsPoint: Sendable, Hashable, Codable {
    /// The start of the step.
    public var at: Date
    /// Its length in seconds: 10, 60 or 600.
    public var step: Int
    /// Running replicas (the most seen in the step).
    public var replicas: Int
    /// CPU time the replicas used in the step, in seconds (÷ step = cores busy).
    public var cpuSeconds: Double
    /// Memory in use, all replicas together.
    public var memoryBytes: Int64
    /// One replica's memory limit; nil when it has none.
    public var memoryLimitBytes: Int64?
    /// The highest replica's memory use as a share of its limit (0...1).
    public var memoryFraction: Double?
    /// Bytes the replicas received and sent on their network; nil where the runtime cannot count them.
    public var networkInBytes: Int64?
    public var networkOutBytes: Int64?
    /// Restarts of the running replicas so far.
    public var restarts: Int
    /// What the router answered for the service in the step.
    public var requests: RequestTally
    /// The service's volume: bytes its files use, and the size of the disk it is on.
    public var volumeUsedBytes: Int64?
    public var volumeTotalBytes: Int64?
    /// A database service's data on disk (its volume).
    public var databaseBytes: Int64?

    public init(
        at: Date, step: Int, replicas: Int = 0, cpuSeconds: Double = 0, memoryBytes: Int64 = 0, memoryLimitBytes: Int64? = nil,
        memoryFraction: Double? = nil, networkInBytes: Int64? = nil, networkOutBytes: Int64? = nil, restarts: Int = 0,
        requests: RequestTally = RequestTally(), volumeUsedBytes: Int64? = nil, volumeTotalBytes: Int64? = nil,
        databaseBytes: Int64? = nil
    ) {
        self.at = at
        self.step = step
        self.replicas = replicas
        self.cpuSeconds = cpuSeconds
        self.memoryBytes = memoryBytes
        self.memoryLimitBytes = memoryLimitBytes
        self.memoryFraction = memoryFraction
        self.networkInBytes = networkInBytes
        self.networkOutBytes = networkOutBytes
        self.restarts = restarts
        self.requests = requests
        self.volumeUsedBytes = volumeUsedBytes
        self.volumeTotalBytes = volumeTotalBytes
        self.databaseBytes = databaseBytes
    }
}

/// A service's metrics over a time range (`yard metrics`, `GET …/services/{service}/metrics`).
public struct MetricsSeriesView: Sendable, Hashable, Codable {
    public var service: String
    public var environment: String
    /// The step of the points, in seconds.
    public var step: Int
    /// Oldest first; steps with no sample are missing.
    public var points: [MetricsPoint]

    public init(service: String, environment: String, step: Int, points: [MetricsPoint]) {
        self.service = service
        self.environment = environment
        self.step = step
        self.points = points
    }
}
