import Foundation
import Testing
import YardClient
import YardCore
import YardRuntime

/// The `yard` verbs of issue 4 (build plans, cancel, rollback, the install cache, build
/// secrets, root directories, whole-project deploys), run as a user would: the real binary,
/// against a real `yard serve` where they need one.
@Suite("yard verbs end to end", .serialized)
struct CLIEndToEndTests {
    /// The JSON `yard build --plan` prints for one service (the fields the tests read).
    struct Plan: Decodable {
        struct Steps: Decodable {
            var install: [String]
            var build: [String]
        }

        struct Tool: Decodable {
            var name: String
            var executable: String
            var version: String?
            var requested: String?
            var source: String?
            var available: Bool?
            var message: String?
        }

        struct Deploy: Decodable {
            var startCommand: String?
            var healthcheckPath: String?
            var healthcheckTimeout: Int
        }

        var root: String
        var provider: String
        var detectedFrom: String
        var steps: Steps
        var startCommand: String
        var secrets: [String]
        var notes: [String]
        var toolchains: [Tool]
        var deploy: Deploy
        var deployVariables: [String: String]
        var artifactKey: String?
        var configFile: String?
        var railpackConfig: String?
        var error: String?
    }

    // MARK: yard build --plan (no server)

    @Test("build --plan: a pip app's provider, steps, start command, toolchain and a stable artifact key", .timeLimit(.minutes(2)))
    func planPythonApp() async throws {
        try await Self.withCLI { cli in
            let folder = try cli.copyFixture("python-pip", to: "plan-python")
            let result = try await cli.yard(["build", "--plan", folder.path], in: cli.root)
            try #require(result.status == 0, "\(result.output)")
            let plan = try YardJSON.decoder().decode(Plan.self, from: Data(result.stdout.utf8))
            #expect(plan.provider == "python")
            #expect(plan.root == ".")
            #expect(plan.steps.install.contains("pip install -r requirements.txt"), "\(plan.steps.install)")
            #expect(plan.startCommand == "python main.py")
            #expect(plan.deploy.healthcheckTimeout == 300)
            let python = try #require(plan.toolchains.first { $0.name == "python" })
            #expect(python.version?.hasPrefix("Python 3") == true, "\(python)")
            let key = try #require(plan.artifactKey)
            #expect(key.count == 64 && key.allSatisfy(\.isHexDigit), "\(key)")

            // The same folder plans to the same key, also from inside it; an ignored file
            // is not uploaded, so it does not change the key; a code change does.
            let again = try await cli.yard(["build", "--plan"], in: folder)
            #expect(try YardJSON.decoder().decode(Plan.self, from: Data(again.stdout.utf8)).artifactKey == key)
            try "scratch.log\n".write(to: folder.appendingPathComponent(".gitignore"), atomically: true, encoding: .utf8)
            let ignoredKey = try await Self.planKey(cli, folder)
            try "noise".write(to: folder.appendingPathComponent("scratch.log"), atomically: true, encoding: .utf8)
            #expect(try await Self.planKey(cli, folder) == ignoredKey, "an ignored file must not change the plan's key")
            try "# changed\n".write(to: folder.appendingPathComponent("extra.py"), atomically: true, encoding: .utf8)
            #expect(try await Self.planKey(cli, folder) != ignoredKey, "a new source file must change the plan's key")

            // Variables the service would have reach the plan: a RAILPACK_* override and a
            // deploy-setting variable.
            let tuned = try await cli.yard(
                ["build", "--plan", folder.path, "--variable", "RAILPACK_START_CMD=python -m http.server $PORT",
                 "--variable", "RAILWAY_HEALTHCHECK_TIMEOUT_SEC=42"],
                in: cli.root)
            try #require(tuned.status == 0, "\(tuned.output)")
            let tunedPlan = try YardJSON.decoder().decode(Plan.self, from: Data(tuned.stdout.utf8))
            #expect(tunedPlan.startCommand == "python -m http.server $PORT", "\(tunedPlan.startCommand)")
            #expect(tunedPlan.deploy.healthcheckTimeout == 42)
        }
    }

