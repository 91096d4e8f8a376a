import Foundation
import Testing
import YardCore
import YardRuntime
import YardStore

/// Issue 6, point 3: sealed values, build secrets and deployments' variables are encrypted
/// in switchyard.sqlite with a key kept in `<data>/keys/sealed.key`. The checks read the
/// database file itself, and query it with the sqlite3 client, as someone with a copy would.
@Suite("sealed values at rest")
struct SealedAtRestTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-sealed-\(UUID().uuidString)")
    var keyFile: URL { directory.appendingPathComponent("keys/sealed.key") }

    static func requireSQLite() throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3"),
            "/usr/bin/sqlite3 is missing: apt-get install -y sqlite3 (or run scripts/setup.sh)")
    }

    /// Every byte of the database and its write-ahead log.
    func databaseBytes() -> Data {
        ["switchyard.sqlite", "switchyard.sqlite-wal"].reduce(into: Data()) { bytes, name in
            bytes += FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) ?? Data()
        }
    }

    /// Runs SQL with the sqlite3 client on the store's database file.
    func sqlite(_ sql: String) throws -> String {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [directory.appendingPathComponent("switchyard.sqlite").path, sql]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(process.terminationStatus == 0, "sqlite3 failed: \(text)")
        return text
    }

    func contains(_ value: String) -> Bool {
        databaseBytes().range(of: Data(value.utf8)) != nil
    }

    @Test("sealed values, build secrets, database passwords and deployment snapshots are not in the database file; they round-trip")
    func encryptedAndRoundTrips() throws {
        try Self.requireSQLite()
        defer { try? FileManager.default.removeItem(at: directory) }
        let secret = "sealed-\(UUID().uuidString)"
        let buildSecret = "build-\(UUID().uuidString)"
        let password = DatabaseKind.makePassword()
        let snapshotSecret = "snapshot-\(UUID().uuidString)"
        let (serviceID, environmentID): (String, String)
        do {
            let store = try SQLiteStore(directory: directory)
            let (project, environment) = try store.createProject(name: "shop")
            let service = try store.createService(projectID: project.id, name: "web")
            (serviceID, environmentID) = (service.id, environment.id)
            try store.changeVariables(
                serviceID: service.id, environmentID: environment.id,
                set: ["PLAIN": "visible-value", "SECRET": secret, "NPM_TOKEN": buildSecret], delete: [],
                buildSecrets: ["NPM_TOKEN"], sealed: ["SECRET"])
            _ = try store.createDatabaseService(
                projectID: project.id, environmentID: environment.id, name: "Postgres", kind: .postgres,
                variables: DatabaseKind.postgres.variables(host: "postgres.railway.internal", port: 5432, password: password))
            let now = Date()
            try store.insertDeployment(
                DeploymentRecord(
                    id: "dep_1", serviceID: service.id, environmentID: environment.id, status: .queued, reason: nil,
                    trigger: "up", sourceHash: nil, sourcePath: nil, artifactPath: nil, buildResult: nil, deploySettings: nil,
                    variables: try store.sealedSnapshot(["DATABASE_URL": "postgresql://u:\(snapshotSecret)@h/db"], deploymentID: "dep_1"),
                    createdAt: now, updatedAt: now))

            // Round trip: what replicas and builds get.
            let values = Dictionary(
                try store.variables(serviceID: service.id, environmentID: environment.id).map { ($0.key, $0.value) },
                uniquingKeysWith: { $1 })
            #expect(values == ["PLAIN": "visible-value", "SECRET": secret, "NPM_TOKEN": buildSecret])
            #expect(try store.openSnapshot(store.deployment(id: "dep_1").variables, deploymentID: "dep_1")["DATABASE_URL"]?.contains(snapshotSecret) == true)
            // Unrevealed (the API's read), a sealed value is only its sealed form.
            let stored = try store.variables(serviceID: service.id, environmentID: environment.id, revealing: false)
            #expect(stored.first { $0.key == "SECRET" }?.value.hasPrefix("yse2:") == true)
            #expect(Set(try store.sealedValues(environmentID: environment.id)).isSuperset(of: [secret, password]))
        }
        // The file, and a query of it, hold none of them; the plain value is there.
        #expect(contains("visible-value"), "the check must be able to find a plain value")
        for value in [secret, buildSecret, password, snapshotSecret] {
            #expect(!contains(value), "a sealed value is in the database file in clear")
        }
        let rows = try sqlite("SELECT key || '=' || value FROM variable; SELECT variables FROM deployment;")
        #expect(rows.contains("PLAIN=visible-value"))
        #expect(!rows.contains(secret) && !rows.contains(buildSecret) && !rows.contains(password) && !rows.contains(snapshotSecret))
        #expect(rows.contains("SECRET=yse2:") && rows.contains("PGPASSWORD=yse2:") && rows.contains("DATABASE_URL=yse2:"), "\(rows)")
        #expect(try sqlite("SELECT value FROM variable WHERE key = 'PGUSER'") == "postgres")

        // The key: 32 bytes, 0600 in a 0700 folder; a second start reads it and opens the values.
        let attributes = try FileManager.default.attributesOfItem(atPath: keyFile.path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect((attributes[.size] as? NSNumber)?.intValue == 32)
        let folder = try FileManager.default.attributesOfItem(atPath: keyFile.deletingLastPathComponent().path)
        #expect((folder[.posixPermissions] as? NSNumber)?.intValue == 0o700)
        let reopened = try SQLiteStore(directory: directory)
        #expect(try reopened.variables(serviceID: serviceID, environmentID: environmentID).first { $0.key == "SECRET" }?.value == secret)
        #expect(try reopened.appliedMigrations().contains("014_sealed_at_rest"))
    }

    @Test("a missing or wrong key fails the start with an error naming the key file; nothing is lost")
    func missingOrWrongKey() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            let store = try SQLiteStore(directory: directory)
            let (project, environment) = try store.createProject(name: "shop")
            let service = try store.createService(projectID: project.id, name: "web")
            try store.changeVariables(
                serviceID: service.id, environmentID: environment.id, set: ["SECRET": "kept-secret"], delete: [],
                sealed: ["SECRET"])
        }
        let original = try #require(FileManager.default.contents(atPath: keyFile.path))
        try FileManager.default.removeItem(at: keyFile)
        let missing = #expect(throws: YardError.self) { try SQLiteStore(directory: directory) }
        #expect(
            missing?.message.contains(keyFile.path) == true && missing?.message.contains("missing") == true,
            "\(String(describing: missing))")
        #expect(!FileManager.default.fileExists(atPath: keyFile.path), "no new key may replace the lost one")

        var other = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
        if other == original { other[0] ^= 1 }
        #expect(FileManager.default.createFile(atPath: keyFile.path, contents: other, attributes: [.posixPermissions: 0o600]))
        let wrong = #expect(throws: YardError.self) { try SQLiteStore(directory: directory) }
        #expect(
            wrong?.message.contains(keyFile.path) == true && wrong?.message.contains("not the key") == true, "\(String(describing: wrong))")

        try Data("short".utf8).write(to: keyFile)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyFile.path)
        let short = #expect(throws: YardError.self) { try SQLiteStore(directory: directory) }
        #expect(short?.message.contains("holds 5 bytes") == true, "\(String(describing: short))")

        try original.write(to: keyFile)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: keyFile.path)
        let open = #expect(throws: YardError.self) { try SQLiteStore(directory: directory) }
        #expect(open?.message.contains("chmod 600") == true, "\(String(describing: open))")

        // The right key back: everything opens.
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyFile.path)
        let store = try SQLiteStore(directory: directory)
        let project = try store.project("shop")
        let service = try #require(try store.findService(projectID: project.id, "web"))
        let environment = try store.environment(projectID: project.id, "production")
        #expect(try store.variables(serviceID: service.id, environmentID: environment.id).first?.value == "kept-secret")
    }

    @Test("a data directory from before sealing at rest: its clear rows are sealed in place at start")
    func migratesClearRows() throws {
        try Self.requireSQLite()
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            let store = try SQLiteStore(directory: directory)
            let (project, environment) = try store.createProject(name: "shop")
            let service = try store.createService(projectID: project.id, name: "web")
            try store.changeVariables(
                serviceID: service.id, environmentID: environment.id, set: ["SECRET": "x", "PLAIN": "p"],
                delete: [], sealed: ["SECRET"])
            let now = Date()
            try store.insertDeployment(
                DeploymentRecord(
                    id: "dep_old", serviceID: service.id, environmentID: environment.id, status: .queued, reason: nil,
                    trigger: "up", sourceHash: nil, sourcePath: nil, artifactPath: nil, buildResult: nil, deploySettings: nil,
                    variables: nil, createdAt: now, updatedAt: now))
        }
        // As an older Switchyard left it: values in clear, no key, migration 014 not applied.
        _ = try sqlite(
            """
            UPDATE variable SET value = 'old-clear-secret' WHERE key = 'SECRET';
            UPDATE deployment SET variables = '{"SECRET":"old-clear-secret"}' WHERE id = 'dep_old';
            DROP TABLE sealed_key_check;
            DROP TABLE generated_domain_removed;
            DELETE FROM grdb_migrations WHERE identifier = '014_sealed_at_rest';
            DELETE FROM grdb_migrations WHERE identifier = '018_sealed_values_bound';
            PRAGMA wal_checkpoint(TRUNCATE);
            """)
        try FileManager.default.removeItem(at: keyFile.deletingLastPathComponent())
        #expect(contains("old-clear-secret"))

        let store = try SQLiteStore(directory: directory)
        _ = try sqlite("PRAGMA wal_checkpoint(TRUNCATE);")
        #expect(FileManager.default.fileExists(atPath: keyFile.path))
        #expect(try sqlite("SELECT value FROM variable WHERE key = 'SECRET'").hasPrefix("yse2:"))
        #expect(try sqlite("SELECT value FROM variable WHERE key = 'PLAIN'") == "p")
        #expect(try sqlite("SELECT variables FROM deployment WHERE id = 'dep_old'").hasPrefix("yse2:"))
        let project = try store.project("shop")
        let service = try #require(try store.findService(projectID: project.id, "web"))
        let environment = try store.environment(projectID: project.id, "production")
        #expect(
            try store.variables(serviceID: service.id, environmentID: environment.id).first { $0.key == "SECRET" }?.value
                == "old-clear-secret")
        #expect(try store.openSnapshot(store.deployment(id: "dep_old").variables, deploymentID: "dep_old") == ["SECRET": "old-clear-secret"])
    }

    @Test("the webhook secret is sealed in the database file; signatures still verify after a reopen; a clear one is sealed at start")
    func webhookSecretSealed() throws {
        try Self.requireSQLite()
        defer { try? FileManager.default.removeItem(at: directory) }
        let secret = ContentHash.randomToken()
        let body = Data(#"{"action":"opened","number":7}"#.utf8)
        let projectID: String
        var others: [String] = []
        do {
            let store = try SQLiteStore(directory: directory)
            let (project, _) = try store.createProject(name: "shop")
            projectID = project.id
            #expect(try !store.hasWebhookSecret(projectID: project.id))
            try store.setWebhookSecret(projectID: project.id, secret: secret)
            #expect(try store.webhookSecret(projectID: project.id) == secret)
            // More rows on the page, so an updated row's old bytes could stay in its free space.
            for name in ["blog", "wiki"] {
                let (other, _) = try store.createProject(name: name)
                try store.setWebhookSecret(projectID: other.id, secret: ContentHash.randomToken())
                others.append(other.id)
            }
        }
        #expect(!contains(secret), "the webhook secret is in the database file in clear")
        let stored = try sqlite("SELECT secret FROM webhook_secret WHERE project_id = '\(projectID)'")
        #expect(stored.hasPrefix("yse2:") && !stored.contains(secret), "\(stored.prefix(5))")

        // A reopened store opens it: a delivery signed with the secret verifies, a forged one does not.
        do {
            let reopened = try SQLiteStore(directory: directory)
            #expect(try reopened.hasWebhookSecret(projectID: projectID))
            let opened = try #require(try reopened.webhookSecret(projectID: projectID))
            #expect(WebhookSignature.isValid(header: WebhookSignature.header(body: body, secret: secret), body: body, secret: opened))
            #expect(!WebhookSignature.isValid(header: WebhookSignature.header(body: body, secret: "forged"), body: body, secret: opened))
        }

        // As 015 left them: the secrets in clear and 016 not applied (VACUUM packs the page as
        // rows written clear in the first place would be). The next start seals them in place.
        let clears = Dictionary(uniqueKeysWithValues: ([projectID] + others).map { ($0, ContentHash.randomToken()) })
        let clear = try #require(clears[projectID])
        _ = try sqlite(
            clears.map { "UPDATE webhook_secret SET secret = '\($0.value)' WHERE project_id = '\($0.key)';" }.joined(separator: "\n")
                + """

                DELETE FROM grdb_migrations WHERE identifier = '016_webhook_secret_sealed';
                DELETE FROM grdb_migrations WHERE identifier = '018_sealed_values_bound';
                VACUUM;
                PRAGMA wal_checkpoint(TRUNCATE);
                """)
        #expect(clears.values.allSatisfy(contains), "the check must be able to find a clear secret")
        let migrated = try SQLiteStore(directory: directory)
        _ = try sqlite("PRAGMA wal_checkpoint(TRUNCATE);")
        #expect(try migrated.appliedMigrations().contains("016_webhook_secret_sealed"))
        #expect(try sqlite("SELECT secret FROM webhook_secret").split(separator: "\n").allSatisfy { $0.hasPrefix("yse2:") })
        for (id, value) in clears {
            #expect(!contains(value), "016 left a clear secret in the database file (free space of its page)")
            #expect(try migrated.webhookSecret(projectID: id) == value)
        }
        let opened = try #require(try migrated.webhookSecret(projectID: projectID))
        #expect(opened == clear)
        #expect(WebhookSignature.isValid(header: WebhookSignature.header(body: body, secret: clear), body: body, secret: opened))
    }

    @Test("a copied environment: a database gets new sealed credentials at the same host; other sealed values stay behind")
    func environmentCopyRegeneratesDatabaseCredentials() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        let (project, production) = try store.createProject(name: "shop")
        let web = try store.createService(projectID: project.id, name: "web")
        try store.changeVariables(
            serviceID: web.id, environmentID: production.id, set: ["API_KEY": "abc-secret"], delete: [],
            sealed: ["API_KEY"])
        let password = DatabaseKind.makePassword()
        let (postgres, _) = try store.createDatabaseService(
            projectID: project.id, environmentID: production.id, name: "Postgres", kind: .postgres,
            variables: DatabaseKind.postgres.variables(host: "postgres.railway.internal", port: 5432, password: password))
        let copy = try store.createEnvironment(projectID: project.id, name: "staging", copying: production.id)
        #expect(copy.services.first { $0.serviceName == "web" }?.sealedNotCopied == ["API_KEY"])
        #expect(copy.services.first { $0.serviceName == "Postgres" }?.sealedNotCopied == [])
        #expect(
            copy.services.first { $0.serviceName == "Postgres" }?.newCredentials == ["DATABASE_URL", "PGPASSWORD", "POSTGRES_PASSWORD"],
            "\(copy.services)")
        #expect(copy.services.first { $0.serviceName == "web" }?.newCredentials == [])

        let staging = Dictionary(
            try store.variables(serviceID: postgres.id, environmentID: copy.environment.id).map { ($0.key, $0) },
            uniquingKeysWith: { $1 })
        let newPassword = try #require(staging["PGPASSWORD"]?.value)
        #expect(newPassword.count == 32 && newPassword != password)
        #expect(staging["POSTGRES_PASSWORD"]?.value == newPassword && staging["PGPASSWORD"]?.sealed == true)
        #expect(staging["DATABASE_URL"]?.value == "postgresql://postgres:\(newPassword)@postgres.railway.internal:5432/railway")
        #expect(staging["PGHOST"]?.value == "postgres.railway.internal" && staging["PGUSER"]?.value == "postgres")
        #expect(!contains(newPassword) && !contains(password))
    }
}

