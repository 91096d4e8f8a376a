import Foundation
import Logging
import Synchronization
import Testing
import YardCore

@testable import YardRuntime

/// The plain-process implementation of `ReplicaRuntime`, with real processes.
@Suite struct ProcessRuntimeTests {
    @Test("a placed replica runs on the shared host with its volume's host folder, reports its events and stops")
    func placeStartStop() async throws {
        let runtime = ProcessRuntime(host: "127.0.0.1", logger: Logger(label: "process-runtime-test"))
        #expect(runtime.addressing == .sharedHost("127.0.0.1"))
        #expect(runtime.isolation.runsAsServerUser && !runtime.isolation.bindsVolumes)
        let folder = try TestEnvironment.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let request = ReplicaRequest(
            id: "rep_test-0", deploymentID: "dep_test", serviceID: "svc_test", serviceName: "web", environmentID: "env_test",
            subnetIndex: 1, artifact: .folder(path: folder, builtInPlace: false),
            command: "echo \"at $(pwd) volume $RAILWAY_VOLUME_MOUNT_PATH\"; exec sleep 30", environment: TestEnvironment.minimal,
            port: 4321, volume: .init(name: "data", hostDirectory: folder + "/volume", mountPath: "/data"),
            restartPolicy: RestartPolicy(type: .never, maxRetries: 0))
        let placement = try await runtime.placeReplica(request)
        #expect(placement.address == "127.0.0.1" && placement.port == 4321)
        #expect(placement.environment["RAILWAY_VOLUME_MOUNT_PATH"] == folder + "/volume")
        #expect(FileManager.default.fileExists(atPath: folder + "/volume"))

        let recorded = EventLines()
        let events = Task {
            for await event in runtime.events {
                let line: String =
                    switch event {
                    case .started(let id, _, let attempt): "started \(id) \(attempt)"
                    case .output(let id, _, let line): "output \(id) \(line)"
                    case .stopped(let id): "stopped \(id)"
                    case .exited(let id, let reason, _): "exited \(id) \(reason)"
                    case .launchFailed(let id, let message): "failed \(id) \(message)"
                    }
                recorded.lines.withLock { $0.append(line) }
            }
        }
        defer { events.cancel() }
        try await runtime.startReplica(id: request.id)
        #expect(await eventually { recorded.lines.withLock { $0.contains { $0.hasPrefix("output") } } }, "no output")
        await runtime.stopReplica(id: request.id, grace: .seconds(2))
        #expect(await eventually { recorded.lines.withLock { $0.last?.hasPrefix("stopped") == true } }, "no stopped event")
        let seen = recorded.lines.withLock { $0 }
        #expect(seen.contains("started rep_test-0 0"), "\(seen)")
        #expect(seen.contains { $0.hasPrefix("output rep_test-0 at ") && $0.hasSuffix(" volume \(folder)/volume") }, "\(seen)")
        #expect(seen.contains { $0.hasPrefix("output rep_test-0 at \(folder) ") }, "it runs in the artifact folder: \(seen)")
        #expect(seen.last == "stopped rep_test-0", "\(seen)")
        await #expect(throws: YardError.self) { try await runtime.startReplica(id: request.id) }
        runtime.closeEvents()
    }
}

/// Event lines gathered by a task, read by the test.
final class EventLines: Sendable {
    let lines = Mutex<[String]>([])
}
