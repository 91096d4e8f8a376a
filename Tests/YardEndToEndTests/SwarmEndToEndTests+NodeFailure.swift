#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import YardClient
import YardCore
import YardTestSupport

/// Issue 18: a node dies under load. The worker's dockerd is killed (SIGKILL) while a request
/// loop runs through the edge: its port proxies die with it, so the relays' connections to its
/// tasks are refused, and swarm reschedules its tasks on the manager once its heartbeat
/// times out. Then the worker's dockerd starts again and rejoins.
extension SwarmEndToEndTests {
    func workerNodeDies(_ server: YardServer, daemon: TestDockerDaemon, folder: URL) async throws {
        // After the drain every replica is on the manager. Swarm places each new task on the
        // node with the fewest, counting the old ones a start-first deploy still runs, so one
        // redeploy would put all 4 on the emptied worker; 2 replicas (both there), then 4
        // again, spread them over both nodes.
        let config = folder.appendingPathComponent("railway.json")
        for count in [2, 4] {
            try #"{"deploy": {"healthcheckPath": "/health", "numReplicas": \#(count)}}"#.write(to: config, atomically: true, encoding: .utf8)
            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.outputTail)")
        }
        let before = try await Self.nodeList(server, folder: folder)
        let onWorker = before?.nodes.first { $0.role == "worker" }?.tasks ?? 0
        try #require(onWorker > 0, "no replica runs on the worker to lose: \(String(describing: before))")
        #expect(onWorker < 4, "every replica runs on the worker, none on the manager to take over: \(String(describing: before))")

        // Requests through the edge, each failure with its time.
        let done = Box(false)
        let answered = Box(0)
        let failures = Box<[(at: ContinuousClock.Instant, what: String)]>([])
        let loop = Task {
            while !done.value {
                do {
                    let answer = try await server.getOnce(host: Self.host)
                    if answer.status == 200 {
                        answered.value += 1
                    } else {
                        failures.value.append((at: ContinuousClock.now, what: "\(answer.status) \(answer.body)"))
                    }
                } catch {
                    failures.value.append((at: ContinuousClock.now, what: "\(error)"))
                }
            }
        }
        try await Task.sleep(for: .seconds(1))
        let pid = try String(contentsOfFile: daemon.directory + "/worker/dockerd.pid", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let workerPID = try #require(pid_t(pid), "no pid in the worker's pidfile: '\(pid)'")
        let killed = ContinuousClock.now
        try #require(workerPID > 1 && kill(workerPID, SIGKILL) == 0, "could not kill the worker's dockerd (pid \(pid))")

        // Recovered: swarm calls the worker down and the manager runs all 4 tasks.
        var recovered: ContinuousClock.Instant?
        while ContinuousClock.now - killed < .seconds(90), recovered == nil {
            try await Task.sleep(for: .milliseconds(100))
            let view = try await Self.nodeList(server, folder: folder)
            if view?.nodes.first(where: { $0.role == "manager" })?.tasks == 4, view?.nodes.first(where: { $0.role == "worker" })?.state != "ready" {
                recovered = .now
            }
        }
        try await Task.sleep(for: .seconds(2))
        done.value = true
        await loop.value
        let ms = { (instant: ContinuousClock.Instant) in (instant - killed) / .milliseconds(1) }
        let failed = failures.value
        print(
            "swarm: killed the worker's dockerd (\(onWorker) of 4 replicas there); "
                + "recovered on the manager in \(recovered.map { "\(Int(ms($0))) ms" } ?? "no time (not within 90 s)"); "
                + "\(answered.value) answered, \(failed.count) failed"
                + (failed.isEmpty ? "" : " between \(Int(ms(failed[0].at))) and \(Int(ms(failed[failed.count - 1].at))) ms after the kill"))
        for failure in failed.prefix(8) { print("  +\(Int(ms(failure.at))) ms: \(failure.what.prefix(200))") }
        #expect(recovered != nil, "the worker's replicas did not come back on the manager within 90 s")
        #expect(answered.value > 0)
        // The edge notices a dead node's replica at its first refused connection: a replica's
        // 502s all come within half a second of its first (the requests already on their way).
        let closed = failed.filter { $0.what.hasPrefix("502 ") }
        for replica in Set(closed.compactMap { Self.replicaNamed(in: $0.what) }) {
            let times = closed.filter { Self.replicaNamed(in: $0.what) == replica }.map(\.at)
            #expect(times.allSatisfy { $0 - times[0] < .milliseconds(500) }, "\(replica) failed after the edge noticed: \(times.map { Int(ms($0)) })")
        }
        // Held requests that time out (503) come only when every replica was on the dead node:
        // nothing can answer until swarm runs them elsewhere.
        let other = failed.filter { !$0.what.hasPrefix("502 ") }
        #expect(other.isEmpty || (onWorker == 4 && other.allSatisfy { $0.what.hasPrefix("503 ") }), "\(other.map(\.what).prefix(3))")
        // All 4 replicas answer again through the edge.
        var replicas: Set<String> = []
        for _ in 0..<40 where replicas.count < 4 {
            let answer = try await server.getOnce(host: Self.host)
            #expect(answer.status == 200, "\(answer)")
            if let id = answer.body.split(separator: " ").dropFirst().first { replicas.insert(String(id)) }
        }
        #expect(replicas.count == 4, "after the node failure the edge reached \(replicas)")

        // The worker comes back: its dockerd stops the containers it left and rejoins.
        let restarted = ContinuousClock.now
        try await daemon.restartWorker()
        var rejoined = false
        var leftover = ""
        while ContinuousClock.now - restarted < .seconds(60), !rejoined {
            try await Task.sleep(for: .milliseconds(250))
            let view = try await Self.nodeList(server, folder: folder)
            leftover = (try? await Self.engine(daemon, "/containers/json", socket: daemon.workerSocketPath)) ?? "?"
            rejoined = view?.nodes.first { $0.role == "worker" }?.state == "ready" && leftover == "[]"
        }
        print("swarm: the worker's dockerd restarted, rejoined and stopped its old containers in \(ContinuousClock.now - restarted)")
        #expect(rejoined, "the worker did not rejoin with no container left within 60 s: \(leftover.prefix(300))")
    }

    /// The replica a router error names (`replica rep_… of host`).
    static func replicaNamed(in text: String) -> String? {
        guard let range = text.range(of: "replica rep_") else { return nil }
        return text[range.upperBound...].split(separator: " ").first.map { "rep_" + $0 }
    }

    static func nodeList(_ server: YardServer, folder: URL) async throws -> NodeListView? {
        let now = try await server.yard(["node", "list", "--json"], in: folder)
        return try? JSONDecoder().decode(NodeListView.self, from: Data(now.stdout.utf8))
    }
}