/// Issue 13 (suspected, proved): a sealed value copied into another row opened there, since
/// AES-GCM had no associated data. Values are now bound to their row; older unbound ones are
/// bound by migration 018 and stay readable where they are.
@Suite("sealed values bound to their row")
struct SealedBindingTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-bound-\(UUID().uuidString)")

    func sqlite(_ sql: String) throws -> String {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [directory.appendingPathComponent("switchyard.sqlite").path, sql]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(process.terminationStatus == 0, "sqlite3 failed: \(text)")
        return text
    }

    @Test("a sealed variable or deployment snapshot moved into another project's row does not open there")
    func movedValueDoesNotOpen() throws {
        try SealedAtRestTests.requireSQLite()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        let (victim, victimEnvironment) = try store.createProject(name: "victim")
        let (attacker, attackerEnvironment) = try store.createProject(name: "attacker")
        let victimService = try store.createService(projectID: victim.id, name: "api")
        let attackerService = try store.createService(projectID: attacker.id, name: "app")
        try store.changeVariables(
            serviceID: victimService.id, environmentID: victimEnvironment.id, set: ["SECRET": "victim-secret"], delete: [],
            sealed: ["SECRET"])
        try store.changeVariables(
            serviceID: attackerService.id, environmentID: attackerEnvironment.id, set: ["SECRET": "mine"], delete: [],
            sealed: ["SECRET"])
        let now = Date()
        for (id, service, environment, value) in [
            ("dep_victim", victimService.id, victimEnvironment.id, "victim-snapshot"), ("dep_attacker", attackerService.id, attackerEnvironment.id, "mine"),
        ] {
            try store.insertDeployment(
                DeploymentRecord(
                    id: id, serviceID: service, environmentID: environment, status: .queued, reason: nil, trigger: "up",
                    sourceHash: nil, sourcePath: nil, artifactPath: nil, buildResult: nil, deploySettings: nil,
                    variables: try store.sealedSnapshot(["SECRET": value], deploymentID: id), createdAt: now, updatedAt: now))
        }
        // Someone who can write the database but has no key copies the victim's ciphertexts into their own rows.
        _ = try sqlite(
            """
            UPDATE variable SET value = (SELECT value FROM variable WHERE service_id = '\(victimService.id)' AND key = 'SECRET')
              WHERE service_id = '\(attackerService.id)' AND key = 'SECRET';
            UPDATE deployment SET variables = (SELECT variables FROM deployment WHERE id = 'dep_victim') WHERE id = 'dep_attacker';
            """)
        #expect(throws: YardError.self) { try store.variables(serviceID: attackerService.id, environmentID: attackerEnvironment.id) }
        #expect(throws: YardError.self) { try store.openSnapshot(store.deployment(id: "dep_attacker").variables, deploymentID: "dep_attacker") }
        // Where they belong they still open.
        #expect(try store.variables(serviceID: victimService.id, environmentID: victimEnvironment.id).first?.value == "victim-secret")
        #expect(try store.openSnapshot(store.deployment(id: "dep_victim").variables, deploymentID: "dep_victim") == ["SECRET": "victim-snapshot"])
        // A rollback-style copy is sealed again for its own row.
        let resealed = try store.resealedSnapshot(store.deployment(id: "dep_victim").variables, from: "dep_victim", to: "dep_new")
        #expect(try store.openSnapshot(resealed, deploymentID: "dep_new") == ["SECRET": "victim-snapshot"])
        // An environment copy re-seals build secrets for the copy's rows.
        try store.changeVariables(
            serviceID: victimService.id, environmentID: victimEnvironment.id, set: ["NPM_TOKEN": "build-only"], delete: [],
            buildSecrets: ["NPM_TOKEN"])
        let copy = try store.createEnvironment(projectID: victim.id, name: "staging", copying: victimEnvironment.id)
        #expect(
            try store.variables(serviceID: victimService.id, environmentID: copy.environment.id).first { $0.key == "NPM_TOKEN" }?.value
                == "build-only")
    }

    @Test("values sealed before binding (yse1) are bound in place at start and still open")
    func unboundValuesAreMigrated() throws {
        try SealedAtRestTests.requireSQLite()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (serviceID, environmentID): (String, String)
        do {
            let store = try SQLiteStore(directory: directory)
            let (project, environment) = try store.createProject(name: "shop")
            let service = try store.createService(projectID: project.id, name: "web")
            (serviceID, environmentID) = (service.id, environment.id)
            try store.changeVariables(
                serviceID: service.id, environmentID: environment.id, set: ["SECRET": "clear-before"], delete: [], sealed: ["SECRET"])
        }
        // As 0683c8d left it: unbound yse1 values (014 applied, 018 not).
        _ = try sqlite(
            """
            UPDATE variable SET value = 'clear-before' WHERE key = 'SECRET';
            DROP TABLE sealed_key_check;
            DROP TABLE generated_domain_removed;
            DELETE FROM grdb_migrations WHERE identifier IN ('014_sealed_at_rest', '018_sealed_values_bound');
            """)
        // 014 runs again (sealing unbound, as 0683c8d did), then 018 binds.
        let store = try SQLiteStore(directory: directory)
        #expect(try sqlite("SELECT value FROM variable WHERE key = 'SECRET'").hasPrefix("yse2:"))
        #expect(try sqlite("SELECT value FROM sealed_key_check").hasPrefix("yse2:"))
        #expect(try store.variables(serviceID: serviceID, environmentID: environmentID).first?.value == "clear-before")
    }
}
