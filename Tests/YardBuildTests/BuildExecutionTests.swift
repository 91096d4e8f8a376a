import Foundation
import Testing
import YardCore
import YardRuntime

@testable import YardBuild

/// Real builds with real toolchains and the plain process launcher, in temp directories.
@Suite("Builds with the plain launcher")
struct BuildExecutionTests {
    let builder = makeBuilder()
    /// The machine's own environment, so pyenv, node and swift are found as a user would.
    let host = ProcessInfo.processInfo.environment

    private func request(_ app: TemporaryApp, buildCommand: String? = nil, variables: [String: String] = [:]) -> BuildRequest {
        var request = app.request(buildCommand: buildCommand, variables: variables)
        request.hostEnvironment = host
        return request
    }

    private func runtimeEnvironment(_ result: BuildResult, extra: [String: String] = [:]) -> [String: String] {
        host.merging(result.environment) { $1 }.merging(extra) { $1 }
    }

    @Test func shellAppIsCopiedAndRuns() async throws {
        let app = try TemporaryApp(["start.sh": "echo \"hello from $GREETING on $PORT\"\n./tool.sh\n"])
        try app.write("tool.sh", "echo tool ran", executable: true)
        let log = LogRecorder()

        let result = try await builder.build(request(app), log: log.handler)

        #expect(result.plan.provider == "shell")
        #expect(result.startCommand == "bash start.sh")
        #expect(log.contains(.system, "detected shell from start.sh"))
        // The copy keeps the execute bit: apps ship helper binaries and scripts.
        #expect(FileManager.default.isExecutableFile(atPath: app.app.appendingPathComponent("tool.sh").path))

        let run = try await runCommand(
            result.startCommand, in: app.app, environment: runtimeEnvironment(result, extra: ["GREETING": "yard", "PORT": "8123"]))
        #expect(run.reason == .exited(code: 0))
        #expect(run.output.lines.map(\.line) == ["hello from yard on 8123", "tool ran"])
    }

    @Test func rebuildStartsFromACleanCopy() async throws {
        let app = try TemporaryApp(["start.sh": "echo v1"])
        _ = try await builder.build(request(app), log: LogRecorder().handler)
        try "stale".write(to: app.app.appendingPathComponent("leftover.txt"), atomically: true, encoding: .utf8)

        _ = try await builder.build(request(app), log: LogRecorder().handler)
        #expect(!FileManager.default.fileExists(atPath: app.app.appendingPathComponent("leftover.txt").path))
        #expect(FileManager.default.fileExists(atPath: app.app.appendingPathComponent("start.sh").path))
    }

    @Test func buildsInPlaceWhenSourceIsTheAppDirectory() async throws {
        let app = try TemporaryApp(["start.sh": "echo hi"])
        var inPlace = request(app, buildCommand: "echo built > built.txt")
        inPlace.appDirectory = app.source
        _ = try await builder.build(inPlace, log: LogRecorder().handler)
        #expect(FileManager.default.fileExists(atPath: app.source.appendingPathComponent("built.txt").path))
        #expect(!FileManager.default.fileExists(atPath: app.app.path))
    }

    @Test func pythonAppInstallsFromPyPIAndRuns() async throws {
        let app = try TemporaryApp([
            "requirements.txt": "six==1.16.0\n",
            "main.py": "import os, six\nprint('six', six.__version__, 'port', os.environ['PORT'])\n",
        ])
        let log = LogRecorder()

        let result = try await builder.build(request(app), log: log.handler)

        #expect(log.contains(.system, "$ python3 -m venv .venv"))
        #expect(log.contains(.system, "$ pip install -r requirements.txt"))
        // pip's own output is streamed, not only the step headers.
        #expect(log.contains(.stdout, "Successfully installed six-1.16.0"))
        #expect(FileManager.default.fileExists(atPath: app.app.appendingPathComponent(".venv/bin/python").path))

        let run = try await runCommand(result.startCommand, in: app.app, environment: runtimeEnvironment(result, extra: ["PORT": "9000"]))
        #expect(run.reason == .exited(code: 0))
        #expect(run.output.lines.map(\.line) == ["six 1.16.0 port 9000"])
    }

