import Foundation
import YardCore
import YardStore

/// Where a database service's server is reached, and with which credentials.
struct DatabaseTarget {
    var kind: DatabaseKind
    var service: ServiceRecord
    var key: Orchestrator.ServiceKey
    var host: String
    var port: Int
    var user: String
    var password: String
    var database: String

    /// The client tools' environment: the password travels there, never in argv.
    var environment: [String: String] {
        switch kind {
        case .redis: ["PATH": "/usr/bin:/bin", "REDISCLI_AUTH": password]
        default: ["PATH": "/usr/bin:/bin", "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10"]
        }
    }

    var connection: [String] {
        switch kind {
        case .redis: ["-h", host, "-p", String(port), "--no-auth-warning"]
        default: ["-h", host, "-p", String(port), "-U", user]
        }
    }
}

extension Orchestrator: BackupHost {
    private var backupsDirectory: URL { configuration.dataDirectory.appendingPathComponent("backups") }

    /// Scheduled backups kept when `--keep` is not given.
    public static let defaultBackupRetention = 7

    // MARK: Create

    /// Backs a running database service up now: a `pg_dump` plus a base backup for
    /// point-in-time recovery (postgres), an RDB snapshot (redis). The backup is then
    /// test-restored into a throwaway server. A failure is recorded, logged and thrown.
    public func createBackup(serviceID: String, environmentID: String, trigger: String = "manual") async throws -> BackupRecord {
        let key = ServiceKey(serviceID: serviceID, environmentID: environmentID)
        let service = try store.service(id: serviceID)
        guard let kind = service.database, kind != .mysql else {
            throw YardError(.invalidInput, "\(service.name) is not a postgres or redis database service: only those have backups")
        }
        try requireBackupsOnThisRuntime(service)
        guard backupClaims.claim(key) else {
            throw YardError(.conflict, "a backup or restore of \(service.name) is already running: wait for it to finish")
        }
        defer { backupClaims.release(key) }

        var record = BackupRecord(
            id: Identifier.make("bak"), serviceID: serviceID, environmentID: environmentID,
            trigger: trigger, status: .running, startedAt: Date())
        try store.saveBackup(record)
        let directory = backupsDirectory.appendingPathComponent(serviceID)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let target = try databaseTarget(key)
            switch kind {
            case .postgres:
                let dump = directory.appendingPathComponent("\(record.id).dump")
                try await runTool(
                    PostgresTools.binary("pg_dump"), target.connection + ["-Fc", "-d", PostgresTools.dbname(target.database), "-f", dump.path],
                    environment: target.environment, what: "pg_dump", secret: target.password)
                record.path = dump.path
                record.objects = try await PostgresTools.tableCount(ofDump: dump.path)
                // The base backup a `--to` restore starts from; WAL from here on is archived.
                let base = directory.appendingPathComponent("\(record.id).base")
                try await runTool(
                    PostgresTools.binary("pg_basebackup"),
                    target.connection + ["-D", base.path, "-Ft", "-z", "-X", "fetch", "--checkpoint=fast"],
                    environment: target.environment, what: "pg_basebackup", secret: target.password)
                record.basePath = base.appendingPathComponent("base.tar.gz").path
                _ = try await switchWAL(target)
            case .redis:
                let snapshot = directory.appendingPathComponent("\(record.id).rdb")
                try await runTool(
                    "/usr/bin/redis-cli", target.connection + ["--rdb", snapshot.path],
                    environment: target.environment, what: "redis-cli --rdb", secret: target.password)
                record.path = snapshot.path
            case .mysql:
                break
            }
            record.sizeBytes = Self.diskSize(of: [
                record.path, record.basePath.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path },
            ])
            record.status = .succeeded
            record.finishedAt = Date()
            record.checkStatus = .running
            try store.saveBackup(record)
        } catch {
            record.status = .failed
            record.finishedAt = Date()
            record.reason = Self.describe(error)
            try? store.saveBackup(record)
            reportBackupProblem(service: service, key: key, message: "backup \(record.id) FAILED: \(record.reason ?? "")")
            throw error
        }
        // The check: the backup must restore into a fresh server of its own.
        do {
            var check = RestoreCheck(kind: kind, database: (try? databaseTarget(key).database) ?? "railway")
            // The dump is the tenant's: its server runs confined as the runtime runs the service.
            let runtime = self.runtime
            let serviceID = service.id
            check.confine = { try runtime.confineTool(serviceID: serviceID, environmentID: environmentID, scratch: $0) }
            let found = try await check.run(record: record)
            record.checkStatus = .passed
            record.checkReason = found
            // Resolves a firing backup-failed alert (not a hook event: the hook hears failures only).
            notifier.send(
                Notifier.Event(
                    event: "backup.succeeded", projectID: service.projectID, environmentID: environmentID, serviceID: service.id,
                    serviceName: service.name, message: "backup \(record.id) made and its restore check passed"))
            if kind == .redis { record.objects = Int(found.split(separator: " ").first ?? "") }
        } catch {
            record.checkStatus = .failed
            record.checkReason = Self.describe(error)
            reportBackupProblem(
                service: service, key: key, event: "backup.check-failed", message: "restore check of backup \(record.id) FAILED: \(record.checkReason ?? "")")
        }
        try store.saveBackup(record)
        // Manual backups are kept until removed, so the archive goes back to the oldest on
        // record, not further (a schedule prunes after its retention).
        if kind == .postgres, trigger != "scheduled" { await pruneWALArchive(key: key) }
        logger.info(
            "backup made",
            metadata: [
                "service.name": "\(service.name)", "backup.id": "\(record.id)",
                "backup.check": "\(record.checkStatus?.rawValue ?? "")",
            ])
        return record
    }

    /// A failed backup or check: in the server's log and the service's deploy log, and on
    /// `yard status` and `yard backup list` through its record, and to the notification hook
    /// (`yard serve --notify-command`).
    private func reportBackupProblem(service: ServiceRecord, key: ServiceKey, event: String = "backup.failed", message: String) {
        logger.error("backup problem", metadata: ["service.name": "\(service.name)", "problem": "\(message)"])
        notifier.send(
            Notifier.Event(
                event: event, projectID: service.projectID, environmentID: key.environmentID, serviceID: service.id,
                serviceName: service.name, deploymentID: live[key], message: message))
        if let id = live[key] {
            logs.append(deploymentID: id, kind: .deploy, stream: .system, message: message)
        }
    }

    /// The running server of a database service, with its credentials.
    func databaseTarget(_ key: ServiceKey) throws -> DatabaseTarget {
        let service = try store.service(id: key.serviceID)
        guard let kind = service.database else {
            throw YardError(.invalidInput, "\(service.name) is not a database service")
        }
        guard let liveID = live[key], let replica = try store.replicas(deploymentID: liveID).first else {
            throw YardError(
                .conflict, "\(service.name) is not running: `yard redeploy --service \(service.name)` starts it, then back it up")
        }
        let variables = try resolvedVariables(serviceID: key.serviceID, environmentID: key.environmentID, revealingSealed: true)
        let password = kind == .redis ? variables["REDISPASSWORD"] : variables["PGPASSWORD"]
        guard let password else {
            throw YardError(.invalidConfig, "\(service.name) has no password variable: it was not made by `yard add --database`")
        }
        return DatabaseTarget(
            kind: kind, service: service, key: key, host: replica.address ?? configuration.replicaHost, port: replica.port,
            user: variables["PGUSER"] ?? "postgres", password: password, database: variables["PGDATABASE"] ?? "railway")
    }

    /// Ends the current WAL segment so it is archived; returns its file name.
    private func switchWAL(_ target: DatabaseTarget) async throws -> String {
        let output = try await runTool(
            PostgresTools.binary("psql"), target.connection + ["-d", PostgresTools.dbname(target.database), "-XAtc", "SELECT pg_walfile_name(pg_switch_wal())"],
            environment: target.environment, what: "psql", secret: target.password)
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @discardableResult
    private func runTool(
        _ executable: String, _ arguments: [String], environment: [String: String], what: String,
        secret: String, input: String? = nil
    ) async throws -> String {
        var command = ToolCommand(executable, arguments, environment: environment)
        command.input = input
        let result = try await command.result()
        guard result.status == 0 else {
            let detail = result.standardError.replacingOccurrences(of: secret, with: "<sealed>")
                .trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").suffix(3).joined(separator: " / ")
            throw YardError(.unavailable, "\(what) exited with status \(result.status): \(detail)")
        }
        return result.standardOutput
    }

    static func diskSize(of paths: [String?]) -> Int64 {
        var total: Int64 = 0
        for path in paths.compactMap({ $0 }) {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            let files =
                isDirectory.boolValue
                ? (FileManager.default.subpaths(atPath: path) ?? []).map { "\(path)/\($0)" } : [path]
            for file in files {
                total += ((try? FileManager.default.attributesOfItem(atPath: file)[.size]) as? NSNumber)?.int64Value ?? 0
            }
        }
        return total
    }

    // MARK: List and schedule

    public func backupList(serviceID: String, environmentID: String) async throws -> (
        schedule: BackupScheduleRecord?, nextAt: Date?, backups: [BackupRecord]
    ) {
        let schedule = try store.backupSchedule(serviceID: serviceID, environmentID: environmentID)
        var next: Date?
        if let schedule { next = await backupScheduler.nextDue(for: schedule) }
        return (schedule, next, try store.backups(serviceID: serviceID, environmentID: environmentID))
    }

    /// Backups read the database's volume on this machine (WAL archive, snapshots), which a
    /// runtime that runs databases from images on other nodes (the swarm) does not have here.
    func requireBackupsOnThisRuntime(_ service: ServiceRecord) throws {
        guard runtime.runsDatabasesFromImages else { return }
        throw YardError(
            .unavailable,
            "\(service.name): backups and restores need the database's volume on this machine, and on the swarm runtime it is a "
                + "Docker volume on the database's node: dump it through its TCP proxy instead (yard domain --tcp, then "
                + "pg_dump \"$(yard connect \(service.name) --url)\"), or run yard serve with the sandbox runtime")
    }

    /// Sets a database service's schedule (nil frequency: off).
    public func setBackupSchedule(serviceID: String, environmentID: String, frequency: BackupFrequency?, keep: Int?) async throws {
        let service = try store.service(id: serviceID)
        guard let kind = service.database, kind != .mysql else {
            throw YardError(.invalidInput, "\(service.name) is not a postgres or redis database service: only those have backups")
        }
        try requireBackupsOnThisRuntime(service)
        if let keep, keep < 1 {
            throw YardError(.invalidInput, "--keep \(keep): keep at least 1 scheduled backup")
        }
        let record = frequency.map {
            BackupScheduleRecord(
                serviceID: serviceID, environmentID: environmentID, frequency: $0,
                keep: keep ?? Self.defaultBackupRetention, updatedAt: Date())
        }
        try store.setBackupSchedule(record, serviceID: serviceID, environmentID: environmentID)
        await backupScheduler.forget(ServiceKey(serviceID: serviceID, environmentID: environmentID))
    }

    // The schedules themselves are `BackupScheduler`'s; it calls these.

    func backupSchedules() -> [BackupScheduleRecord]? {
        try? store.backupSchedules()
    }

    func isBackingUp(_ key: ServiceKey) -> Bool {
        backupClaims.contains(key)
    }

    func runScheduledBackup(_ key: ServiceKey, keep: Int) async {
        _ = try? await createBackup(serviceID: key.serviceID, environmentID: key.environmentID, trigger: "scheduled")
        pruneScheduledBackups(key: key, keep: keep)
        await pruneWALArchive(key: key)
    }

    /// Deletes the scheduled backups beyond the newest `keep` (files and rows).
    private func pruneScheduledBackups(key: ServiceKey, keep: Int) {
        guard let all = try? store.backups(serviceID: key.serviceID, environmentID: key.environmentID) else { return }
        for old in BackupRetention.expired(all, keep: keep) {
            removeBackupFiles(old)
            try? store.deleteBackup(id: old.id)
        }
    }

    /// Removes archived WAL that precedes the oldest base backup still kept: no restore can
    /// start before it. (The archive is the server's own, in its volume.)
    func pruneWALArchive(key: ServiceKey) async {
        guard let kept = try? store.backups(serviceID: key.serviceID, environmentID: key.environmentID),
            let oldest = kept.filter({ $0.status == .succeeded && $0.basePath != nil }).last?.basePath,
            let volume = try? store.volume(serviceID: key.serviceID, environmentID: key.environmentID)
        else { return }
        let archive = configuration.dataDirectory.appendingPathComponent("volumes").appendingPathComponent(volume.id)
            .appendingPathComponent("wal-archive")
        guard
            let label = try? await ToolCommand("/usr/bin/tar", ["-xzOf", oldest, "backup_label"], environment: ["PATH": "/usr/bin:/bin"])
                .result(), label.status == 0, let segment = PostgresTools.startSegment(inBackupLabel: label.standardOutput)
        else { return }
        let cleanup = try? await ToolCommand(
            PostgresTools.binary("pg_archivecleanup"), [archive.path, segment],
            environment: ["PATH": "/usr/bin:/bin"]
        ).result()
        if let cleanup, cleanup.status != 0 {
            logger.warning("could not prune the WAL archive", metadata: ["error": "\(cleanup.standardError)"])
        }
    }

    private func removeBackupFiles(_ backup: BackupRecord) {
        if let path = backup.path { try? FileManager.default.removeItem(atPath: path) }
        if let base = backup.basePath {
            try? FileManager.default.removeItem(at: URL(fileURLWithPath: base).deletingLastPathComponent())
        }
    }

    /// Removes the files of backups whose rows are gone (a deleted environment's): each one's
    /// dump or snapshot and base backup, whatever a failed run of it left, and a service's
    /// folder once empty. Other environments' backups of the same service stay.
    func removeBackupFiles(of removed: [BackupRecord]) {
        Self.removeFiles(of: removed, in: backupsDirectory)
    }

    /// Every file of a backup is `<service id>/<backup id>.<kind>` under `backupsDirectory`
    /// (`.dump`, `.base`, `.rdb`), so that is what goes, whatever the rows recorded.
    static func removeFiles(of removed: [BackupRecord], in backupsDirectory: URL) {
        for backup in removed {
            let directory = backupsDirectory.appendingPathComponent(backup.serviceID)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            where name.hasPrefix("\(backup.id).") {
                try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
            }
        }
        for serviceID in Set(removed.map(\.serviceID)) {
            let directory = backupsDirectory.appendingPathComponent(serviceID)
            if (try? FileManager.default.contentsOfDirectory(atPath: directory.path))?.isEmpty == true {
                try? FileManager.default.removeItem(at: directory)
            }
        }
    }

    // MARK: Restore

    /// Restores a backup into the service itself, or into a new database service (`into`).
    /// With `to`, postgres restores the newest base backup finished before that moment and
    /// replays the archived WAL up to it.
    public func restoreBackup(serviceID: String, environmentID: String, request: BackupRestoreRequest) async throws -> BackupRestoreView {
        let key = ServiceKey(serviceID: serviceID, environmentID: environmentID)
        let service = try store.service(id: serviceID)
        guard let kind = service.database, kind != .mysql else {
            throw YardError(.invalidInput, "\(service.name) is not a postgres or redis database service: only those have backups")
        }
        try requireBackupsOnThisRuntime(service)
        let backup = try chooseBackup(service: service, key: key, request: request)
        if request.to != nil {
            guard kind == .postgres else {
                throw YardError(.invalidInput, "--to is point-in-time recovery, which only postgres has: restore a redis backup without it")
            }
        }
        guard backupClaims.claim(key) else {
            throw YardError(.conflict, "a backup or restore of \(service.name) is already running: wait for it to finish")
        }
        defer { backupClaims.release(key) }

        var targetKey = key
        var targetName = service.name
        if let into = request.into {
            let project = try store.project(service.projectID)
            let (created, deployment) = try addDatabase(projectID: project.id, environmentID: environmentID, kind: kind, name: into)
            targetKey = ServiceKey(serviceID: created.id, environmentID: environmentID)
            targetName = created.name
            try await waitLive(deploymentID: deployment.id, name: created.name)
        }
        switch (kind, request.to) {
        case (.postgres, let moment?):
            try await restorePointInTime(backup: backup, source: key, destination: targetKey, moment: moment)
        case (.postgres, nil):
            try await restoreDump(backup: backup, target: databaseTarget(targetKey))
        default:
            try await restoreSnapshot(backup: backup, key: targetKey)
        }
        logger.info("backup restored", metadata: ["backup.id": "\(backup.id)", "service.name": "\(targetName)"])
        let message =
            request.to.map { "\(targetName) was restored to \(Self.cronTime($0)) from base backup \(backup.id) and the WAL archive" }
            ?? "backup \(backup.id) of \(service.name) was restored into \(targetName)"
        return BackupRestoreView(backup: backup.id, service: targetName, pointInTime: request.to, message: message)
    }

    private func chooseBackup(service: ServiceRecord, key: ServiceKey, request: BackupRestoreRequest) throws -> BackupRecord {
        let all = try store.backups(serviceID: key.serviceID, environmentID: key.environmentID).filter { $0.status == .succeeded }
        if let id = request.backup {
            guard let found = all.first(where: { $0.id == id }) else {
                throw YardError(.notFound, "\(service.name) has no succeeded backup '\(id)': `yard backup list` shows them")
            }
            if let moment = request.to, found.basePath == nil || (found.finishedAt ?? .distantFuture) > moment {
                throw YardError(.invalidInput, "backup \(id) has no base backup finished before \(Self.cronTime(moment))")
            }
            return found
        }
        if let moment = request.to {
            guard let found = all.first(where: { $0.basePath != nil && ($0.finishedAt ?? .distantFuture) <= moment }) else {
                throw YardError(
                    .invalidInput,
                    "no backup of \(service.name) finished before \(Self.cronTime(moment)): "
                        + "point-in-time recovery starts from a base backup taken before the moment")
            }
            return found
        }
        guard let newest = all.first else {
            throw YardError(.notFound, "\(service.name) has no backup to restore: `yard backup create` makes one")
        }
        return newest
    }

    /// Replaces the database's contents with the dump: the database is dropped (its
    /// sessions ended) and created again, then `pg_restore` fills it.
    func restoreDump(backup: BackupRecord, target: DatabaseTarget) async throws {
        guard let dump = backup.path else { throw YardError(.internal, "backup \(backup.id) has no dump") }
        let name = target.database.replacingOccurrences(of: "\"", with: "\"\"")
        for statement in ["DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)", "CREATE DATABASE \"\(name)\""] {
            try await runTool(
                PostgresTools.binary("psql"), target.connection + ["-d", "postgres", "-XAtc", statement],
                environment: target.environment, what: "psql", secret: target.password)
        }
        try await runTool(
            PostgresTools.binary("pg_restore"),
            target.connection + ["-d", PostgresTools.dbname(target.database), "--no-owner", "--exit-on-error", dump],
            environment: target.environment, what: "pg_restore", secret: target.password)
    }

    private func volumeDirectory(_ key: ServiceKey) throws -> URL {
        guard let volume = try store.volume(serviceID: key.serviceID, environmentID: key.environmentID) else {
            throw YardError(.internal, "the database service has no volume")
        }
        return configuration.dataDirectory.appendingPathComponent("volumes").appendingPathComponent(volume.id)
    }

    /// Point-in-time recovery: the source server archives its current WAL segment; the
    /// destination (the source itself, or a new service given a copy of the archive)
    /// stops, its cluster is replaced by the base backup with a recovery target, and it
    /// starts, replays the archive up to the moment and is promoted. In place, the previous
    /// cluster is put back if that fails. A new service then gets its own password back
    /// (the base backup holds the source's).
    private func restorePointInTime(backup: BackupRecord, source key: ServiceKey, destination: ServiceKey, moment: Date) async throws {
        guard let base = backup.basePath else { throw YardError(.internal, "backup \(backup.id) has no base backup") }
        let target = try databaseTarget(key)
        let archive = try volumeDirectory(key).appendingPathComponent("wal-archive")
        // Whatever was written up to now must be in the archive for the replay.
        let segment = try await switchWAL(target)
        let deadline = ContinuousClock.now + .seconds(60)
        while !FileManager.default.fileExists(atPath: archive.appendingPathComponent(segment).path) {
            guard ContinuousClock.now < deadline else {
                throw YardError(
                    .unavailable, "WAL segment \(segment) was not archived within 60 s: see `yard logs --service \(target.service.name)`")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        let inPlace = destination == key
        let volumeDirectory = try self.volumeDirectory(destination)
        try await stopDatabase(destination)
        if !inPlace {
            // The new server replays the source's WAL from its own volume.
            let own = volumeDirectory.appendingPathComponent("wal-archive")
            try? FileManager.default.removeItem(at: own)
            try FileManager.default.createDirectory(at: own, withIntermediateDirectories: true)
            for name in try FileManager.default.contentsOfDirectory(atPath: archive.path) where !name.hasSuffix(".part") {
                try FileManager.default.copyItem(at: archive.appendingPathComponent(name), to: own.appendingPathComponent(name))
            }
            try Self.giveToOwner(of: volumeDirectory, own)
        }
        let pgdata = volumeDirectory.appendingPathComponent("pgdata")
        let previous = volumeDirectory.appendingPathComponent("pgdata.before-restore")
        try? FileManager.default.removeItem(at: previous)
        try FileManager.default.moveItem(at: pgdata, to: previous)
        do {
            try FileManager.default.createDirectory(at: pgdata, withIntermediateDirectories: false)
            let untar = try await ToolCommand("/usr/bin/tar", ["-xzf", base, "-C", pgdata.path], environment: ["PATH": "/usr/bin:/bin"])
                .result()
            guard untar.status == 0 else {
                throw YardError(.unavailable, "could not unpack base backup \(backup.id): \(untar.standardError)")
            }
            // The server sees the archive where its volume is mounted.
            let archiveSeen =
                !runtime.isolation.bindsVolumes
                ? volumeDirectory.appendingPathComponent("wal-archive").path : "\(DatabaseKind.postgres.volumeMountPath)/wal-archive"
            let recovery = """
                restore_command = 'cp "\(archiveSeen)/%f" "%p"'
                recovery_target_time = '\(PostgresTools.timestamp(moment))'
                recovery_target_action = 'promote'

                """
            try Data(recovery.utf8).write(to: pgdata.appendingPathComponent("yard-recovery.conf"))
            FileManager.default.createFile(atPath: pgdata.appendingPathComponent("recovery.signal").path, contents: Data())
            try Self.giveToOwner(of: volumeDirectory, pgdata)
            try await startDatabase(destination, trigger: "restore")
            try await waitRecovered(destination, password: target.password)
            if !inPlace {
                let own = try databaseTarget(destination)
                var asSource = own
                asSource.password = target.password
                // Through stdin: the new password never reaches a command line.
                let role = own.user.replacingOccurrences(of: "\"", with: "\"\"")
                try await runTool(
                    PostgresTools.binary("psql"), asSource.connection + ["-d", PostgresTools.dbname(own.database), "-X", "-q"],
                    environment: asSource.environment, what: "psql", secret: own.password,
                    input: "ALTER ROLE \"\(role)\" WITH PASSWORD '\(own.password)';\n")
            }
            try? FileManager.default.removeItem(at: pgdata.appendingPathComponent("yard-recovery.conf"))
            try? FileManager.default.removeItem(at: previous)
        } catch {
            logger.error(
                "point-in-time restore failed, putting the previous cluster back",
                metadata: ["service.name": "\(target.service.name)", "error": "\(Self.describe(error))"])
            try? await stopDatabase(destination)
            try? FileManager.default.removeItem(at: pgdata)
            try? FileManager.default.moveItem(at: previous, to: pgdata)
            try? await startDatabase(destination, trigger: "restore failed: previous data")
            throw YardError(
                .unavailable,
                "point-in-time restore to \(Self.cronTime(moment)) failed, the previous data is back: "
                    + Self.describe(error), cause: error)
        }
    }

    /// Replaces a redis server's data with the snapshot: the server stops, the snapshot
    /// becomes the base of a fresh append-only file, the server starts and loads it.
    func restoreSnapshot(backup: BackupRecord, key: ServiceKey) async throws {
        guard let snapshot = backup.path else { throw YardError(.internal, "backup \(backup.id) has no snapshot") }
        guard let volume = try store.volume(serviceID: key.serviceID, environmentID: key.environmentID) else {
            throw YardError(.internal, "the database service has no volume")
        }
        let volumeDirectory = configuration.dataDirectory.appendingPathComponent("volumes").appendingPathComponent(volume.id)
        try await stopDatabase(key)
        let aof = volumeDirectory.appendingPathComponent("appendonlydir")
        try? FileManager.default.removeItem(at: aof)
        try? FileManager.default.removeItem(at: volumeDirectory.appendingPathComponent("dump.rdb"))
        try FileManager.default.createDirectory(at: aof, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: snapshot, toPath: aof.appendingPathComponent("appendonly.aof.1.base.rdb").path)
        try Data("file appendonly.aof.1.base.rdb seq 1 type b\n".utf8).write(to: aof.appendingPathComponent("appendonly.aof.manifest"))
        try Self.giveToOwner(of: volumeDirectory, aof)
        try await startDatabase(key, trigger: "restore")
    }

    /// Takes the service down and waits until its server has exited.
    private func stopDatabase(_ key: ServiceKey) async throws {
        guard live[key] != nil else { return }
        let record = try down(serviceID: key.serviceID, environmentID: key.environmentID)
        let deadline = ContinuousClock.now + .seconds(90)
        while try !store.deployment(id: record.id).status.isFinal || live[key] != nil {
            guard ContinuousClock.now < deadline else { throw YardError(.unavailable, "the database server did not stop within 90 s") }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    private func startDatabase(_ key: ServiceKey, trigger: String) async throws {
        let service = try store.service(id: key.serviceID)
        let deployment = try deployDatabase(service: service, environmentID: key.environmentID, trigger: trigger)
        try await waitLive(deploymentID: deployment.id, name: service.name)
    }

    func waitLive(deploymentID: String, name: String) async throws {
        let deadline = ContinuousClock.now + .seconds(150)
        while true {
            let deployment = try store.deployment(id: deploymentID)
            if deployment.status == .success { return }
            if deployment.status.isFinal || deployment.status == .crashed {
                throw YardError(
                    .deployFailed,
                    "\(name) did not start (\(deployment.status.rawValue)): \(deployment.reason ?? "see `yard logs --service \(name)`")")
            }
            guard ContinuousClock.now < deadline else {
                throw YardError(.unavailable, "\(name) did not start within 150 s: see `yard logs --service \(name)`")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Waits until the server has replayed the WAL and been promoted.
    private func waitRecovered(_ key: ServiceKey, password: String) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        var last = ""
        while ContinuousClock.now < deadline {
            if var target = try? databaseTarget(key) {
                target.password = password
                let result = try await ToolCommand(
                    PostgresTools.binary("psql"), target.connection + ["-d", PostgresTools.dbname(target.database), "-XAtc", "SELECT pg_is_in_recovery()"],
                    environment: target.environment
                ).result()
                if result.status == 0, result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "f" { return }
                last = result.standardError.replacingOccurrences(of: target.password, with: "<sealed>")
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        throw YardError(.unavailable, "the server did not finish recovery within 120 s\(last.isEmpty ? "" : ": \(last)")")
    }

    /// Files written by the platform (root) go to whoever owns the volume (the sandbox user).
    static func giveToOwner(of volume: URL, _ tree: URL) throws {
        let attributes = try FileManager.default.attributesOfItem(atPath: volume.path)
        guard let uid = (attributes[.ownerAccountID] as? NSNumber)?.uint32Value,
            let gid = (attributes[.groupOwnerAccountID] as? NSNumber)?.uint32Value
        else { return }
        let paths = [tree.path] + (FileManager.default.subpaths(atPath: tree.path) ?? []).map { "\(tree.path)/\($0)" }
        for path in paths { _ = lchown(path, uid, gid) }
        _ = chmod(tree.path, 0o700)
    }
}

/// Which scheduled backups retention removes: beyond the newest `keep` scheduled ones.
/// Manual backups are never removed by it.
public enum BackupRetention {
    public static func expired(_ backups: [BackupRecord], keep: Int) -> [BackupRecord] {
        let scheduled = backups.filter { $0.trigger == "scheduled" && $0.status != .running }
            .sorted { $0.startedAt > $1.startedAt }
        return Array(scheduled.dropFirst(max(keep, 0)))
    }
}
