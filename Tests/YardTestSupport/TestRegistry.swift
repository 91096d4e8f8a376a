import Foundation
import YardCore
import YardImage
import YardRuntime

/// A real registry for tests: Debian's `docker-registry` (CNCF distribution) on a free
/// loopback port, storing in a temp folder, with htpasswd (bcrypt) auth when `credentials`
/// are given. `stop()` ends it and removes its files.
public final class TestRegistry: @unchecked Sendable {
    public static let binary = RegistryProcess.binary

    /// `127.0.0.1:<port>`, the registry part of image references on it.
    public let host: String
    public let credentials: RegistryCredentials?
    private let directory: URL
    private let process: ChildProcess

    /// Starts a registry and waits until it answers.
    public init(credentials: RegistryCredentials? = nil) async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw YardError(.unavailable, "this test needs docker-registry: run scripts/setup.sh (or apt-get install -y docker-registry)")
        }
        let port = try PortAllocator.freePort(host: "127.0.0.1")
        host = "127.0.0.1:\(port)"
        self.credentials = credentials
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-registry-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("data"), withIntermediateDirectories: true)
        var config = """
            version: 0.1
            log:
              level: warn
            storage:
              filesystem:
                rootdirectory: \(directory.appendingPathComponent("data").path)
            http:
              addr: \(host)

            """
        if let credentials {
            let htpasswd = directory.appendingPathComponent("htpasswd")
            let hash = try Self.bcrypt(credentials.password)
            try "\(credentials.username):\(hash)\n".write(to: htpasswd, atomically: true, encoding: .utf8)
            config += "auth:\n  htpasswd:\n    realm: yard-test\n    path: \(htpasswd.path)\n"
        }
        let configFile = directory.appendingPathComponent("config.yml")
        try config.write(to: configFile, atomically: true, encoding: .utf8)
        do {
            process = try await RegistryProcess.start(
                configFile: configFile, host: host, log: directory.appendingPathComponent("registry.log"))
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    /// `HOST/repository:tag` on this registry.
    public func reference(_ repositoryAndTag: String) throws -> ImageReference {
        try ImageReference(parsing: "\(host)/\(repositoryAndTag)")
    }

    /// Ends the registry and removes its storage.
    public func stop() {
        RegistryProcess.stop(process)
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs `body` with a registry, stopped and removed afterwards, also on failure.
    public static func with<T>(
        credentials: RegistryCredentials? = nil, _ body: (TestRegistry) async throws -> T
    ) async throws -> T {
        let registry = try await TestRegistry(credentials: credentials)
        do {
            let value = try await body(registry)
            registry.stop()
            return value
        } catch {
            registry.stop()
            throw error
        }
    }

    /// A bcrypt hash (the only htpasswd format distribution accepts), from python3's crypt
    /// (libxcrypt); the password goes in on stdin.
    private static func bcrypt(_ password: String) throws -> String {
        let script = "import crypt,sys; print(crypt.crypt(sys.stdin.read(), crypt.METHOD_BLOWFISH))"
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-W", "ignore", "-c", script]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(password.utf8))
        try input.fileHandleForWriting.close()
        let hash = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        process.waitUntilExit()
        guard process.terminationStatus == 0, hash.hasPrefix("$2") else {
            throw YardError(.unavailable, "could not make a bcrypt hash with python3's crypt module (apt-get install -y python3)")
        }
        return hash
    }
}
