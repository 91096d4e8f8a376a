import Foundation
import YardCore
import YardRuntime

/// Debian's `docker-registry` (CNCF distribution) as a child process: the swarm runtime's
/// registry for its nodes and the tests' registry start it the same way.
public enum RegistryProcess {
    public static let binary = "/usr/bin/docker-registry"

    /// Starts the registry with `configFile` (which listens on `host`), its output in `log`,
    /// and returns once its API answers; a registry that does not answer within 10 s is
    /// stopped and an error names the log.
    public static func start(configFile: URL, host: String, log: URL) async throws -> ChildProcess {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", configFile.path]
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        try handle.close()
        // It prints nothing to wait on before it listens: ask its API.
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if try await SystemCommand("/usr/bin/curl", ["-s", "-o", "/dev/null", "http://\(host)/v2/"]).result().succeeded {
                return process
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        stop(process)
        throw YardError(.unavailable, "docker-registry did not answer on \(host) within 10 s; see \(log.path)")
    }

    /// Ends a registry started here.
    public static func stop(_ process: ChildProcess) {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}
