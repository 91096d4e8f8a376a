import Foundation
import Testing
import YardConfig
import YardCore
import YardRuntime

@testable import YardBuild

@Suite("Provider detection and overrides")
struct PlanDetectionTests {
    let builder = makeBuilder()

    // MARK: Order

    /// Every toolchain a provider may ask for, as stand-ins, after the real PATH.
    static let allTools = [
        "php", "composer", "go", "java", "mvn", "gradle", "cargo", "ruby", "bundle", "elixir", "python3", "swift", "deno",
        "dotnet", "node", "npm", "yarn", "pnpm", "bun", "gleam", "erl", "cmake", "meson",
    ]

    @Test func firstMatchingProviderWinsInRailwaysOrder() throws {
        let tools = try ToolDirectory(Self.allTools)
        let cases: [([String: String], String, String)] = [
            (["index.php": "", "go.mod": "module x\n", "main.py": ""], "php", "index.php"),
            (["go.mod": "module x\n", "main.go": "package main\n", "pom.xml": "<project/>"], "golang", "go.mod"),
            (["main.go": "package main\n", "Cargo.toml": "[package]\nname = \"x\"\n"], "golang", "main.go"),
            (["pom.xml": "<project/>", "Cargo.toml": "[package]\nname = \"x\"\n"], "java", "pom.xml"),
            (["gradlew": "", "Gemfile": ""], "java", "gradlew"),
            (["Cargo.toml": "[package]\nname = \"x\"\n", "Gemfile": ""], "rust", "Cargo.toml"),
            (["Gemfile": "", "mix.exs": "", "config.ru": ""], "ruby", "Gemfile"),
            (["mix.exs": "", "requirements.txt": ""], "elixir", "mix.exs"),
            (["requirements.txt": "", "bot.py": "", "Package.swift": #".executableTarget(name: "x")"#], "python", "bot.py"),
            (["Package.swift": #".executableTarget(name: "x")"#, "deno.json": "{}", "package.json": "{}"], "swift", "Package.swift"),
            (["deno.json": #"{"tasks": {"start": "x"}}"#, "Api.csproj": "", "package.json": "{}"], "deno", "deno.json"),
            (["Api.csproj": "", "package.json": "{}"], "dotnet", "Api.csproj"),
            (["package.json": #"{"main": "a.js"}"#, "gleam.toml": "", "index.html": ""], "node", "package.json"),
            (["gleam.toml": "", "CMakeLists.txt": "add_executable(x main.c)"], "gleam", "gleam.toml"),
            (["CMakeLists.txt": "add_executable(x main.c)", "index.html": ""], "cpp", "CMakeLists.txt"),
            (["meson.build": "executable('x', 'x.c')", "start.sh": ""], "cpp", "meson.build"),
            (["index.html": "", "start.sh": ""], "staticfile", "index.html"),
            (["start.sh": "echo hi"], "shell", "start.sh"),
        ]
        for (files, provider, marker) in cases {
            let app = try TemporaryApp(files)
            let plan = try makePlan(app.source, path: "\(tools.path):\(realHostPath)")
            #expect(plan.provider == provider, "files: \(files.keys.sorted())")
            #expect(plan.detectedFrom == marker, "files: \(files.keys.sorted())")
            #expect(plan.notes.first == "detected \(provider) from \(marker)", "files: \(files.keys.sorted())")
        }
    }

    @Test func nothingDetectedListsWhatWasLookedFor() throws {
        let app = try TemporaryApp(["README.md": "# hello", "notes.txt": ""])
        let error = #expect(throws: YardError.self) { try builder.plan(for: app.hostRequest()) }
        #expect(error?.code == .buildFailed)
        for looked in ["php (index.php", "go.mod", "gradlew", "Cargo.toml", "Gemfile", "mix.exs", "requirements.txt", "Package.swift",
            "deno.json", "*.csproj", "package.json", "gleam.toml", "CMakeLists.txt", "Staticfile", "start.sh"]
        {
            #expect(error?.message.contains(looked) == true, "missing \(looked)")
        }
    }

    // MARK: Missing toolchains

    @Test func missingToolchainsFailWithTheDebianInstallCommand() throws {
        let empty = try ToolDirectory()
        let cases: [(String, String)] = [
            ("php", "detected php from composer.json, but php is not installed on this machine (composer.json require.php asks for php >=8.1; versions available here: none): install it with `apt-get install -y php-cli composer`"),
            ("php-plain", "detected php from index.php, but php is not installed on this machine: install it with `apt-get install -y php-cli`"),
            ("golang", "detected golang from go.mod, but go is not installed on this machine (go.mod asks for go >=1.19; versions available here: none): install it with `apt-get install -y golang-go`"),
            ("java-maven", "detected java from pom.xml, but java is not installed on this machine: install it with `apt-get install -y default-jdk-headless`"),
            ("rust", "detected rust from Cargo.toml, but cargo is not installed on this machine (Cargo.toml rust-version asks for rust >=1.70; versions available here: none): install it with `apt-get install -y cargo`"),
            ("ruby", "detected ruby from Gemfile, but ruby is not installed on this machine: install it with `apt-get install -y ruby-full`"),
            ("elixir", "detected elixir from mix.exs, but elixir is not installed on this machine: install it with `apt-get install -y elixir erlang-dev`"),
            ("python-plain", "detected python from main.py, but python3 is not installed on this machine (.python-version asks for python 3.12; versions available here: none): install it with `apt-get install -y python3 python3-venv`"),
            ("node-plain", "detected node from package.json, but node is not installed on this machine: install it with `apt-get install -y nodejs npm`"),
            ("cpp", "detected cpp from CMakeLists.txt, but cmake is not installed on this machine (CMakeLists.txt cmake_minimum_required asks for cmake >=3.16; versions available here: none): install it with `apt-get install -y cmake build-essential`"),
            ("cpp-meson", "detected cpp from meson.build, but meson is not installed on this machine: install it with `apt-get install -y meson ninja-build build-essential`"),
        ]
        for (name, message) in cases {
            let error = planError(fixture(name), path: empty.path)
            #expect(error?.code == .buildFailed)
            #expect(error?.message == message, "fixture \(name)")
        }
        // Toolchains outside Debian still name a command that installs them.
        for (name, provider, executable) in [
            ("deno", "deno", "deno"), ("dotnet", "dotnet", "dotnet"), ("gleam", "gleam", "gleam"), ("swift-vapor", "swift", "swift"),
        ] {
            let message = planError(fixture(name), path: empty.path)?.message ?? ""
            #expect(message.hasPrefix("detected \(provider) from "), "fixture \(name): \(message)")
            #expect(message.contains(", but \(executable) is not installed on this machine"), "fixture \(name)")
            #expect(message.contains(": install it with `"), "fixture \(name)")
        }
        #expect(planError(fixture("dotnet"), path: empty.path)?.message.contains("packages.microsoft.com") == true)
    }

    @Test func aSecondToolchainOfTheProviderIsCheckedToo() throws {
        let phpOnly = try ToolDirectory(["php"])
        #expect(
            planError(fixture("php"), path: phpOnly.path)?.message
                == "detected php from composer.json, but composer is not installed on this machine: install it with `apt-get install -y composer`"
        )
        let javaOnly = try ToolDirectory(["java"])
        #expect(
            planError(fixture("java-maven"), path: javaOnly.path)?.message
                == "detected java from pom.xml, but mvn is not installed on this machine: install it with `apt-get install -y maven`"
        )
        // The Maven wrapper needs no mvn.
        #expect(try makePlan(fixture("java-maven-wrapper"), path: javaOnly.path).toolchains.map(\.executable) == ["java"])
    }

    // MARK: Languages without a host toolchain (stand-ins on PATH)

    @Test func phpServesPublicWithComposerInstall() throws {
        let tools = try ToolDirectory(["php", "composer"])
        let plan = try makePlan(fixture("php"), path: tools.path)
        #expect(plan.provider == "php")
        #expect(plan.installCommands == ["composer install --no-dev --optimize-autoloader --no-interaction"])
        #expect(plan.startCommand == "php -S 0.0.0.0:$PORT -t public")
        #expect(plan.cache == InstallCache(directories: ["vendor"], keyFiles: ["composer.json", "composer.lock"], skipInstallOnHit: true))
        #expect(plan.toolchains.map(\.name) == ["php", "composer"])

        let plain = try makePlan(fixture("php-plain"), path: tools.path)
        #expect(plain.startCommand == "php -S 0.0.0.0:$PORT")
        #expect(plain.installCommands.isEmpty && plain.cache == nil)
    }

    @Test func golangBuildsAStaticBinary() throws {
        let tools = try ToolDirectory(["go"])
        let outcome = try planOutcome(fixture("golang"), path: tools.path, hostVersions: sampleHostVersions)
        let plan = outcome.plan
        #expect(plan.provider == "golang")
        #expect(plan.buildCommands == [#"go build -ldflags="-w -s" -o out ."#])
        #expect(plan.startCommand == "./out")
        #expect(plan.environment["GOTOOLCHAIN"] == "local")
        #expect(plan.environment["CGO_ENABLED"] == "0")
        #expect(plan.environment["GOFLAGS"] == nil)
        #expect(plan.toolchains.map(\.name) == [Toolchain.go.name])
        #expect(plan.toolchains.first?.source == "go.mod")
        #expect(plan.toolchains.first?.versionArguments == ["version"])
        // go.mod's `go 1.19` is satisfied by go 1.19.8: no note.
        #expect(!plan.notes.contains { $0.hasPrefix("go.mod asks") })
        #expect(outcome.steps.first?.failureHint?.contains("Go module proxy") == true)

        let cmd = try planOutcome(fixture("golang-cmd"), path: tools.path, hostVersions: sampleHostVersions).plan
        #expect(cmd.buildCommands == [#"go build -ldflags="-w -s" -o out ./cmd/api"#])
        #expect(cmd.environment["GOFLAGS"] == "-mod=vendor")
        #expect(cmd.notes.contains("go.mod asks go >=1.22.0; this machine has 1.19.8 — building with 1.19.8"))

        let named = try makePlan(fixture("golang-cmd"), path: tools.path, variables: ["RAILPACK_GO_BIN": "worker"])
        #expect(named.buildCommands == [#"go build -ldflags="-w -s" -o out ./cmd/worker"#])
    }

    @Test func rubyElixirDenoDotnetGleamCpp() throws {
        let tools = try ToolDirectory(["ruby", "bundle", "elixir", "deno", "dotnet", "gleam", "erl", "cmake", "meson"])
        let ruby = try makePlan(fixture("ruby"), path: tools.path)
        #expect(ruby.installCommands == ["bundle install"])
        #expect(ruby.startCommand == "bundle exec rackup --host 0.0.0.0 --port $PORT")
        #expect(ruby.environment["BUNDLE_PATH"] == "vendor/bundle")

        let elixir = try makePlan(fixture("elixir"), path: tools.path)
        #expect(elixir.startCommand == "mix phx.server")
        #expect(elixir.environment["MIX_ENV"] == "prod")
        #expect(elixir.notes.contains("detected a Phoenix app"))

        let deno = try makePlan(fixture("deno"), path: tools.path)
        #expect(deno.startCommand == "deno task start")

        let dotnet = try makePlan(fixture("dotnet"), path: tools.path)
        #expect(dotnet.buildCommands == ["dotnet publish --no-restore -c Release -o out"])
        #expect(dotnet.startCommand == "ASPNETCORE_URLS=http://0.0.0.0:$PORT ./out/OrdersApi")
        #expect(dotnet.detectedFrom == "Orders.Api.csproj")

        let gleam = try makePlan(fixture("gleam"), path: tools.path)
        #expect(gleam.buildCommands == ["gleam export erlang-shipment"])
        #expect(gleam.startCommand == "./build/erlang-shipment/entrypoint.sh run")
        #expect(gleam.toolchains.map(\.executable) == ["gleam", "erl"])

        let cmake = try makePlan(fixture("cpp"), path: tools.path)
        #expect(cmake.buildCommands == ["cmake -B build -DCMAKE_BUILD_TYPE=Release", "cmake --build build"])
        #expect(cmake.startCommand == "./build/greeter")

        let meson = try makePlan(fixture("cpp-meson"), path: tools.path)
        #expect(meson.startCommand == "./build/tally")
    }

    // MARK: Host toolchains (real PATH)

    @Test func javaMavenAndGradle() throws {
        try requireHostTools(["java": "apt-get install -y default-jdk-headless", "mvn": "apt-get install -y maven"])
        let maven = try planOutcome(fixture("java-maven"))
        #expect(maven.plan.provider == "java")
        #expect(maven.plan.buildCommands == ["mvn -B -DskipTests package"])
        #expect(maven.plan.startCommand == "java $JAVA_OPTS -Dserver.port=$PORT -jar target/orders-0.3.1.jar")
        #expect(maven.plan.toolchains.map(\.executable) == ["java", "mvn"])
        let mavenBuild = try #require(maven.steps.first { $0.phase == .build })
        #expect(mavenBuild.failureHint?.contains("Maven Central (repo.maven.apache.org)") == true)

        let wrapper = try makePlan(fixture("java-maven-wrapper"))
        #expect(wrapper.buildCommands == ["chmod +x mvnw && ./mvnw -B -DskipTests package"])
        // ${revision} hides the jar's name: the start command picks the built jar.
        #expect(wrapper.startCommand.hasPrefix(#"java $JAVA_OPTS -jar "$(ls target/*.jar"#))

        let gradle = try planOutcome(fixture("java-gradle"))
        #expect(gradle.plan.buildCommands == ["chmod +x gradlew && ./gradlew build -x test"])
        #expect(gradle.plan.startCommand.hasPrefix(#"java $JAVA_OPTS -Dserver.port=$PORT -jar "$(ls build/libs/*.jar"#))
        #expect(gradle.plan.startCommand.contains("-plain"))
        #expect(gradle.steps.last?.failureHint?.contains("services.gradle.org") == true)
    }

    @Test func mavenArtifactNames() {
        #expect(BuildPlanner.mavenArtifact("<project><artifactId>a</artifactId><version>1</version><packaging>war</packaging></project>") == "a-1.war")
        #expect(BuildPlanner.mavenArtifact("<project><artifactId>a</artifactId><build><finalName>app</finalName></build></project>") == "app.jar")
        // The version comes from the parent when the project has none.
        #expect(
            BuildPlanner.mavenArtifact("<project><parent><artifactId>p</artifactId><version>2.0</version></parent><artifactId>child</artifactId></project>")
                == "child-2.0.jar")
        #expect(BuildPlanner.mavenArtifact("<project><artifactId>a</artifactId><version>${v}</version></project>") == nil)
    }

    @Test func rustReleaseBinary() throws {
        try requireHostTools(["cargo": "apt-get install -y cargo"])
        let plan = try makePlan(fixture("rust"), hostVersions: ["rust": "cargo 1.65.0 (4bc8f24d3 2022-10-20)"])
        #expect(plan.provider == "rust")
        #expect(plan.buildCommands == ["cargo build --release"])
        #expect(plan.startCommand == "./target/release/ferris-web")
        #expect(plan.notes.contains("crates.io may be unreachable from this machine: `cargo vendor` builds offline"))
        #expect(plan.notes.contains("Cargo.toml rust-version asks rust >=1.70; this machine has 1.65.0 — building with 1.65.0"))
    }

    @Test func swiftHummingbirdAndVapor() throws {
        try requireHostTools(["swift": "see https://www.swift.org/install/linux/"])
        let template = try planOutcome(fixture("swift-hummingbird"))
        #expect(template.plan.provider == "swift")
        #expect(template.plan.notes.contains("detected a Hummingbird app"))
        #expect(template.plan.installCommands == ["swift package resolve"])
        #expect(template.plan.buildCommands == ["swift build -c release"])
        #expect(template.plan.startCommand == ".build/release/App --hostname 0.0.0.0 --port $PORT")
        #expect(template.swiftExecutable == "App")
        #expect(template.swiftStartArguments == "--hostname 0.0.0.0 --port $PORT")
        #expect(template.plan.cache == InstallCache(directories: [".build"], keyFiles: ["Package.swift", "Package.resolved"], skipInstallOnHit: false))
        #expect(template.plan.toolchains.map(\.name) == [Toolchain.swift.name])

        // An app reading PORT itself gets no arguments it may not understand.
        let plain = try planOutcome(fixture("swift-hummingbird-env"))
        #expect(plain.plan.notes.contains("detected a Hummingbird app"))
        #expect(plain.plan.startCommand == ".build/release/Greeter")
        #expect(plain.swiftStartArguments == nil)

        let vapor = try planOutcome(fixture("swift-vapor"))
        #expect(vapor.plan.notes.contains("detected a Vapor app"))
        #expect(vapor.plan.startCommand == ".build/release/App serve --env production --hostname 0.0.0.0 --port $PORT")
        #expect(BuildPlanner.swiftStartCommand(product: "App", arguments: vapor.swiftStartArguments) == vapor.plan.startCommand)
    }

    @Test func swiftExecutableProduct() throws {
        try requireHostTools(["swift": "see https://www.swift.org/install/linux/"])
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
        let plan = try builder.plan(for: app.hostRequest())
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

    // MARK: staticfile, shell, Procfile

    @Test func staticfileRoots() throws {
        let staticfile = try makePlan(fixture("staticfile"))
        #expect(staticfile.provider == "staticfile")
        #expect(staticfile.startCommand == "\(testPlatformExecutable) static-serve --root site --port $PORT")
        #expect(staticfile.installCommands.isEmpty && staticfile.buildCommands.isEmpty && staticfile.toolchains.isEmpty)

        let index = try TemporaryApp(["index.html": "<h1>hi</h1>"])
        #expect(try builder.plan(for: index.hostRequest()).startCommand == "\(testPlatformExecutable) static-serve --root . --port $PORT")

        let publicDir = try TemporaryApp(["public/index.html": "hi"])
        #expect(try builder.plan(for: publicDir.hostRequest()).startCommand.contains("--root public --port $PORT"))

        let variable = try TemporaryApp(["site/index.html": "hi", "start.sh": "echo"])
        let variablePlan = try builder.plan(for: variable.hostRequest(variables: ["RAILPACK_STATIC_FILE_ROOT": "site"]))
        #expect(variablePlan.provider == "staticfile")
        #expect(variablePlan.startCommand.contains("--root site "))
    }

    @Test func staticRootOutsideTheAppIsRejectedWithoutEchoingTheValue() throws {
        let app = try TemporaryApp(["index.html": "hi"])
        let request = app.hostRequest(variables: ["RAILPACK_STATIC_FILE_ROOT": "../hidden-root-value"])
        let error = #expect(throws: YardError.self) { try builder.plan(for: request) }
        #expect(error?.message.contains("RAILPACK_STATIC_FILE_ROOT") == true)
        #expect(error?.message.contains("hidden-root-value") == false)
    }

    @Test func platformExecutableIsQuotedInTheStaticStartCommand() throws {
        let app = try TemporaryApp(["index.html": "hi"])
        let builder = Builder(configuration: .init(platformExecutable: "/opt/my yard/yard"), launcher: PlainProcessLauncher())
        #expect(try builder.plan(for: app.hostRequest()).startCommand == "'/opt/my yard/yard' static-serve --root . --port $PORT")
    }

    @Test func shellScript() throws {
        let plan = try makePlan(fixture("shell"))
        #expect(plan.provider == "shell")
        #expect(plan.startCommand == "bash start.sh")

        let named = try TemporaryApp(["scripts/run.sh": "echo hi"])
        let namedPlan = try builder.plan(for: named.hostRequest(variables: ["RAILPACK_SHELL_SCRIPT": "scripts/run.sh"]))
        #expect(namedPlan.startCommand == "bash scripts/run.sh")
        #expect(namedPlan.notes.first == "detected shell from RAILPACK_SHELL_SCRIPT")

        let missing = try TemporaryApp(["start.sh": "echo hi"])
        let error = #expect(throws: YardError.self) {
            try builder.plan(for: missing.hostRequest(variables: ["RAILPACK_SHELL_SCRIPT": "nope-script-value.sh"]))
        }
        #expect(error?.message.contains("RAILPACK_SHELL_SCRIPT") == true)
        #expect(error?.message.contains("nope-script-value") == false)
    }

    @Test func procfileWebLineStartsTheApp() throws {
        try requireHostTools(["python3": "apt-get install -y python3 python3-venv"])
        let plan = try makePlan(fixture("procfile"))
        #expect(plan.provider == "python")
        #expect(plan.startCommand == "python serve.py --port $PORT")
        #expect(plan.notes.contains("start command from the Procfile's web: line"))
    }

    // MARK: Overrides

    @Test func startCommandPriority() throws {
        let app = try TemporaryApp(["main.py": "", "Procfile": "worker: python worker.py\nweb: python web.py --port $PORT\n"])

        // The Procfile in the source is read when the caller passes none.
        #expect(try builder.plan(for: app.hostRequest()).startCommand == "python web.py --port $PORT")
        #expect(try builder.plan(for: app.hostRequest(procfileWeb: "python given.py")).startCommand == "python given.py")
        let fromVariable = app.hostRequest(procfileWeb: "python given.py", variables: ["RAILPACK_START_CMD": "python var.py"])
        #expect(try builder.plan(for: fromVariable).startCommand == "python var.py")
        let fromDeploy = app.hostRequest(
            startCommand: "python deploy.py", procfileWeb: "python given.py", variables: ["RAILPACK_START_CMD": "python var.py"])
        let plan = try builder.plan(for: fromDeploy)
        #expect(plan.startCommand == "python deploy.py")
        #expect(plan.notes.contains("start command from deploy.startCommand"))

        let noProcfile = try TemporaryApp(["main.py": ""])
        #expect(try builder.plan(for: noProcfile.hostRequest(startCommand: "  ")).startCommand == "python main.py")
    }

    @Test func noStartCommandSaysWhatToAdd() throws {
        let app = try TemporaryApp(["requirements.txt": "six\n"])
        let error = #expect(throws: YardError.self) { try builder.plan(for: app.hostRequest()) }
        #expect(error?.code == .buildFailed)
        #expect(error?.message.contains("detected python from requirements.txt, but found no start command") == true)
        #expect(error?.message.contains("main.py") == true)
        #expect(try builder.plan(for: app.hostRequest(procfileWeb: "gunicorn app:app")).startCommand == "gunicorn app:app")
    }

    @Test func buildAndInstallOverrides() throws {
        let app = try TemporaryApp(["requirements.txt": "", "main.py": ""])
        let fromVariables = try builder.plan(
            for: app.hostRequest(variables: ["RAILPACK_INSTALL_CMD": "pip install -e .", "RAILPACK_BUILD_CMD": "make assets"]))
        // Creating the venv survives an install override: the start command depends on it.
        #expect(fromVariables.installCommands == ["python3 -m venv .venv", "pip install -e ."])
        #expect(fromVariables.buildCommands == ["make assets"])
        // A user's install command may produce anything: it is not cached.
        #expect(fromVariables.cache == nil)

        let fromSettings = try builder.plan(
            for: app.hostRequest(buildCommand: "python manage.py collectstatic", variables: ["RAILPACK_BUILD_CMD": "make assets"]))
        #expect(fromSettings.buildCommands == ["python manage.py collectstatic"])
        #expect(fromSettings.notes.contains("build command from build.buildCommand"))
        #expect(fromSettings.cache != nil)
    }

    @Test func versionVariablesAreReportedByNameOnly() throws {
        let app = try TemporaryApp(["main.py": ""])
        let plan = try planOutcome(
            app.source, variables: ["RAILPACK_PYTHON_VERSION": "3.99.1", "RAILPACK_PACKAGES": "secret-ish@9"],
            hostVersions: sampleHostVersions
        ).plan
        #expect(plan.notes.contains("RAILPACK_PYTHON_VERSION is not honoured: the build uses this machine's python 3.11.7"))
        #expect(plan.notes.contains { $0.hasPrefix("RAILPACK_PACKAGES is not honoured") })
        #expect(!plan.notes.joined().contains("3.99.1"))
        #expect(!plan.notes.joined().contains("secret-ish"))
    }

    @Test func shellQuoting() {
        #expect("start.sh".shellQuoted == "start.sh")
        #expect("my app.sh".shellQuoted == "'my app.sh'")
        #expect("it's".shellQuoted == #"'it'\''s'"#)
        #expect("".shellQuoted == "''")
    }

    // MARK: Monorepo

    @Test func aServiceRootSubfolderIsPlannedOnItsOwn() throws {
        try requireHostTools(["node": "apt-get install -y nodejs npm", "python3": "apt-get install -y python3 python3-venv"])
        // The caller hands over the service's root; the monorepo root's requirements.txt
        // must not make the web service a python app.
        let web = RailpackConfig(
            provider: "node",
            packages: ["node": "20"],
            secrets: ["RAILWAY_ENVIRONMENT"],
            steps: [
                RailpackStep(name: "install", commands: [.exec("npm install --offline --no-audit --no-fund")]),
                RailpackStep(name: "build", commands: [.exec("RAILWAY_ENVIRONMENT=production npm run build")]),
            ]
        )
        let webPlan = try makePlan(
            fixture("monorepo/packages/web"), railpack: web, hostVersions: sampleHostVersions, startCommand: "npm start")
        #expect(webPlan.provider == "node")
        #expect(webPlan.detectedFrom == "package.json")
        #expect(webPlan.notes.first == "railpack.json sets provider node")
        #expect(webPlan.installCommands == ["npm install --offline --no-audit --no-fund"])
        #expect(webPlan.buildCommands == ["RAILWAY_ENVIRONMENT=production npm run build"])
        #expect(webPlan.startCommand == "npm start")
        #expect(webPlan.notes.contains("package.json engines.node \">=20\" matches this machine's node 20.20.2"))
        #expect(!webPlan.notes.contains { $0.hasPrefix("railpack.json asks node") })
        #expect(webPlan.secrets == ["RAILWAY_ENVIRONMENT"])
        #expect(webPlan.cache == nil)

        let backend = RailpackConfig(
            provider: "python",
            packages: ["python": "3.12"],
            secrets: ["RAILWAY_ENVIRONMENT", "PYTHONPATH"],
            steps: [
                RailpackStep(
                    name: "install",
                    commands: [.exec("pip install -r requirements.txt"), .exec("cd packages/core && pip install -e .")])
            ]
        )
        let backendPlan = try makePlan(
            fixture("monorepo"), railpack: backend, hostVersions: sampleHostVersions, startCommand: "python run_server.py")
        #expect(backendPlan.provider == "python")
        #expect(backendPlan.detectedFrom == "requirements.txt")
        #expect(
            backendPlan.installCommands == [
                "python3 -m venv .venv", "pip install -r requirements.txt", "cd packages/core && pip install -e .",
            ])
        #expect(backendPlan.notes.contains("railpack.json asks python 3.12; this machine has 3.11.7 — building with 3.11.7"))
        #expect(backendPlan.secrets == ["PYTHONPATH", "RAILWAY_ENVIRONMENT"])
    }

    // MARK: The plan as JSON (`yard build --plan`)

    @Test func planEncodesToJSONWithProviderStepsAndStartCommand() throws {
        try requireHostTools(["python3": "apt-get install -y python3 python3-venv"])
        let plan = try makePlan(fixture("python-fastapi"))
        let json = try YardJSON.encodeString(plan)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["provider"] as? String == "python")
        #expect(object["detectedFrom"] as? String == "requirements.txt")
        #expect(object["installCommands"] as? [String] == ["python3 -m venv .venv", "pip install -r requirements.txt"])
        #expect(object["buildCommands"] as? [String] == [])
        #expect(object["startCommand"] as? String == "uvicorn app.main:api --host 0.0.0.0 --port $PORT")
        let cache = try #require(object["cache"] as? [String: Any])
        #expect(cache["directories"] as? [String] == [".venv"])
        let toolchains = try #require(object["toolchains"] as? [[String: Any]])
        #expect(toolchains.first?["executable"] as? String == "python3")
        #expect(try YardJSON.decode(BuildPlan.self, from: json) == plan)
    }
}
