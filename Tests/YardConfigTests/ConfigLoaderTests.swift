import Foundation
import Testing
import YardCore

@testable import YardConfig

/// A fresh directory under the system temp directory, removed by `remove()`.
struct TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("yardconfig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ text: String) throws {
        let file = url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: file)
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

@Suite("ConfigLoader")
struct ConfigLoaderTests {
    @Test func noConfigFileGivesServiceSettingsOverDefaults() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var deploy = DeployOverrides()
        deploy.startCommand = "./start"
        let resolved = try ConfigLoader.load(directory: directory.url, environment: "production", serviceDeploy: deploy)
        #expect(resolved.configFile == nil)
        #expect(resolved.procfileWeb == nil)
        #expect(resolved.warnings.isEmpty)
        #expect(resolved.deploy.startCommand == "./start")
        #expect(resolved.deploy.numReplicas == 1)
        #expect(resolved.build.builder == .railpack)
    }

    @Test func railwayTomlIsFound() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write(
            "railway.toml", "[deploy]\nnumReplicas = 2\n[environments.production.deploy]\nnumReplicas = 3\n")
        var service = DeployOverrides()
        service.numReplicas = 8
        service.healthcheckTimeout = 60
        let production = try ConfigLoader.load(
            directory: directory.url, environment: "production", serviceDeploy: service)
        #expect(production.configFile == "railway.toml")
        #expect(production.deploy.numReplicas == 3)
        #expect(production.deploy.healthcheckTimeout == 60)
        let staging = try ConfigLoader.load(directory: directory.url, environment: "staging", serviceDeploy: service)
        #expect(staging.deploy.numReplicas == 2)
    }

    @Test func railwayJsonIsFoundWhenThereIsNoToml() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("railway.json", #"{"deploy": {"startCommand": "node app.js", "fooBar": 1}}"#)
        let resolved = try ConfigLoader.load(directory: directory.url, environment: "production")
        #expect(resolved.configFile == "railway.json")
        #expect(resolved.deploy.startCommand == "node app.js")
        #expect(resolved.warnings.map(\.description) == ["railway.json: unknown field deploy.fooBar is ignored"])
    }

    @Test func tomlWinsOverJsonWithAWarning() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("railway.toml", "[deploy]\nstartCommand = \"from toml\"\n")
        try directory.write("railway.json", #"{"deploy": {"startCommand": "from json"}}"#)
        let resolved = try ConfigLoader.load(directory: directory.url, environment: "production")
        #expect(resolved.configFile == "railway.toml")
        #expect(resolved.deploy.startCommand == "from toml")
        #expect(resolved.warnings.count == 1)
        #expect(resolved.warnings[0].file == "railway.json")
        #expect(resolved.warnings[0].message.contains("railway.json is ignored because railway.toml exists"))
    }

    @Test func configPathSelectsAnotherFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("railway.toml", "[deploy]\nstartCommand = \"node workers/queue.mjs\"\n")
        try directory.write(
            "railway.web.toml",
            "[build]\nbuilder = \"RAILPACKS\"\n[deploy]\nstartCommand = \"node build/index.js\"\n[env]\nNODE_VERSION = \"20\"\n"
        )
        let resolved = try ConfigLoader.load(
            directory: directory.url, configPath: "railway.web.toml", environment: "production")
        #expect(resolved.configFile == "railway.web.toml")
        #expect(resolved.deploy.startCommand == "node build/index.js")
        #expect(resolved.build.builder == .railpack)
        #expect(resolved.warnings.map(\.field) == ["build.builder", "env"])
        #expect(resolved.warnings.allSatisfy { $0.file == "railway.web.toml" })
    }

    @Test func configPathInASubdirectoryWithLeadingSlashAndJSON() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("services/api/railway.json", #"{"deploy": {"numReplicas": 4}}"#)
        let resolved = try ConfigLoader.load(
            directory: directory.url, configPath: "/services/api/railway.json", environment: "production")
        #expect(resolved.configFile == "services/api/railway.json")
        #expect(resolved.deploy.numReplicas == 4)
    }

    @Test func missingConfigPathIsAnErrorNamingIt() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("railway.toml", "")
        let error = #expect(throws: YardError.self) {
            try ConfigLoader.load(directory: directory.url, configPath: "railway.web.toml", environment: "production")
        }
        #expect(error?.code == .invalidConfig)
        #expect(error?.message.contains("'railway.web.toml' was not found") == true)
    }

    @Test func configPathOutsideTheDirectoryIsRefused() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let outside = try TemporaryDirectory()
        defer { outside.remove() }
        try outside.write("railway.toml", "[deploy]\nnumReplicas = 2\n")
        let error = #expect(throws: YardError.self) {
            try ConfigLoader.load(
                directory: directory.url,
                configPath: "../\(outside.url.lastPathComponent)/railway.toml",
                environment: "production"
            )
        }
        #expect(error?.message.contains("leads outside the service directory") == true)

        // A symlinked railway.toml pointing outside is refused too.
        try FileManager.default.createSymbolicLink(
            at: directory.url.appendingPathComponent("railway.toml"),
            withDestinationURL: outside.url.appendingPathComponent("railway.toml")
        )
        #expect(throws: YardError.self) { try ConfigLoader.load(directory: directory.url, environment: "production") }
    }

    @Test func parseErrorsPropagateWithTheFileName() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("railway.toml", "[deploy]\nrestartPolicyType = \"SOMETIMES\"\n")
        let error = #expect(throws: YardError.self) {
            try ConfigLoader.load(directory: directory.url, environment: "production")
        }
        #expect(
            error?.message
                == "railway.toml line 2: deploy.restartPolicyType 'SOMETIMES' is not one of ON_FAILURE, ALWAYS, NEVER")
    }

    @Test func procfileWebCommandIsReported() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("Procfile", "web: gunicorn app:app\nworker: celery worker\n")
        let resolved = try ConfigLoader.load(directory: directory.url, environment: "production")
        #expect(resolved.procfileWeb == "gunicorn app:app")
        #expect(resolved.deploy.startCommand == nil)
    }

    @Test func malformedProcfileIsAnError() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("Procfile", "web gunicorn\n")
        let error = #expect(throws: YardError.self) {
            try ConfigLoader.load(directory: directory.url, environment: "production")
        }
        #expect(error?.message.hasPrefix("Procfile line 1:") == true)
    }

    @Test func dockerfileSelectsDockerfileBuilderUnlessABuilderIsChosen() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("Dockerfile", "FROM scratch\n")
        #expect(try ConfigLoader.load(directory: directory.url, environment: "production").build.builder == .dockerfile)

        try directory.write("railway.toml", "[build]\nbuilder = \"RAILPACK\"\n")
        #expect(try ConfigLoader.load(directory: directory.url, environment: "production").build.builder == .railpack)

        var service = BuildOverrides()
        service.builder = .railpack
        try directory.write("railway.toml", "")
        #expect(
            try ConfigLoader.load(directory: directory.url, environment: "production", serviceBuild: service).build
                .builder == .railpack
        )
    }

    @Test func dockerfilePathSelectsDockerfileBuilder() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("railway.toml", "[build]\ndockerfilePath = \"docker/app.Dockerfile\"\n")
        let resolved = try ConfigLoader.load(directory: directory.url, environment: "production")
        #expect(resolved.build.builder == .dockerfile)
        #expect(resolved.build.dockerfilePath == "docker/app.Dockerfile")
    }

    @Test func pullRequestEnvironment() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("railway.toml", "[deploy]\nnumReplicas = 3\n[environments.pr.deploy]\nnumReplicas = 1\n")
        let pr = try ConfigLoader.load(directory: directory.url, environment: "pr-9", isPullRequestEnvironment: true)
        #expect(pr.deploy.numReplicas == 1)
    }

    @Test func invalidUTF8IsAnError() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try Data([0x5B, 0xFF, 0xFE, 0x5D]).write(to: directory.url.appendingPathComponent("railway.toml"))
        let error = #expect(throws: YardError.self) {
            try ConfigLoader.load(directory: directory.url, environment: "production")
        }
        #expect(error?.message == "railway.toml is not UTF-8 text; save it as UTF-8")
    }
}
