import Foundation
import Testing
import YardCore
import YardTestSupport

/// The data directory under a long bounded load: logs rotate past `--log-max-size`, old ones
/// go after `--log-retention`, and the directory's size stays under a stated bound while
/// many times that bound is logged.
@Suite("Log retention end to end")
struct LogRetentionEndToEndTests {
    /// Each request prints this many lines of ~100 bytes to stdout (the deploy log).
    static let linesPerRequest = 10

    /// The app: `LogDrainEndToEndTests.chattyApp`.
    static let app = LogDrainEndToEndTests.chattyApp(lines: linesPerRequest)

    /// Bytes of every regular file under `folder` (what the data directory holds).
    static func size(of folder: URL) -> Int {
        guard let files = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.fileSizeKey, .isRegularFileKey]) else {
            return 0
        }
        var total = 0
        for case let file as URL in files {
            guard let values = try? file.resourceValues(forKeys: [.fileSizeKey, .isRegularFileKey]), values.isRegularFile == true else { continue }
            total += values.fileSize ?? 0
        }
        return total
    }

    static func folders(in logs: URL) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: logs.path)) ?? [])
    }

    @Test("a long bounded load rotates and removes logs; the data directory stays under its bound", .timeLimit(.minutes(3)))
    func dataDirectoryStaysBounded() async throws {
        let maxLog = 16 << 10
        try await YardServer.with(serveArguments: ["--log-max-size", "16K", "--log-retention", "6s", "--metrics-interval", "1s"]) { server in
            let folder = server.root.appendingPathComponent("apps/chatty")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try "web: python3 server.py\n".write(to: folder.appendingPathComponent("Procfile"), atomically: true, encoding: .utf8)
            try Self.app.write(to: folder.appendingPathComponent("server.py"), atomically: true, encoding: .utf8)
            try #require(try await server.yard(["init", "--name", "chatty"], in: folder).status == 0)
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.outputTail)")
            let logs = server.dataDirectory.appendingPathComponent("logs")
            let first = Self.folders(in: logs)
            try #require(first.count == 1, "\(first)")
            let baseline = Self.size(of: server.dataDirectory)

            // The load: requests as fast as one client goes for 24 s, two redeploys during it.
            let started = ContinuousClock.now
            let loadTime = Duration.seconds(24)
            async let load: Int = {
                var answered = 0
                while ContinuousClock.now - started < loadTime {
                    if (try? await server.get(host: "chatty-chatty.localhost", path: "/load"))?.status == 200 { answered += 1 }
                }
                return answered
            }()
            async let redeploys: [Int32] = {
                var statuses: [Int32] = []
                for at in [2, 10] {
                    try? await Task.sleep(until: started + .seconds(at))
                    statuses.append((try? await server.yard(["up"], in: folder).status) ?? -1)
                }
                return statuses
            }()
            var series: [(seconds: Int, bytes: Int, logBytes: Int)] = []
            while ContinuousClock.now - started < loadTime + .seconds(12) {
                let elapsed = (ContinuousClock.now - started).components.seconds
                series.append((Int(elapsed), Self.size(of: server.dataDirectory), Self.size(of: logs)))
                try await Task.sleep(for: .seconds(1))
                if ContinuousClock.now - started > loadTime, Self.folders(in: logs).isDisjoint(with: first) { break }
            }
            let sent = await load
            #expect(await redeploys == [0, 0])

            // What was logged: each request's lines as JSON (~250 bytes each) and its access line.
            let logged = sent * (Self.linesPerRequest * 250 + 250)
            let highest = series.map(\.bytes).max() ?? 0
            let highestLogs = series.map(\.logBytes).max() ?? 0
            print("data directory under load: baseline \(baseline) B, \(sent) requests, ~\(logged) B logged")
            print("seconds, data directory bytes, logs bytes: " + series.map { "\($0.seconds):\($0.bytes)/\($0.logBytes)" }.joined(separator: " "))
            // The load is what a loaded machine gives one client; the bound below is what matters.
            #expect(sent >= 200, "only \(sent) requests")
            // Three deployments' build, deploy and HTTP logs, each at most twice the limit plus a line.
            let logBound = 3 * 3 * 2 * (maxLog + 4096)
            #expect(highestLogs <= logBound, "logs reached \(highestLogs) B, bound \(logBound) B")
            #expect(logged > 4 * logBound, "the load logged only \(logged) B")
            // The rest of the data directory (SQLite and its WAL, metrics points, the artifact) grows by little.
            let bound = baseline + logBound + (8 << 20)
            #expect(highest <= bound, "the data directory reached \(highest) B, bound \(bound) B")
            // Rotated: the live deployment's deploy log has its previous part beside it.
            let live = Self.folders(in: logs).subtracting(first)
            #expect(live.contains { FileManager.default.fileExists(atPath: logs.appendingPathComponent("\($0)/deploy.1.jsonl").path) }, "\(live)")
            // Removed: the first deployment's logs went once they were older than the retention.
            #expect(Self.folders(in: logs).isDisjoint(with: first), "\(Self.folders(in: logs))")
            let tail = try await server.yard(["logs"], in: folder)
            #expect(tail.status == 0 && tail.stdout.contains("request /load line"), "\(tail.outputTail)")
        }
    }
}
