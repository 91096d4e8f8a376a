import Foundation
import Testing
import YardConfig
import YardCore

@testable import YardBuild

/// Plans never need the host: with no toolchain on PATH every provider still plans, and
/// the plan names the version each app asks for and where it was read from.
@Suite("Toolchain versions in plans")
struct ToolchainRequestTests {
    /// Fixture, provider, the provider's main toolchain, requested version, its source.
    static let apps: [(String, String, String?, String?, String?)] = [
        ("php", "php", "php", "^8.2", "composer.json require.php"),
        ("golang", "golang", "go", ">=1.22", "go.mod"),
        ("java", "java", "java", "21", "system.properties java.runtime.version"),
        ("rust", "rust", "rust", "1.78.0", "rust-toolchain.toml"),
        ("ruby", "ruby", "ruby", "3.3.0", ".ruby-version"),
        ("elixir", "elixir", "elixir", "~> 1.15", "mix.exs elixir"),
        ("python", "python", "python", "3.13.1", "runtime.txt"),
        ("deno", "deno", "deno", "2.1.4", "mise.toml tools.deno"),
        ("dotnet", "dotnet", "dotnet", "8.0.100", "global.json sdk.version"),
        ("node", "node", "node", "22", ".nvmrc"),
        ("node-yarn", "node", "yarn", "4.1.0", "package.json packageManager"),
        ("gleam", "gleam", "gleam", ">= 1.4.0", "gleam.toml gleam"),
        ("cpp", "cpp", "cmake", ">=3.20", "CMakeLists.txt cmake_minimum_required"),
        ("staticfile", "staticfile", nil, nil, nil),
        ("shell", "shell", nil, nil, nil),
        ("swift", "swift", "swift", "6.0", ".swift-version"),
    ]

    @Test func everyProviderPlansWithNoToolchainOnPath() throws {
        let empty = try ToolDirectory()
        var providers: [String] = []
        for (name, provider, toolchain, requested, source) in Self.apps {
            let outcome = try planOutcome(fixture("versions/\(name)"), path: empty.path)
            let plan = outcome.plan
            providers.append(plan.provider)
            #expect(plan.provider == provider, "fixture \(name)")
            #expect(!plan.startCommand.isEmpty, "fixture \(name)")
            guard let toolchain else {
                #expect(plan.toolchains.isEmpty, "fixture \(name)")
                #expect(outcome.missingToolchain == nil, "fixture \(name)")
                continue
            }
            let entry = plan.toolchains.first { $0.name == toolchain }
            #expect(entry?.requested == requested, "fixture \(name)")
            #expect(entry?.source == source, "fixture \(name)")
            #expect(entry?.available == false, "fixture \(name)")
            #expect(entry?.message?.contains("is not installed on this machine") == true, "fixture \(name)")
            #expect(entry?.message?.contains("install it with `\(entry?.installHint ?? "?")`") == true, "fixture \(name)")
            // The build would stop before any step, naming what was asked for and where.
            let missing = try #require(outcome.missingToolchain, "fixture \(name)")
            #expect(missing.hasPrefix("detected \(provider) from "), "fixture \(name): \(missing)")
            #expect(missing.contains("versions available here: none"), "fixture \(name): \(missing)")
        }
        // Railpack's order, plus swift.
        #expect(Set(providers) == Set(Provider.allCases.map(\.rawValue)))
    }

