import Foundation
import YardCore
import YardRuntime

/// This node's `SwarmIsolation` rules, kept up to date with the swarm's node addresses.
extension SwarmRuntime {
    /// Writes the isolation rules before a task is placed, again when the swarm's node
    /// addresses changed since (a node joined or left); a placement fails if they cannot be
    /// written, rather than run a task other environments could reach.
    func isolateNode() async throws {
        guard configuration.isolation != nil else { return }
        // One install at a time: a placement that comes while one runs waits for it.
        if let running = isolating { return try await running.value }
        let install = Task { try await self.writeIsolation() }
        isolating = install
        defer { isolating = nil }
        try await install.value
    }

    private func writeIsolation() async throws {
        guard var isolation = configuration.isolation else { return }
        isolation.nodeAddresses = Array(Set(try await nodes().map(\.address))).sorted()
        if let installed = installedIsolation, installed.nodeAddresses == isolation.nodeAddresses { return }
        try await isolation.install()
        installedIsolation = isolation
        logger.info("swarm isolation written", metadata: ["nodes": "\(isolation.nodeAddresses.joined(separator: ","))"])
    }

    func removeIsolation() async {
        guard let isolation = installedIsolation ?? configuration.isolation else { return }
        await isolation.remove()
        installedIsolation = nil
    }
}
