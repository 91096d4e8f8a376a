import Foundation
import Testing
import YardConfig
import YardCore

@testable import YardBuild

/// A fixture app under `Tests/YardBuildTests/Fixtures`, read in place (planning only reads).
func fixture(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
}

/// The machine's own PATH, where the toolchains a user installed are found.
let realHostPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"

/// The versions the builder reads from this machine's toolchains, as it stores them
/// (each version command's first line). Fixed values so notes can be asserted exactly.
let sampleHostVersions = ["python": "Python 3.11.7", "node": "v20.20.2", "go": "go version go1.19.8 linux/amd64"]

/// A folder on PATH: empty, it simulates a machine without a toolchain; with names, it
/// holds stand-ins for toolchains this machine lacks (php, go, …) so the plan for them can
/// be checked. Planning only looks executables up; it never runs them.
final class ToolDirectory: @unchecked Sendable {
    let url: URL

    init(_ names: [String] = []) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("yard-tools-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for name in names {
            let file = url.appendingPathComponent(name)
            try "#!/bin/sh\necho \"stand-in for \(name): planning never runs it\" >&2\nexit 1\n".write(
                to: file, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file.path)
        }
    }

    var path: String { url.path }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }
}

struct MissingHostTool: Error, CustomStringConvertible {
    var description: String
}

/// Fails the test with the install command when this machine lacks a toolchain the test
/// plans against for real.
func requireHostTools(_ tools: [String: String]) throws {
    for (executable, install) in tools.sorted(by: { $0.key < $1.key }) {
        let found = realHostPath.split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/\(executable)")
        }
        if !found {
            throw MissingHostTool(description: "\(executable) is not installed on this machine: install it with `\(install)`")
        }
    }
}

/// Plans `source` as the builder would, with the app mounted at /app.
func planOutcome(
    _ source: URL,
    path: String = realHostPath,
    variables: [String: String] = [:],
    railpack: RailpackConfig? = nil,
    hostVersions: [String: String] = [:],
    startCommand: String? = nil,
    procfileWeb: String? = nil,
    buildCommand: String? = nil,
    secretNames: Set<String> = []
) throws(YardError) -> BuildPlanner.Outcome {
    var settings = BuildSettings()
    settings.buildCommand = buildCommand
    let request = BuildRequest(
        sourceDirectory: source,
        appDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("yard-unused-app"),
        build: settings,
        startCommand: startCommand,
        procfileWeb: procfileWeb,
        variables: variables,
        hostEnvironment: ["PATH": path, "HOME": "/root"],
        mountPath: "/app",
        railpack: railpack,
        secretNames: secretNames
    )
    return try BuildPlanner(
        source: SourceTree(root: source),
        request: request,
        platformExecutable: testPlatformExecutable,
        hostVersions: hostVersions
    ).plan()
}

func makePlan(
    _ source: URL,
    path: String = realHostPath,
    variables: [String: String] = [:],
    railpack: RailpackConfig? = nil,
    hostVersions: [String: String] = [:],
    startCommand: String? = nil
) throws(YardError) -> BuildPlan {
    try planOutcome(
        source, path: path, variables: variables, railpack: railpack, hostVersions: hostVersions, startCommand: startCommand
    ).plan
}

/// The error planning `source` throws, or the one its build would throw before any step
/// (a missing toolchain: the plan itself stands); a recorded issue when it would build.
func planError(
    _ source: URL,
    path: String,
    variables: [String: String] = [:],
    railpack: RailpackConfig? = nil,
    hostVersions: [String: String] = [:],
    sourceLocation: SourceLocation = #_sourceLocation
) -> YardError? {
    do {
        let outcome = try planOutcome(source, path: path, variables: variables, railpack: railpack, hostVersions: hostVersions)
        if let missing = outcome.missingToolchain { return YardError(.buildFailed, missing) }
        let plan = outcome.plan
        Issue.record("expected planning to fail, got provider \(plan.provider)", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

extension TemporaryApp {
    /// A request on this machine's real PATH, so every installed toolchain is found.
    func hostRequest(
        startCommand: String? = nil,
        procfileWeb: String? = nil,
        buildCommand: String? = nil,
        variables: [String: String] = [:]
    ) -> BuildRequest {
        var request = request(startCommand: startCommand, procfileWeb: procfileWeb, buildCommand: buildCommand, variables: variables)
        request.hostEnvironment["PATH"] = realHostPath
        return request
    }
}
