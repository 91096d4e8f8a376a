import Foundation
import YardCore
import YardImage
import YardRuntime

/// The registry every node pulls images from: Debian's `docker-registry` started and owned by
/// `yard serve` on the manager's swarm address (a free port, storage in the data folder), or
/// one the operator names (`--swarm-registry HOST:PORT`). Nodes need it in their
/// `insecure-registries` (it speaks plain HTTP).
public final class SwarmRegistry: @unchecked Sendable {
    public static let binary = RegistryProcess.binary

    /// `HOST:PORT`, the registry part of image references.
    public let host: String
    private let process: ChildProcess?
    /// The config of the registry this server runs (`garbage-collect` reads it); nil for one
    /// someone else runs.
    let configFile: URL?
    /// Pushes and garbage collection take turns (`SwarmRegistry+GC.swift`).
    let gate = RegistryGate()

    /// A registry someone else runs.
    public init(external host: String) {
        self.host = host
        self.process = nil
        self.configFile = nil
    }

    /// Starts `docker-registry` on `address` (a free port) storing in `directory`, and waits
    /// until it answers.
    public init(address: String, directory: URL) async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw YardError(
                .unavailable,
                "the swarm runtime needs a registry the nodes pull from: apt-get install -y docker-registry, or pass --swarm-registry HOST:PORT")
        }
        let port = try PortAllocator.freePort(host: address)
        host = "\(address):\(port)"
        let data = directory.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("config.yml")
        try """
        version: 0.1
        log:
          level: warn
        storage:
          filesystem:
            rootdirectory: \(data.path)
          delete:
            enabled: true
        http:
          addr: \(host)

        """.write(to: config, atomically: true, encoding: .utf8)
        configFile = config
        process = try await RegistryProcess.start(
            configFile: config, host: host, log: directory.appendingPathComponent("registry.log"))
    }

    /// Ends the registry this server started (its storage stays, for the next start).
    public func stop() {
        if let process { RegistryProcess.stop(process) }
    }
}