    @Test("build --plan --json: a go app plans with its requested version and source, with or without go", .timeLimit(.minutes(2)))
    func planGoAppWithoutGo() async throws {
        try await Self.withCLI { cli in
            let folder = cli.root.appendingPathComponent("plan-go")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try "module example.com/hello\n\ngo 1.22\n".write(to: folder.appendingPathComponent("go.mod"), atomically: true, encoding: .utf8)
            try "package main\n\nfunc main() {}\n".write(to: folder.appendingPathComponent("main.go"), atomically: true, encoding: .utf8)
            // The plan uses the sandbox's system PATH, whatever the caller's PATH holds.
            let system = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            let hostHasGo = system.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/go") }

            let result = try await cli.yard(["build", "--plan", "--json", folder.path], in: cli.root)
            let plan = try YardJSON.decoder().decode(Plan.self, from: Data(result.stdout.utf8))
            #expect(plan.provider == "golang")
            #expect(plan.detectedFrom == "go.mod")
            #expect(plan.steps.build == [#"go build -ldflags="-w -s" -o out ."#], "\(plan.steps.build)")
            #expect(plan.startCommand == "./out")
            let go = try #require(plan.toolchains.first { $0.name == "go" }, "\(result.output)")
            #expect(go.requested == ">=1.22")
            #expect(go.source == "go.mod")
            if hostHasGo {
                #expect(go.available == true, "\(go)")
            } else {
                // No go here: the plan still prints; the error says why a build would stop.
                #expect(go.available == false, "\(go)")
                #expect(go.version == nil)
                #expect(result.status != 0)
                let error = try #require(plan.error, "\(result.output)")
                #expect(error.contains("go.mod asks for go >=1.22; versions available here: none"), "\(error)")
                #expect(error.contains("apt-get install -y golang-go"), "\(error)")
                #expect(result.stderr.contains("go.mod asks for go >=1.22"), "\(result.output)")
            }
        }
    }

    @Test("build --plan: seed 002's services map plans each service from its own root with its own settings", .timeLimit(.minutes(2)))
    func planServicesMap() async throws {
        try await Self.withCLI { cli in
            let folder = YardServer.fixture("monorepo-railpack")
            let result = try await cli.yard(["build", "--plan", folder.path], in: cli.root)
            try #require(result.status == 0, "\(result.output)")
            let plans = try YardJSON.decoder().decode([String: Plan].self, from: Data(result.stdout.utf8))
            #expect(Set(plans.keys) == ["backend", "frontend"])
            let backend = try #require(plans["backend"])
            #expect(backend.provider == "python")
            #expect(backend.root == ".")
            #expect(backend.steps.install.contains("cd packages/core && pip install -e ."), "\(backend.steps.install)")
            #expect(backend.startCommand == "python run_server.py")
            #expect(backend.deploy.healthcheckPath == "/health")
            #expect(backend.secrets.contains("RAILWAY_ENVIRONMENT"))
            let frontend = try #require(plans["frontend"])
            #expect(frontend.provider == "node")
            #expect(frontend.root == "packages/web")
            #expect(frontend.steps.build == ["RAILWAY_ENVIRONMENT=production npm run build"])
            #expect(frontend.startCommand == "npm start")
            #expect(frontend.deploy.healthcheckPath == "/api/health")
            #expect(frontend.deployVariables["NEXT_PUBLIC_API_URL"] == "https://${{backend.RAILWAY_PUBLIC_DOMAIN}}")
            #expect(frontend.artifactKey != backend.artifactKey)

            let one = try await cli.yard(["build", "--plan", folder.path, "--service", "frontend"], in: cli.root)
            try #require(one.status == 0, "\(one.output)")
            let only = try YardJSON.decoder().decode([String: Plan].self, from: Data(one.stdout.utf8))
            #expect(Array(only.keys) == ["frontend"])
            #expect(only["frontend"]?.artifactKey == frontend.artifactKey)

            let unknown = try await cli.yard(["build", "--plan", folder.path, "--service", "worker"], in: cli.root)
            #expect(unknown.status != 0)
            #expect(unknown.stderr.contains("no service 'worker'") && unknown.stderr.contains("backend, frontend"), "\(unknown.output)")
            let rooted = try await cli.yard(["build", "--plan", folder.path, "--root", "packages/web"], in: cli.root)
            #expect(rooted.status != 0)
            #expect(rooted.stderr.contains("drop --root"), "\(rooted.output)")
        }
    }

