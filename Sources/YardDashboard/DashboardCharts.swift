import Foundation
import YardCore

/// The service page's metrics as inline SVG sparklines (no script needed to read them): CPU,
/// memory, requests, 5xx responses and p95 latency over the stored points (`GET …/metrics`).
enum DashboardCharts {
    static let width = 240.0
    static let height = 48.0

    struct Series {
        var id: String
        var title: String
        var values: [Double]
        var format: (Double) -> String
    }

    static func series(_ metrics: MetricsSeriesView) -> [Series] {
        let points = metrics.points
        let step = Double(max(metrics.step, 1))
        return [
            Series(id: "cpu", title: "CPU", values: points.map { $0.cpuSeconds / step }, format: { String(format: "%.2f cores", $0) }),
            Series(
                id: "memory", title: "Memory", values: points.map { Double($0.memoryBytes) },
                format: { String(format: "%.1f MiB", $0 / 1_048_576) }),
            Series(
                id: "requests", title: "Requests", values: points.map { Double($0.requests.requests) },
                format: { String(format: "%.0f per %.0f s", $0, step) }),
            Series(
                id: "errors", title: "5xx responses", values: points.map { Double($0.requests.serverErrors) },
                format: { String(format: "%.0f per %.0f s", $0, step) }),
            // Steps without requests have no latency: left out of that line.
            Series(
                id: "latency", title: "p95 latency", values: points.compactMap { $0.requests.latencyQuantileMs(0.95) },
                format: { String(format: "%.0f ms", $0) }),
        ]
    }

    /// The template's values: one chart per series with its polyline's points, scaled to the
    /// series' own maximum (the newest value and the maximum are written beside it).
    static func values(_ metrics: MetricsSeriesView) -> [[String: Any]] {
        guard !metrics.points.isEmpty else { return [] }
        return series(metrics).map { series -> [String: Any] in
            let top = max(series.values.max() ?? 0, .leastNonzeroMagnitude)
            let count = series.values.count
            let points = series.values.enumerated().map { index, value -> String in
                let x = count > 1 ? Double(index) * width / Double(count - 1) : width / 2
                let y = height - 2 - (value / top) * (height - 4)
                return String(format: "%.1f,%.1f", x, y)
            }
            let latest = series.values.last.map(series.format) ?? "no data"
            return [
                "id": series.id, "title": series.title, "points": points.joined(separator: " "), "count": count,
                "latest": latest, "peak": series.values.max().map(series.format) ?? "no data",
            ]
        }
    }
}
