import Foundation
import Testing
import YardConfig
import YardCore

@testable import YardBuild

/// Every railpack.json command form applied to provider plans. RailpackConfig values are
/// built directly: parsing the file is YardConfig's job.
@Suite("railpack.json in plans")
struct RailpackPlanTests {
    init() throws {
        try requireHostTools(["python3": "apt-get install -y python3 python3-venv", "node": "apt-get install -y nodejs npm"])
    }

    let requirementsApp = fixture("python-flask")
    let pipInstall = "pip install -r requirements.txt"

    @Test func installCommandsReplaceTheProvidersAndDropTheCache() throws {
        let config = RailpackConfig(steps: [RailpackStep(name: "install", commands: [.exec("pip install flask"), .exec("pip install gunicorn")])])
        let outcome = try planOutcome(requirementsApp, railpack: config)
        #expect(outcome.plan.installCommands == ["python3 -m venv .venv", "pip install flask", "pip install gunicorn"])
        #expect(outcome.plan.cache == nil)
        #expect(outcome.plan.notes.contains("railpack.json steps.install replaces the install commands"))
        #expect(outcome.steps.map(\.phase) == [.setup, .install, .install])
    }

    @Test func extendingKeepsTheDefaultsWhereTheEllipsisStands() throws {
        let config = RailpackConfig(steps: [RailpackStep(name: "install", commands: [.exec("echo before"), .extend, .exec("echo after")])])
        let plan = try makePlan(requirementsApp, railpack: config)
        #expect(plan.installCommands == ["python3 -m venv .venv", "echo before", pipInstall, "echo after"])
        #expect(plan.notes.contains("railpack.json steps.install extends the install commands (\"...\")"))
        // The defaults' cache stays, but a hit re-runs the commands: the user's own may write anywhere.
        #expect(plan.cache == InstallCache(directories: [".venv"], keyFiles: ["requirements.txt", "requirements/base.txt"], skipInstallOnHit: false))

        let onlyDefaults = try makePlan(requirementsApp, railpack: RailpackConfig(steps: [RailpackStep(name: "install", commands: [.extend])]))
        #expect(onlyDefaults.installCommands == ["python3 -m venv .venv", pipInstall])
        #expect(onlyDefaults.cache?.skipInstallOnHit == true)
    }

    @Test func extendingAVariablesInstallCommandKeepsItUncached() throws {
        let config = RailpackConfig(steps: [RailpackStep(name: "install", commands: [.extend, .exec("pip check")])])
        let plan = try makePlan(requirementsApp, variables: ["RAILPACK_INSTALL_CMD": "pip install -e ."], railpack: config)
        #expect(plan.installCommands == ["python3 -m venv .venv", "pip install -e .", "pip check"])
        #expect(plan.cache == nil)
    }

