import Foundation
import YardCore
import YardRuntime

/// A private dockerd made a one-node swarm on loopback, for tests: `scripts/test-dockerd.sh`
/// runs it with everything (data root, exec root, socket) in a temp folder of its own, its own
/// bridge and address pools in 10.201.0.0/16 and no iptables rules; `stop()` removes it all.
public final class TestDockerDaemon: Sendable {
    public let directory: String
    public let socketPath: String

    /// Starts the daemon and the swarm (about 2 s); fails with the install command when
    /// docker.io is missing.
    public init() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/dockerd") else {
            throw YardError(.unavailable, "this test needs dockerd: run scripts/setup.sh (or apt-get install -y docker.io)")
        }
        directory = "/tmp/yard-dockerd-\(UUID().uuidString.prefix(8).lowercased())"
        socketPath = directory + "/docker.sock"
        let result = try await SystemCommand("/bin/bash", [Self.script, "start", directory]).result()
        guard result.succeeded else {
            _ = try? await SystemCommand("/bin/bash", [Self.script, "stop", directory]).result()
            throw YardError(.unavailable, "dockerd did not start: \(result.standardError)")
        }
    }

    /// Stops the daemon and removes its services, containers, mounts, links and folder.
    public func stop() async {
        _ = try? await SystemCommand("/bin/bash", [Self.script, "stop", directory]).result()
    }

    /// Runs `body` with a fresh daemon, stopped afterwards, also on failure.
    public static func with(_ body: (TestDockerDaemon) async throws -> Void) async throws {
        let daemon = try await TestDockerDaemon()
        do {
            try await body(daemon)
        } catch {
            await daemon.stop()
            throw error
        }
        await daemon.stop()
    }

    /// `scripts/test-dockerd.sh` of this checkout.
    static let script: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("scripts/test-dockerd.sh").path
    }()
}
