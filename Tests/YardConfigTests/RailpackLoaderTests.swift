import Foundation
import Testing
import YardCore

@testable import YardConfig

@Suite("ConfigLoader and railpack.json")
struct RailpackLoaderTests {
    // MARK: loadRailpack

    @Test func noRailpackFileGivesNil() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("railway.toml", "")
        #expect(try ConfigLoader.loadRailpack(directory: directory.url) == nil)
        #expect(try ConfigLoader.loadRailpack(directory: directory.url, fileName: "  ") == nil)
    }

    @Test func defaultNameIsRead() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("railpack.json", #"{"provider": "node", "deploy": {"startCommand": "node index.js"}}"#)
        let config = try #require(try ConfigLoader.loadRailpack(directory: directory.url))
        #expect(config.fileName == "railpack.json")
        #expect(config.provider == "node")
        #expect(config.deploy?.startCommand == "node index.js")
    }

    @Test func seed002RootFileIsRead() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("railpack.json", RailpackConfigTests.seed002Root)
        let config = try #require(try ConfigLoader.loadRailpack(directory: directory.url))
        #expect(config.services.map(\.name) == ["backend", "frontend"])
        #expect(config.services.map(\.root) == [".", "packages/web"])
    }

    @Test func customNameIsReadInsteadOfTheDefault() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("railpack.json", #"{"provider": "node"}"#)
        try directory.write("deploy/railpack.api.json", #"{"provider": "python", "unknownThing": 1}"#)
        let config = try #require(
            try ConfigLoader.loadRailpack(directory: directory.url, fileName: "deploy/railpack.api.json"))
        #expect(config.fileName == "deploy/railpack.api.json")
        #expect(config.provider == "python")
        #expect(config.warnings.map(\.description) == ["deploy/railpack.api.json: unknown field unknownThing is ignored"])
        // A leading slash is relative to the service directory, as Railpack joins it to the app folder.
        let slashed = try ConfigLoader.loadRailpack(directory: directory.url, fileName: "/deploy/railpack.api.json")
        #expect(slashed?.provider == "python")
    }

    @Test func missingCustomNameIsAnErrorNamingIt() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("railpack.json", "{}")
        let error = #expect(throws: YardError.self) {
            try ConfigLoader.loadRailpack(directory: directory.url, fileName: "railpack.prod.json")
        }
        #expect(error?.code == .invalidConfig)
        #expect(
            error?.message
                == "railpack config file 'railpack.prod.json' (RAILPACK_CONFIG_FILE) was not found in the service "
                + "directory; add it or change RAILPACK_CONFIG_FILE"
        )
        let directoryError = #expect(throws: YardError.self) {
            try ConfigLoader.loadRailpack(directory: directory.url, fileName: "/")
        }
        #expect(directoryError?.message.contains("RAILPACK_CONFIG_FILE '/' names a directory") == true)
    }

    @Test func pathsLeavingTheDirectoryAreRefused() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let outside = try TemporaryDirectory()
        defer { outside.remove() }
        try outside.write("railpack.json", #"{"provider": "node"}"#)
        let error = #expect(throws: YardError.self) {
            try ConfigLoader.loadRailpack(
                directory: directory.url, fileName: "../\(outside.url.lastPathComponent)/railpack.json")
        }
        #expect(error?.code == .invalidConfig)
        #expect(error?.message.contains("leads outside the service directory") == true)
        #expect(error?.message.contains(outside.url.lastPathComponent) == true)

        // A default-named symlink that points outside is refused too.
        try FileManager.default.createSymbolicLink(
            at: directory.url.appendingPathComponent("railpack.json"),
            withDestinationURL: outside.url.appendingPathComponent("railpack.json")
        )
        #expect(throws: YardError.self) { try ConfigLoader.loadRailpack(directory: directory.url) }
    }

    @Test func parseErrorsCarryTheFileName() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("ci/railpack.json", #"{"steps": {"install": {"commands": [42]}}}"#)
        let error = #expect(throws: YardError.self) {
            try ConfigLoader.loadRailpack(directory: directory.url, fileName: "ci/railpack.json")
        }
        #expect(error?.message.hasPrefix("ci/railpack.json at $.steps.install.commands[0]: expected a command") == true)
    }

    @Test func oversizedAndNonUTF8FilesAreRefused() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try Data(repeating: 0x20, count: ConfigLoader.maximumFileSize + 1)
            .write(to: directory.url.appendingPathComponent("railpack.json"))
        let tooBig = #expect(throws: YardError.self) { try ConfigLoader.loadRailpack(directory: directory.url) }
        #expect(tooBig?.message.hasPrefix("railpack.json is \(ConfigLoader.maximumFileSize + 1) bytes") == true)

        try Data([0x7B, 0xFF, 0x7D]).write(to: directory.url.appendingPathComponent("railpack.json"))
        let notText = #expect(throws: YardError.self) { try ConfigLoader.loadRailpack(directory: directory.url) }
        #expect(notText?.message == "railpack.json is not UTF-8 text; save it as UTF-8")
    }

    // MARK: load(...) with a railpack deploy layer

    @Test func railwayTomlBeatsRailpackWhichBeatsTheService() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("railway.toml", "[deploy]\nstartCommand = \"./from-toml\"\n")
        var service = DeployOverrides()
        service.startCommand = "./from-service"
        service.healthcheckPath = "/service-health"
        service.healthcheckTimeout = 20
        service.numReplicas = 2
        let railpack = RailpackDeploy(
            startCommand: "./from-railpack", variables: ["A": "1"], healthcheckPath: "/railpack-health",
            healthcheckTimeout: 90)

        let resolved = try ConfigLoader.load(
            directory: directory.url, environment: "production", serviceDeploy: service, railpackDeploy: railpack)
        #expect(resolved.deploy.startCommand == "./from-toml")
        #expect(resolved.deploy.healthcheckPath == "/railpack-health")
        #expect(resolved.deploy.healthcheckTimeout == 90)
        #expect(resolved.deploy.numReplicas == 2)

        // Without a config file, railpack's settings beat the service's.
        try FileManager.default.removeItem(at: directory.url.appendingPathComponent("railway.toml"))
        let withoutFile = try ConfigLoader.load(
            directory: directory.url, environment: "production", serviceDeploy: service, railpackDeploy: railpack)
        #expect(withoutFile.configFile == nil)
        #expect(withoutFile.deploy.startCommand == "./from-railpack")
        #expect(withoutFile.deploy.healthcheckPath == "/railpack-health")
        #expect(withoutFile.deploy.healthcheckTimeout == 90)
    }

    @Test func railwayTomlHealthCheckAndEnvironmentsBeatRailpack() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write(
            "railway.json",
            #"{"deploy": {"healthcheckTimeout": 15}, "environments": {"staging": {"deploy": {"healthcheckPath": "/staging"}}}}"#
        )
        let railpack = RailpackDeploy(healthcheckPath: "/railpack", healthcheckTimeout: 200)
        let production = try ConfigLoader.load(
            directory: directory.url, environment: "production", railpackDeploy: railpack)
        #expect(production.deploy.healthcheckTimeout == 15)
        #expect(production.deploy.healthcheckPath == "/railpack")
        let staging = try ConfigLoader.load(directory: directory.url, environment: "staging", railpackDeploy: railpack)
        #expect(staging.deploy.healthcheckPath == "/staging")
        #expect(staging.deploy.healthcheckTimeout == 15)
    }

    @Test func unsetRailpackFieldsLetTheServiceShowThrough() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var service = DeployOverrides()
        service.startCommand = "./from-service"
        service.healthcheckPath = "/service-health"
        service.healthcheckTimeout = 20
        let resolved = try ConfigLoader.load(
            directory: directory.url, environment: "production", serviceDeploy: service,
            railpackDeploy: RailpackDeploy(variables: ["ONLY": "variables"], paths: ["/app/bin"]))
        #expect(resolved.deploy.startCommand == "./from-service")
        #expect(resolved.deploy.healthcheckPath == "/service-health")
        #expect(resolved.deploy.healthcheckTimeout == 20)
        // A railpack layer chooses no builder, so a Dockerfile still selects DOCKERFILE.
        try directory.write("Dockerfile", "FROM scratch\n")
        let withDockerfile = try ConfigLoader.load(
            directory: directory.url, environment: "production", railpackDeploy: RailpackDeploy(startCommand: "x"))
        #expect(withDockerfile.build.builder == .dockerfile)
    }

    @Test func seed002ServiceDeployFlowsIntoSettings() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("railpack.json", RailpackConfigTests.seed002Root)
        let config = try #require(try ConfigLoader.loadRailpack(directory: directory.url))
        let frontend = try #require(config.services.first { $0.name == "frontend" })
        var service = DeployOverrides()
        service.numReplicas = 3
        let resolved = try ConfigLoader.load(
            directory: directory.url.appendingPathComponent(frontend.root), environment: "production",
            serviceDeploy: service, railpackDeploy: frontend.config.deploy)
        #expect(resolved.deploy.startCommand == "yarn start")
        #expect(resolved.deploy.healthcheckPath == "/api/health")
        #expect(resolved.deploy.healthcheckTimeout == 300)
        #expect(resolved.deploy.numReplicas == 3)
    }

    @Test func deployOverridesCarryOnlyWhatIsSet() {
        #expect(RailpackDeploy().deployOverrides == DeployOverrides())
        var expected = DeployOverrides()
        expected.startCommand = "npm start"
        expected.healthcheckPath = "/h"
        expected.healthcheckTimeout = 7
        #expect(
            RailpackDeploy(
                startCommand: "npm start", variables: ["A": "b"], healthcheckPath: "/h", healthcheckTimeout: 7,
                paths: ["/x"], aptPackages: ["curl"]
            ).deployOverrides == expected)
    }
}
