import Foundation
import Testing
import YardCore
import YardRuntime

/// The web dashboard in a real browser: Tests/Browser/dashboard_test.py drives Debian's
/// chromium (chromedriver, selenium) against a real `yard serve`, deploys a fixture through
/// the CLI, checks every page with axe-core and sends CSRF attacks with the browser's own
/// cookie. Screenshots go to .build-artifacts/screenshots/.
@Suite("dashboard end to end (browser)", .serialized)
struct DashboardEndToEndTests {
    static var python: URL { YardServer.packageRoot.appendingPathComponent(".build-tools/browser/bin/python") }
    static var script: URL { YardServer.packageRoot.appendingPathComponent("Tests/Browser/dashboard_test.py") }
    static var screenshots: URL { YardServer.packageRoot.appendingPathComponent(".build-artifacts/screenshots") }

    /// chromium, chromedriver and the venv with selenium and axe-selenium-python.
    static func requireBrowser() throws {
        for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw YardError(.unavailable, "this test needs \(tool): run scripts/setup.sh (or apt-get install -y chromium chromium-driver)")
        }
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw YardError(
                .unavailable,
                "this test needs selenium and axe-selenium-python in .build-tools/browser: run scripts/setup.sh (or python3 -m venv .build-tools/browser && .build-tools/browser/bin/pip install selenium==4.27.1 axe-selenium-python==2.1.6)"
            )
        }
    }

    @Test(
        "sign in, create a project, watch a CLI deploy turn its card live, redeploy with a live build log, variables, rollback, domain, sign out; Postgres's reference line; CSRF refused; axe clean",
        .timeLimit(.minutes(8)))
    func dashboardInABrowser() async throws {
        try Self.requireBrowser()
        try await YardServer.with { server in
            let app = server.root.appendingPathComponent("apps/web")
            try FileManager.default.createDirectory(at: app.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: YardServer.fixture("shell-app"), to: app)
            // A build that takes a few seconds between two lines, so the log view is seen streaming.
            try Data(#"[build]\#nbuildCommand = "echo marker-$((40+2)); sleep 4; echo marker-$((40+3))"\#n"#.utf8)
                .write(to: app.appendingPathComponent("railway.toml"))
            // This run's screenshots only (a failure.png of an earlier run would mislead).
            try? FileManager.default.removeItem(at: Self.screenshots)
            try FileManager.default.createDirectory(at: Self.screenshots, withIntermediateDirectories: true)
            var environment = server.environment
            environment["DASHBOARD_URL"] = server.apiURL
            // The admin token's own 0600 file: the token is never in argv.
            environment["DASHBOARD_TOKEN_FILE"] = server.dataDirectory.appendingPathComponent("admin.token").path
            environment["DASHBOARD_APP_DIR"] = app.path
            environment["YARD_BINARY"] = YardServer.binary.path
            environment["SCREENSHOT_DIR"] = Self.screenshots.path
            environment["PYTHONUNBUFFERED"] = "1"
            // chromium's scratch folders (org.chromium.Chromium.*) in the server's temporary
            // root, which `YardServer.with` removes, not in the machine's /tmp.
            let scratch = server.root.appendingPathComponent("browser-tmp")
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            environment["TMPDIR"] = scratch.path
            let result = try await Self.run(
                Self.python, [Self.script.path], environment: environment, in: server.root, timeout: .seconds(420))
            #expect(
                result.status == 0 && result.output.contains("DASHBOARD-OK"),
                "the browser test failed:\n\(YardServer.lastLines(of: result.output, 80))\nserver:\n\(YardServer.lastLines(of: server.serveLog, 40))"
            )
            print(result.output.split(separator: "\n").filter { $0.hasPrefix("DASHBOARD-OK") }.joined(separator: "\n"))
            #expect(
                !server.serveLog.contains(
                    try String(contentsOf: server.dataDirectory.appendingPathComponent("admin.token"), encoding: .utf8)
                        .trimmingCharacters(in: .whitespacesAndNewlines)), "the server log holds the token")
            for name in ["canvas.png", "service.png", "logs.png"] {
                let size =
                    (try? FileManager.default.attributesOfItem(atPath: Self.screenshots.appendingPathComponent(name).path)[.size] as? Int)
                    ?? 0
                #expect(size > 1000, "screenshot \(name) is missing or empty")
            }
        }
    }

    /// Runs `tool` to its end (or kills it after `timeout`); its output merged, from a file.
    static func run(
        _ tool: URL, _ arguments: [String], environment: [String: String], in directory: URL, timeout: Duration
    ) async throws -> (status: Int32, output: String) {
        let log = directory.appendingPathComponent("browser-\(UUID().uuidString.prefix(8)).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        let process = ChildProcess()
        process.executableURL = tool
        process.arguments = arguments
        process.environment = environment
        process.currentDirectoryURL = directory
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        if process.isRunning {
            process.terminate()
            try await Task.sleep(for: .seconds(2))
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            return (-1, "timed out after \(timeout)\n" + ((try? String(contentsOf: log, encoding: .utf8)) ?? ""))
        }
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }
}
