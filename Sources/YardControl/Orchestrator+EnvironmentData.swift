import Foundation
import YardCore
import YardStore

extension Orchestrator {
    /// `yard environment new --with-data`: starts each database service of a freshly copied
    /// environment and fills it from the source environment's latest backup (taken first when
    /// the source has none). Postgres gets the `pg_dump` restored into the new server, which
    /// keeps the new environment's own password; redis gets the RDB snapshot. MySQL, which has
    /// no backups, starts empty. A database whose data could not be copied is reported, not
    /// thrown: the environment exists either way.
    public func copyDatabaseData(projectID: String, from sourceID: String, into environmentID: String) async throws
        -> [DatabaseDataCopyView]
    {
        let source = try store.environment(id: sourceID)
        var results: [DatabaseDataCopyView] = []
        for service in try store.services(projectID: projectID).sorted(by: { $0.name < $1.name }) {
            guard let kind = service.database else { continue }
            // A database added in another environment has no variables in this copy: not here.
            guard !(try store.variables(serviceID: service.id, environmentID: environmentID).isEmpty) else { continue }
            let result = await copyData(of: service, kind: kind, source: source, into: environmentID)
            logger.info(
                "database data copied",
                metadata: [
                    "service.name": "\(service.name)", "environment.id": "\(environmentID)", "backup.id": "\(result.backup ?? "")",
                    "restored": "\(result.restored)",
                ])
            results.append(result)
        }
        return results
    }

    private func copyData(of service: ServiceRecord, kind: DatabaseKind, source: EnvironmentRecord, into environmentID: String) async
        -> DatabaseDataCopyView
    {
        let sourceKey = ServiceKey(serviceID: service.id, environmentID: source.id)
        let targetKey = ServiceKey(serviceID: service.id, environmentID: environmentID)
        var view = DatabaseDataCopyView(
            service: service.name, database: kind, backup: nil, takenAt: nil, backupTakenNow: false, restored: false, message: "")
        var backup: BackupRecord?
        var problem: String?
        if kind == .mysql {
            problem = "mysql databases have no backups to copy"
        } else if let found = BackupSelection.newestRestorable(
            (try? store.backups(serviceID: service.id, environmentID: source.id)) ?? [])
        {
            backup = found
        } else if live[sourceKey] == nil {
            // Not attempted: a backup that cannot start would only leave a FAILED row in the source.
            problem = "\(source.name) has no backup of it and it is not running there, so none could be taken"
        } else {
            do {
                let taken = try await createBackup(serviceID: service.id, environmentID: source.id, trigger: "copy")
                backup = taken
                view.backupTakenNow = true
            } catch {
                problem = "\(source.name) had no backup and none could be taken: \(Self.describe(error))"
            }
        }
        // The copy's server starts either way, with its own (new) credentials.
        do {
            let deployment = try deployDatabase(service: service, environmentID: environmentID, trigger: "environment copy")
            try await waitLive(deploymentID: deployment.id, name: service.name)
        } catch {
            view.message = "\(service.name): did not start in the new environment: \(Self.describe(error))"
            return view
        }
        guard let backup, problem == nil else {
            view.message = "\(service.name): started empty: \(problem ?? "no backup")"
            return view
        }
        view.backup = backup.id
        view.takenAt = backup.finishedAt ?? backup.startedAt
        let taken = "backup \(backup.id) taken at \(Self.cronTime(view.takenAt ?? backup.startedAt))"
        let origin = view.backupTakenNow ? " (taken now: \(source.name) had none)" : ""
        guard backupClaims.claim(targetKey) else {
            view.message = "\(service.name): started empty: a backup or restore of it is already running there"
            return view
        }
        defer { backupClaims.release(targetKey) }
        do {
            switch kind {
            case .postgres: try await restoreDump(backup: backup, target: databaseTarget(targetKey))
            default: try await restoreSnapshot(backup: backup, key: targetKey)
            }
            view.restored = true
            view.message = "\(service.name): restored from \(taken)\(origin)"
        } catch {
            view.message = "\(service.name): restoring \(taken) FAILED: \(Self.describe(error))"
        }
        return view
    }
}

/// Which backup a copied environment's database starts from.
public enum BackupSelection {
    /// The newest backup that succeeded, did not fail its restore check and still has its
    /// dump or snapshot on disk; nil when there is none. `backups` are newest first.
    public static func newestRestorable(
        _ backups: [BackupRecord], fileExists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) }
    ) -> BackupRecord? {
        backups.first { backup in
            guard backup.status == .succeeded, backup.checkStatus != .failed, let path = backup.path
            else { return false }
            return fileExists(path)
        }
    }
}
