import Foundation
import GRDB
import Testing
import YardCore

@testable import YardStore

/// Issue 14, item 5: settings, overrides, build results and commits are typed properties
/// stored as JSON through GRDB's Codable support, in the text format the store wrote before
/// (so older rows need no data migration), and decoded in one place with one failure: a
/// `YardError` naming the table, the row and the column.
@Suite("typed stored values")
struct StoredValueTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-typed-\(UUID().uuidString)")

    /// The rows' JSON exactly as the store wrote it before issue 14 (`YardJSON.encodeString`:
    /// sorted keys, slashes unescaped), frozen here as text.
    enum Before {
        static let limits = #"{"cpus":0.5,"maxProcesses":64,"memoryBytes":268435456}"#
        static let deployOverrides = #"{"healthcheckPath":"/health","numReplicas":2}"#
        static let buildResult =
            #"{"environment":{"PATH":"/app/.venv/bin:/usr/bin"},"plan":{"buildCommands":[],"#
            + #""cache":{"directories":[".venv"],"keyFiles":["requirements.txt"],"skipInstallOnHit":true},"#
            + #""detectedFrom":"requirements.txt","environment":{"PATH":"/app/.venv/bin:/usr/bin"},"#
            + #""installCommands":["python3 -m venv /app/.venv","pip install -r requirements.txt"],"#
            + #""notes":["detected python from requirements.txt"],"provider":"python","secrets":[],"#
            + #""startCommand":"python app.py","toolchains":[{"executable":"python3","#
            + #""installHint":"apt-get install -y python3 python3-venv","name":"python","versionArguments":["--version"]}]},"#
            + #""startCommand":"python app.py"}"#
        static let deploySettings =
            #"{"drainingSeconds":3,"healthcheckPath":"/health","healthcheckTimeout":300,"numReplicas":1,"#
            + #""overlapSeconds":0,"restartPolicyMaxRetries":10,"restartPolicyType":"ON_FAILURE","#
            + #""sleepApplication":false,"startCommand":"python app.py"}"#
        static let commit = #"{"author":"Ada","branch":"main","message":"Add /health","sha":"\#(String(repeating: "ab", count: 20))"}"#
    }

    /// The typed values those rows hold.
    enum Typed {
        static let limits = ResourceLimits(memoryBytes: 268_435_456, cpus: 0.5, maxProcesses: 64)
        static var deployOverrides: DeployOverrides {
            var overrides = DeployOverrides()
            overrides.healthcheckPath = .some("/health")
            overrides.numReplicas = 2
            return overrides
        }
        static var buildResult: BuildResult {
            let plan = BuildPlan(
                provider: "python", installCommands: ["python3 -m venv /app/.venv", "pip install -r requirements.txt"],
                startCommand: "python app.py", environment: ["PATH": "/app/.venv/bin:/usr/bin"],
                notes: ["detected python from requirements.txt"], detectedFrom: "requirements.txt",
                cache: InstallCache(directories: [".venv"], keyFiles: ["requirements.txt"], skipInstallOnHit: true),
                toolchains: [
                    Toolchain(name: "python", executable: "python3", installHint: "apt-get install -y python3 python3-venv")
                ])
            return BuildResult(plan: plan, startCommand: "python app.py", environment: ["PATH": "/app/.venv/bin:/usr/bin"])
        }
        static var deploySettings: DeploySettings {
            var settings = DeploySettings()
            settings.startCommand = "python app.py"
            settings.healthcheckPath = "/health"
            return settings
        }
        static let commit = GitCommit(sha: String(repeating: "ab", count: 20), branch: "main", message: "Add /health", author: "Ada")
    }

    func database() throws -> DatabaseQueue {
        try DatabaseQueue(path: directory.appendingPathComponent("switchyard.sqlite").path)
    }

    /// A store with one service and one deployment row written with raw SQL in the format above.
    func storeWithOldRows() throws -> (SQLiteStore, serviceID: String) {
        let store = try SQLiteStore(directory: directory)
        let (project, environment) = try store.createProject(name: "shop")
        let service = try store.createService(projectID: project.id, name: "web")
        let snapshot = try store.sealedSnapshot(["PLAIN": "1"], deploymentID: "dep_old")
        try database().write { db in
            try db.execute(
                sql: "UPDATE service SET resource_limits = ?, deploy_overrides = ? WHERE id = ?",
                arguments: [Before.limits, Before.deployOverrides, service.id])
            try db.execute(
                sql: """
                    INSERT INTO deployment (id, service_id, environment_id, status, reason, trigger, source_hash, source_path,
                        artifact_path, build_result, deploy_settings, variables, created_at, updated_at, artifact_key, no_cache,
                        rollback_of, variables_digest, git_commit)
                    VALUES ('dep_old', ?, ?, 'SUCCESS', NULL, 'git', 'abc', '/data/sources/dep_old.tar.gz', '/data/artifacts/x',
                        ?, ?, ?, '2026-12-01 10:00:00.000', '2026-12-01 10:01:00.000', 'x', 0, NULL, 'digest', ?)
                    """,
                arguments: [service.id, environment.id, Before.buildResult, Before.deploySettings, snapshot, Before.commit])
        }
        return (store, service.id)
    }

    @Test("the frozen texts are what YardJSON writes for the typed values")
    func frozenTextsMatchTheEncoder() throws {
        #expect(try YardJSON.encodeString(Typed.limits) == Before.limits)
        #expect(try YardJSON.encodeString(Typed.deployOverrides) == Before.deployOverrides)
        #expect(try YardJSON.encodeString(Typed.buildResult) == Before.buildResult)
        #expect(try YardJSON.encodeString(Typed.deploySettings) == Before.deploySettings)
        #expect(try YardJSON.encodeString(Typed.commit) == Before.commit)
    }

    @Test("rows written before issue 14 read as typed values, and are written back as the same text")
    func oldRowsReadAndWriteTheSameText() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let (store, serviceID) = try storeWithOldRows()

        let service = try store.service(id: serviceID)
        #expect(service.resourceLimits == Typed.limits)
        #expect(service.deployOverrides == Typed.deployOverrides)
        #expect(service.buildOverrides == BuildOverrides())
        let deployment = try store.deployment(id: "dep_old")
        #expect(deployment.buildResult == Typed.buildResult)
        #expect(deployment.deploySettings == Typed.deploySettings)
        #expect(deployment.gitCommit == Typed.commit)
        #expect(try store.openSnapshot(deployment.variables, deploymentID: "dep_old") == ["PLAIN": "1"])

        // Written back whole through the records: the same bytes, so no data migration.
        try store.updateService(service)
        try store.updateDeployment(id: "dep_old") { _ in }
        let stored = try database().read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT s.build_overrides, s.deploy_overrides, s.resource_limits, d.build_result, d.deploy_settings, d.git_commit
                    FROM service s JOIN deployment d ON d.service_id = s.id WHERE d.id = 'dep_old'
                    """)
        }
        let row = try #require(stored)
        #expect(row["build_overrides"] as String == "{}")
        #expect(row["deploy_overrides"] as String == Before.deployOverrides)
        #expect(row["resource_limits"] as String == Before.limits)
        #expect(row["build_result"] as String == Before.buildResult)
        #expect(row["deploy_settings"] as String == Before.deploySettings)
        #expect(row["git_commit"] as String == Before.commit)
    }

    @Test("a new service stores '{}' for its overrides and limits, as before")
    func newServiceDefaults() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        let (project, _) = try store.createProject(name: "shop")
        let service = try store.createService(projectID: project.id, name: "web")
        let texts = try database().read { db in
            try Row.fetchOne(
                db, sql: "SELECT build_overrides, deploy_overrides, resource_limits FROM service WHERE id = ?", arguments: [service.id])
        }
        let row = try #require(texts)
        #expect([row["build_overrides"], row["deploy_overrides"], row["resource_limits"]] as [String] == ["{}", "{}", "{}"])
        var change = ServiceSettingsChange()
        change.cpus = 0.5
        #expect(try store.changeSettings(serviceID: service.id, change: change).resourceLimits == ResourceLimits(cpus: 0.5))
        #expect(try store.service(id: service.id).resourceLimits == ResourceLimits(cpus: 0.5))
    }

    /// Damages one column of the old rows with raw SQL; returns what each read throws.
    func readErrors(_ sql: String, reads: [(SQLiteStore, String) throws -> Void]) throws -> [YardError] {
        let (store, serviceID) = try storeWithOldRows()
        try database().write { db in try db.execute(sql: sql) }
        return try reads.map { read in
            try #require(throws: YardError.self, "reading the damaged row did not fail: \(sql)") { try read(store, serviceID) }
        }
    }

    @Test(
        "a stored value that does not decode is one YardError naming the table, row and column, never the value",
        arguments: [
            ("UPDATE deployment SET build_result = 'not json at all'", "build_result is not the JSON of a BuildResult (not valid JSON)"),
            (
                #"UPDATE deployment SET build_result = '{"plan":5}'"#,
                "build_result is not the JSON of a BuildResult ('plan' is not an object)"
            ),
            (#"UPDATE deployment SET git_commit = '{"sha":"x"}'"#, "git_commit is not the JSON of a GitCommit (key 'branch' is missing)"),
            (
                #"UPDATE deployment SET deploy_settings = '{"restartPolicyType":"sekrit-value"}'"#,
                "deploy_settings is not the JSON of a DeploySettings"
            ),
            (
                #"UPDATE deployment SET git_commit = '{"sha":"x","branch":"main","message":"m","author":7}'"#,
                "git_commit is not the JSON of a GitCommit ('author' is not a string)"
            ),
            ("UPDATE deployment SET status = 'sekrit-value'", "status holds a value that is not one of those it can take"),
        ])
    func damagedDeployment(sql: String, says: String) throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let errors = try readErrors(
            sql,
            reads: [
                { store, _ in _ = try store.deployment(id: "dep_old") },
                { store, serviceID in
                    let environmentID = try store.environments(projectID: store.service(id: serviceID).projectID)[0].id
                    _ = try store.deployments(serviceID: serviceID, environmentID: environmentID)
                },
            ])
        for error in errors {
            #expect(error.code == .internal)
            #expect(error.message.hasPrefix("the deployment row id dep_old cannot be read: \(says)"), "\(error.message)")
            #expect(error.message.contains("restore the data directory from a backup"), "\(error.message)")
            #expect(!error.message.contains("sekrit"), "the stored value must not be in the error: \(error.message)")
        }
        // One failure behaviour: a list fails as the single read does.
        #expect(errors[0].message == errors[1].message)
    }

    @Test("a damaged service setting fails reads of the service, lists included, the same way")
    func damagedService() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let errors = try readErrors(
            #"UPDATE service SET resource_limits = '{"cpus":"lots"}'"#,
            reads: [
                { store, serviceID in _ = try store.service(id: serviceID) },
                { store, _ in _ = try store.services(projectID: store.project("shop").id) },
            ])
        for error in errors {
            #expect(error.message.hasPrefix("the service row id svc_"), "\(error.message)")
            #expect(
                error.message.contains("resource_limits is not the JSON of a ResourceLimits ('cpus' is not a number)"), "\(error.message)")
        }
        #expect(errors[0].message == errors[1].message)
    }

    @Test("a deployment snapshot that opens but is not JSON names the column, not its content")
    func damagedSnapshot() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let (store, _) = try storeWithOldRows()
        let sealed = try store.cipher.seal("PASSWORD=sekrit", for: .deploymentVariables(deploymentID: "dep_old"))
        let error = try #require(throws: YardError.self) { try store.openSnapshot(sealed, deploymentID: "dep_old") }
        #expect(
            error.message.hasPrefix(
                "the deployment row id dep_old cannot be read: variables is not the JSON of an object (not valid JSON)"),
            "\(error.message)")
        #expect(!error.message.contains("sekrit"))
    }

    @Test("a row with a composite key is named by its key columns")
    func compositeKeyName() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let (store, serviceID) = try storeWithOldRows()
        let environmentID = try store.deployment(id: "dep_old").environmentID
        try store.changeVariables(serviceID: serviceID, environmentID: environmentID, set: ["PORT": "8080"], delete: [])
        try database().write { db in try db.execute(sql: "UPDATE variable SET updated_at = 'yesterday'") }
        let error = try #require(throws: YardError.self) {
            try store.variables(serviceID: serviceID, environmentID: environmentID)
        }
        #expect(
            error.message.contains(
                "the variable row service_id \(serviceID), environment_id \(environmentID), key PORT cannot be read: "
                    + "updated_at does not hold a value of its type"),
            "\(error.message)")
    }
}
