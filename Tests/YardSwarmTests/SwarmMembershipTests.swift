import Foundation
import Logging
import Testing
import YardCore
import YardImage
import YardRuntime
import YardTestSupport

@testable import YardSwarm

/// `yard node remove` and `yard node add` on the two-node test swarm: an active worker or a
/// manager is refused, a drained worker is removed, and the worker joins again by doing what
/// `yard node add` prints (the join request, through its Engine API).
@Suite(.serialized)
struct SwarmMembershipTests {
    @Test(.timeLimit(.minutes(4)))
    func aDrainedWorkerIsRemovedAndJoinsAgainWithWhatNodeAddPrints() async throws {
        try await TestDockerDaemon.with { daemon in
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("yard-membership-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: scratch) }
            let logger = Logger(label: "swarm-membership-test")
            let runtime = SwarmRuntime(
                configuration: .init(
                    socketPath: daemon.socketPath, namePrefix: SwarmRuntimeTests.prefix,
                    imageStore: ImageStore(configuration: .init(directory: scratch.appendingPathComponent("images"))),
                    scratchDirectory: scratch, registry: SwarmRegistry(external: "\(TestDockerDaemon.managerAddress):5999")),
                builds: ProcessRuntime(host: "127.0.0.1", logger: logger), logger: logger)
            defer { runtime.closeEvents() }

            let join = try await runtime.joinInstructions()
            #expect(join.managerAddresses == ["\(TestDockerDaemon.managerAddress):2377"], "\(join.managerAddresses)")
            #expect(join.joinToken.hasPrefix("SWMTKN-"))
            #expect(join.daemonConfiguration.contains("\"userns-remap\" : \"default\""), "\(join.daemonConfiguration)")
            #expect(join.daemonConfiguration.contains("\(TestDockerDaemon.managerAddress):5999"), "\(join.daemonConfiguration)")
            #expect(join.joinRequest.contains(join.joinToken) && join.joinRequest.contains("ADDRESS"))

            let nodes = try await runtime.nodes()
            let worker = try #require(nodes.first { $0.ManagerStatus == nil })
            let manager = try #require(nodes.first { $0.ManagerStatus != nil })
            let active = await #expect(throws: YardError.self) { try await runtime.removeNode(worker.name) }
            #expect(active?.message.contains("drain it first (yard node drain yard-worker)") == true, "\(active?.message ?? "")")
            let managerRefused = await #expect(throws: YardError.self) { try await runtime.removeNode(manager.ID) }
            #expect(managerRefused?.message.contains("is a manager") == true)

            try await runtime.setAvailability("drain", node: worker.ID)
            let removed = try await runtime.removeNode(String(worker.ID.prefix(8)))
            #expect(removed.id == worker.ID)
            #expect(try await runtime.nodes().count == 1)

            // The operator's part on that machine: leave, then the printed join request.
            let workerEngine = DockerEngine(socketPath: daemon.workerSocketPath)
            try await workerEngine.call(.POST, "/swarm/leave?force=true")
            let request = join.joinRequest.replacingOccurrences(of: "ADDRESS", with: TestDockerDaemon.workerAddress)
            try await workerEngine.call(.POST, "/swarm/join", json: Data(request.utf8))
            let deadline = ContinuousClock.now + .seconds(60)
            var rejoined: SwarmNode?
            while ContinuousClock.now < deadline {
                rejoined = try await runtime.nodes().first { $0.ManagerStatus == nil && $0.Status.State == "ready" }
                if rejoined != nil { break }
                try await Task.sleep(for: .milliseconds(250))
            }
            let states = try await runtime.nodes().map { "\($0.name) \($0.Status.State)" }
            let back = try #require(rejoined, "the worker did not join again: \(states)")
            #expect(back.ID != worker.ID && back.name == worker.name && back.Spec.Availability == "active")
        }
    }
}
