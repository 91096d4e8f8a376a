import Foundation
import Synchronization
import YardCore

@testable import YardRuntime

/// Collects a process's output lines per stream, thread-safely.
final class OutputRecorder: Sendable {
    private let lines = Mutex<[(LogLine.Stream, String)]>([])

    var handler: OutputHandler {
        { stream, line in self.lines.withLock { $0.append((stream, line)) } }
    }

    func lines(_ stream: LogLine.Stream) -> [String] {
        lines.withLock { $0.filter { $0.0 == stream }.map(\.1) }
    }
}

enum TestEnvironment {
    static let minimal = ["PATH": "/usr/bin:/bin"]
    /// The test process's own environment, for tools found via shims (python3 under pyenv).
    static var inherited: [String: String] { ProcessInfo.processInfo.environment }

    static func makeTemporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("yard-runtime-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

extension LaunchSpec {
    static func sh(_ command: String, environment: [String: String] = TestEnvironment.minimal) -> LaunchSpec {
        .shell(command, environment: environment, workingDirectory: "/", label: "test")
    }
}

/// Whether `pid` is gone or a zombie (dead, waiting for its parent).
func isDead(_ pid: Int32) -> Bool {
    guard let stat = OrphanReaper.readStat(pid: pid) else { return true }
    return stat.state == "Z"
}

/// Waits until `condition` holds or `timeout` passes; for observing other processes, which
/// offer no event to await.
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
