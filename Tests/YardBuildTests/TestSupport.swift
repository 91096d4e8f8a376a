import Foundation
import YardCore
import YardRuntime

@testable import YardBuild

/// A throwaway directory holding an app's files; removed when the value is released.
final class TemporaryApp: @unchecked Sendable {
    let base: URL
    let source: URL
    /// A separate directory the builder copies the source into.
    let app: URL

    init(_ files: [String: String] = [:], directories: [String] = [], name: String = "demo") throws {
        base = FileManager.default.temporaryDirectory
            .appendingPathComponent("yardbuild-\(UUID().uuidString.prefix(8))")
        source = base.appendingPathComponent("source").appendingPathComponent(name)
        app = base.appendingPathComponent("artifacts").appendingPathComponent("app")
        try FileManager.default.createDirectory(at: source, withIntermediateDirectories: true)
        for directory in directories {
            try FileManager.default.createDirectory(
                at: source.appendingPathComponent(directory), withIntermediateDirectories: true)
        }
        for (path, contents) in files {
            try write(path, contents)
        }
    }

    func write(_ path: String, _ contents: String, executable: Bool = false) throws {
        let url = source.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try contents.write(to: url, atomically: true, encoding: .utf8)
        if executable {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        }
    }

    func request(
        startCommand: String? = nil,
        procfileWeb: String? = nil,
        buildCommand: String? = nil,
        variables: [String: String] = [:]
    ) -> BuildRequest {
        var settings = BuildSettings()
        settings.buildCommand = buildCommand
        return BuildRequest(
            sourceDirectory: source,
            appDirectory: app,
            build: settings,
            startCommand: startCommand,
            procfileWeb: procfileWeb,
            variables: variables,
            hostEnvironment: ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/root"]
        )
    }

    deinit {
        try? FileManager.default.removeItem(at: base)
    }
}

/// Lines a build or a process wrote, in arrival order.
final class LogRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [(stream: LogLine.Stream, line: String)] = []

    var handler: @Sendable (LogLine.Stream, String) -> Void {
        { stream, line in self.lock.withLock { self.recorded.append((stream, line)) } }
    }

    var lines: [(stream: LogLine.Stream, line: String)] {
        lock.withLock { recorded }
    }

    func contains(_ stream: LogLine.Stream, _ fragment: String) -> Bool {
        lines.contains { $0.stream == stream && $0.line.contains(fragment) }
    }

    var text: String {
        lines.map(\.line).joined(separator: "\n")
    }
}

let testPlatformExecutable = "/opt/yard/bin/yard"

func makeBuilder() -> Builder {
    Builder(configuration: .init(platformExecutable: testPlatformExecutable), launcher: PlainProcessLauncher())
}

/// Runs `command` like a replica would (via `/bin/sh -c` in `directory`) and returns its
/// exit and everything it printed.
func runCommand(
    _ command: String,
    in directory: URL,
    environment: [String: String]
) async throws -> (reason: ExitReason, output: LogRecorder) {
    let output = LogRecorder()
    let process = try await PlainProcessLauncher().launch(
        .shell(command, environment: environment, workingDirectory: directory.path, label: "test"),
        output: output.handler
    )
    let reason = await process.wait()
    return (reason, output)
}
