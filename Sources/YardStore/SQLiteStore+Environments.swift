import Foundation
import GRDB
import YardCore

/// What `createEnvironment(copying:)` made of each service of the project.
public struct EnvironmentCopy: Sendable, Equatable {
    public struct ServiceCopy: Sendable, Equatable {
        public var serviceID: String
        public var serviceName: String
        /// Keys of the plain variables and build secrets copied, sorted.
        public var copiedVariables: [String]
        /// Keys of the sealed variables left behind: their values must be set again.
        public var sealedNotCopied: [String]
        /// Keys of the sealed variables given new generated values (a database's new
        /// password and the URLs holding it), sorted.
        public var newCredentials: [String] = []
        /// The mount path of the empty volume made for the new environment, if the source had one.
        public var volumeMountPath: String?
    }

    public var environment: EnvironmentRecord
    public var source: EnvironmentRecord
    public var services: [ServiceCopy]
}

/// What `deleteEnvironment` removed, for the caller to clean up outside the database.
public struct EnvironmentRemoval: Sendable, Equatable {
    public var environment: EnvironmentRecord
    public var deploymentIDs: [String]
    public var domains: [String]
    public var volumeIDs: [String]
    /// Its database services' backups: the rows go with it, the files are the caller's to remove.
    public var backups: [BackupRecord] = []
}

extension SQLiteStore {
    /// Creates environment `name` in the project as a copy of `source`, in one transaction:
    /// every service's plain variables and build secrets are copied; sealed variables are
    /// not (their values never leave the environment they were set in), except that a
    /// database service gets new ones, with a new password; each volume is
    /// recreated empty with the same name and mount path. Domains, deployments and replicas
    /// are not copied. Service settings belong to the service and so apply in both.
    public func createEnvironment(projectID: String, name: String, copying sourceID: String) throws -> EnvironmentCopy {
        try ResourceName.validate(name, kind: "environment")
        return try write { db in
            guard let source = try EnvironmentRecord.fetchOne(db, key: sourceID), source.projectID == projectID else {
                throw YardError(.notFound, "no environment '\(sourceID)' in this project to copy from")
            }
            if try EnvironmentRecord.filter(Column("project_id") == projectID && Column("name") == name).fetchOne(db) != nil {
                throw YardError(.conflict, "this project already has an environment named '\(name)'; `yard environment list` shows them")
            }
            let now = Date()
            let environment = EnvironmentRecord(id: Identifier.make("env"), projectID: projectID, name: name, createdAt: now)
            try environment.insert(db)
            var services: [EnvironmentCopy.ServiceCopy] = []
            for service in try ServiceRecord.filter(Column("project_id") == projectID).order(Column("name")).fetchAll(db) {
                let variables =
                    try VariableRecord
                    .filter(Column("service_id") == service.id && Column("environment_id") == source.id)
                    .order(Column("key"))
                    .fetchAll(db)
                var copied: [String] = []
                var sealed: [String] = []
                var regenerated: [String] = []
                for variable in variables {
                    if variable.sealed {
                        sealed.append(variable.key)
                        continue
                    }
                    var copy = variable
                    copy.environmentID = environment.id
                    copy.updatedAt = now
                    if SealedValueCipher.isSealed(variable.value) {
                        // A build secret is sealed for its row: sealed again for the copy's.
                        let clear = try cipher.open(
                            variable.value, for: .variable(serviceID: service.id, environmentID: source.id, key: variable.key))
                        copy.value = try cipher.seal(
                            clear, for: .variable(serviceID: service.id, environmentID: environment.id, key: variable.key))
                    }
                    try copy.insert(db)
                    copied.append(variable.key)
                }
                // A database gets its own credentials: a new password, at the same host and port.
                if let kind = service.database, !sealed.isEmpty {
                    let plain = Dictionary(variables.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
                    // The host variable (PGHOST, REDISHOST, MYSQLHOST) comes first in every kind's set.
                    let hostKey = kind.variables(host: "", port: 0, password: "-")[0].key
                    if let host = plain[hostKey], let port = plain[kind.portVariable].flatMap(Int.init) {
                        for variable in kind.variables(host: host, port: port, password: DatabaseKind.makePassword())
                        where variable.sealed && sealed.contains(variable.key) {
                            try VariableRecord(
                                serviceID: service.id, environmentID: environment.id, key: variable.key,
                                value: cipher.seal(
                                    variable.value,
                                    for: .variable(serviceID: service.id, environmentID: environment.id, key: variable.key)),
                                sealed: true, updatedAt: now
                            ).insert(db)
                            regenerated.append(variable.key)
                        }
                        sealed.removeAll { regenerated.contains($0) }
                    }
                }
                var mountPath: String?
                if let volume =
                    try VolumeRecord
                    .filter(Column("service_id") == service.id && Column("environment_id") == source.id)
                    .fetchOne(db)
                {
                    try VolumeRecord(
                        id: Identifier.make("vol"), serviceID: service.id, environmentID: environment.id, name: volume.name,
                        mountPath: volume.mountPath, createdAt: now
                    ).insert(db)
                    mountPath = volume.mountPath
                }
                services.append(
                    EnvironmentCopy.ServiceCopy(
                        serviceID: service.id, serviceName: service.name, copiedVariables: copied, sealedNotCopied: sealed,
                        newCredentials: regenerated.sorted(), volumeMountPath: mountPath))
            }
            return EnvironmentCopy(environment: environment, source: source, services: services)
        }
    }

    /// Deletes an environment and, with it, its deployments (and their replicas, history and
    /// cron runs), variables, domains, volumes, backups and private network index. Refuses to delete
    /// the project's last environment. Other environments' rows are never touched: every
    /// row goes through its `environment_id`.
    @discardableResult
    public func deleteEnvironment(id: String) throws -> EnvironmentRemoval {
        try write { db in
            guard let environment = try EnvironmentRecord.fetchOne(db, key: id) else {
                throw YardError(.notFound, "no environment '\(id)'")
            }
            let count = try EnvironmentRecord.filter(Column("project_id") == environment.projectID).fetchCount(db)
            guard count > 1 else {
                throw YardError(
                    .conflict,
                    "'\(environment.name)' is the project's only environment and cannot be deleted; create another first"
                )
            }
            let scope = Column("environment_id") == id
            let removal = EnvironmentRemoval(
                environment: environment,
                deploymentIDs: try String.fetchAll(db, DeploymentRecord.filter(scope).select(Column("id"))),
                domains: try String.fetchAll(db, DomainRecord.filter(scope).select(Column("hostname"))),
                volumeIDs: try String.fetchAll(db, VolumeRecord.filter(scope).select(Column("id"))),
                backups: try BackupRecord.filter(scope).order(Column("started_at")).fetchAll(db)
            )
            // The foreign keys cascade to everything else of the environment.
            _ = try EnvironmentRecord.deleteOne(db, key: id)
            return removal
        }
    }

    /// The volumes of an environment.
    public func volumes(environmentID: String) throws -> [VolumeRecord] {
        try pool.read { db in try VolumeRecord.filter(Column("environment_id") == environmentID).fetchAll(db) }
    }

    /// Deployments of an environment (every service) with one of `statuses`.
    public func deployments(environmentID: String, withStatus statuses: [DeploymentStatus]) throws -> [DeploymentRecord] {
        try pool.read { db in
            try DeploymentRecord
                .filter(Column("environment_id") == environmentID)
                .filter(statuses.map(\.rawValue).contains(Column("status")))
                .order(Column("created_at"))
                .fetchAll(db)
        }
    }
}
