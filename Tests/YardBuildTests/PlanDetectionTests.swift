import Foundation
import Testing
import YardCore
import YardRuntime

@testable import YardBuild

@Suite("Provider detection and overrides")
struct PlanDetectionTests {
    let builder = makeBuilder()

    // MARK: Providers

    @Test func pythonWithRequirementsGetsVenvAndPip() throws {
        let app = try TemporaryApp(["requirements.txt": "six\n", "main.py": "print('hi')\n"])
        let plan = try builder.plan(for: app.request())
        let venv = app.app.standardizedFileURL.path + "/.venv"
        #expect(plan.provider == "python")
        #expect(plan.installCommands == ["python3 -m venv .venv", "pip install -r requirements.txt"])
        #expect(plan.buildCommands.isEmpty)
        #expect(plan.startCommand == "python main.py")
        #expect(plan.environment["VIRTUAL_ENV"] == venv)
        #expect(plan.environment["PATH"] == "\(venv)/bin:/usr/local/bin:/usr/bin:/bin")
        #expect(plan.notes.first == "detected python from main.py")
    }

    @Test func pythonEntryPointOrderFollowsRailpack() throws {
        let app = try TemporaryApp(["server.py": "", "app.py": ""])
        let plan = try builder.plan(for: app.request())
        #expect(plan.startCommand == "python app.py")
        #expect(plan.installCommands == ["python3 -m venv .venv"])
    }

    @Test func pythonWithoutEntryPointNeedsAStartCommand() throws {
        let app = try TemporaryApp(["requirements.txt": "six\n"])
        let error = #expect(throws: YardError.self) { try builder.plan(for: app.request()) }
        #expect(error?.code == .buildFailed)
        #expect(error?.message.contains("detected python from requirements.txt, but found no start command") == true)
        #expect(error?.message.contains("main.py") == true)

        let plan = try builder.plan(for: app.request(procfileWeb: "gunicorn app:app"))
        #expect(plan.startCommand == "gunicorn app:app")
    }

    @Test func nodeWithoutDependenciesSkipsInstall() throws {
        let app = try TemporaryApp([
            "package.json": #"{"name": "demo", "version": "1.0.0"}"#,
            "index.js": "console.log('hi')",
        ])
        let plan = try builder.plan(for: app.request())
        #expect(plan.provider == "node")
        #expect(plan.installCommands.isEmpty)
        #expect(plan.buildCommands.isEmpty)
        #expect(plan.startCommand == "node index.js")
        #expect(plan.notes.contains("package.json lists no dependencies: skipping npm install"))
    }

