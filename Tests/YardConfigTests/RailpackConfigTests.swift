import Testing
import YardCore

@testable import YardConfig

@Suite("railpack.json")
struct RailpackConfigTests {
    /// Seed 002's root `railpack.json`, verbatim.
    static let seed002Root = #"""
        {
          "$schema": "https://schema.railpack.com",
          "version": "1",
          "metadata": {
            "name": "monkey-coder-monorepo"
          },
          "services": {
            "backend": {
              "root": "./",
              "build": {
                "provider": "python",
                "packages": { "python": "3.12" },
                "steps": {
                  "install": {
                    "commands": [
                      "pip install -r requirements.txt",
                      "cd packages/core && pip install -e ."
                    ]
                  }
                },
                "secrets": ["RAILWAY_ENVIRONMENT", "PYTHONPATH"]
              },
              "deploy": {
                "startCommand": "python run_server.py",
                "healthCheckPath": "/health",
                "healthCheckTimeout": 300,
                "inputs": [{ "step": "install" }]
              }
            },
            "frontend": {
              "root": "./packages/web",
              "build": {
                "provider": "node",
                "packages": { "node": "20" },
                "steps": {
                  "install": {
                    "commands": [
                      "corepack enable",
                      "corepack prepare yarn@stable --activate",
                      "cd /app && yarn install --frozen-lockfile"
                    ]
                  },
                  "build": {
                    "commands": [
                      "cd /app/packages/web && RAILWAY_ENVIRONMENT=production yarn build"
                    ]
                  }
                },
                "secrets": ["RAILWAY_ENVIRONMENT"]
              },
              "deploy": {
                "startCommand": "yarn start",
                "healthCheckPath": "/api/health",
                "healthCheckTimeout": 300,
                "inputs": [{ "step": "build" }],
                "environment": {
                  "NEXT_PUBLIC_API_URL": "https://${{backend.RAILWAY_PUBLIC_DOMAIN}}"
                }
              }
            }
          }
        }
        """#

    /// Seed 002's `packages/web/railpack.json`, verbatim: a top-level `build` object.
    static let seed002Web = #"""
        {
          "$schema": "https://schema.railpack.com",
          "version": "1",
          "metadata": {
            "name": "monkey-coder-web"
          },
          "build": {
            "provider": "node",
            "steps": {
              "install": {
                "commands": [
                  "corepack enable",
                  "corepack prepare yarn@stable --activate",
                  "yarn install --frozen-lockfile"
                ]
              },
              "build": {
                "commands": ["yarn build"]
              }
            }
          },
          "deploy": {
            "startCommand": "yarn start",
            "healthCheckPath": "/api/health",
            "healthCheckTimeout": 300,
            "inputs": [{ "step": "build" }]
          }
        }
        """#

    /// The error a parse throws; fails the test if it does not throw.
    func parseError(_ text: String, fileName: String = "railpack.json") -> YardError? {
        let error = #expect(throws: YardError.self) { try RailpackConfig.parse(text, fileName: fileName) }
        #expect(error?.code == .invalidConfig)
        return error
    }

    // MARK: Top level

    @Test func everyTopLevelField() throws {
        let text = """
            {
              "$schema": "https://schema.railpack.com",
              "version": "1",
              "metadata": {"name": "api", "owner": {"team": "core"}},
              "provider": "python",
              "packages": {"python": "3.11", "node": "20.11.1"},
              "buildAptPackages": ["libpq-dev", "ffmpeg"],
              "secrets": ["API_TOKEN", "PIP_INDEX_URL"],
              "caches": {"pip": {"directory": "/root/.cache/pip", "type": "shared"}},
              "steps": {
                "install": {"commands": ["pip install -r requirements.txt"]},
                "build": {"commands": ["python manage.py collectstatic --noinput"]},
                "assets": {}
              },
              "deploy": {"startCommand": "gunicorn app:app"}
            }
            """
        let config = try RailpackConfig.parse(text, fileName: "railpack.json")
        #expect(config.fileName == "railpack.json")
        #expect(config.provider == "python")
        #expect(config.packages == ["python": "3.11", "node": "20.11.1"])
        #expect(config.buildAptPackages == ["libpq-dev", "ffmpeg"])
        #expect(config.secrets == ["API_TOKEN", "PIP_INDEX_URL"])
        #expect(config.steps.map(\.name) == ["install", "build", "assets"])
        #expect(config.step(named: "build")?.commands == [.exec("python manage.py collectstatic --noinput")])
        #expect(config.step(named: "assets")?.commands == nil)
        #expect(config.deploy?.startCommand == "gunicorn app:app")
        #expect(config.services.isEmpty)
        #expect(config.warnings.isEmpty)
    }

    @Test func stepsKeepFileOrderWhateverTheirNames() throws {
        let config = try RailpackConfig.parse(
            #"{"steps": {"zeta": {}, "alpha": {}, "install": {}, "mid": {}}}"#, fileName: "railpack.json")
        #expect(config.steps.map(\.name) == ["zeta", "alpha", "install", "mid"])
    }

    @Test func emptyDocumentHasNothingSet() throws {
        let config = try RailpackConfig.parse("{}", fileName: "railpack.json")
        #expect(config == RailpackConfig(fileName: "railpack.json"))
    }

    // MARK: Commands

    @Test func everyCommandForm() throws {
        let text = """
            {"steps": {"build": {"commands": [
              "npm ci",
              {"cmd": "npm run build", "customName": "Build the app"},
              {"cmd": "npm test"},
              {"path": "/app/node_modules/.bin"},
              {"src": "dist/index.html", "dest": "public/index.html"},
              "..."
            ]}}}
            """
        let config = try RailpackConfig.parse(text, fileName: "railpack.json")
        #expect(
            config.step(named: "build")?.commands == [
                .exec("npm ci"),
                .exec("npm run build"),
                .exec("npm test"),
                .path("/app/node_modules/.bin"),
                .copy(source: "dist/index.html", destination: "public/index.html"),
                .extend,
            ]
        )
        #expect(config.warnings.isEmpty)
    }

    @Test func extensionMarkerKeepsItsPosition() throws {
        let text = #"""
            {"steps": {
              "install": {"commands": ["...", "pip install gunicorn"]},
              "build": {"commands": ["echo before", "...", "echo after"]},
              "release": {"commands": ["..."]},
              "none": {"commands": []},
              "dots": {"commands": ["....", ". ..", "echo ..."]}
            }}
            """#
        let config = try RailpackConfig.parse(text, fileName: "railpack.json")
        #expect(config.step(named: "install")?.commands == [.extend, .exec("pip install gunicorn")])
        #expect(config.step(named: "build")?.commands == [.exec("echo before"), .extend, .exec("echo after")])
        #expect(config.step(named: "release")?.commands == [.extend])
        // An empty array replaces the provider's commands with none; absent keeps them.
        #expect(config.step(named: "none")?.commands == [])
        // Only exactly "..." extends.
        #expect(config.step(named: "dots")?.commands == [.exec("...."), .exec(". .."), .exec("echo ...")])
    }

    @Test func absentOrNullCommandsKeepTheProviderDefault() throws {
        let text = #"{"steps": {"install": {"variables": {"CI": "1"}}, "build": {"commands": null}}}"#
        let config = try RailpackConfig.parse(text, fileName: "railpack.json")
        #expect(config.step(named: "install")?.commands == nil)
        #expect(config.step(named: "install")?.variables == ["CI": "1"])
        #expect(config.step(named: "build")?.commands == nil)
    }

    @Test func extensionMarkerAtMostOncePerArray() {
        let error = parseError(#"{"steps": {"build": {"commands": ["...", "make", "..."]}}}"#)
        #expect(
            error?.message
                == "railpack.json at $.steps.build.commands[2]: \"...\" may appear only once in a commands array "
                + "(it is already at [0]); it stands for the provider's default commands"
        )
    }

    @Test func extensionMarkerOnceInEachOfSeveralSteps() throws {
        let text = #"{"steps": {"a": {"commands": ["..."]}, "b": {"commands": ["x", "..."]}}}"#
        let config = try RailpackConfig.parse(text, fileName: "railpack.json")
        #expect(config.steps.compactMap(\.commands) == [[.extend], [.exec("x"), .extend]])
    }

    @Test(arguments: [
        ("3", "integer 3"),
        ("true", "boolean true"),
        ("null", "null"),
        (#"["ls"]"#, "an array"),
        (#"{"run": "make"}"#, "an object"),
        (#"{"cmd": "make", "path": "/bin"}"#, "an object"),
        (#"{}"#, "an object"),
    ])
    func commandElementsOfAnyOtherShapeAreErrors(element: String, described: String) {
        let error = parseError(#"{"steps": {"install": {"commands": ["npm ci", "npm test", \#(element)]}}}"#)
        #expect(
            error?.message
                == "railpack.json at $.steps.install.commands[2]: expected a command: a string, {\"cmd\": …}, "
                + "{\"path\": …} or {\"src\": …, \"dest\": …}, got \(described)"
        )
    }

    @Test func commandObjectMembersAreChecked() {
        #expect(
            parseError(#"{"steps": {"s": {"commands": [{"cmd": 5}]}}}"#)?.message
                == "railpack.json at $.steps.s.commands[0].cmd: expected a string, got integer 5"
        )
        #expect(
            parseError(#"{"steps": {"s": {"commands": [{"path": ["/a"]}]}}}"#)?.message
                == "railpack.json at $.steps.s.commands[0].path: expected a string, got an array"
        )
        #expect(
            parseError(#"{"steps": {"s": {"commands": [{"src": "a"}]}}}"#)?.message
                == "railpack.json at $.steps.s.commands[0]: a copy command needs both src and dest"
        )
        #expect(
            parseError(#"{"steps": {"s": {"commands": [{"cmd": "x", "customName": 1}]}}}"#)?.message
                == "railpack.json at $.steps.s.commands[0].customName: expected a string, got integer 1"
        )
        #expect(
            parseError(#"{"steps": {"s": {"commands": [{"image": "node:20", "src": "/a", "dest": "b"}]}}}"#)?.message
                == "railpack.json at $.steps.s.commands[0].image: copying from another image is not supported; "
                + "copy from the app's own files"
        )
    }

    @Test func unknownMembersOfACommandObjectAreWarnings() throws {
        let config = try RailpackConfig.parse(
            #"{"steps": {"s": {"commands": [{"cmd": "make", "shell": "bash"}]}}}"#, fileName: "railpack.json")
        #expect(config.step(named: "s")?.commands == [.exec("make")])
        #expect(
            config.warnings == [
                ConfigWarning(
                    file: "railpack.json", field: "steps.s.commands[0].shell", line: nil,
                    message: "unknown field steps.s.commands[0].shell is ignored")
            ]
        )
    }

    // MARK: Steps

    @Test func everyStepField() throws {
        let text = """
            {"steps": {"build": {
              "inputs": [{"step": "install"}, {"image": "node:20"}, {"local": true, "include": ["."]}, "...",
                         {"step": "setup", "include": ["/root"], "exclude": ["tmp"]}],
              "commands": ["make"],
              "secrets": ["NPM_TOKEN"],
              "variables": {"NODE_ENV": "production", "CI": "true"},
              "caches": ["npm", "next"],
              "deployOutputs": [{"include": ["dist"]}]
            }}}
            """
        let config = try RailpackConfig.parse(text, fileName: "railpack.json")
        let step = try #require(config.step(named: "build"))
        #expect(step.inputs == ["install", "setup"])
        #expect(step.commands == [.exec("make")])
        #expect(step.secrets == ["NPM_TOKEN"])
        #expect(step.variables == ["NODE_ENV": "production", "CI": "true"])
        #expect(step.caches == ["npm", "next"])
        #expect(config.warnings.isEmpty)
    }

    @Test func stepInputsOfTheWrongShapeAreErrors() {
        #expect(
            parseError(#"{"steps": {"b": {"inputs": ["install"]}}}"#)?.message
                == "railpack.json at $.steps.b.inputs[0]: expected an input: {\"step\": …}, {\"image\": …} or "
                + "{\"local\": true}, got string \"install\""
        )
        #expect(
            parseError(#"{"steps": {"b": {"inputs": [{"step": "a"}, {"include": ["."]}]}}}"#)?.message
                == "railpack.json at $.steps.b.inputs[1]: expected an input: {\"step\": …}, {\"image\": …} or "
                + "{\"local\": true}, got an object"
        )
        #expect(
            parseError(#"{"steps": {"b": {"inputs": [{"step": 1}]}}}"#)?.message
                == "railpack.json at $.steps.b.inputs[0].step: expected a string, got integer 1"
        )
        #expect(
            parseError(#"{"steps": {"b": {"inputs": {"step": "a"}}}}"#)?.message
                == "railpack.json at $.steps.b.inputs: expected an array of inputs, got an object"
        )
    }

    // MARK: Wrong types

    @Test(arguments: [
        (#"{"provider": 1}"#, "$.provider: expected a string, got integer 1"),
        (#"{"packages": ["python"]}"#, "$.packages: expected an object of version strings, got an array"),
        (
            #"{"packages": {"python": 3.12}}"#,
            "$.packages.python: expected a string (put the value in double quotes), got number 3.12"
        ),
        (#"{"buildAptPackages": "ffmpeg"}"#, "$.buildAptPackages: expected an array of strings, got string \"ffmpeg\""),
        (#"{"secrets": ["A", 2]}"#, "$.secrets[1]: expected a string, got integer 2"),
        (#"{"caches": ["pip"]}"#, "$.caches: expected an object, got an array"),
        (#"{"steps": ["install"]}"#, "$.steps: expected an object, got an array"),
        (#"{"steps": {"install": "npm ci"}}"#, "$.steps.install: expected an object, got string \"npm ci\""),
        (
            #"{"steps": {"install": {"commands": "npm ci"}}}"#,
            "$.steps.install.commands: expected an array of commands, got string \"npm ci\""
        ),
        (
            #"{"steps": {"install": {"variables": {"CI": true}}}}"#,
            "$.steps.install.variables.CI: expected a string (put the value in double quotes), got boolean true"
        ),
        (
            #"{"steps": {"install": {"caches": "npm"}}}"#,
            "$.steps.install.caches: expected an array of strings, got string \"npm\""
        ),
        (#"{"steps": {"my step": {"secrets": [1]}}}"#, "$.steps[\"my step\"].secrets[0]: expected a string, got integer 1"),
        (#"{"deploy": "npm start"}"#, "$.deploy: expected an object, got string \"npm start\""),
        (#"{"deploy": {"startCommand": ["npm", "start"]}}"#, "$.deploy.startCommand: expected a string, got an array"),
        (
            #"{"deploy": {"healthCheckTimeout": "300"}}"#,
            "$.deploy.healthCheckTimeout: expected a positive integer (seconds), got string \"300\""
        ),
        (#"{"deploy": {"healthcheckTimeout": 0}}"#, "$.deploy.healthcheckTimeout: must be at least 1, got 0"),
        (
            #"{"deploy": {"healthCheckTimeout": 2.5}}"#,
            "$.deploy.healthCheckTimeout: expected a positive integer (seconds), got number 2.5"
        ),
        (#"{"deploy": {"environment": {"A": {"b": "c"}}}}"#, "$.deploy.environment.A: expected a string, got an object"),
        (#"{"deploy": {"variables": "A=1"}}"#, "$.deploy.variables: expected an object of strings, got string \"A=1\""),
        (#"{"deploy": {"paths": [1]}}"#, "$.deploy.paths[0]: expected a string, got integer 1"),
        (#"{"deploy": {"aptPackages": {}}}"#, "$.deploy.aptPackages: expected an array of strings, got an object"),
        (
            #"{"deploy": {"inputs": [7]}}"#,
            "$.deploy.inputs[0]: expected an input: {\"step\": …}, {\"image\": …} or {\"local\": true}, got integer 7"
        ),
        (#"{"services": []}"#, "$.services: expected an object, got an array"),
        (#"{"services": {"api": "."}}"#, "$.services.api: expected an object, got string \".\""),
        (#"{"services": {"api": {"root": 1}}}"#, "$.services.api.root: expected a string, got integer 1"),
        (
            #"{"services": {"api": {"build": {"steps": {"i": {"commands": [1]}}}}}}"#,
            "$.services.api.build.steps.i.commands[0]: expected a command: a string, {\"cmd\": …}, {\"path\": …} or "
                + "{\"src\": …, \"dest\": …}, got integer 1"
        ),
        (
            #"{"services": {"api": {"deploy": {"healthCheckPath": 1}}}}"#,
            "$.services.api.deploy.healthCheckPath: expected a string, got integer 1"
        ),
        (#"["steps"]"#, "$: expected an object, got an array"),
    ])
    func wrongTypesNameTheFileAndPath(text: String, message: String) {
        #expect(parseError(text, fileName: "ops/railpack.json")?.message == "ops/railpack.json at \(message)")
    }

    @Test func syntaxErrorsGiveLineAndColumn() {
        let error = parseError("{\n  \"provider\": \"node\"\n  \"steps\": {}}", fileName: "railpack.json")
        #expect(error?.message.hasPrefix("railpack.json line 3 column 3: JSON syntax error:") == true)
    }

    /// Railpack's own examples carry comments and trailing commas; its parser takes them.
    @Test func commentsAndTrailingCommasAreAccepted() throws {
        let text = """
            {
              // the provider Railpack would detect anyway
              "provider": "python", /* inline */
              "steps": {
                "install": {"commands": ["pip install -r requirements.txt",],},
              },
              "deploy": {"startCommand": "python main.py // not a comment inside a string"},
            }
            """
        let config = try RailpackConfig.parse(text, fileName: "railpack.json")
        #expect(config.provider == "python")
        #expect(config.step(named: "install")?.commands == [.exec("pip install -r requirements.txt")])
        #expect(config.deploy?.startCommand == "python main.py // not a comment inside a string")
        #expect(config.warnings.isEmpty)
    }

    @Test func anUnclosedCommentIsASyntaxError() {
        let error = parseError("{\n  /* provider\n  \"provider\": \"node\"}", fileName: "railpack.json")
        #expect(error?.message == "railpack.json line 2 column 3: JSON syntax error: a /* comment is never closed with */")
        let slash = parseError("{\"provider\": / \"node\"}", fileName: "railpack.json")
        #expect(slash?.message.contains("comments start with // or /*") == true)
    }

    // MARK: Unknown fields

    @Test func unknownFieldsAreWarningsWithDottedPaths() throws {
        let text = """
            {
              "$schema": "https://schema.railpack.com",
              "providers": ["node"],
              "extra": {"a": 1},
              "steps": {"install": {"commands": ["npm ci"], "cwd": "/app"}},
              "deploy": {"startCommand": "npm start", "restartPolicy": "always"},
              "services": {
                "backend": {
                  "root": ".",
                  "replicas": 2,
                  "build": {"provider": "python", "foo": true, "deploy": {}},
                  "deploy": {"base": {}}
                }
              }
            }
            """
        let config = try RailpackConfig.parse(text, fileName: "railpack.json")
        #expect(
            config.warnings.map(\.field) == [
                "providers", "extra", "steps.install.cwd", "deploy.restartPolicy",
                "services.backend.replicas", "services.backend.build.foo", "services.backend.build.deploy",
                "services.backend.deploy.base",
            ]
        )
        #expect(config.warnings.allSatisfy { $0.file == "railpack.json" && $0.line == nil })
        #expect(config.warnings[1].message == "unknown object extra is ignored")
        #expect(config.warnings[5].description == "railpack.json: unknown field services.backend.build.foo is ignored")
        // Known fields next to unknown ones still count.
        #expect(config.step(named: "install")?.commands == [.exec("npm ci")])
        #expect(config.deploy?.startCommand == "npm start")
        #expect(config.services.first?.config.provider == "python")
        #expect(config.services.first?.config.warnings == [])
    }

    // MARK: Deploy

    @Test func everyDeployField() throws {
        let text = """
            {"deploy": {
              "startCommand": "node server.js",
              "variables": {"NODE_ENV": "production", "LOG_LEVEL": "info"},
              "healthcheckPath": "/ready",
              "healthcheckTimeout": 45,
              "inputs": [{"step": "build"}, "..."],
              "paths": ["/app/bin"],
              "aptPackages": ["curl"]
            }}
            """
        let deploy = try #require(try RailpackConfig.parse(text, fileName: "railpack.json").deploy)
        #expect(
            deploy
                == RailpackDeploy(
                    startCommand: "node server.js",
                    variables: ["NODE_ENV": "production", "LOG_LEVEL": "info"],
                    healthcheckPath: "/ready",
                    healthcheckTimeout: 45,
                    paths: ["/app/bin"],
                    aptPackages: ["curl"]
                )
        )
    }

    @Test func bothHealthCheckSpellingsAreRead() throws {
        let camel = try RailpackConfig.parse(
            #"{"deploy": {"healthCheckPath": "/health", "healthCheckTimeout": 300}}"#, fileName: "railpack.json")
        #expect(camel.deploy?.healthcheckPath == "/health")
        #expect(camel.deploy?.healthcheckTimeout == 300)
        let toml = try RailpackConfig.parse(
            #"{"deploy": {"healthcheckPath": "/up", "healthcheckTimeout": 30.0}}"#, fileName: "railpack.json")
        #expect(toml.deploy?.healthcheckPath == "/up")
        #expect(toml.deploy?.healthcheckTimeout == 30)
        #expect(camel.warnings.isEmpty && toml.warnings.isEmpty)
    }

    @Test func bothSpellingsAtOnceAreAnError() {
        #expect(
            parseError(#"{"deploy": {"healthCheckPath": "/a", "healthcheckPath": "/b"}}"#)?.message
                == "railpack.json at $.deploy.healthcheckPath: sets the same setting as healthCheckPath; keep only one of them"
        )
        #expect(
            parseError(#"{"deploy": {"healthcheckTimeout": 5, "healthCheckTimeout": 5}}"#)?.message
                == "railpack.json at $.deploy.healthCheckTimeout: sets the same setting as healthcheckTimeout; keep only one of them"
        )
    }

    @Test func environmentWinsOverVariablesWhateverTheOrder() throws {
        let environmentFirst = try RailpackConfig.parse(
            #"{"deploy": {"environment": {"A": "env", "C": "3"}, "variables": {"A": "var", "B": "2"}}}"#,
            fileName: "railpack.json")
        let variablesFirst = try RailpackConfig.parse(
            #"{"deploy": {"variables": {"A": "var", "B": "2"}, "environment": {"A": "env", "C": "3"}}}"#,
            fileName: "railpack.json")
        #expect(environmentFirst.deploy?.variables == ["A": "env", "B": "2", "C": "3"])
        #expect(variablesFirst.deploy?.variables == ["A": "env", "B": "2", "C": "3"])
    }

    @Test func nullDeployAndNullFieldsAreUnset() throws {
        #expect(try RailpackConfig.parse(#"{"deploy": null}"#, fileName: "railpack.json").deploy == nil)
        let config = try RailpackConfig.parse(
            #"{"provider": null, "deploy": {"startCommand": null, "healthCheckTimeout": null, "paths": null}}"#,
            fileName: "railpack.json")
        #expect(config.provider == nil)
        #expect(config.deploy == RailpackDeploy())
    }

    // MARK: Services

    @Test func seed002ServicesMapParsesUnchanged() throws {
        let config = try RailpackConfig.parse(Self.seed002Root, fileName: "railpack.json")
        #expect(config.warnings.isEmpty)
        #expect(config.provider == nil)
        #expect(config.steps.isEmpty)
        #expect(config.deploy == nil)
        #expect(config.services.map(\.name) == ["backend", "frontend"])

        let backend = config.services[0]
        #expect(backend.root == ".")
        #expect(backend.config.fileName == "railpack.json")
        #expect(backend.config.provider == "python")
        #expect(backend.config.packages == ["python": "3.12"])
        #expect(backend.config.secrets == ["RAILWAY_ENVIRONMENT", "PYTHONPATH"])
        #expect(backend.config.steps.map(\.name) == ["install"])
        #expect(
            backend.config.step(named: "install")?.commands == [
                .exec("pip install -r requirements.txt"), .exec("cd packages/core && pip install -e ."),
            ]
        )
        #expect(
            backend.config.deploy
                == RailpackDeploy(startCommand: "python run_server.py", healthcheckPath: "/health", healthcheckTimeout: 300)
        )
        #expect(backend.config.services.isEmpty)

        let frontend = config.services[1]
        #expect(frontend.root == "packages/web")
        #expect(frontend.config.provider == "node")
        #expect(frontend.config.packages == ["node": "20"])
        #expect(frontend.config.secrets == ["RAILWAY_ENVIRONMENT"])
        #expect(frontend.config.steps.map(\.name) == ["install", "build"])
        #expect(
            frontend.config.step(named: "install")?.commands == [
                .exec("corepack enable"), .exec("corepack prepare yarn@stable --activate"),
                .exec("cd /app && yarn install --frozen-lockfile"),
            ]
        )
        #expect(
            frontend.config.step(named: "build")?.commands == [
                .exec("cd /app/packages/web && RAILWAY_ENVIRONMENT=production yarn build")
            ]
        )
        #expect(
            frontend.config.deploy
                == RailpackDeploy(
                    startCommand: "yarn start",
                    variables: ["NEXT_PUBLIC_API_URL": "https://${{backend.RAILWAY_PUBLIC_DOMAIN}}"],
                    healthcheckPath: "/api/health",
                    healthcheckTimeout: 300
                )
        )
    }

    @Test func seed002StandaloneWebFileReadsItsBuildObject() throws {
        let config = try RailpackConfig.parse(Self.seed002Web, fileName: "railpack.json")
        #expect(config.warnings.isEmpty)
        #expect(config.provider == "node")
        #expect(config.steps.map(\.name) == ["install", "build"])
        #expect(config.step(named: "build")?.commands == [.exec("yarn build")])
        #expect(config.step(named: "install")?.commands?.count == 3)
        #expect(
            config.deploy
                == RailpackDeploy(startCommand: "yarn start", healthcheckPath: "/api/health", healthcheckTimeout: 300)
        )
    }

    @Test func aFieldInBothTheTopLevelAndBuildIsAnError() {
        #expect(
            parseError(#"{"provider": "node", "build": {"provider": "python"}}"#)?.message
                == "railpack.json at $.build.provider: provider is also set at the top level; set it in one place"
        )
    }

    @Test func serviceOrderAndDefaults() throws {
        let config = try RailpackConfig.parse(
            #"{"services": {"worker": {}, "api": {"deploy": {"startCommand": "./api"}}, "cron": {"root": null}}}"#,
            fileName: "railpack.json")
        #expect(config.services.map(\.name) == ["worker", "api", "cron"])
        #expect(config.services.map(\.root) == [".", ".", "."])
        #expect(config.services[0].config == RailpackConfig(fileName: "railpack.json"))
        #expect(config.services[1].config.deploy?.startCommand == "./api")
    }

    @Test func deployBeforeBuildInAServiceIsKept() throws {
        let config = try RailpackConfig.parse(
            #"{"services": {"api": {"deploy": {"startCommand": "./api"}, "build": {"provider": "go"}}}}"#,
            fileName: "railpack.json")
        #expect(config.services[0].config.provider == "go")
        #expect(config.services[0].config.deploy?.startCommand == "./api")
    }

    @Test(arguments: [
        ("./", "."),
        (".", "."),
        ("", "."),
        ("./packages/web", "packages/web"),
        ("packages/web/", "packages/web"),
        ("./packages/web/", "packages/web"),
        ("packages//web", "packages/web"),
        ("./apps/./api", "apps/api"),
        ("a..b/c", "a..b/c"),
    ])
    func rootsAreNormalised(root: String, normalised: String) throws {
        let config = try RailpackConfig.parse(#"{"services": {"s": {"root": "\#(root)"}}}"#, fileName: "railpack.json")
        #expect(config.services.first?.root == normalised)
    }

    @Test(arguments: ["/srv/app", "/", "../other", "packages/../../etc", "./..", "a/.."])
    func rootsLeavingTheRepositoryAreErrors(root: String) {
        let message = parseError(#"{"services": {"web": {"root": "\#(root)"}}}"#)?.message ?? ""
        #expect(message.hasPrefix("railpack.json at $.services.web.root: '\(root)' "))
        #expect(message.contains("absolute path") || message.contains("leads outside the repository"))
    }
}