    @Test func nodeAppWithoutDependenciesBuildsAndRuns() async throws {
        let app = try TemporaryApp([
            "package.json": #"""
            {"name": "demo", "version": "1.0.0",
             "scripts": {"build": "node build.js", "start": "node index.js"}}
            """#,
            "build.js": "require('fs').writeFileSync('dist.txt', 'built by npm run build')\n",
            "index.js": "console.log(require('fs').readFileSync('dist.txt', 'utf8'))\n",
        ])
        let log = LogRecorder()

        let result = try await builder.build(request(app), log: log.handler)

        #expect(result.plan.installCommands.isEmpty)
        #expect(log.contains(.system, "$ npm run build"))
        #expect(!log.contains(.system, "$ npm install"))
        let run = try await runCommand(result.startCommand, in: app.app, environment: runtimeEnvironment(result))
        #expect(run.reason == .exited(code: 0))
        #expect(run.output.contains(.stdout, "built by npm run build"))
    }

    @Test func nodeDependenciesThatCannotBeInstalledFailClearly() async throws {
        let app = try TemporaryApp([
            "package.json": #"{"name": "demo", "dependencies": {"left-pad": "1.3.0"}, "scripts": {"start": "node index.js"}}"#
        ])
        // A registry on a closed loopback port fails at once, like an unreachable one but
        // without sending traffic off the machine.
        let variables = ["NPM_CONFIG_REGISTRY": "http://127.0.0.1:9/", "NPM_CONFIG_FETCH_RETRIES": "0"]
        let log = LogRecorder()

        let error = await #expect(throws: YardError.self) {
            _ = try await builder.build(request(app, variables: variables), log: log.handler)
        }
        #expect(error?.code == .buildFailed)
        #expect(error?.message.hasPrefix("build step `npm install` exited with code") == true)
        #expect(error?.message.contains("the node dependencies could not be installed") == true)
        #expect(log.contains(.stderr, "npm error"))
    }

    @Test func staticSiteIsCopiedWithNoSteps() async throws {
        let app = try TemporaryApp(["public/index.html": "<h1>hi</h1>", "README.md": "docs"])
        let log = LogRecorder()

        let result = try await builder.build(request(app), log: log.handler)

        #expect(result.startCommand == "\(testPlatformExecutable) static-serve --root public --port $PORT")
        #expect(!log.lines.contains { $0.line.hasPrefix("$ ") })
        let served = try String(contentsOf: app.app.appendingPathComponent("public/index.html"), encoding: .utf8)
        #expect(served == "<h1>hi</h1>")
    }

    @Test func failingStepStopsTheBuild() async throws {
        let app = try TemporaryApp(["start.sh": "echo hi"])
        let variables = ["RAILPACK_INSTALL_CMD": "echo about to fail; echo oops >&2; exit 3"]
        let log = LogRecorder()

        let error = await #expect(throws: YardError.self) {
            _ = try await builder.build(request(app, buildCommand: "touch build-ran", variables: variables), log: log.handler)
        }

        #expect(error?.code == .buildFailed)
        #expect(error?.message.hasPrefix("build step `echo about to fail; echo oops >&2; exit 3` exited with code 3") == true)
        #expect(log.contains(.system, "$ echo about to fail; echo oops >&2; exit 3"))
        #expect(log.contains(.stdout, "about to fail"))
        #expect(log.contains(.stderr, "oops"))
        #expect(!log.contains(.system, "$ touch build-ran"))
        #expect(!FileManager.default.fileExists(atPath: app.app.appendingPathComponent("build-ran").path))
    }

    @Test func variablesReachBuildStepsButNotTheLog() async throws {
        let app = try TemporaryApp(["start.sh": "echo hi"])
        let secret = "s3cr3t-\(UUID().uuidString)"
        let log = LogRecorder()

        _ = try await builder.build(
            request(app, buildCommand: #"test "$API_TOKEN" = "$EXPECTED" && echo token-visible"#,
                    variables: ["API_TOKEN": secret, "EXPECTED": secret]),
            log: log.handler)

        #expect(log.contains(.stdout, "token-visible"))
        #expect(!log.text.contains(secret))
    }

    @Test func cancellingABuildKillsTheRunningStep() async throws {
        let app = try TemporaryApp(["start.sh": "echo hi"])
        let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
        let log: @Sendable (LogLine.Stream, String) -> Void = { _, line in
            if line == "step-started" { startedContinuation.yield() }
        }
        let clock = ContinuousClock()
        let began = clock.now

        let build = Task {
            try await builder.build(request(app, buildCommand: "echo step-started; sleep 60"), log: log)
        }
        for await _ in started { break }
        build.cancel()

        let error = await #expect(throws: YardError.self) { _ = try await build.value }
        #expect(error?.message.contains("cancelled") == true)
        #expect(clock.now - began < .seconds(30))
    }

    @Test func swiftPackageBuildsAndRuns() async throws {
        let app = try TemporaryApp(
            [
                "Package.swift": """
                // swift-tools-version:5.9
                import PackageDescription
                let package = Package(name: "greeter", targets: [.executableTarget(name: "greeter")])
                """,
                "Sources/greeter/main.swift": """
                import Foundation
                print("greeter on port \\(ProcessInfo.processInfo.environment["PORT"] ?? "?")")
                """,
            ],
            name: "greeter"
        )
        let log = LogRecorder()

        let result = try await builder.build(request(app), log: log.handler)

        #expect(result.plan.provider == "swift")
        #expect(result.startCommand == ".build/release/greeter")
        #expect(log.contains(.system, "$ swift build -c release"))
        let run = try await runCommand(result.startCommand, in: app.app, environment: runtimeEnvironment(result, extra: ["PORT": "7777"]))
        #expect(run.reason == .exited(code: 0))
        #expect(run.output.lines.map(\.line) == ["greeter on port 7777"])
    }

    @Test func swiftProductNamedInCodeIsConfirmedBySwiftPM() async throws {
        // The product's name is a constant, so reading Package.swift's text guesses the
        // target `App`; SwiftPM knows the product is `serve`.
        let app = try TemporaryApp([
            "Package.swift": """
            // swift-tools-version:5.9
            import PackageDescription
            let productName = "serve"
            let package = Package(
                name: "pkg",
                products: [.executable(name: productName, targets: ["App"])],
                targets: [.executableTarget(name: "App")]
            )
            """,
            "Sources/App/main.swift": "print(\"served\")\n",
        ])
        #expect(try builder.plan(for: request(app)).startCommand == ".build/release/App")

        let result = try await builder.build(request(app), log: LogRecorder().handler)

        #expect(result.startCommand == ".build/release/serve")
        let run = try await runCommand(result.startCommand, in: app.app, environment: runtimeEnvironment(result))
        #expect(run.output.lines.map(\.line) == ["served"])
    }
}

@Suite("Source copy guards")
struct SourceCopyGuardTests {
    @Test func nestedDirectoriesAreRefusedWithoutDeletingAnything() async throws {
        let app = try TemporaryApp(["start.sh": "echo hi"])
        var request = app.request()
        // The app directory is a parent of the source: cleaning it would delete the upload.
        request.appDirectory = app.source.deletingLastPathComponent()
        let error = await #expect(throws: YardError.self) {
            _ = try await makeBuilder().build(request, log: LogRecorder().handler)
        }
        #expect(error?.code == .invalidInput)
        #expect(FileManager.default.fileExists(atPath: app.source.appendingPathComponent("start.sh").path))

        request.appDirectory = app.source.appendingPathComponent("build")
        await #expect(throws: YardError.self) {
            _ = try await makeBuilder().build(request, log: LogRecorder().handler)
        }
    }
}
