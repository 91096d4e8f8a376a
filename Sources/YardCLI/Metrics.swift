import ArgumentParser
import Foundation
import YardClient
import YardCore

#if canImport(Glibc)
    import Glibc
#endif

struct Metrics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a service's CPU, memory, network, requests and volume over time (a chart on a terminal, a table otherwise).")

    @OptionGroup var options: ClientOptions

    @Option(help: "How far back: a duration (30m, 1h, 7d) or an ISO 8601 time.")
    var since = "1h"

    @Option(help: "The points' step in seconds: 10 (kept a day), 60 (a week) or 600 (a month); default the finest kept that long.")
    var step: Int?

    func validate() throws {
        _ = try DurationText.moment(since, flag: "--since")
        if let step, ![10, 60, 600].contains(step) { throw ValidationError("--step must be 10, 60 or 600 (seconds)") }
    }

    func run() async throws {
        try await reportingErrors {
            let scope = try options.serviceScope()
            let series = try await options.client().metrics(scope, since: try DurationText.moment(since, flag: "--since"), step: step)
            if options.json { try Output.json(series); return }
            let rows = MetricsTable(series: series)
            print(isatty(1) == 1 ? rows.chart() : rows.table())
        }
    }
}

/// `yard metrics`' text: per point rows, or one sparkline per measure.
struct MetricsTable {
    var series: MetricsSeriesView

    /// The measures shown, each a value per point (nil: not known at that point).
    var measures: [(name: String, values: [Double?], format: (Double) -> String)] {
        let points = series.points
        func bytes(_ value: Double) -> String { ByteSize.format(Int64(value)) }
        return [
            ("cpu", points.map { $0.cpuSeconds / Double($0.step) }, { String(format: "%.2f cores", $0) }),
            ("memory", points.map { Double($0.memoryBytes) }, bytes),
            ("net in", points.map { $0.networkInBytes.map(Double.init) }, bytes),
            ("net out", points.map { $0.networkOutBytes.map(Double.init) }, bytes),
            ("requests", points.map { Double($0.requests.requests) }, { String(format: "%.0f", $0) }),
            ("5xx", points.map { Double($0.requests.serverErrors) }, { String(format: "%.0f", $0) }),
            ("p95 ms", points.map { $0.requests.latencyQuantileMs(0.95) }, { String(format: "%.1f", $0) }),
            ("volume", points.map { $0.volumeUsedBytes.map(Double.init) }, bytes),
        ]
    }

    var heading: String {
        "Service \(series.service) (\(series.environment)): \(series.points.count) points of \(series.step)s"
            + (series.points.first.map { " since \(Output.time($0.at))" } ?? "")
    }

    func table() -> String {
        guard !series.points.isEmpty else { return heading + "\nNo points yet: the collector stores one every interval." }
        var lines = [heading]
        let header = ["time"] + measures.map(\.name)
        var rows: [[String]] = [header]
        for (index, point) in series.points.enumerated() {
            rows.append([Output.time(point.at)] + measures.map { measure in measure.values[index].map(measure.format) ?? "-" })
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            lines.append(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
        return lines.joined(separator: "\n")
    }

    static let bars = Array("▁▂▃▄▅▆▇█")

    /// One line per measure: a sparkline of its last (at most 60) points, then the latest and highest value.
    func chart(width: Int = 60) -> String {
        guard !series.points.isEmpty else { return heading + "\nNo points yet: the collector stores one every interval." }
        var lines = [heading]
        for measure in measures {
            let values = Array(measure.values.suffix(width))
            let known = values.compactMap { $0 }
            guard let highest = known.max() else {
                lines.append(measure.name.padding(toLength: 9, withPad: " ", startingAt: 0) + "(not measured)")
                continue
            }
            let line = values.map { value -> Character in
                guard let value else { return " " }
                guard highest > 0 else { return Self.bars[0] }
                return Self.bars[min(Self.bars.count - 1, Int(value / highest * Double(Self.bars.count - 1)))]
            }
            lines.append(
                measure.name.padding(toLength: 9, withPad: " ", startingAt: 0) + String(line)
                    + "  now \(known.last.map(measure.format) ?? "-")  max \(measure.format(highest))")
        }
        return lines.joined(separator: "\n")
    }
}