    @Test func nodeScriptsAndDependencies() throws {
        let app = try TemporaryApp([
            "package.json": #"""
            {"name": "demo", "main": "server.js",
             "scripts": {"build": "tsc", "start": "node dist/server.js"},
             "dependencies": {"express": "^4.0.0"}}
            """#
        ])
        let plan = try builder.plan(for: app.request())
        #expect(plan.installCommands == ["npm install"])
        #expect(plan.buildCommands == ["npm run build"])
        #expect(plan.startCommand == "npm start")
        #expect(plan.environment["PATH"]?.hasPrefix(app.app.standardizedFileURL.path + "/node_modules/.bin:") == true)

        try app.write("package-lock.json", "{}")
        #expect(try builder.plan(for: app.request()).installCommands == ["npm ci"])
    }

    @Test func nodeFallsBackToMainThenIndex() throws {
        let withMain = try TemporaryApp(["package.json": #"{"main": "src/server.js", "devDependencies": {"x": "1"}}"#])
        let mainPlan = try builder.plan(for: withMain.request())
        #expect(mainPlan.startCommand == "node src/server.js")
        #expect(mainPlan.installCommands == ["npm install"])

        let bare = try TemporaryApp(["package.json": "{}"])
        let error = #expect(throws: YardError.self) { try builder.plan(for: bare.request()) }
        #expect(error?.message.contains("detected node from package.json, but found no start command") == true)
    }

    @Test func invalidPackageJSONIsReported() throws {
        let app = try TemporaryApp(["package.json": "{ not json"])
        let error = #expect(throws: YardError.self) { try builder.plan(for: app.request()) }
        #expect(error?.code == .buildFailed)
        #expect(error?.message.contains("package.json is not valid") == true)
    }

    @Test func staticfileRoots() throws {
        let index = try TemporaryApp(["index.html": "<h1>hi</h1>"])
        let indexPlan = try builder.plan(for: index.request())
        #expect(indexPlan.provider == "staticfile")
        #expect(indexPlan.startCommand == "\(testPlatformExecutable) static-serve --root . --port $PORT")
        #expect(indexPlan.installCommands.isEmpty && indexPlan.buildCommands.isEmpty)

        let publicDir = try TemporaryApp(["public/index.html": "hi"])
        #expect(try builder.plan(for: publicDir.request()).startCommand.contains("--root public --port $PORT"))

        let staticfile = try TemporaryApp(["Staticfile": "root: dist\n", "dist/index.html": "hi", "public/x": ""])
        let staticfilePlan = try builder.plan(for: staticfile.request())
        #expect(staticfilePlan.startCommand.contains("--root dist "))
        #expect(staticfilePlan.notes.first == "detected staticfile from Staticfile")

        let variable = try TemporaryApp(["site/index.html": "hi", "start.sh": "echo"])
        let variablePlan = try builder.plan(for: variable.request(variables: ["RAILPACK_STATIC_FILE_ROOT": "site"]))
        #expect(variablePlan.provider == "staticfile")
        #expect(variablePlan.startCommand.contains("--root site "))
    }

    @Test func staticRootOutsideTheAppIsRejectedWithoutEchoingTheValue() throws {
        let app = try TemporaryApp(["index.html": "hi"])
        let request = app.request(variables: ["RAILPACK_STATIC_FILE_ROOT": "../hidden-root-value"])
        let error = #expect(throws: YardError.self) { try builder.plan(for: request) }
        #expect(error?.message.contains("RAILPACK_STATIC_FILE_ROOT") == true)
        #expect(error?.message.contains("hidden-root-value") == false)
    }

    @Test func platformExecutableIsQuotedInTheStaticStartCommand() throws {
        let app = try TemporaryApp(["index.html": "hi"])
        let builder = Builder(configuration: .init(platformExecutable: "/opt/my yard/yard"), launcher: PlainProcessLauncher())
        #expect(try builder.plan(for: app.request()).startCommand == "'/opt/my yard/yard' static-serve --root . --port $PORT")
    }

    @Test func shellScript() throws {
        let app = try TemporaryApp(["start.sh": "echo hi"])
        let plan = try builder.plan(for: app.request())
        #expect(plan.provider == "shell")
        #expect(plan.startCommand == "bash start.sh")

        let named = try TemporaryApp(["scripts/run.sh": "echo hi"])
        let namedPlan = try builder.plan(for: named.request(variables: ["RAILPACK_SHELL_SCRIPT": "scripts/run.sh"]))
        #expect(namedPlan.startCommand == "bash scripts/run.sh")
        #expect(namedPlan.notes.first == "detected shell from RAILPACK_SHELL_SCRIPT")

        let missing = try TemporaryApp(["start.sh": "echo hi"])
        let error = #expect(throws: YardError.self) {
            try builder.plan(for: missing.request(variables: ["RAILPACK_SHELL_SCRIPT": "nope-script-value.sh"]))
        }
        #expect(error?.message.contains("RAILPACK_SHELL_SCRIPT") == true)
        #expect(error?.message.contains("nope-script-value") == false)
    }

    @Test func swiftExecutableProduct() throws {
        let app = try TemporaryApp(
            [
                "Package.swift": """
                // swift-tools-version:5.9
                import PackageDescription
                let package = Package(
                    name: "web",
                    products: [
                        .library(name: "Kit", targets: ["Kit"]),
                        .executable(name: "worker", targets: ["Worker"]),
                        .executable(name: "web", targets: ["Web"]),
                    ],
                    targets: [.target(name: "Kit"), .executableTarget(name: "Worker"), .executableTarget(name: "Web")]
                )
                """
            ])
        let plan = try builder.plan(for: app.request())
        #expect(plan.provider == "swift")
        #expect(plan.buildCommands == ["swift build -c release"])
        #expect(plan.startCommand == ".build/release/web")
    }

    @Test func swiftManifestParsing() throws {
        let targetsOnly = SwiftManifest(manifestText: #"Package(name: "x", targets: [.executableTarget(name: "tool"), .target(name: "Lib")])"#)
        #expect(targetsOnly.executables == ["tool"])
        #expect(targetsOnly.preferredExecutable(directoryName: "elsewhere") == "tool")

        let several = SwiftManifest(manifestText: #".executableTarget(name: "a"), .executableTarget(name: "demo")"#)
        #expect(several.preferredExecutable(directoryName: "demo") == "demo")
        #expect(several.preferredExecutable(directoryName: "other") == "a")

        let dump = #"""
        {"name": "pkg", "products": [{"name": "L", "type": {"library": ["automatic"]}},
         {"name": "serve", "type": {"executable": null}}], "targets": [{"name": "S", "type": "executable"}]}
        """#
        let parsed = try #require(SwiftManifest(dumpPackageJSON: Data(dump.utf8)))
        #expect(parsed.packageName == "pkg")
        #expect(parsed.executables == ["serve"])
        #expect(SwiftManifest(dumpPackageJSON: Data("error: no manifest".utf8)) == nil)
    }

    // MARK: Order

    @Test func firstMatchingProviderWins() throws {
        let cases: [([String: String], String)] = [
            (["main.py": "", "package.json": "{}", "index.html": ""], "python"),
            (["requirements.txt": "", "bot.py": "", "Package.swift": #".executableTarget(name: "x")"#], "python"),
            (["Package.swift": #".executableTarget(name: "x")"#, "package.json": #"{"main": "a.js"}"#], "swift"),
            (["package.json": #"{"main": "a.js"}"#, "index.html": "", "CMakeLists.txt": ""], "node"),
            (["index.html": "", "start.sh": ""], "staticfile"),
        ]
        for (files, provider) in cases {
            let app = try TemporaryApp(files)
            #expect(try builder.plan(for: app.request()).provider == provider, "files: \(files.keys.sorted())")
        }
    }

    @Test func unsupportedLanguagesFailClearly() throws {
        let cases: [([String: String], String, String)] = [
            (["index.php": "", "main.py": ""], "php", "index.php"),
            (["go.mod": "", "package.json": "{}"], "golang", "go.mod"),
            (["main.go": "", "index.html": ""], "golang", "main.go"),
            (["pom.xml": "", "requirements.txt": ""], "java", "pom.xml"),
            (["gradlew": ""], "java", "gradlew"),
            (["Cargo.toml": "", "main.py": ""], "rust", "Cargo.toml"),
            (["Gemfile": "", "start.sh": ""], "ruby", "Gemfile"),
            (["mix.exs": ""], "elixir", "mix.exs"),
            (["deno.json": "", "package.json": "{}"], "deno", "deno.json"),
            (["Api.csproj": "", "package.json": "{}"], "dotnet", "Api.csproj"),
            (["CMakeLists.txt": "", "index.html": ""], "cpp", "CMakeLists.txt"),
        ]
        for (files, language, file) in cases {
            let app = try TemporaryApp(files)
            let error = #expect(throws: YardError.self) { try builder.plan(for: app.request()) }
            #expect(error?.code == .buildFailed)
            #expect(
                error?.message == "detected \(language) from \(file), but the \(language) provider is not supported yet",
                "files: \(files.keys.sorted())"
            )
        }
    }

    @Test func nothingDetectedListsWhatWasLookedFor() throws {
        let app = try TemporaryApp(["README.md": "# hello", "notes.txt": ""])
        let error = #expect(throws: YardError.self) { try builder.plan(for: app.request()) }
        #expect(error?.code == .buildFailed)
        for looked in ["requirements.txt", "main.py", "pyproject.toml", "Package.swift", "package.json", "Staticfile", "index.html", "start.sh"] {
            #expect(error?.message.contains(looked) == true, "missing \(looked)")
        }
    }

    // MARK: Overrides

    @Test func startCommandPriority() throws {
        let app = try TemporaryApp(["main.py": "", "Procfile": "worker: python worker.py\nweb: python web.py --port $PORT\n"])

        // The Procfile in the source is read when the caller passes none.
        #expect(try builder.plan(for: app.request()).startCommand == "python web.py --port $PORT")
        #expect(try builder.plan(for: app.request(procfileWeb: "python given.py")).startCommand == "python given.py")
        let fromVariable = app.request(procfileWeb: "python given.py", variables: ["RAILPACK_START_CMD": "python var.py"])
        #expect(try builder.plan(for: fromVariable).startCommand == "python var.py")
        let fromDeploy = app.request(
            startCommand: "python deploy.py", procfileWeb: "python given.py", variables: ["RAILPACK_START_CMD": "python var.py"])
        let plan = try builder.plan(for: fromDeploy)
        #expect(plan.startCommand == "python deploy.py")
        #expect(plan.notes.contains("start command from deploy.startCommand"))

        let noProcfile = try TemporaryApp(["main.py": ""])
        #expect(try builder.plan(for: noProcfile.request(startCommand: "  ")).startCommand == "python main.py")
    }

    @Test func buildAndInstallOverrides() throws {
        let app = try TemporaryApp(["requirements.txt": "", "main.py": ""])
        let fromVariables = try builder.plan(
            for: app.request(variables: ["RAILPACK_INSTALL_CMD": "pip install -e .", "RAILPACK_BUILD_CMD": "make assets"]))
        // Creating the venv survives an install override: the start command depends on it.
        #expect(fromVariables.installCommands == ["python3 -m venv .venv", "pip install -e ."])
        #expect(fromVariables.buildCommands == ["make assets"])

        let fromSettings = try builder.plan(
            for: app.request(buildCommand: "python manage.py collectstatic", variables: ["RAILPACK_BUILD_CMD": "make assets"]))
        #expect(fromSettings.buildCommands == ["python manage.py collectstatic"])
        #expect(fromSettings.notes.contains("build command from build.buildCommand"))
    }

    @Test func versionPinsAreReportedByNameOnly() throws {
        let app = try TemporaryApp(["main.py": ""])
        let plan = try builder.plan(for: app.request(variables: ["RAILPACK_PYTHON_VERSION": "3.99.1"]))
        #expect(plan.notes.contains { $0.hasPrefix("RAILPACK_PYTHON_VERSION is not honoured yet") })
        #expect(!plan.notes.joined().contains("3.99.1"))
    }

    @Test func shellQuoting() {
        #expect("start.sh".shellQuoted == "start.sh")
        #expect("my app.sh".shellQuoted == "'my app.sh'")
        #expect("it's".shellQuoted == #"'it'\''s'"#)
        #expect("".shellQuoted == "''")
    }
}
