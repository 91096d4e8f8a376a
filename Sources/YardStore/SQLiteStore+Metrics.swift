import Foundation
import GRDB
import YardCore

extension SQLiteStore {
    /// How long points of each step are kept: 10 s for a day, 1 min for a week, 10 min for a
    /// month. With these a service in one environment holds at most 8,640 + 10,080 + 4,320
    /// = 23,040 rows (about 4 MB).
    public static let metricsRetention: [(step: Int, keep: TimeInterval)] = [
        (10, 86_400), (60, 7 * 86_400), (600, 30 * 86_400),
    ]

    static let statusColumns = (1...5).map { "status_\($0)xx" }
    static let latencyColumns = (0...RequestTally.latencyBoundsMs.count).map { "latency_\($0)" }

    static var metricsPointTableSQL: String {
        """
        CREATE TABLE metrics_point (
            service_id TEXT NOT NULL,
            environment_id TEXT NOT NULL,
            step INTEGER NOT NULL,
            at INTEGER NOT NULL,
            replicas INTEGER NOT NULL,
            cpu_seconds REAL NOT NULL,
            memory_bytes INTEGER NOT NULL,
            memory_limit_bytes INTEGER,
            memory_fraction REAL,
            network_in_bytes INTEGER,
            network_out_bytes INTEGER,
            restarts INTEGER NOT NULL,
            requests INTEGER NOT NULL,
            \((statusColumns + latencyColumns).map { "\($0) INTEGER NOT NULL," }.joined(separator: "\n    "))
            latency_sum_ms REAL NOT NULL,
            bytes_in INTEGER NOT NULL,
            bytes_out INTEGER NOT NULL,
            volume_used_bytes INTEGER,
            volume_total_bytes INTEGER,
            database_bytes INTEGER,
            PRIMARY KEY (service_id, environment_id, step, at)
        ) WITHOUT ROWID;
        """
    }

    /// Every column after the key, with how a coarser step aggregates it.
    private static var metricsColumns: [(name: String, aggregate: String)] {
        [
            ("replicas", "MAX"), ("cpu_seconds", "SUM"), ("memory_bytes", "AVG"), ("memory_limit_bytes", "MAX"),
            ("memory_fraction", "MAX"), ("network_in_bytes", "SUM"), ("network_out_bytes", "SUM"), ("restarts", "MAX"),
            ("requests", "SUM"),
        ] + (statusColumns + latencyColumns).map { ($0, "SUM") } + [
            ("latency_sum_ms", "SUM"), ("bytes_in", "SUM"), ("bytes_out", "SUM"), ("volume_used_bytes", "AVG"),
            ("volume_total_bytes", "MAX"), ("database_bytes", "AVG"),
        ]
    }

    /// Stores 10 s points (one per service and environment), replacing any at the same time.
    public func appendMetricsPoints(_ points: [(serviceID: String, environmentID: String, point: MetricsPoint)]) throws {
        guard !points.isEmpty else { return }
        let columns = Self.metricsColumns.map(\.name)
        let sql = """
            INSERT OR REPLACE INTO metrics_point (service_id, environment_id, step, at, \(columns.joined(separator: ", ")))
            VALUES (\(Array(repeating: "?", count: columns.count + 4).joined(separator: ", ")))
            """
        try write { db in
            for (serviceID, environmentID, point) in points {
                let tally = point.requests
                var values: [(any DatabaseValueConvertible)?] = [
                    serviceID, environmentID, point.step, Int64(point.at.timeIntervalSince1970.rounded(.down)),
                    point.replicas, point.cpuSeconds, point.memoryBytes, point.memoryLimitBytes, point.memoryFraction,
                    point.networkInBytes, point.networkOutBytes, point.restarts, tally.requests,
                ]
                values += tally.statusClasses.map { $0 } as [(any DatabaseValueConvertible)?]
                values += tally.latencyBuckets.map { $0 } as [(any DatabaseValueConvertible)?]
                values += [
                    tally.latencySumMs, tally.bytesIn, tally.bytesOut, point.volumeUsedBytes, point.volumeTotalBytes,
                    point.databaseBytes,
                ]
                try db.execute(sql: sql, arguments: StatementArguments(values))
            }
        }
    }

    /// Sums the complete `coarse`-second spans of `fine`-second points into `coarse` points
    /// (spans already summed stay as they are), then drops points past their retention.
    /// Only spans that ended within the last `2 × coarse` seconds are looked at: the
    /// collector calls it every interval, so nothing older is still missing.
    public func downsampleMetrics(now: Date) throws {
        let columns = Self.metricsColumns
        let nowSeconds = Int64(now.timeIntervalSince1970.rounded(.down))
        try write { db in
            for (fine, coarse) in [(10, 60), (60, 600)] {
                let end = nowSeconds / Int64(coarse) * Int64(coarse)
                let names = columns.map(\.name).joined(separator: ", ")
                let aggregates = columns.map { column in
                    column.aggregate == "AVG" ? "CAST(AVG(\(column.name)) AS INTEGER)" : "\(column.aggregate)(\(column.name))"
                }
                try db.execute(
                    sql: """
                        INSERT OR IGNORE INTO metrics_point (service_id, environment_id, step, at, \(names))
                        SELECT service_id, environment_id, ?, at / ? * ? AS span, \(aggregates.joined(separator: ", "))
                        FROM metrics_point WHERE step = ? AND at >= ? AND at < ?
                        GROUP BY service_id, environment_id, span
                        """,
                    arguments: [coarse, coarse, coarse, fine, end - 2 * Int64(coarse), end])
            }
            for (step, keep) in Self.metricsRetention {
                try db.execute(
                    sql: "DELETE FROM metrics_point WHERE step = ? AND at < ?", arguments: [step, nowSeconds - Int64(keep)])
            }
        }
    }

    /// A service's points of one step from `since` on, oldest first.
    public func metricsPoints(serviceID: String, environmentID: String, step: Int, since: Date) throws -> [MetricsPoint] {
        let columns = Self.metricsColumns.map(\.name)
        return try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT at, step, \(columns.joined(separator: ", ")) FROM metrics_point
                    WHERE service_id = ? AND environment_id = ? AND step = ? AND at >= ? ORDER BY at
                    """,
                arguments: [serviceID, environmentID, step, Int64(since.timeIntervalSince1970.rounded(.down))]
            ).map(Self.metricsPoint)
        }
    }

    /// How many points are stored, all steps (the bound in docs/architecture.md).
    public func metricsPointCount() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM metrics_point") ?? 0 }
    }

    private static func metricsPoint(_ row: Row) -> MetricsPoint {
        var tally = RequestTally()
        tally.requests = row["requests"]
        tally.statusClasses = statusColumns.map { row[$0] }
        tally.latencyBuckets = latencyColumns.map { row[$0] }
        tally.latencySumMs = row["latency_sum_ms"]
        tally.bytesIn = row["bytes_in"]
        tally.bytesOut = row["bytes_out"]
        return MetricsPoint(
            at: Date(timeIntervalSince1970: TimeInterval(row["at"] as Int64)), step: row["step"], replicas: row["replicas"],
            cpuSeconds: row["cpu_seconds"], memoryBytes: row["memory_bytes"], memoryLimitBytes: row["memory_limit_bytes"],
            memoryFraction: row["memory_fraction"], networkInBytes: row["network_in_bytes"], networkOutBytes: row["network_out_bytes"],
            restarts: row["restarts"], requests: tally, volumeUsedBytes: row["volume_used_bytes"],
            volumeTotalBytes: row["volume_total_bytes"], databaseBytes: row["database_bytes"])
    }
}