    @Test("build --plan: --root and --config pick one service of a monorepo; errors are clear", .timeLimit(.minutes(2)))
    func planRootAndConfig() async throws {
        try await Self.withCLI { cli in
            let folder = cli.root.appendingPathComponent("mono")
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("apps/site"), withIntermediateDirectories: true)
            try "<h1>site</h1>\n".write(to: folder.appendingPathComponent("apps/site/index.html"), atomically: true, encoding: .utf8)
            try "[deploy]\nhealthcheckPath = \"/\"\nhealthcheckTimeout = 77\n".write(
                to: folder.appendingPathComponent("apps/site/railway.site.toml"), atomically: true, encoding: .utf8)
            try "a monorepo\n".write(to: folder.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)

            let plan = try await cli.yard(
                ["build", "--plan", folder.path, "--root", "apps/site", "--config", "railway.site.toml"], in: cli.root)
            try #require(plan.status == 0, "\(plan.output)")
            let site = try YardJSON.decoder().decode(Plan.self, from: Data(plan.stdout.utf8))
            #expect(site.provider == "staticfile")
            #expect(site.root == "apps/site")
            #expect(site.configFile == "railway.site.toml")
            #expect(site.deploy.healthcheckPath == "/")
            #expect(site.deploy.healthcheckTimeout == 77)

            // The folder's root has nothing to build: the planner says what it looked for.
            let bare = try await cli.yard(["build", "--plan", folder.path], in: cli.root)
            #expect(bare.status != 0)
            #expect(bare.stderr.contains("could not detect how to build this app"), "\(bare.output)")
            let missing = try await cli.yard(["build", "--plan", folder.path, "--root", "apps/nope"], in: cli.root)
            #expect(missing.status != 0)
            #expect(missing.stderr.contains("'apps/nope', which is not a folder of \(folder.path)"), "\(missing.output)")
            let escaping = try await cli.yard(["build", "--plan", folder.path, "--root", "../elsewhere"], in: cli.root)
            #expect(escaping.status != 0)
            #expect(escaping.stderr.contains("leaves the upload"), "\(escaping.output)")
            let noMap = try await cli.yard(["build", "--plan", folder.path, "--service", "site"], in: cli.root)
            #expect(noMap.status != 0)
            #expect(noMap.stderr.contains("has none"), "\(noMap.output)")
            let noPlan = try await cli.yard(["build", folder.path], in: cli.root)
            #expect(noPlan.status != 0)
            #expect(noPlan.stderr.contains("yard build --plan") && noPlan.stderr.contains("yard up"), "\(noPlan.output)")
            #expect(!noPlan.output.contains("Fatal") && !noPlan.output.contains("Stack"))
        }
    }

    @Test("serve: router timeouts that are not durations are refused, naming the flag", .timeLimit(.minutes(1)))
    func serveRefusesBadRouterTimeouts() async throws {
        try await Self.withCLI { cli in
            let dataDir = cli.root.appendingPathComponent("never-started").path
            for flag in ["--upstream-connect-timeout", "--upstream-header-timeout", "--upstream-idle-timeout", "--max-request-duration"] {
                let result = try await cli.yard(["serve", "--data-dir", dataDir, flag, "soon"], in: cli.root, timeout: .seconds(20))
                #expect(result.status != 0)
                #expect(result.stderr.contains("\(flag): 'soon' is not a duration"), "\(result.output)")
            }
            let zero = try await cli.yard(["serve", "--data-dir", dataDir, "--max-request-duration", "0"], in: cli.root, timeout: .seconds(20))
            #expect(zero.status != 0)
            #expect(zero.stderr.contains("--max-request-duration: '0' is not a duration"), "\(zero.output)")
            let noConnections = try await cli.yard(["serve", "--data-dir", dataDir, "--upstream-max-connections", "0"], in: cli.root, timeout: .seconds(20))
            #expect(noConnections.status != 0)
            #expect(noConnections.stderr.contains("--upstream-max-connections must be at least 1"), "\(noConnections.output)")
            #expect(!FileManager.default.fileExists(atPath: dataDir))
        }
    }

    // MARK: Against a server

    @Test("cancel: a queued deployment by id, then the building one by default; a live one is refused", .timeLimit(.minutes(5)))
    func cancelQueuedAndBuilding() async throws {
        try await YardServer.with { server in
            let folder = try await server.prepareApp("static-site", project: "stopper")
            let live = try await server.yard(["up"], in: folder)
            try #require(live.status == 0, "\(live.output)")
            let liveID = try #require(try await server.client().deployments(Self.scope("stopper")).first?.id)
            let refused = try await server.yard(["cancel", liveID], in: folder)
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("only a queued or building deployment can be cancelled"), "\(refused.output)")

            let marker = "yard-cli-cancel-\(UUID().uuidString.prefix(8))"
            try "[build]\nbuildCommand = \"sleep 300 # \(marker)\"\n".write(
                to: folder.appendingPathComponent("railway.toml"), atomically: true, encoding: .utf8)
            let building = try Self.decode(DeploymentView.self, try await server.yard(["up", "--detach", "--json"], in: folder))
            let client = try server.client()
            try await Self.waitFor(client, building.id, .building)
            // One job per service at a time: the second upload waits in the queue.
            try "<h1>queued</h1>\n".write(to: folder.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
            let queued = try Self.decode(DeploymentView.self, try await server.yard(["up", "--detach", "--json"], in: folder))
            #expect(try await client.deployment(id: queued.id).status == .queued)

            let cancelQueued = try await server.yard(["cancel", queued.id, "--json"], in: folder)
            try #require(cancelQueued.status == 0, "\(cancelQueued.output)")
            let removed = try Self.decode(DeploymentView.self, cancelQueued)
            #expect(removed.status == .removed)
            #expect(removed.reason?.contains("cancelled before it started") == true, "\(removed.reason ?? "")")

            // No id: the newest queued or building deployment, which is now the build.
            let cancelBuild = try await server.yard(["cancel"], in: folder)
            #expect(cancelBuild.status == 0, "\(cancelBuild.output)")
            #expect(cancelBuild.stdout.contains("Deployment \(building.id) of stopper cancelled (REMOVED)"), "\(cancelBuild.stdout)")
            #expect(try await client.deployment(id: building.id).status == .removed)
            let gone = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < gone, !BuildEndToEndTests.processes(containing: marker).isEmpty {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(BuildEndToEndTests.processes(containing: marker).isEmpty, "the build step is still running")

            let nothing = try await server.yard(["cancel"], in: folder)
            #expect(nothing.status != 0)
            #expect(nothing.stderr.contains("no queued or building deployment to cancel"), "\(nothing.output)")
            // The live deployment kept serving throughout.
            #expect(try await server.get(host: "stopper-stopper.localhost").body.contains("static fixture page"))
        }
    }

    @Test("rollback: the first deployment's artifact runs again with no build; deployments lists it", .timeLimit(.minutes(5)))
    func rollbackToEarlierDeployment() async throws {
        try await YardServer.with { server in
            let folder = try await server.prepareApp("static-site", project: "backtrack")
            let host = "backtrack-backtrack.localhost"
            try #require(try await server.yard(["up"], in: folder).status == 0)
            let first = try #require(try await server.client().deployments(Self.scope("backtrack")).first)
            try "<h1>second version</h1>\n".write(to: folder.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
            try #require(try await server.yard(["up"], in: folder).status == 0)
            #expect(try await server.get(host: host).body.contains("second version"))

            let rollback = try await server.yard(["rollback", first.id], in: folder)
            try #require(rollback.status == 0, "\(rollback.output)")
            #expect(rollback.stdout.contains("rolls back to \(first.id), with no build"), "\(rollback.stdout)")
            #expect(rollback.stdout.contains("is live"), "\(rollback.stdout)")
            let answer = try await server.eventually(host: host) { _, body in body.contains("static fixture page") }
            #expect(answer.body.contains("static fixture page"), "the rollback should serve the first version: \(answer.body)")

            let listed = try await server.yard(["deployments", "--json"], in: folder)
            let deployments = try Self.decode([DeploymentView].self, listed)
            #expect(deployments.count == 3)
            #expect(deployments.first?.trigger == "rollback")
            #expect(deployments.first?.status == .success)
            let table = try await server.yard(["deployments"], in: folder)
            let rows = table.stdout.split(separator: "\n")
            #expect(rows.count == 3 && rows[0].contains("rollback") && rows[0].contains("SUCCESS"), "\(table.stdout)")

            let again = try Self.decode(DeploymentView.self, try await server.yard(["rollback", "--to", first.id, "--detach", "--json"], in: folder))
            #expect(again.trigger == "rollback")
            _ = try await server.client().watch(deploymentID: again.id) { _ in }

            let none = try await server.yard(["rollback"], in: folder)
            #expect(none.status != 0)
            #expect(none.output.contains("name the deployment to roll back to"), "\(none.output)")
            let unknown = try await server.yard(["rollback", "dep_nosuchthing"], in: folder)
            #expect(unknown.status != 0)
            #expect(unknown.stderr.hasPrefix("error: "), "\(unknown.output)")
        }
    }

    @Test("cache: a pip install fills the install cache; cache lists it; up --no-cache bypasses it; prune and prune --all",
          .timeLimit(.minutes(8)))
    func installCacheVerbs() async throws {
        try await YardServer.with { server in
            #expect(try Self.decode([YardAPIClient.CacheEntry].self, try await server.yard(["cache", "--json"], in: server.root)).isEmpty)
            let folder = try await server.prepareApp("python-pip", project: "cachey")
            // The local plan computes the artifact key the server will give this source.
            let plannedKey = try #require(try await Self.planKey(server, folder))
            let first = try await server.yard(["up"], in: folder)
            try #require(first.status == 0, "\(first.output)")
            try #require(first.stdout.contains("install cache saved"), "the sandbox runtime caches installs:\n\(first.stdout)")
            let artifacts = try FileManager.default.contentsOfDirectory(atPath: server.dataDirectory.appendingPathComponent("artifacts").path)
            #expect(artifacts.contains("sha256-\(plannedKey)"), "yard build --plan said \(plannedKey); the server stored \(artifacts)")

            let entries = try Self.decode([YardAPIClient.CacheEntry].self, try await server.yard(["cache", "--json"], in: folder))
            try #require(entries.count == 1, "\(entries)")
            #expect(entries[0].bytes > 0)
            let table = try await server.yard(["cache"], in: folder)
            #expect(table.stdout.contains(String(entries[0].key.prefix(12))), "\(table.stdout)")
            #expect(table.stdout.contains("1 entry"), "\(table.stdout)")
            #expect(first.stdout.contains(String(entries[0].key.prefix(12))), "the build log names the cache key it saved")

            // A code change with --no-cache installs from scratch.
            try "# touched\n".write(to: folder.appendingPathComponent("notes.py"), atomically: true, encoding: .utf8)
            let uncached = try await server.yard(["up", "--no-cache"], in: folder)
            try #require(uncached.status == 0, "\(uncached.output)")
            #expect(uncached.stdout.contains("install cache bypassed"), "\(uncached.stdout)")
            #expect(uncached.stdout.contains("$ pip install -r requirements.txt"), "\(uncached.stdout)")

            // Within its bound the cache keeps everything; --all empties it.
            let bounded = try Self.decode(YardAPIClient.CachePruneResult.self, try await server.yard(["cache", "prune", "--json"], in: folder))
            #expect(bounded.removedEntries == 0)
            #expect(bounded.remainingEntries == 1)
            let emptied = try await server.yard(["cache", "prune", "--all"], in: folder)
            try #require(emptied.status == 0, "\(emptied.output)")
            #expect(emptied.stdout.contains("Removed 1 entry"), "\(emptied.stdout)")
            #expect(emptied.stdout.contains("0 left"), "\(emptied.stdout)")
            #expect(try Self.decode([YardAPIClient.CacheEntry].self, try await server.yard(["cache", "--json"], in: folder)).isEmpty)
        }
    }

    @Test("variables: build secrets are set with --build-secret, listed without their value, and clashes are refused",
          .timeLimit(.minutes(2)))
    func buildSecretVariables() async throws {
        try await YardServer.with(runtime: "plain") { server in
            let folder = try await server.prepareApp("static-site", project: "vault")
            let secret = "hunter-\(UUID().uuidString.prefix(8))"
            let set = try await server.yard(["variables", "set", "PLAIN=visible", "--build-secret", "TOKEN=\(secret)"], in: folder)
            try #require(set.status == 0, "\(set.output)")
            #expect(set.stdout.contains("TOKEN (build secret)"), "\(set.stdout)")
            #expect(set.stdout.contains("PLAIN=visible"), "\(set.stdout)")
            #expect(!set.output.contains(secret))
            let listed = try await server.yard(["variables"], in: folder)
            #expect(listed.stdout.contains("TOKEN (build secret)"))
            #expect(!listed.output.contains(secret))
            let json = try Self.decode([VariableView].self, try await server.yard(["variables", "--json"], in: folder))
            let token = try #require(json.first { $0.key == "TOKEN" })
            #expect(token.buildSecret == true)
            #expect(token.value == nil)
            #expect(json.first { $0.key == "PLAIN" }?.value == "visible")
            // `yard run` gets what a replica gets: no build secret.
            let resolved = try await server.client().resolvedVariables(
                YardAPIClient.Scope(project: "vault", environment: "production", service: "vault"))
            #expect(resolved["PLAIN"] == "visible")
            #expect(resolved["TOKEN"] == nil, "a build secret reached the run-time variables")
            #expect(!resolved.values.contains(secret))

            // The flag form on the list command, and delete.
            let flagForm = try await server.yard(["variables", "--build-secret", "OTHER=\(secret)x", "--delete", "PLAIN"], in: folder)
            try #require(flagForm.status == 0, "\(flagForm.output)")
            #expect(flagForm.stdout.contains("OTHER (build secret)"))
            #expect(!flagForm.stdout.contains("PLAIN"))
            let deleted = try await server.yard(["variables", "delete", "OTHER"], in: folder)
            #expect(deleted.status == 0)
            #expect(!deleted.stdout.contains("OTHER"))

            let clash = try await server.yard(["variables", "set", "K=1", "--build-secret", "K=2"], in: folder)
            #expect(clash.status != 0)
            #expect(clash.stderr.contains("K is given both as a variable and as a build secret"), "\(clash.output)")
            let malformed = try await server.yard(["variables", "set", "--build-secret", "NOVALUE"], in: folder)
            #expect(malformed.status != 0)
            #expect(malformed.output.contains("--build-secret takes KEY=VALUE"), "\(malformed.output)")
        }
    }

    @Test("root directories: init --root builds from that folder; yard service shows and resets it", .timeLimit(.minutes(3)))
    func rootDirectories() async throws {
        try await YardServer.with(runtime: "plain") { server in
            let folder = server.root.appendingPathComponent("apps/rooted")
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("site"), withIntermediateDirectories: true)
            try "<h1>from the site folder</h1>\n".write(to: folder.appendingPathComponent("site/index.html"), atomically: true, encoding: .utf8)
            try "not an app\n".write(to: folder.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
            let initialised = try await server.yard(["init", "--root", "./site/"], in: folder)
            try #require(initialised.status == 0, "\(initialised.output)")
            #expect(initialised.stdout.contains("root directory site"), "\(initialised.stdout)")
            let settings = try Self.decode(ServiceSettingsView.self, try await server.yard(["service", "--json"], in: folder))
            #expect(settings.rootDirectory == "site")

            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.output)\n\(server.serveLog)")
            #expect(up.stdout.contains("root directory: site"), "\(up.stdout)")
            #expect(try await server.get(host: "rooted-rooted.localhost").body.contains("from the site folder"))

            let reset = try await server.yard(["service", "--root", "."], in: folder)
            try #require(reset.status == 0, "\(reset.output)")
            #expect(reset.stdout.contains("root directory: . (the upload's root)"), "\(reset.stdout)")
            #expect(try Self.decode(ServiceSettingsView.self, try await server.yard(["service", "--json"], in: folder)).rootDirectory == nil)
            let failed = try await server.yard(["up"], in: folder)
            #expect(failed.status != 0, "the folder's root has nothing to build")
            #expect(failed.output.contains("could not detect how to build this app"), "\(failed.output)")

            let escaping = try await server.yard(["service", "--root", "../up"], in: folder)
            #expect(escaping.status != 0)
            #expect(escaping.output.contains("leaves the upload"), "\(escaping.output)")
        }
    }

    @Test("a services map: init creates its services, up deploys all of them from one upload, --service deploys one",
          .timeLimit(.minutes(5)))
    func wholeProjectUp() async throws {
        try await YardServer.with(runtime: "plain") { server in
            let folder = server.root.appendingPathComponent("apps/pair")
            for name in ["alpha", "beta"] {
                try FileManager.default.createDirectory(at: folder.appendingPathComponent("sites/\(name)"), withIntermediateDirectories: true)
                try "<h1>\(name) v1</h1>\n".write(
                    to: folder.appendingPathComponent("sites/\(name)/index.html"), atomically: true, encoding: .utf8)
            }
            let railpack = """
                {"services": {
                  "alpha": {"root": "./sites/alpha", "build": {"provider": "staticfile"}, "deploy": {"healthCheckPath": "/"}},
                  "beta": {"root": "sites/beta", "build": {"provider": "staticfile"}}
                }}
                """
            try railpack.write(to: folder.appendingPathComponent("railpack.json"), atomically: true, encoding: .utf8)

            let initialised = try await server.yard(["init"], in: folder)
            try #require(initialised.status == 0, "\(initialised.output)")
            #expect(initialised.stdout.contains("alpha (root sites/alpha), beta (root sites/beta)"), "\(initialised.stdout)")
            let project = try await server.client().project("pair")
            #expect(Set(project.services.map(\.name)) == ["alpha", "beta"])
            #expect(project.services.first { $0.name == "beta" }?.rootDirectory == "sites/beta")

            let up = try await server.yard(["up"], in: folder)
            try #require(up.status == 0, "\(up.output)\n\(server.serveLog)")
            #expect(up.stdout.contains("services alpha, beta from railpack.json"), "\(up.stdout)")
            #expect(up.stdout.contains("==> service alpha") && up.stdout.contains("==> service beta"), "\(up.stdout)")
            #expect(try await server.get(host: "alpha-pair.localhost").body.contains("alpha v1"))
            #expect(try await server.get(host: "beta-pair.localhost").body.contains("beta v1"))

            // --service deploys one; --detach --json prints the array for a whole-project up.
            try "<h1>beta v2</h1>\n".write(to: folder.appendingPathComponent("sites/beta/index.html"), atomically: true, encoding: .utf8)
            let one = try await server.yard(["up", "--service", "beta"], in: folder)
            try #require(one.status == 0, "\(one.output)")
            #expect(try await server.get(host: "beta-pair.localhost").body.contains("beta v2"))
            #expect(try await server.client().deployments(Self.scope("pair", service: "alpha")).count == 1)
            let detached = try await server.yard(["up", "--detach", "--json", "--no-cache"], in: folder)
            try #require(detached.status == 0, "\(detached.output)")
            let both = try Self.decode([DeploymentView].self, detached)
            #expect(Set(both.map(\.serviceName)) == ["alpha", "beta"])
            for deployment in both { _ = try await server.client().watch(deploymentID: deployment.id) { _ in } }

            let withConfig = try await server.yard(["up", "--config", "railway.web.toml"], in: folder)
            #expect(withConfig.status != 0)
            #expect(withConfig.stderr.contains("add --service NAME"), "\(withConfig.output)")
        }
    }

    @Test("the server serves the contract its code is generated from, as YAML and as JSON", .timeLimit(.minutes(2)))
    func openAPIIsTheContract() async throws {
        try await YardServer.with(runtime: "plain") { server in
            let contract = try String(contentsOf: YardServer.packageRoot.appendingPathComponent("openapi/openapi.yaml"), encoding: .utf8)
            let (yamlHead, yaml) = try await HTTPConnection.fetch(.init(url: URL(string: "\(server.apiURL)/v1/openapi.yaml")!))
            #expect(yamlHead.status == 200)
            #expect(String(decoding: yaml, as: UTF8.self).trimmingCharacters(in: .newlines) == contract.trimmingCharacters(in: .newlines),
                    "GET /v1/openapi.yaml is not openapi/openapi.yaml: run scripts/generate-openapi.sh")
            let (head, data) = try await HTTPConnection.fetch(.init(url: URL(string: "\(server.apiURL)/v1/openapi.json")!))
            #expect(head.status == 200)
            let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            // Every operation of the contract is in the JSON form too.
            let operationIDs = contract.split(separator: "\n").compactMap { line -> String? in
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                return trimmed.hasPrefix("operationId: ") ? String(trimmed.dropFirst("operationId: ".count)) : nil
            }
            let served = Set(paths.values.flatMap { $0.values.compactMap { ($0 as? [String: Any])?["operationId"] as? String } })
            #expect(operationIDs.count > 40, "the contract has too few operations: \(operationIDs)")
            #expect(Set(operationIDs) == served)
            let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: [String: Any]])
            func properties(_ name: String) -> [String: Any] { schemas[name]?["properties"] as? [String: Any] ?? [:] }
            #expect(properties("Variable")["buildSecret"] != nil)
            #expect(properties("VariableChange")["buildSecrets"] != nil)
            #expect(properties("ServiceSettingsChange")["rootDirectory"] != nil)
            #expect(properties("ServiceSettings")["rootDirectory"] != nil)
            #expect(properties("Service")["rootDirectory"] != nil)
            #expect(properties("CreateService")["rootDirectory"] != nil)
            #expect(Set(properties("CacheEntry").keys) == ["key", "bytes", "lastUsed"])
            #expect(Set(properties("CachePruneResult").keys) == ["removedEntries", "freedBytes", "remainingEntries", "remainingBytes"])
            let upload = try #require(paths["/v1/projects/{project}/environments/{environment}/services/{service}/deployments"]?["post"] as? [String: Any])
            let names = (upload["parameters"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            #expect(names.contains("noCache"))
        }
    }

    // MARK: Helpers

    /// Runs `body` with a `yard` runner that has no server (a YardServer never started),
    /// removing its temporary folder afterwards.
    static func withCLI(_ body: (YardServer) async throws -> Void) async throws {
        let cli = try YardServer(runtime: "plain")
        do {
            try await body(cli)
        } catch {
            await cli.shutdown()
            throw error
        }
        await cli.shutdown()
    }

    static func planKey(_ cli: YardServer, _ folder: URL) async throws -> String? {
        let result = try await cli.yard(["build", "--plan", folder.path], in: cli.root)
        try #require(result.status == 0, "\(result.output)")
        return try YardJSON.decoder().decode(Plan.self, from: Data(result.stdout.utf8)).artifactKey
    }

    static func scope(_ project: String, service: String? = nil) -> YardAPIClient.Scope {
        YardAPIClient.Scope(project: project, environment: "production", service: service ?? project)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ result: YardServer.CommandResult) throws -> T {
        try #require(result.status == 0, "\(result.output)")
        return try YardJSON.decoder().decode(type, from: Data(result.stdout.utf8))
    }

    static func waitFor(_ client: YardAPIClient, _ id: String, _ status: DeploymentStatus) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if try await client.deployment(id: id).status == status { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("deployment \(id) never reached \(status.rawValue)")
    }
}

extension YardServer {
    /// Copies a fixture into this runner's folder under `name`.
    func copyFixture(_ fixture: String, to name: String) throws -> URL {
        let folder = root.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Self.fixture(fixture), to: folder)
        return folder
    }
}
