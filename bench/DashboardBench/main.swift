// Server-side time of the dashboard's pages for a project of 50 services (issue 19: a page's
// HTML in under 50 ms), against the API's JSON answer for the same environment, asked of the
// same server in the same run.
//
//   scripts/release-build.sh --product DashboardBench && .build/release/DashboardBench [requests]
//   bash bench/dashboard.sh [-n REQUESTS] [-r ROUNDS]
//
// The application is the one `yard serve` runs (API and dashboard) on a real orchestrator
// over a temporary store, seeded as the dashboard's tests seed it
// (`DashboardHarness.fiftyServices`: 50 services, `web` with 20 deployments). Every path is
// asked `requests` times (default 50) after 5 warm-ups through Hummingbird's live test
// client, a real loopback connection, one request at a time. The canvas is also timed
// in-process, split into its data read and its HTML. Prints the median and p90 of each row
// and the median's ratio to the API's JSON row.
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import YardDashboard
import YardDashboardTestSupport

let requests = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 50
guard requests > 0 else {
    print("usage: DashboardBench [REQUESTS]: a positive number of requests per row")
    exit(2)
}

struct Row: Sendable {
    var name: String
    var times: [Duration]
    var bytes: Int

    func quantile(_ q: Double) -> Duration {
        let sorted = times.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
    }
}

enum Measure {
    static let warmups = 5

    /// Times `body` `count` times after the warm-ups; `body` returns the answer's size.
    static func row(_ name: String, count: Int, _ body: () async throws -> Int) async throws -> Row {
        for _ in 0..<warmups { _ = try await body() }
        let clock = ContinuousClock()
        var times: [Duration] = []
        var bytes = 0
        for _ in 0..<count {
            let start = clock.now
            bytes = try await body()
            times.append(clock.now - start)
        }
        return Row(name: name, times: times, bytes: bytes)
    }

    static func milliseconds(_ duration: Duration) -> Double { Double(duration / .microseconds(1)) / 1000 }
}

let harness = try DashboardHarness.fiftyServices()
/// Every row; the caller removes the data directory on each way out (the process exits
/// without running the harness's deinit).
func measureAll(_ harness: DashboardHarness) async throws -> [Row] {
    let dashboard = Dashboard(backend: harness.backend, logger: Logger(label: "bench"))
    let canvasData = try await Measure.row("canvas data, in process", count: requests) {
        _ = try await dashboard.canvasValues(project: "shop", environment: "production")
        return 0  // values, not bytes
    }
    let values = try await dashboard.canvasValues(project: "shop", environment: "production")
    let canvasHTML = try await Measure.row("canvas HTML, in process", count: requests) { dashboard.render("canvas", values, csrf: "x").utf8.count }

    let served = try await harness.application.test(.live) { client in
        let login = try await client.execute(
            uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
            body: ByteBuffer(string: "token=\(harness.token)"))
        guard let cookie = login.headers[.setCookie]?.split(separator: ";").first else {
            throw YardBenchError("signing in with the admin token gave \(login.status), no session cookie")
        }
        let session = String(cookie)
        let bearer = "Bearer \(harness.token)"
        let paths: [(String, String, HTTPFields)] = [
            ("API JSON: environment status", "/v1/projects/shop/environments/production/status", [.authorization: bearer]),
            ("API health", "/v1/health", [:]),
            ("projects page", "/", [.cookie: session]),
            ("canvas page", "/p/shop/production", [.cookie: session]),
            ("service page (20 deployments)", "/p/shop/production/s/web", [.cookie: session]),
            ("canvas status JSON (live updates)", "/p/shop/production/status.json", [.cookie: session]),
        ]
        var rows: [Row] = []
        for (name, path, headers) in paths {
            rows.append(
                try await Measure.row(name, count: requests) {
                    let answer = try await client.execute(uri: path, method: .get, headers: headers)
                    guard answer.status == .ok else { throw YardBenchError("\(path) answered \(answer.status)") }
                    return answer.body.readableBytes
                })
        }
        return rows
    }
    return [canvasData, canvasHTML] + served
}

let rows: [Row]
do {
    rows = try await measureAll(harness)
    harness.data.remove()
} catch {
    harness.data.remove()
    print("dashboard bench failed: \(error)")
    exit(1)
}

struct YardBenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

let baseline = rows.first { $0.name.hasPrefix("API JSON") }.map { Measure.milliseconds($0.quantile(0.5)) } ?? 1
print("dashboard, 50 services: \(requests) requests per row after \(Measure.warmups), one at a time (goal: every page under 50 ms)")
print(String(repeating: "-", count: 96))
print("row".padding(toLength: 40, withPad: " ", startingAt: 0), "median ms", "  p90 ms", " ÷ API JSON", "    bytes")
for row in rows {
    let median = Measure.milliseconds(row.quantile(0.5))
    print(
        row.name.padding(toLength: 40, withPad: " ", startingAt: 0),
        String(format: "%9.2f %8.2f %11.2f", median, Measure.milliseconds(row.quantile(0.9)), median / baseline),
        row.bytes > 0 ? String(format: "%9d", row.bytes) : "        –")
}
let pages = rows.filter { $0.name.hasSuffix("page") || $0.name.contains("page (") }
let slowest = pages.map { Measure.milliseconds($0.quantile(0.5)) }.max() ?? 0
print(String(format: "slowest page median: %.2f ms (%@)", slowest, slowest < 50 ? "under the 50 ms goal" : "OVER the 50 ms goal"))
