import Foundation
import Testing
import YardConfig
import YardCore

@testable import YardBuild

/// Issue 16: java with javac alone and elixir without hex packages plan builds that need
/// nothing from the internet, in environments of Debian 12's JDK and Elixir only.
@Suite("Provider image plans for javac and mix without dependencies")
struct ProviderImagePlansTests {
    static func prepare(_ files: [String: String], railpack: String? = nil) throws -> ProviderImageBuild {
        let folder = try ProviderImageTests.app(files)
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try railpack.map { text throws(YardError) in try RailpackConfig.parse(text, fileName: "railpack.json") }
        let request = BuildRequest(sourceDirectory: folder, appDirectory: folder, hostEnvironment: ["PATH": "/nonexistent"], railpack: config)
        return try ProviderImageTests.builder.prepareProviderImage(request)
    }

    @Test("railpack.json provider java with plain .java sources builds with javac and runs the class with main, JDK only")
    func javac() throws {
        let build = try Self.prepare(
            ["Main.java": "package web;\npublic class Main { public static void main(String[] a) {} }\n", "Util.java": "class Util {}\n"],
            railpack: #"{"provider": "java"}"#)
        #expect(build.plan.provider == "java")
        #expect(build.plan.startCommand == "java $JAVA_OPTS -cp build/classes web.Main")
        #expect(build.containerfile.steps == ["javac -d build/classes $(find . -name '*.java' -not -path './build/*')"])
        #expect(build.environment.packages == ["ca-certificates", "default-jdk-headless"], "no maven or gradle: \(build.environment.packages)")
        // Not chosen by name, .java files alone are not a java app (as in Railpack).
        let error = #expect(throws: YardError.self) { try Self.prepare(["Main.java": "class Main { static void main(String[] a) {} }\n"]) }
        #expect(error?.message.hasPrefix("could not detect how to build this app") == true, "\(error?.message ?? "")")
    }

    @Test("an elixir app whose mix.exs lists no dependencies installs neither hex nor rebar; one with dependencies does")
    func elixirWithoutDependencies() throws {
        let mix = "defmodule Web.MixProject do\n  use Mix.Project\n  def project, do: [app: :web, version: \"0.1.0\", deps: []]\nend\n"
        let alone = try Self.prepare(["mix.exs": mix])
        #expect(alone.containerfile.steps == ["mix compile"], "\(alone.containerfile.steps)")
        #expect(alone.plan.startCommand == "mix run --no-halt")
        #expect(alone.plan.notes.contains("mix.exs lists no dependencies: hex and rebar are not installed"))
        let withDeps = try Self.prepare(["mix.exs": mix.replacingOccurrences(of: "deps: []", with: #"deps: [{:jason, "~> 1.4"}]"#)])
        #expect(withDeps.containerfile.steps.first == "mix local.hex --force")
    }

    @Test("the install steps that read only the plan's key files are a Containerfile of their own; the app's build starts from its image")
    func installImage() throws {
        let build = try Self.prepare(["main.py": "print('hi')\n", "requirements.txt": "flask\n"])
        let containerfile = build.containerfile
        #expect(containerfile.installStepCount == 2 && containerfile.installFiles == ["requirements.txt"], "\(containerfile.steps)")
        let install = try #require(containerfile.installText)
        #expect(install.hasPrefix("FROM \(build.environment.imageName)\nWORKDIR /app\nCOPY [\"requirements.txt\",\"/app/requirements.txt\"]\n"), "\(install)")
        #expect(install.contains("python3 -m venv .venv") && install.contains("pip install -r requirements.txt"), "\(install)")
        #expect(!install.contains("COPY . /app") && !install.contains("CMD "), "\(install)")
        let app = containerfile.text(from: "localhost/yard-cache/s:k")
        #expect(app.hasPrefix("FROM localhost/yard-cache/s:k\nWORKDIR /app\nCOPY . /app\n"), "\(app)")
        #expect(!app.contains("pip install"), "\(app)")
        #expect(containerfile.runCommands(install: true, fromInstallImage: false).count == 2)
        #expect(containerfile.runCommands(install: false, fromInstallImage: true).isEmpty)
        // An install that also reads the app (railpack.json adds its own command) stays in the app's build.
        let own = try Self.prepare(
            ["main.py": "print('hi')\n", "requirements.txt": "flask\n"], railpack: #"{"steps": {"install": {"commands": ["...", "cp main.py x"]}}}"#)
        #expect(own.containerfile.installText == nil && own.containerfile.text.contains("cp main.py x"))
    }
}
