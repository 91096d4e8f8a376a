#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import YardClient
import YardCore
import YardRuntime
import YardTestSupport

/// Issue 18: the edge on every node. `yard edge` (the router's code) runs in the worker's
/// network namespace, follows the manager's route table over the API on the bridge, and
/// reaches each task at its node's address and published port.
extension SwarmEndToEndTests {
    /// The worker's edge port, inside its namespace.
    static let workerEdgePort = 8080

    /// A running `yard edge` in the worker's network namespace.
    final class WorkerEdge: Sendable {
        let process: ChildProcess
        let log: URL

        init(_ server: YardServer, daemon: TestDockerDaemon) async throws {
            let pid = try String(contentsOfFile: daemon.directory + "/worker/dockerd.pid", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            log = server.root.appendingPathComponent("edge-worker.log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            let process = ChildProcess()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
            process.arguments = [
                "--net=/proc/\(pid)/ns/net", YardServer.binary.path, "edge", "--control", server.apiURL,
                "--token-file", server.dataDirectory.appendingPathComponent("admin.token").path,
                "--host", TestDockerDaemon.workerAddress, "--port", String(SwarmEndToEndTests.workerEdgePort), "--hold-timeout", "3",
            ]
            let handle = try FileHandle(forWritingTo: log)
            defer { try? handle.close() }
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            self.process = process
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline, process.isRunning, !output.contains("edge listening on") {
                try await Task.sleep(for: .milliseconds(100))
            }
            guard output.contains("edge listening on") else {
                stop()
                throw YardError(.unavailable, "yard edge did not start in the worker's namespace:\n\(output)")
            }
        }

        var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        func stop() {
            guard process.isRunning else { return }
            process.terminate()
            process.waitUntilExit()
        }

        /// GET / through this edge (from the host, over the bridge).
        func get(host: String) async throws -> (status: Int, body: String) {
            let url = URL(string: "http://\(TestDockerDaemon.workerAddress):\(SwarmEndToEndTests.workerEdgePort)/")!
            let (head, data) = try await HTTPConnection.fetch(HTTPConnection.Request(url: url, headers: [("Host", host)]))
            return (head.status, String(decoding: data, as: UTF8.self))
        }
    }

    /// Requests through the worker's edge reach all 4 replicas, on both nodes.
    func workerEdgeReachesEveryReplica(_ edge: WorkerEdge) async throws {
        var replicas: Set<String> = []
        var last: (status: Int, body: String) = (0, "")
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline, replicas.count < 4 {
            last = (try? await edge.get(host: Self.host)) ?? (0, "")
            if last.status == 200, let id = last.body.split(separator: " ").dropFirst().first { replicas.insert(String(id)) }
            if last.status != 200 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(replicas.count == 4, "the worker's edge reached \(replicas); last answer \(last)\nedge:\n\(edge.output.suffix(2000))")
    }
}
