import Testing
import YardCore

@testable import YardConfig

@Suite("railway.toml")
struct TOMLConfigTests {
    @Test func everyBuildAndDeployField() throws {
        let text = """
            "$schema" = "https://railway.com/railway.schema.json"

            [build]
            builder = "DOCKERFILE"
            buildCommand = "make all"
            watchPatterns = ["src/**", "Package.swift"]
            dockerfilePath = "deploy/Dockerfile"
            railpackVersion = "0.2.0"
            nixpacksPlan = { phases = { setup = { nixPkgs = ["go"] } } }
            nixpacksConfigPath = "nixpacks.toml"
            nixpacksVersion = "1.30.0"

            [deploy]
            startCommand = "./server --port $PORT"
            preDeployCommand = ["./migrate up", "./seed"]
            healthcheckPath = "/healthz"
            healthcheckTimeout = 120
            restartPolicyType = "ALWAYS"
            restartPolicyMaxRetries = 0
            numReplicas = 3
            multiRegionConfig = { us-west2 = { numReplicas = 2 }, "europe-west4" = { numReplicas = 1 } }
            cronSchedule = "*/15 * * * *"
            sleepApplication = true
            overlapSeconds = 45
            drainingSeconds = 20
            region = "us-west2"
            runtime = "V2"
            useLegacyStacker = false
            """
        let file = try ConfigParser.parseTOML(text, fileName: "railway.toml")
        #expect(file.fileName == "railway.toml")
        #expect(file.build.builder == .dockerfile)
        #expect(file.build.buildCommand == .some("make all"))
        #expect(file.build.watchPatterns == ["src/**", "Package.swift"])
        #expect(file.build.dockerfilePath == .some("deploy/Dockerfile"))
        #expect(file.deploy.startCommand == .some("./server --port $PORT"))
        #expect(file.deploy.preDeployCommand == ["./migrate up", "./seed"])
        #expect(file.deploy.healthcheckPath == .some("/healthz"))
        #expect(file.deploy.healthcheckTimeout == 120)
        #expect(file.deploy.restartPolicyType == .always)
        #expect(file.deploy.restartPolicyMaxRetries == 0)
        #expect(file.deploy.numReplicas == 3)
        #expect(file.deploy.multiRegionConfig == ["us-west2": 2, "europe-west4": 1])
        #expect(file.deploy.cronSchedule == .some("*/15 * * * *"))
        #expect(file.deploy.sleepApplication == true)
        #expect(file.deploy.overlapSeconds == 45)
        #expect(file.deploy.drainingSeconds == 20)
        #expect(file.deploy.region == .some("us-west2"))
        #expect(file.environments.isEmpty)

        // Ignored settings warn, with the line they are on, in reading order.
        let ignored = file.warnings.map { "\($0.field)@\($0.line ?? 0)" }
        #expect(
            ignored == [
                "build.railpackVersion@8", "build.nixpacksPlan@9", "build.nixpacksConfigPath@10",
                "build.nixpacksVersion@11", "deploy.runtime@27", "deploy.useLegacyStacker@28",
            ]
        )
        #expect(file.warnings.allSatisfy { $0.message.contains("ignored") })
        #expect(
            file.warnings[0].description
                == "railway.toml line 8: build.railpackVersion is ignored: version pins are not supported; "
                + "Switchyard builds with its own Railpack-compatible builder"
        )
    }

    @Test func preDeployCommandAsOneString() throws {
        let file = try ConfigParser.parseTOML(
            "[deploy]\npreDeployCommand = \"npm run migrate\"\n", fileName: "railway.toml")
        #expect(file.deploy.preDeployCommand == ["npm run migrate"])
    }

    @Test func builderValues() throws {
        func builder(_ value: String) throws -> (BuilderKind?, [ConfigWarning]) {
            let file = try ConfigParser.parseTOML("[build]\nbuilder = \"\(value)\"\n", fileName: "railway.toml")
            return (file.build.builder, file.warnings)
        }
        #expect(try builder("RAILPACK").0 == .railpack)
        #expect(try builder("RAILPACK").1.isEmpty)
        #expect(try builder("DOCKERFILE").0 == .dockerfile)

        let (nixpacks, nixpacksWarnings) = try builder("NIXPACKS")
        #expect(nixpacks == .railpack)
        #expect(
            nixpacksWarnings.map(\.description) == [
                "railway.toml line 2: build.builder NIXPACKS is deprecated; building with RAILPACK instead"
            ])

        let (misspelt, misspeltWarnings) = try builder("RAILPACKS")
        #expect(misspelt == .railpack)
        #expect(misspeltWarnings.count == 1)
        #expect(misspeltWarnings[0].field == "build.builder")
        #expect(misspeltWarnings[0].line == 2)
        #expect(misspeltWarnings[0].message.contains("did you mean RAILPACK?"))

        let error = #expect(throws: YardError.self) { try builder("HEROKU") }
        #expect(error?.code == .invalidConfig)
        #expect(
            error?.message == "railway.toml line 2: build.builder 'HEROKU' is not one of RAILPACK, DOCKERFILE, NIXPACKS"
        )
    }

    @Test func seedWorkerConfig() throws {
        // Modelled on seed 000's railway.toml: a misspelt builder and an [env] table Railway ignores.
        let text = """
            # Worker service
            [build]
            builder = "RAILPACKS"
            buildCommand = "pnpm install"

            [deploy]
            startCommand = "node workers/queue.mjs"
            restartPolicyType = "ON_FAILURE"
            restartPolicyMaxRetries = 10

            [env]
            NODE_VERSION = "20"
            PNPM_VERSION = "9"
            """
        let file = try ConfigParser.parseTOML(text, fileName: "railway.toml")
        #expect(file.build.builder == .railpack)
        #expect(file.build.buildCommand == .some("pnpm install"))
        #expect(file.deploy.startCommand == .some("node workers/queue.mjs"))
        #expect(file.deploy.restartPolicyType == .onFailure)
        #expect(file.deploy.restartPolicyMaxRetries == 10)
        #expect(file.warnings.map(\.field) == ["build.builder", "env"])
        let envWarning = file.warnings[1]
        #expect(envWarning.line == 11)
        #expect(envWarning.description.hasPrefix("railway.toml line 11: unknown table env is ignored"))
        // The table's values (which may be secrets elsewhere) never appear in warnings.
        #expect(!file.warnings.contains { $0.description.contains("20") || $0.description.contains("\"9\"") })
    }

    @Test func seedWebConfig() throws {
        // Modelled on seed 000's railway.web.toml, chosen by a service's config path.
        let text = """
            # Web front end
            [build]
            builder = "RAILPACKS"
            buildCommand = "pnpm install && cd apps/site && pnpm run build"

            [deploy]
            startCommand = "cd apps/site && node build/index.js"
            restartPolicyType = "ON_FAILURE"
            restartPolicyMaxRetries = 10

            [env]
            NODE_VERSION = "20"
            """
        let file = try ConfigParser.parseTOML(text, fileName: "railway.web.toml")
        #expect(file.build.buildCommand == .some("pnpm install && cd apps/site && pnpm run build"))
        #expect(file.deploy.startCommand == .some("cd apps/site && node build/index.js"))
        #expect(file.warnings.map(\.file) == ["railway.web.toml", "railway.web.toml"])
        #expect(file.warnings.map(\.line) == [3, 11])
    }

    @Test func unknownFieldsAndTablesWarn() throws {
        let text = """
            [build]
            builder = "RAILPACK"

            [deploy]
            startCommand = "run"
            # a comment
            fooBar = 1

            [metrics]
            enabled = true

            [environments.staging]
            colour = "blue"

            [environments.staging.deploy]
            limitOverride = { cpu = 2 }
            """
        let file = try ConfigParser.parseTOML(text, fileName: "railway.toml")
        #expect(
            file.warnings.map(\.description) == [
                "railway.toml line 7: unknown field deploy.fooBar is ignored",
                "railway.toml line 9: unknown table metrics is ignored",
                "railway.toml line 13: unknown field environments.staging.colour is ignored",
                "railway.toml line 16: unknown table environments.staging.deploy.limitOverride is ignored",
            ]
        )
        #expect(file.deploy.startCommand == .some("run"))
    }

    @Test func environments() throws {
        let text = """
            [deploy]
            numReplicas = 1

            [environments.production.deploy]
            numReplicas = 4
            healthcheckPath = "/ready"

            [environments.production.build]
            buildCommand = "make release"

            [environments.pr]
            deploy = { sleepApplication = true }
            """
        let file = try ConfigParser.parseTOML(text, fileName: "railway.toml")
        #expect(file.deploy.numReplicas == 1)
        #expect(file.environments.keys.sorted() == ["pr", "production"])
        #expect(file.environments["production"]?.deploy.numReplicas == 4)
        #expect(file.environments["production"]?.deploy.healthcheckPath == .some("/ready"))
        #expect(file.environments["production"]?.build.buildCommand == .some("make release"))
        #expect(file.environments["pr"]?.deploy.sleepApplication == true)
        #expect(file.warnings.isEmpty)
    }

    @Test func dottedKeysAndInlineTablesAreLocated() throws {
        let text = """
            build.builder = "RAILPACK"
            deploy.numReplicas = 2

            [environments]
            staging = { deploy = { restartPolicyType = "SOMETIMES" } }
            """
        let error = #expect(throws: YardError.self) { try ConfigParser.parseTOML(text, fileName: "railway.toml") }
        #expect(
            error?.message
                == "railway.toml line 5: environments.staging.deploy.restartPolicyType 'SOMETIMES' is not one of ON_FAILURE, ALWAYS, NEVER"
        )
    }

    @Test func syntaxErrorCarriesLineAndColumn() {
        let text = """
            [deploy]
            startCommand = "node server.js"
            numReplicas = = 2
            """
        let error = #expect(throws: YardError.self) { try ConfigParser.parseTOML(text, fileName: "railway.toml") }
        #expect(error?.code == .invalidConfig)
        #expect(error?.message.hasPrefix("railway.toml line 3 column ") == true)
        #expect(error?.message.contains("TOML syntax error") == true)
    }

    @Test func unterminatedStringIsASyntaxError() {
        let error = #expect(throws: YardError.self) {
            try ConfigParser.parseTOML("[build]\n\nbuildCommand = \"make\n", fileName: "railway.web.toml")
        }
        #expect(error?.message.hasPrefix("railway.web.toml line 3 column ") == true)
    }

    @Test(arguments: [
        (
            "[deploy]\nrestartPolicyType = \"SOMETIMES\"\n",
            "railway.toml line 2: deploy.restartPolicyType 'SOMETIMES' is not one of ON_FAILURE, ALWAYS, NEVER"
        ),
        (
            "[deploy]\nstartCommand = \"x\"\nnumReplicas = \"two\"\n",
            "railway.toml line 3: deploy.numReplicas must be an integer, got string \"two\""
        ),
        ("[deploy]\nnumReplicas = 0\n", "railway.toml line 2: deploy.numReplicas must be at least 1, got 0"),
        ("[deploy]\nnumReplicas = -2\n", "railway.toml line 2: deploy.numReplicas must be at least 1, got -2"),
        ("[deploy]\nnumReplicas = 1.5\n", "railway.toml line 2: deploy.numReplicas must be an integer, got number 1.5"),
        (
            "[deploy]\nhealthcheckTimeout = -5\n",
            "railway.toml line 2: deploy.healthcheckTimeout must be at least 1, got -5"
        ),
        (
            "[deploy]\nrestartPolicyMaxRetries = -1\n",
            "railway.toml line 2: deploy.restartPolicyMaxRetries must be at least 0, got -1"
        ),
        ("[deploy]\noverlapSeconds = -1\n", "railway.toml line 2: deploy.overlapSeconds must be at least 0, got -1"),
        ("[deploy]\ndrainingSeconds = -1\n", "railway.toml line 2: deploy.drainingSeconds must be at least 0, got -1"),
        (
            "[deploy]\nsleepApplication = \"yes\"\n",
            "railway.toml line 2: deploy.sleepApplication must be a boolean (true or false), got string \"yes\""
        ),
        ("[deploy]\nstartCommand = 5\n", "railway.toml line 2: deploy.startCommand must be a string, got integer 5"),
        (
            "[deploy]\nhealthcheckPath = true\n",
            "railway.toml line 2: deploy.healthcheckPath must be a string, got boolean true"
        ),
        ("[deploy]\nregion = [\"a\"]\n", "railway.toml line 2: deploy.region must be a string, got an array"),
        (
            "[deploy]\ncronSchedule = 1979-05-27\n",
            "railway.toml line 2: deploy.cronSchedule must be a string, got a date"
        ),
        (
            "[deploy]\ncronSchedule = \"every hour\"\n",
            "railway.toml line 2: deploy.cronSchedule must be a 5-field crontab expression (minute hour day-of-month month day-of-week, UTC), got 'every hour' with 2 fields"
        ),
        (
            "[deploy]\npreDeployCommand = [\n  \"ok\",\n  3,\n]\n",
            "railway.toml line 2: deploy.preDeployCommand[1] must be a string, got integer 3"
        ),
        (
            "[deploy]\npreDeployCommand = 3\n",
            "railway.toml line 2: deploy.preDeployCommand must be a string or an array of strings, got integer 3"
        ),
        (
            "[build]\nwatchPatterns = \"src/**\"\n",
            "railway.toml line 2: build.watchPatterns must be an array of strings, got string \"src/**\""
        ),
        (
            "[build]\nbuildCommand = { run = \"x\" }\n",
            "railway.toml line 2: build.buildCommand must be a string, got a table"
        ),
        ("[build]\ndockerfilePath = 1\n", "railway.toml line 2: build.dockerfilePath must be a string, got integer 1"),
        ("[build]\nbuilder = 1\n", "railway.toml line 2: build.builder must be a string, got integer 1"),
        ("deploy = \"fast\"\n", "railway.toml line 1: deploy must be a table, got string \"fast\""),
        ("build = [1]\n", "railway.toml line 1: build must be a table, got an array"),
        ("environments = 3\n", "railway.toml line 1: environments must be a table, got integer 3"),
        (
            "[environments]\nproduction = \"big\"\n",
            "railway.toml line 2: environments.production must be a table, got string \"big\""
        ),
        (
            "[deploy]\nmultiRegionConfig = 2\n",
            "railway.toml line 2: deploy.multiRegionConfig must be a table, got integer 2"
        ),
        (
            "[deploy.multiRegionConfig]\nus-east4 = { numReplicas = -1 }\n",
            "railway.toml line 2: deploy.multiRegionConfig.us-east4.numReplicas must be at least 0, got -1"
        ),
        (
            "[deploy.multiRegionConfig.us-east4]\nreplicas = 2\n",
            "railway.toml line 1: deploy.multiRegionConfig.us-east4 must set numReplicas, e.g. { numReplicas = 1 }"
        ),
    ])
    func errorsNameFileFieldAndLine(text: String, message: String) {
        let error = #expect(throws: YardError.self) { try ConfigParser.parseTOML(text, fileName: "railway.toml") }
        #expect(error?.code == .invalidConfig)
        #expect(error?.message == message)
    }

    @Test func multilineStringsDoNotConfuseLineNumbers() {
        let text = """
            [build]
            buildCommand = \"\"\"
            make
            [deploy]
            numReplicas = 9
            \"\"\"

            [deploy]
            startCommand = '''
            x = 1
            '''
            numReplicas = 0
            """
        let error = #expect(throws: YardError.self) { try ConfigParser.parseTOML(text, fileName: "railway.toml") }
        #expect(error?.message == "railway.toml line 12: deploy.numReplicas must be at least 1, got 0")
    }

    @Test func emptyCronScheduleClearsIt() throws {
        let file = try ConfigParser.parseTOML("[deploy]\ncronSchedule = \"\"\n", fileName: "railway.toml")
        #expect(file.deploy.cronSchedule == .some(nil))
    }

    @Test func integralFloatIsAcceptedAsInteger() throws {
        let file = try ConfigParser.parseTOML("[deploy]\nhealthcheckTimeout = 60.0\n", fileName: "railway.toml")
        #expect(file.deploy.healthcheckTimeout == 60)
    }

    @Test func emptyDocument() throws {
        let file = try ConfigParser.parseTOML("# nothing yet\n", fileName: "railway.toml")
        #expect(file == ConfigFile(fileName: "railway.toml"))
    }

    @Test func crlfLineEndings() {
        let text = "[build]\r\nbuilder = \"RAILPACK\"\r\n\r\n[deploy]\r\nnumReplicas = 0\r\n"
        let error = #expect(throws: YardError.self) { try ConfigParser.parseTOML(text, fileName: "railway.toml") }
        #expect(error?.message == "railway.toml line 5: deploy.numReplicas must be at least 1, got 0")
    }
}

@Suite("TOML key lines")
struct TOMLKeyLinesTests {
    @Test func findsHeadersDottedQuotedAndInlineKeys() {
        let lines = TOMLKeyLines(
            text: """
                top = 1
                [a.b]
                "quoted key" = 'v'
                c.d = { e = 1, "f g" = { h = [1, 2] } }
                [[list]]
                item = "x"
                """
        )
        #expect(lines.line(for: ["top"]) == 1)
        #expect(lines.line(for: ["a"]) == 2)
        #expect(lines.line(for: ["a", "b"]) == 2)
        #expect(lines.line(for: ["a", "b", "quoted key"]) == 3)
        #expect(lines.line(for: ["a", "b", "c", "d", "e"]) == 4)
        #expect(lines.line(for: ["a", "b", "c", "d", "f g", "h"]) == 4)
        #expect(lines.line(for: ["list", "item"]) == 6)
        // Unknown keys fall back to their longest known prefix.
        #expect(lines.line(for: ["a", "b", "missing"]) == 2)
        #expect(lines.line(for: ["nowhere"]) == nil)
    }
}
