import Testing
import YardCore

@testable import YardConfig

@Suite("railway.json")
struct JSONConfigTests {
    @Test func everyBuildAndDeployField() throws {
        let text = """
            {
              "$schema": "https://railway.com/railway.schema.json",
              "build": {
                "builder": "DOCKERFILE",
                "buildCommand": "make all",
                "watchPatterns": ["src/**", "Package.swift"],
                "dockerfilePath": "deploy/Dockerfile",
                "railpackVersion": "0.2.0",
                "nixpacksPlan": {"phases": {"setup": {"nixPkgs": ["go"]}}},
                "nixpacksConfigPath": "nixpacks.toml",
                "nixpacksVersion": "1.30.0"
              },
              "deploy": {
                "startCommand": "./server --port $PORT",
                "preDeployCommand": ["./migrate up", "./seed"],
                "healthcheckPath": "/healthz",
                "healthcheckTimeout": 120,
                "restartPolicyType": "NEVER",
                "restartPolicyMaxRetries": 2,
                "numReplicas": 3,
                "multiRegionConfig": {"us-west2": {"numReplicas": 2}, "asia-southeast1": {"numReplicas": 0}},
                "cronSchedule": "0 3 * * 1",
                "sleepApplication": false,
                "overlapSeconds": 10,
                "drainingSeconds": 0,
                "region": "us-west2",
                "runtime": "V2",
                "useLegacyStacker": true
              }
            }
            """
        let file = try ConfigParser.parseJSON(text, fileName: "railway.json")
        #expect(file.build.builder == .dockerfile)
        #expect(file.build.buildCommand == .some("make all"))
        #expect(file.build.watchPatterns == ["src/**", "Package.swift"])
        #expect(file.build.dockerfilePath == .some("deploy/Dockerfile"))
        #expect(file.deploy.startCommand == .some("./server --port $PORT"))
        #expect(file.deploy.preDeployCommand == ["./migrate up", "./seed"])
        #expect(file.deploy.healthcheckPath == .some("/healthz"))
        #expect(file.deploy.healthcheckTimeout == 120)
        #expect(file.deploy.restartPolicyType == .never)
        #expect(file.deploy.restartPolicyMaxRetries == 2)
        #expect(file.deploy.numReplicas == 3)
        #expect(file.deploy.multiRegionConfig == ["us-west2": 2, "asia-southeast1": 0])
        #expect(file.deploy.cronSchedule == .some("0 3 * * 1"))
        #expect(file.deploy.sleepApplication == false)
        #expect(file.deploy.overlapSeconds == 10)
        #expect(file.deploy.drainingSeconds == 0)
        #expect(file.deploy.region == .some("us-west2"))
        #expect(
            file.warnings.map(\.field) == [
                "build.railpackVersion", "build.nixpacksPlan", "build.nixpacksConfigPath", "build.nixpacksVersion",
                "deploy.runtime", "deploy.useLegacyStacker",
            ]
        )
        #expect(file.warnings.allSatisfy { $0.line == nil && $0.file == "railway.json" })
        #expect(
            file.warnings[4].description
                == "railway.json: deploy.runtime is ignored: Switchyard runs every service on one runtime")
    }

    @Test func nullClearsFields() throws {
        let text = """
            {"build": {"builder": null, "buildCommand": null, "watchPatterns": null, "dockerfilePath": null},
             "deploy": {"startCommand": null, "preDeployCommand": null, "healthcheckPath": null,
                        "healthcheckTimeout": null, "restartPolicyType": null, "restartPolicyMaxRetries": null,
                        "numReplicas": null, "cronSchedule": null, "sleepApplication": null,
                        "overlapSeconds": null, "drainingSeconds": null, "region": null,
                        "multiRegionConfig": null}}
            """
        let file = try ConfigParser.parseJSON(text, fileName: "railway.json")
        let defaults = DeploySettings()
        #expect(file.build.builder == .railpack)
        #expect(file.build.buildCommand == .some(nil))
        #expect(file.build.watchPatterns == [])
        #expect(file.build.dockerfilePath == .some(nil))
        #expect(file.deploy.startCommand == .some(nil))
        #expect(file.deploy.preDeployCommand == [])
        #expect(file.deploy.healthcheckPath == .some(nil))
        #expect(file.deploy.healthcheckTimeout == defaults.healthcheckTimeout)
        #expect(file.deploy.restartPolicyType == defaults.restartPolicyType)
        #expect(file.deploy.restartPolicyMaxRetries == defaults.restartPolicyMaxRetries)
        #expect(file.deploy.numReplicas == defaults.numReplicas)
        #expect(file.deploy.cronSchedule == .some(nil))
        #expect(file.deploy.sleepApplication == false)
        #expect(file.deploy.overlapSeconds == defaults.overlapSeconds)
        #expect(file.deploy.drainingSeconds == defaults.drainingSeconds)
        #expect(file.deploy.region == .some(nil))
        #expect(file.deploy.multiRegionConfig == nil)
        #expect(file.warnings.map(\.field) == ["deploy.multiRegionConfig"])

        // A null clears what the service set.
        var service = DeployOverrides()
        service.startCommand = "./old"
        service.healthcheckTimeout = 30
        let settings = file.resolve(environment: "production", serviceDeploy: service).deploy
        #expect(settings.startCommand == nil)
        #expect(settings.healthcheckTimeout == 300)
    }

    @Test func nullRegionIsRemoved() throws {
        let file = try ConfigParser.parseJSON(
            #"{"deploy": {"multiRegionConfig": {"us-west2": {"numReplicas": 2}, "europe-west4": null}}}"#,
            fileName: "railway.json"
        )
        #expect(file.deploy.multiRegionConfig == ["us-west2": 2])
    }

    @Test func seedShapeAsJSON() throws {
        let text = """
            {
              "build": {"builder": "RAILPACKS", "buildCommand": "pnpm install"},
              "deploy": {"startCommand": "node workers/queue.mjs", "restartPolicyType": "ON_FAILURE", "restartPolicyMaxRetries": 10},
              "env": {"NODE_VERSION": "20"}
            }
            """
        let file = try ConfigParser.parseJSON(text, fileName: "railway.json")
        #expect(file.build.builder == .railpack)
        #expect(file.warnings.map(\.field) == ["build.builder", "env"])
        #expect(file.warnings[1].description.hasPrefix("railway.json: unknown object env is ignored"))
    }

    @Test func unknownFieldsWarnWithTheirPath() throws {
        let text =
            #"{"deploy": {"fooBar": 1}, "extra": {"a": 1}, "environments": {"dev": {"build": {"cacheKey": "x"}, "tier": 2}}}"#
        let file = try ConfigParser.parseJSON(text, fileName: "railway.json")
        #expect(
            file.warnings.map(\.description) == [
                "railway.json: unknown field deploy.fooBar is ignored",
                "railway.json: unknown object extra is ignored",
                "railway.json: unknown field environments.dev.build.cacheKey is ignored",
                "railway.json: unknown field environments.dev.tier is ignored",
            ]
        )
    }

    @Test func environments() throws {
        let text = """
            {"deploy": {"numReplicas": 1},
             "environments": {
               "production": {"deploy": {"numReplicas": 4}, "build": {"buildCommand": "make release"}},
               "pr": {"deploy": {"sleepApplication": true}}
             }}
            """
        let file = try ConfigParser.parseJSON(text, fileName: "railway.json")
        #expect(file.environments["production"]?.deploy.numReplicas == 4)
        #expect(file.environments["production"]?.build.buildCommand == .some("make release"))
        #expect(file.environments["pr"]?.deploy.sleepApplication == true)
    }

    /// railway.json stays strict JSON: only railpack.json takes Railpack's comments.
    @Test func railwayJSONRefusesComments() {
        let error = #expect(throws: YardError.self) {
            try ConfigParser.parseJSON("{\n  // note\n  \"deploy\": {}\n}", fileName: "railway.json")
        }
        #expect(error?.message.hasPrefix("railway.json line 2 column 3: JSON syntax error:") == true)
    }

    /// Railway's config reference writes these two as strings; they must not be refused.
    @Test func numericStringsAreIntegers() throws {
        let text = #"{"deploy": {"overlapSeconds": "60", "drainingSeconds": "10", "numReplicas": " 2 "}}"#
        let file = try ConfigParser.parseJSON(text, fileName: "railway.json")
        #expect(file.deploy.overlapSeconds == 60)
        #expect(file.deploy.drainingSeconds == 10)
        #expect(file.deploy.numReplicas == 2)
        #expect(file.warnings.isEmpty)
        let toml = try ConfigParser.parseTOML("[deploy]\noverlapSeconds = \"60\"\ndrainingSeconds = \"10\"\n", fileName: "railway.toml")
        #expect(toml.deploy.overlapSeconds == 60)
        #expect(toml.deploy.drainingSeconds == 10)
    }

    @Test(arguments: [
        (
            #"{"deploy": {"numReplicas": "two"}}"#,
            #"railway.json at $.deploy.numReplicas: expected an integer, got string "two""#
        ),
        (#"{"deploy": {"numReplicas": 0}}"#, "railway.json at $.deploy.numReplicas: must be at least 1, got 0"),
        (
            #"{"deploy": {"healthcheckTimeout": -1}}"#,
            "railway.json at $.deploy.healthcheckTimeout: must be at least 1, got -1"
        ),
        (
            #"{"deploy": {"restartPolicyMaxRetries": -3}}"#,
            "railway.json at $.deploy.restartPolicyMaxRetries: must be at least 0, got -3"
        ),
        (#"{"deploy": {"overlapSeconds": -3}}"#, "railway.json at $.deploy.overlapSeconds: must be at least 0, got -3"),
        (
            #"{"deploy": {"drainingSeconds": 2.5}}"#,
            "railway.json at $.deploy.drainingSeconds: expected an integer, got number 2.5"
        ),
        (
            #"{"deploy": {"restartPolicyType": "SOMETIMES"}}"#,
            "railway.json at $.deploy.restartPolicyType: 'SOMETIMES' is not one of ON_FAILURE, ALWAYS, NEVER"
        ),
        (
            #"{"deploy": {"restartPolicyType": 1}}"#,
            "railway.json at $.deploy.restartPolicyType: expected one of ON_FAILURE, ALWAYS, NEVER, got integer 1"
        ),
        (
            #"{"build": {"builder": "PAKETO"}}"#,
            "railway.json at $.build.builder: 'PAKETO' is not one of RAILPACK, DOCKERFILE, NIXPACKS"
        ),
        (
            #"{"build": {"buildCommand": ["a"]}}"#,
            "railway.json at $.build.buildCommand: expected a string or null, got an array"
        ),
        (
            #"{"build": {"watchPatterns": ["a", false]}}"#,
            "railway.json at $.build.watchPatterns[1]: expected a string, got boolean false"
        ),
        (
            #"{"deploy": {"sleepApplication": "true"}}"#,
            #"railway.json at $.deploy.sleepApplication: expected a boolean (true or false), got string "true""#
        ),
        (
            #"{"deploy": {"preDeployCommand": {"cmd": "x"}}}"#,
            "railway.json at $.deploy.preDeployCommand: expected a string or an array of strings, got an object"
        ),
        (#"{"deploy": 5}"#, "railway.json at $.deploy: expected an object, got integer 5"),
        (#"{"build": null}"#, "railway.json at $.build: expected an object, got null"),
        (#"{"environments": []}"#, "railway.json at $.environments: expected an object, got an array"),
        (
            #"{"environments": {"pr-12": {"deploy": {"numReplicas": -1}}}}"#,
            #"railway.json at $.environments["pr-12"].deploy.numReplicas: must be at least 1, got -1"#
        ),
        (
            #"{"environments": {"staging": {"deploy": "x"}}}"#,
            #"railway.json at $.environments.staging.deploy: expected an object, got string "x""#
        ),
        (
            #"{"deploy": {"multiRegionConfig": {"us": {"numReplicas": "one"}}}}"#,
            #"railway.json at $.deploy.multiRegionConfig.us.numReplicas: expected an integer, got string "one""#
        ),
        (
            #"{"deploy": {"cronSchedule": "* * *"}}"#,
            "railway.json at $.deploy.cronSchedule: must be a 5-field crontab expression (minute hour day-of-month month day-of-week, UTC), got '* * *' with 3 fields"
        ),
        (
            #"{"deploy": {"cronSchedule": "61 * * * *"}}"#,
            "railway.json at $.deploy.cronSchedule: cronSchedule '61 * * * *': the minute field '61' has 61, outside 0-59"
        ),
        ("[1, 2]", "railway.json at $: expected an object, got an array"),
    ])
    func errorsNameFileAndPath(text: String, message: String) {
        let error = #expect(throws: YardError.self) { try ConfigParser.parseJSON(text, fileName: "railway.json") }
        #expect(error?.code == .invalidConfig)
        #expect(error?.message == message)
    }

    @Test(arguments: [
        (
            "{\n  \"deploy\": {\n    \"numReplicas\": 2,\n  }\n}",
            "railway.json line 4 column 3: JSON syntax error: unexpected '}', expected a member name in double quotes"
        ),
        (
            "{\"build\": {\"builder\": \"RAILPACK\"}",
            "railway.json line 1 column 34: JSON syntax error: unexpected end of the document, expected ',' or '}' after an object member"
        ),
        ("{\"a\": tru}", "railway.json line 1 column 7: JSON syntax error: unexpected 't', expected a value"),
        (
            "{\"a\": 1} x",
            "railway.json line 1 column 10: JSON syntax error: unexpected 'x' after the end of the document"
        ),
        ("{\"a\": 1, \"a\": 2}", "railway.json line 1 column 10: JSON syntax error: duplicate member \"a\""),
        (
            "{\"a\": 01}",
            "railway.json line 1 column 8: JSON syntax error: invalid number: leading zeros are not allowed"
        ),
        (
            "{\"a\": \"x\ny\"}",
            "railway.json line 1 column 9: JSON syntax error: control character in a string; write it as an escape such as \\n"
        ),
        ("", "railway.json line 1 column 1: JSON syntax error: unexpected end of the document, expected a value"),
    ])
    func syntaxErrorsCarryLineAndColumn(text: String, message: String) {
        let error = #expect(throws: YardError.self) { try ConfigParser.parseJSON(text, fileName: "railway.json") }
        #expect(error?.code == .invalidConfig)
        #expect(error?.message == message)
    }
}

@Suite("JSON document parser")
struct JSONDocumentParserTests {
    @Test func valuesKeepTypeAndOrder() throws {
        let value = try JSONDocumentParser.parse(
            #"{"z": 1, "a": 1.5, "m": [true, false, null], "s": "caf\u00e9 \ud83d\ude80 \"q\" \\ \/", "e": 2e3, "n": -0}"#
        )
        #expect(
            value
                == .table([
                    ("z", .integer(1)), ("a", .float(1.5)), ("m", .array([.bool(true), .bool(false), .null])),
                    ("s", .string("café 🚀 \"q\" \\ /")), ("e", .float(2000)), ("n", .integer(0)),
                ])
        )
    }

    @Test func byteOrderMarkIsSkipped() throws {
        #expect(try JSONDocumentParser.parse("\u{FEFF}{}") == .table([]))
    }

    @Test func deepNestingIsRefused() {
        let text = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect(throws: JSONDocumentParser.SyntaxError.self) { try JSONDocumentParser.parse(text) }
    }

    @Test func columnsCountCharactersNotBytes() {
        let error = #expect(throws: JSONDocumentParser.SyntaxError.self) { try JSONDocumentParser.parse("{\"é\": x}") }
        #expect(error?.line == 1)
        #expect(error?.column == 7)
    }
}
