import Foundation
import YardCore
import YardRuntime

/// The registry every node pulls images from: Debian's `docker-registry` started and owned by
/// `yard serve` on the manager's swarm address (a free port, storage in the data folder), or
/// one the operator names (`--swarm-registry HOST:PORT`). Nodes need it in their
/// `insecure-registries` (it speaks plain HTTP).
public final class SwarmRegistry: @unchecked Sendable {
    public static let binary = "/usr/bin/docker-registry"

    /// `HOST:PORT`, the registry part of image references.
    public let host: String
    private let process: ChildProcess?

    /// A registry someone else runs.
    public init(external host: String) {
        self.host = host
        self.process = nil
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
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", config.path]
        let log = directory.appendingPathComponent("registry.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        try handle.close()
        self.process = process
        // It prints nothing to wait on before it listens: ask its API.
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if try await SystemCommand("/usr/bin/curl", ["-s", "-o", "/dev/null", "http://\(host)/v2/"]).result().succeeded { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        stop()
        throw YardError(.unavailable, "docker-registry did not answer on \(host) within 10 s; see \(log.path)")
    }

    /// Ends the registry this server started (its storage stays, for the next start).
    public func stop() {
        guard let process, process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}