    @Test func missingToolchainMessageNamesVersionSourceAndInstall() throws {
        let empty = try ToolDirectory()
        let outcome = try planOutcome(fixture("versions/golang"), path: empty.path)
        #expect(
            outcome.missingToolchain
                == "detected golang from go.mod, but go is not installed on this machine "
                + "(go.mod asks for go >=1.22; versions available here: none): install it with `apt-get install -y golang-go`")
        let yarn = try planOutcome(fixture("versions/node-yarn"), path: empty.path).plan.toolchains.map(\.name)
        #expect(yarn == ["node", "yarn"])
    }

    @Test func buildFailsBeforeAnyStepWhenTheToolchainIsMissing() throws {
        let empty = try ToolDirectory()
        let app = try TemporaryApp(["go.mod": "module x\n\ngo 1.22\n", "main.go": "package main\n\nfunc main() {}\n"])
        var request = app.request()
        request.hostEnvironment["PATH"] = empty.path
        let error = #expect(throws: YardError.self) { try makeBuilder().prepare(request) }
        #expect(error?.code == .buildFailed)
        #expect(error?.message.contains("go.mod asks for go >=1.22; versions available here: none") == true)
        #expect(error?.message.contains("apt-get install -y golang-go") == true)
        // Nothing was copied into the app directory: no step ran.
        #expect(!FileManager.default.fileExists(atPath: request.appDirectory.appendingPathComponent("main.go").path))
        // Planning alone succeeds and reports the toolchain.
        let plan = try makeBuilder().plan(for: request)
        #expect(plan.toolchains.first?.available == false)
    }

    @Test func versionSourcesInPrecedenceOrder() throws {
        let empty = try ToolDirectory()
        // RAILPACK_<NAME>_VERSION first, then railpack.json packages, then the provider's files.
        let go = try makePlan(fixture("versions/golang"), path: empty.path, variables: ["RAILPACK_GO_VERSION": "1.23"])
        #expect(go.toolchains.first?.requested == "1.23")
        #expect(go.toolchains.first?.source == "RAILPACK_GO_VERSION")
        // Messages name the variable, not its value.
        let fromVariable = try planOutcome(fixture("versions/golang"), path: empty.path, variables: ["RAILPACK_GO_VERSION": "1.23"])
        #expect(fromVariable.plan.toolchains.first?.message?.hasPrefix("RAILPACK_GO_VERSION asks for a go version; ") == true)
        #expect(
            fromVariable.missingToolchain?.contains("(RAILPACK_GO_VERSION asks for a go version; versions available here: none)") == true)
        #expect(fromVariable.missingToolchain?.contains("1.23") == false)
        let packages = try makePlan(fixture("versions/golang"), path: empty.path, railpack: RailpackConfig(packages: ["golang": "1.21"]))
        #expect(packages.toolchains.first?.requested == "1.21")
        #expect(packages.toolchains.first?.source?.hasSuffix("packages.golang") == true)
        // A value that does not look like a version is not shown.
        let hidden = try makePlan(fixture("versions/golang"), path: empty.path, variables: ["RAILPACK_GO_VERSION": "s3cr3t;value$"])
        #expect(hidden.toolchains.first?.requested == "(set, not shown)")
        let secret = try planOutcome(
            fixture("versions/golang"), path: empty.path, variables: ["RAILPACK_GO_VERSION": "1.23"], secretNames: ["RAILPACK_GO_VERSION"])
        #expect(secret.plan.toolchains.first?.requested == "(set, not shown)")
        #expect(secret.missingToolchain?.contains("1.23") == false)

        // mise.toml, then .tool-versions, when the provider's own files name nothing.
        let mise = try TemporaryApp(["Gemfile": "gem 'rack'\n", "config.ru": "", "mise.toml": "[tools]\nruby = \"3.2.4\"\n"])
        #expect(try makePlan(mise.source, path: empty.path).toolchains.first?.source == "mise.toml tools.ruby")
        let asdf = try TemporaryApp(["main.py": "", ".tool-versions": "nodejs 20.1.0\npython 3.12.2 3.11.9\n"])
        let python = try makePlan(asdf.source, path: empty.path).toolchains.first
        #expect(python?.requested == "3.12.2")
        #expect(python?.source == ".tool-versions")
        // Node: .node-version, engines; Pipfile for python.
        let engines = try TemporaryApp(["package.json": #"{"main": "a.js", "engines": {"node": ">=18"}}"#])
        #expect(try makePlan(engines.source, path: empty.path).toolchains.first?.source == "package.json engines.node")
        let pipfile = try TemporaryApp(["Pipfile": "[requires]\npython_version = \"3.13\"\n", "main.py": ""])
        let fromPipfile = try makePlan(pipfile.source, path: empty.path).toolchains.first
        #expect(fromPipfile?.requested == "3.13")
        #expect(fromPipfile?.source == "Pipfile python_version")
    }

    @Test func hostVersionIsComparedWhenKnown() throws {
        let tools = try ToolDirectory(["go"])
        let plan = try makePlan(fixture("versions/golang"), path: tools.path, hostVersions: sampleHostVersions)
        let go = try #require(plan.toolchains.first)
        #expect(go.available == true)
        #expect(go.matches == false)
        #expect(go.message == "go.mod asks for go >=1.22; this machine has 1.19.8: building with 1.19.8")
        let satisfied = try makePlan(
            fixture("versions/golang"), path: tools.path, variables: ["RAILPACK_GO_VERSION": "1.19"], hostVersions: sampleHostVersions)
        #expect(satisfied.toolchains.first?.matches == true)
    }

    @Test func plansStoredBeforeTheVersionFieldsStillDecode() throws {
        let old = #"{"name": "go", "executable": "go", "versionArguments": ["version"], "installHint": "apt-get install -y golang-go"}"#
        let toolchain = try JSONDecoder().decode(Toolchain.self, from: Data(old.utf8))
        #expect(toolchain.name == "go")
        #expect(toolchain.requested == nil)
        #expect(toolchain.available == nil)
    }
}
