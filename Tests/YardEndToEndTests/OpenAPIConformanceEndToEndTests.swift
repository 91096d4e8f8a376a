import Foundation
import Testing
import YardClient
import YardCore
import YardRuntime

/// schemathesis (PyPI) against a live `yard serve`: generated requests for every operation
/// of the served document; no answer may be a 5xx or differ from what the document says.
@Suite("OpenAPI conformance (schemathesis)", .serialized)
struct OpenAPIConformanceEndToEndTests {
    /// Where scripts/setup.sh installs schemathesis.
    static var schemathesis: URL {
        YardServer.packageRoot.appendingPathComponent(".build-tools/schemathesis/bin/schemathesis")
    }

    /// Operations left out, and why: each starts real work that outlives the request and
    /// is tested end to end elsewhere (builds, database servers, backups, PR environments).
    static let excludedOperations = [
        "deployService", "deployServices", "redeployService", "rollbackDeployment", "restartService",
        "addDatabase", "addImageService", "createBackup", "restoreBackup", "setBackupSchedule", "openPullRequestEnvironment",
        "createEnvironment", "deleteEnvironment",
        // Plain routes: the signed webhook and the post-receive hook's push report.
        "receiveGitHubWebhook", "reportPush",
        // Sends a real message to whatever URL a generated channel names (AlertsEndToEndTests tests it).
        "testAlertChannel",
        // Connects to whatever syslog or HTTP address a generated drain names (AlertsEndToEndTests tests drains).
        "createLogDrain",
    ]

    @Test("every answer to schemathesis's requests is a documented, non-5xx answer", .timeLimit(.minutes(5)))
    func schemathesisFindsNoProblem() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.schemathesis.path),
            "schemathesis is missing: run scripts/setup.sh (it installs it into .build-tools/schemathesis)")
        try await YardServer.with(runtime: "plain") { server in
            let client = try server.client()
            // Real names for the path parameters schemathesis will also try.
            let project = try await client.createProject(name: "conformance")
            _ = try await client.createService(project: project.name, name: "web")
            let token = try String(contentsOf: server.dataDirectory.appendingPathComponent("admin.token"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            var arguments = [
                "run", "\(server.apiURL)/v1/openapi.json", "--url", server.apiURL,
                "--header", "Authorization: Bearer \(token)",
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
                "--max-examples", "8", "--phases", "examples,coverage,fuzzing", "--workers", "2",
                "--request-timeout", "20", "--seed", "14", "--no-color", "--output-sanitize", "true",
            ]
            for operation in Self.excludedOperations { arguments += ["--exclude-operation-id", operation] }
            let result = try await Self.run(Self.schemathesis, arguments, in: server.root, timeout: .seconds(240))
            #expect(result.status == 0, "schemathesis found problems:\n\(YardServer.lastLines(of: result.output, 120))")
        }
    }

    static func run(_ tool: URL, _ arguments: [String], in directory: URL, timeout: Duration) async throws -> (
        status: Int32, output: String
    ) {
        let log = directory.appendingPathComponent("schemathesis-\(UUID().uuidString.prefix(8)).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = ChildProcess()
        process.executableURL = tool
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = process.standardOutput
        process.standardInput = FileHandle.nullDevice
        let (exited, exit) = AsyncStream.makeStream(of: Void.self)
        process.terminationHandler = { _ in exit.finish() }
        try process.run()
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in exited {}
                return !Task.isCancelled
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !finished {
            process.terminate()
            process.waitUntilExit()
            return (-1, "schemathesis did not finish within \(timeout)\n" + ((try? String(contentsOf: log, encoding: .utf8)) ?? ""))
        }
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }
}