    @Test func buildCommandsReplaceOrExtend() throws {
        let app = try TemporaryApp(["package.json": #"{"scripts": {"build": "tsc", "start": "node dist/a.js"}}"#])
        let extended = try makePlan(app.source, railpack: RailpackConfig(steps: [RailpackStep(name: "build", commands: [.extend, .exec("./post.sh")])]))
        #expect(extended.buildCommands == ["npm run build", "./post.sh"])
        #expect(extended.notes.contains("railpack.json steps.build extends the build commands (\"...\")"))

        let before = try makePlan(app.source, railpack: RailpackConfig(steps: [RailpackStep(name: "build", commands: [.exec("./pre.sh"), .extend])]))
        #expect(before.buildCommands == ["./pre.sh", "npm run build"])

        let replaced = try makePlan(app.source, railpack: RailpackConfig(steps: [RailpackStep(name: "build", commands: [.exec("make")])]))
        #expect(replaced.buildCommands == ["make"])
        #expect(replaced.notes.contains("railpack.json steps.build replaces the build commands"))

        // A step without commands keeps the provider's.
        let untouched = try makePlan(app.source, railpack: RailpackConfig(steps: [RailpackStep(name: "build", variables: ["A": "1"])]))
        #expect(untouched.buildCommands == ["npm run build"])

        // RAILPACK_BUILD_CMD is what "..." extends when both are set.
        let onVariable = try planOutcome(
            app.source, variables: ["RAILPACK_BUILD_CMD": "npm run compile"],
            railpack: RailpackConfig(steps: [RailpackStep(name: "build", commands: [.extend, .exec("npm test")])])
        ).plan
        #expect(onVariable.buildCommands == ["npm run compile", "npm test"])
    }

    @Test func pathCommandsPrependToPATH() throws {
        let app = try TemporaryApp(["package.json": #"{"main": "a.js"}"#])
        let config = RailpackConfig(
            steps: [
                RailpackStep(name: "install", commands: [.path("./tools/bin"), .extend]),
                RailpackStep(name: "build", commands: [.path("/opt/extra/bin"), .exec("tool build")]),
            ],
            deploy: RailpackDeploy(paths: ["bin"])
        )
        let plan = try makePlan(app.source, railpack: config)
        #expect(plan.environment["PATH"]?.hasPrefix("/app/tools/bin:/opt/extra/bin:/app/bin:/app/node_modules/.bin:") == true)
        #expect(plan.buildCommands == ["tool build"])
        #expect(plan.notes.contains("railpack.json adds /app/tools/bin, /opt/extra/bin, /app/bin to PATH"))
    }

    @Test func copyCommandsAreQuotedShellCopies() throws {
        let app = try TemporaryApp(["main.py": ""])
        let config = RailpackConfig(steps: [
            RailpackStep(name: "build", commands: [.copy(source: "config/prod env.json", destination: "settings.json"), .copy(source: "a", destination: "b")])
        ])
        let plan = try makePlan(app.source, railpack: config)
        #expect(plan.buildCommands == ["cp -R -- 'config/prod env.json' settings.json", "cp -R -- a b"])
    }

    @Test func otherStepsRunAfterBuildInFileOrder() throws {
        let app = try TemporaryApp(["package.json": #"{"scripts": {"build": "tsc", "start": "node a.js"}}"#])
        let config = RailpackConfig(steps: [
            RailpackStep(name: "assets", commands: [.exec("make assets"), .extend]),
            RailpackStep(name: "install", commands: [.exec("npm ci")]),
            RailpackStep(name: "build", commands: [.extend]),
            RailpackStep(name: "migrate", commands: [.exec("node migrate.js")]),
            RailpackStep(name: "notes"),
        ])
        let outcome = try planOutcome(app.source, railpack: config)
        #expect(outcome.steps.map(\.command) == ["npm ci", "npm run build", "make assets", "node migrate.js"])
        #expect(outcome.steps.map(\.phase) == [.install, .build, .custom("assets"), .custom("migrate")])
        #expect(outcome.plan.buildCommands == ["npm run build", "make assets", "node migrate.js"])
        #expect(outcome.plan.notes.contains("railpack.json step assets runs after the build"))
    }

    @Test func stepVariablesGoIntoTheEnvironmentByName() throws {
        let app = try TemporaryApp(["main.py": ""])
        let config = RailpackConfig(steps: [
            RailpackStep(name: "install", variables: ["PIP_INDEX_URL": "https://pypi.org/simple", "A": "1"]),
            RailpackStep(name: "build", variables: ["A": "2"]),
        ])
        let plan = try makePlan(app.source, railpack: config)
        #expect(plan.environment["PIP_INDEX_URL"] == "https://pypi.org/simple")
        #expect(plan.environment["A"] == "2")
        #expect(plan.notes.contains("railpack.json steps.install sets A, PIP_INDEX_URL for the build and the app"))
        #expect(!plan.notes.joined().contains("pypi.org/simple"))
    }

    @Test func secretsAreTheUnionOfFileStepsAndSettings() throws {
        let app = try TemporaryApp(["main.py": ""])
        let config = RailpackConfig(
            secrets: ["B_TOKEN", "A_KEY"],
            steps: [RailpackStep(name: "install", secrets: ["C_PASS", "*"]), RailpackStep(name: "build", secrets: ["A_KEY"])]
        )
        let outcome = try planOutcome(app.source, railpack: config, secretNames: ["D_SETTING"])
        #expect(outcome.plan.secrets == ["A_KEY", "B_TOKEN", "C_PASS", "D_SETTING"])
    }

    @Test func providerIsForced() throws {
        let both = try TemporaryApp(["requirements.txt": "", "main.py": "", "package.json": #"{"main": "a.js"}"#])
        let plan = try makePlan(both.source, railpack: RailpackConfig(provider: "Node"))
        #expect(plan.provider == "node")
        #expect(plan.notes.first == "railpack.json sets provider node")

        let unknown = planError(both.source, path: realHostPath, railpack: RailpackConfig(provider: "cobol"))
        #expect(unknown?.message.hasPrefix("railpack.json: provider 'cobol' is not one of php, golang, java") == true)

        let missing = planError(both.source, path: realHostPath, railpack: RailpackConfig(provider: "golang"))
        #expect(missing?.message.hasPrefix("railpack.json sets provider golang, but none of its files (go.mod, go.work, main.go)") == true)

        let empty = try ToolDirectory()
        let noTool = planError(fixture("python-plain"), path: empty.path, railpack: RailpackConfig(provider: "python"))
        #expect(noTool?.message.hasPrefix("railpack.json sets provider python, but python3 is not installed on this machine") == true)
    }

    @Test func packageVersionsAreComparedWithTheHost() throws {
        let app = try TemporaryApp(["main.py": ""])
        let config = RailpackConfig(packages: ["python": "3.12", "node": "20", "bun": "1.1"])
        let plan = try makePlan(app.source, railpack: config, hostVersions: sampleHostVersions)
        #expect(plan.notes.contains("railpack.json asks python 3.12; this machine has 3.11.7 — building with 3.11.7"))
        #expect(!plan.notes.contains { $0.hasPrefix("railpack.json asks node") })
        #expect(plan.notes.contains("railpack.json asks bun 1.1: packages are not installed per build; the build uses this machine's bun"))
    }

    @Test func aptPackagesAreNotedNotInstalled() throws {
        let app = try TemporaryApp(["main.py": ""])
        let config = RailpackConfig(buildAptPackages: ["libpq-dev"], deploy: RailpackDeploy(aptPackages: ["libpq5", "curl"]))
        let plan = try makePlan(app.source, railpack: config, hostVersions: sampleHostVersions)
        #expect(plan.notes.contains("railpack.json buildAptPackages (libpq-dev) are not installed per build: this machine's packages are used"))
        #expect(plan.notes.contains("railpack.json deploy.aptPackages (libpq5, curl) are not installed per build: this machine's packages are used"))
    }

    @Test func variablesStillWorkNextToTheFile() throws {
        let app = try TemporaryApp(["main.py": "", "requirements.txt": ""])
        let plan = try makePlan(
            app.source,
            variables: ["RAILPACK_START_CMD": "python other.py", "RAILPACK_BUILD_CMD": "make"],
            railpack: RailpackConfig(steps: [RailpackStep(name: "install", commands: [.extend])])
        )
        #expect(plan.startCommand == "python other.py")
        #expect(plan.buildCommands == ["make"])
        #expect(plan.installCommands == ["python3 -m venv .venv", pipInstall])
    }
}
