import Testing
import YardCore

@testable import YardConfig

@Suite("Environment override priority")
struct EnvironmentPriorityTests {
    static let file = """
        [build]
        buildCommand = "make"

        [deploy]
        numReplicas = 2
        healthcheckPath = "/base"
        restartPolicyType = "ALWAYS"

        [environments.production.deploy]
        numReplicas = 5

        [environments.pr.deploy]
        numReplicas = 1
        sleepApplication = true
        healthcheckPath = "/pr"

        [environments.pr-42.deploy]
        healthcheckPath = "/pr-42"
        """

    static func service() -> (BuildOverrides, DeployOverrides) {
        var build = BuildOverrides()
        build.buildCommand = "service build"
        build.watchPatterns = ["app/**"]
        var deploy = DeployOverrides()
        deploy.numReplicas = 9
        deploy.startCommand = "service start"
        deploy.overlapSeconds = 7
        return (build, deploy)
    }

    @Test func namedEnvironmentBeatsBaseWhichBeatsService() throws {
        let config = try ConfigParser.parseTOML(Self.file, fileName: "railway.toml")
        let (build, deploy) = Self.service()
        let resolved = config.resolve(environment: "production", serviceBuild: build, serviceDeploy: deploy)
        #expect(resolved.deploy.numReplicas == 5)  // environments.production
        #expect(resolved.deploy.healthcheckPath == "/base")  // the file's base
        #expect(resolved.deploy.restartPolicyType == .always)
        #expect(resolved.build.buildCommand == "make")  // file beats service
        #expect(resolved.deploy.startCommand == "service start")  // service beats defaults
        #expect(resolved.deploy.overlapSeconds == 7)
        #expect(resolved.build.watchPatterns == ["app/**"])
        #expect(resolved.deploy.restartPolicyMaxRetries == 10)  // default
        #expect(resolved.deploy.drainingSeconds == DeploySettings().drainingSeconds)
    }

    @Test func environmentWithoutEntryUsesBase() throws {
        let config = try ConfigParser.parseTOML(Self.file, fileName: "railway.toml")
        let (build, deploy) = Self.service()
        let resolved = config.resolve(environment: "staging", serviceBuild: build, serviceDeploy: deploy)
        #expect(resolved.deploy.numReplicas == 2)
        #expect(resolved.deploy.healthcheckPath == "/base")
        #expect(resolved.deploy.sleepApplication == false)
    }

    @Test func pullRequestEnvironmentsLayerPrBetweenBaseAndTheirOwnEntry() throws {
        let config = try ConfigParser.parseTOML(Self.file, fileName: "railway.toml")
        let own = config.resolve(environment: "pr-42", isPullRequestEnvironment: true)
        #expect(own.deploy.healthcheckPath == "/pr-42")  // environments.pr-42 beats environments.pr
        #expect(own.deploy.numReplicas == 1)  // environments.pr beats the base
        #expect(own.deploy.sleepApplication == true)
        #expect(own.deploy.restartPolicyType == .always)  // base

        let other = config.resolve(environment: "pr-7", isPullRequestEnvironment: true)
        #expect(other.deploy.healthcheckPath == "/pr")

        // The same name without the PR flag does not pick up environments.pr.
        let notPR = config.resolve(environment: "pr-7")
        #expect(notPR.deploy.healthcheckPath == "/base")
        #expect(notPR.deploy.sleepApplication == false)
    }

    @Test func multiRegionConfigSumsReplicas() throws {
        let config = try ConfigParser.parseJSON(
            #"{"deploy": {"multiRegionConfig": {"us-west2": {"numReplicas": 2}, "europe-west4": {"numReplicas": 3}}}}"#,
            fileName: "railway.json"
        )
        let deploy = config.resolve(environment: "production").deploy
        #expect(deploy.numReplicas == 5)
        #expect(deploy.multiRegionConfig == ["us-west2": 2, "europe-west4": 3])
    }

    @Test func layersAreListedLowestPriorityFirst() throws {
        let config = try ConfigParser.parseTOML(Self.file, fileName: "railway.toml")
        let layers = config.layers(environment: "pr-42", isPullRequestEnvironment: true)
        #expect(layers.map(\.deploy.healthcheckPath) == ["/base", "/pr", "/pr-42"])
    }
}
