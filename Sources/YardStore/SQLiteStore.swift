import Foundation
import GRDB
import YardCore

/// The platform's state in one SQLite database (WAL) under the data directory. The one
/// type that owns the database; everything acknowledged to a user is written here first.
public final class SQLiteStore: Sendable {
    let pool: DatabasePool
    /// Seals sealed values, build secrets and deployments' variables at rest.
    let cipher: SealedValueCipher

    /// Opens (creating if needed) `<directory>/switchyard.sqlite` and applies migrations.
    /// The key for sealed values is `<directory>/keys/sealed.key`, generated on first start;
    /// a missing or wrong key, once values are sealed with it, fails here naming the file.
    public init(directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(10)
        pool = try DatabasePool(path: directory.appendingPathComponent("switchyard.sqlite").path, configuration: configuration)
        cipher = try SealedValueCipher.load(directory: directory, mustExist: try Self.hasSealedValues(pool))
        try Migrations.migrator(sealing: cipher).migrate(pool)
        try Self.checkKey(pool, cipher, directory: directory)
    }

    /// The names of the migrations applied, in order.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try Migrations.migrator(sealing: cipher).appliedMigrations(db) }
    }

    public func journalMode() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    // MARK: Projects and environments

    /// Creates a project with its default `production` environment.
    public func createProject(name: String) throws -> (ProjectRecord, EnvironmentRecord) {
        try ResourceName.validate(name, kind: "project")
        return try write { db in
            if try ProjectRecord.filter(Column("name") == name).fetchOne(db) != nil {
                throw YardError(.conflict, "a project named '\(name)' already exists; link to it with `yard link \(name)`")
            }
            let now = Date()
            let project = ProjectRecord(id: Identifier.make("prj"), name: name, createdAt: now)
            try project.insert(db)
            let environment = EnvironmentRecord(id: Identifier.make("env"), projectID: project.id, name: "production", createdAt: now)
            try environment.insert(db)
            return (project, environment)
        }
    }

    public func projects() throws -> [ProjectRecord] {
        try pool.read { db in try ProjectRecord.order(Column("name")).fetchAll(db) }
    }

    /// A project by id or by name.
    public func project(_ idOrName: String) throws -> ProjectRecord {
        let found = try pool.read { db in
            try ProjectRecord.filter(Column("id") == idOrName || Column("name") == idOrName).fetchOne(db)
        }
        guard let found else { throw YardError(.notFound, "no project '\(idOrName)'; `yard list` shows the projects") }
        return found
    }

    public func environments(projectID: String) throws -> [EnvironmentRecord] {
        try pool.read { db in
            try EnvironmentRecord.filter(Column("project_id") == projectID).order(Column("created_at")).fetchAll(db)
        }
    }

    /// An environment of a project by id or by name.
    public func environment(projectID: String, _ idOrName: String) throws -> EnvironmentRecord {
        let found = try pool.read { db in
            try EnvironmentRecord
                .filter(Column("project_id") == projectID)
                .filter(Column("id") == idOrName || Column("name") == idOrName)
                .fetchOne(db)
        }
        guard let found else { throw YardError(.notFound, "no environment '\(idOrName)' in this project") }
        return found
    }

    public func environment(id: String) throws -> EnvironmentRecord {
        guard let found = try pool.read({ db in try EnvironmentRecord.fetchOne(db, key: id) }) else {
            throw YardError(.notFound, "no environment '\(id)'")
        }
        return found
    }

    // MARK: Services

    public func createService(
        projectID: String, name: String, configPath: String? = nil, rootDirectory: String? = nil
    ) throws -> ServiceRecord {
        let rootDirectory = try rootDirectory.flatMap { try ServiceSettingsChange.normalizedRoot($0) }
        try ResourceName.validateService(name)
        return try write { db in
            let service = ServiceRecord(
                id: Identifier.make("svc"),
                projectID: projectID,
                name: name,
                configPath: configPath,
                createdAt: Date(),
                rootDirectory: rootDirectory
            )
            try insertService(service, db)
            return service
        }
    }

    /// Creates a database service (`yard add --database`) with its generated variables
    /// (the password ones sealed) and its data volume in one environment, all at once.
    public func createDatabaseService(
        projectID: String, environmentID: String, name: String, kind: DatabaseKind, variables: [DatabaseKind.Variable]
    ) throws -> (ServiceRecord, VolumeRecord) {
        try ResourceName.validateService(name)
        return try write { db in
            let now = Date()
            let service = ServiceRecord(
                id: Identifier.make("svc"), projectID: projectID, name: name, configPath: nil, createdAt: now, database: kind
            )
            try insertService(service, db)
            for variable in variables {
                try VariableRecord(serviceID: service.id, environmentID: environmentID, key: variable.key,
                                   value: variable.sealed
                                       ? cipher.seal(
                                           variable.value,
                                           for: .variable(serviceID: service.id, environmentID: environmentID, key: variable.key))
                                       : variable.value,
                                   sealed: variable.sealed,
                                   updatedAt: now).insert(db)
            }
            let volume = VolumeRecord(
                id: Identifier.make("vol"), serviceID: service.id, environmentID: environmentID,
                name: "\(name.lowercased())-volume", mountPath: kind.volumeMountPath, createdAt: now
            )
            try volume.insert(db)
            return (service, volume)
        }
    }

    /// Names are unique in a project ignoring case: they become hostnames.
    func insertService(_ service: ServiceRecord, _ db: Database) throws {
        if let existing = try ServiceRecord
            .filter(Column("project_id") == service.projectID && Column("name").collating(.nocase) == service.name)
            .fetchOne(db)
        {
            throw YardError(.conflict, "this project already has a service named '\(existing.name)'")
        }
        try service.insert(db)
    }

    public func services(projectID: String) throws -> [ServiceRecord] {
        try pool.read { db in try ServiceRecord.filter(Column("project_id") == projectID).order(Column("name")).fetchAll(db) }
    }

    public func service(id: String) throws -> ServiceRecord {
        guard let found = try pool.read({ db in try ServiceRecord.fetchOne(db, key: id) }) else {
            throw YardError(.notFound, "no service '\(id)'")
        }
        return found
    }

    /// A service of a project by id or by name, or nil.
    public func findService(projectID: String, _ idOrName: String) throws -> ServiceRecord? {
        try pool.read { db in
            try ServiceRecord
                .filter(Column("project_id") == projectID)
                .filter(Column("id") == idOrName || Column("name").collating(.nocase) == idOrName)
                .fetchOne(db)
        }
    }

    public func updateService(_ service: ServiceRecord) throws {
        try write { db in try service.update(db) }
    }

    // MARK: Deployments

    /// Inserts a new deployment and the first entry of its status history, together.
    public func insertDeployment(_ deployment: DeploymentRecord) throws {
        try write { db in
            try deployment.insert(db)
            try DeploymentEventRecord(
                id: nil,
                deploymentID: deployment.id,
                status: deployment.status,
                reason: deployment.reason,
                at: deployment.createdAt
            ).insert(db)
        }
    }

    /// Moves a deployment to `status`, checking the transition is allowed, and records it in
    /// the history in the same transaction. `change` may update other columns at once.
    @discardableResult
    public func transition(
        deploymentID: String,
        to status: DeploymentStatus,
        reason: String? = nil,
        change: @Sendable (inout DeploymentRecord) -> Void = { _ in }
    ) throws -> DeploymentRecord {
        try write { db in
            guard var deployment = try DeploymentRecord.fetchOne(db, key: deploymentID) else {
                throw YardError(.notFound, "no deployment '\(deploymentID)'")
            }
            if deployment.status != status {
                deployment.status = try deployment.status.transition(to: status)
            }
            let now = Date()
            deployment.reason = reason ?? (deployment.status == status ? deployment.reason : nil)
            deployment.updatedAt = now
            change(&deployment)
            try deployment.update(db)
            try DeploymentEventRecord(id: nil, deploymentID: deploymentID, status: status, reason: reason, at: now).insert(db)
            return deployment
        }
    }

    /// Updates columns other than the status.
    public func updateDeployment(id: String, change: @Sendable (inout DeploymentRecord) -> Void) throws {
        try write { db in
            guard var deployment = try DeploymentRecord.fetchOne(db, key: id) else { return }
            change(&deployment)
            deployment.updatedAt = Date()
            try deployment.update(db)
        }
    }

    public func deployment(id: String) throws -> DeploymentRecord {
        guard let found = try pool.read({ db in try DeploymentRecord.fetchOne(db, key: id) }) else {
            throw YardError(.notFound, "no deployment '\(id)'")
        }
        return found
    }

    /// A service's deployments in one environment, newest first.
    public func deployments(serviceID: String, environmentID: String, limit: Int = 50) throws -> [DeploymentRecord] {
        try pool.read { db in
            try DeploymentRecord
                .filter(Column("service_id") == serviceID && Column("environment_id") == environmentID)
                .order(Column("created_at").desc, Column("rowid").desc)
                .limit(limit)
                .fetchAll(db)
        }
    }

    public func deployments(withStatus statuses: [DeploymentStatus]) throws -> [DeploymentRecord] {
        try pool.read { db in
            try DeploymentRecord.filter(statuses.map(\.rawValue).contains(Column("status"))).order(Column("created_at")).fetchAll(db)
        }
    }

    public func events(deploymentID: String) throws -> [DeploymentEventRecord] {
        try pool.read { db in
            try DeploymentEventRecord.filter(Column("deployment_id") == deploymentID).order(Column("id")).fetchAll(db)
        }
    }

    // MARK: Variables

    /// A service's variables in an environment. Sealed values and build secrets are opened
    /// when `revealing` (to inject them); otherwise their `value` is the sealed form.
    public func variables(serviceID: String, environmentID: String, revealing: Bool = true) throws -> [VariableRecord] {
        try pool.read { db in
            try VariableRecord
                .filter(Column("service_id") == serviceID && Column("environment_id") == environmentID)
                .order(Column("key"))
                .fetchAll(db)
        }.map { try revealed($0, revealing: revealing) }
    }

    /// Sets and deletes variables in one transaction. Keys in `buildSecrets` are stored as
    /// build-only secrets, keys in `sealed` as sealed (never readable back, not copied to a
    /// new environment); other set keys as plain variables.
    public func changeVariables(
        serviceID: String, environmentID: String, set: [String: String], delete: [String], buildSecrets: Set<String> = [],
        sealed: Set<String> = []
    ) throws {
        try write { db in
            let now = Date()
            for (key, value) in set {
                // A sealed variable stays sealed when its value changes.
                let existing = try VariableRecord.fetchOne(
                    db, key: ["service_id": serviceID, "environment_id": environmentID, "key": key])
                let isSealed = sealed.contains(key) || (existing?.sealed ?? false)
                let isBuildSecret = buildSecrets.contains(key)
                try VariableRecord(
                    serviceID: serviceID,
                    environmentID: environmentID,
                    key: key,
                    value: Self.storesSealed(sealed: isSealed, buildSecret: isBuildSecret)
                        ? cipher.seal(value, for: .variable(serviceID: serviceID, environmentID: environmentID, key: key)) : value,
                    sealed: isSealed,
                    updatedAt: now,
                    buildSecret: isBuildSecret
                ).save(db)
            }
            for key in delete {
                _ = try VariableRecord.deleteOne(db, key: ["service_id": serviceID, "environment_id": environmentID, "key": key])
            }
        }
    }

    /// The environment's shared variables (`${{shared.KEY}}`), by key.
    /// Sealed values are opened when `revealing` (to inject them).
    public func sharedVariables(environmentID: String, revealing: Bool = true) throws -> [SharedVariableRecord] {
        try pool.read { db in
            try SharedVariableRecord.filter(Column("environment_id") == environmentID).order(Column("key")).fetchAll(db)
        }.map { record in
            guard revealing, record.sealed, SealedValueCipher.isSealed(record.value) else { return record }
            var clear = record
            clear.value = try cipher.open(record.value, for: .sharedVariable(environmentID: record.environmentID, key: record.key))
            return clear
        }
    }

    /// Sets and deletes shared variables of an environment in one transaction.
    public func changeSharedVariables(environmentID: String, set: [String: String], delete: [String]) throws {
        try write { db in
            let now = Date()
            for (key, value) in set {
                try SharedVariableRecord(environmentID: environmentID, key: key, value: value, updatedAt: now).save(db)
            }
            for key in delete {
                _ = try SharedVariableRecord.deleteOne(db, key: ["environment_id": environmentID, "key": key])
            }
        }
    }

    // MARK: Domains

    public func domains(serviceID: String, environmentID: String) throws -> [DomainRecord] {
        try pool.read { db in
            try DomainRecord
                .filter(Column("service_id") == serviceID && Column("environment_id") == environmentID)
                .order(Column("generated").desc, Column("hostname"), Column("path_prefix"))
                .fetchAll(db)
        }
    }

    public func allDomains() throws -> [DomainRecord] {
        try pool.read { db in try DomainRecord.fetchAll(db) }
    }

    /// Adds a domain (a hostname and path prefix); adding one the service already has sets
    /// its target port. The same hostname may go to other services under other path prefixes.
    public func addDomain(_ domain: DomainRecord) throws {
        try write { db in
            if var existing = try DomainRecord.fetchOne(db, key: ["hostname": domain.hostname, "path_prefix": domain.pathPrefix]) {
                if existing.serviceID == domain.serviceID && existing.environmentID == domain.environmentID {
                    // Adding it again changes its target port.
                    if existing.targetPort != domain.targetPort {
                        existing.targetPort = domain.targetPort
                        try existing.update(db)
                    }
                    return
                }
                throw YardError(.conflict, "the domain \(domain.hostname)\(domain.pathPrefix) is already routed to another service")
            }
            try domain.insert(db)
            try db.execute(
                sql: "DELETE FROM generated_domain_removed WHERE service_id = ? AND environment_id = ?",
                arguments: [domain.serviceID, domain.environmentID])
        }
    }

    /// Removes a domain. Removing the generated one is remembered: the service gets no new
    /// one at its next deploy there (a worker with no public domain).
    public func removeDomain(hostname: String, pathPrefix: String = "", serviceID: String) throws {
        try write { db in
            let request = DomainRecord
                .filter(Column("hostname") == hostname && Column("path_prefix") == pathPrefix && Column("service_id") == serviceID)
            for domain in try request.fetchAll(db) where domain.generated {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO generated_domain_removed (service_id, environment_id) VALUES (?, ?)",
                    arguments: [domain.serviceID, domain.environmentID])
            }
            _ = try request.deleteAll(db)
        }
    }

    /// Records that the service is to have no generated domain in the environment (removed
    /// before its first deploy).
    public func rememberGeneratedDomainRemoved(serviceID: String, environmentID: String) throws {
        try write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO generated_domain_removed (service_id, environment_id) VALUES (?, ?)",
                arguments: [serviceID, environmentID])
        }
    }

    /// Whether the service's generated domain in the environment was removed (and so is not made again).
    public func generatedDomainRemoved(serviceID: String, environmentID: String) throws -> Bool {
        try pool.read { db in
            try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM generated_domain_removed WHERE service_id = ? AND environment_id = ?",
                arguments: [serviceID, environmentID]) ?? 0 > 0
        }
    }

    // MARK: TCP proxies

    public func tcpProxies(serviceID: String, environmentID: String) throws -> [TCPProxyRecord] {
        try pool.read { db in
            try TCPProxyRecord
                .filter(Column("service_id") == serviceID && Column("environment_id") == environmentID)
                .order(Column("created_at"), Column("target_port"))
                .fetchAll(db)
        }
    }

    public func allTCPProxies() throws -> [TCPProxyRecord] {
        try pool.read { db in try TCPProxyRecord.order(Column("host_port")).fetchAll(db) }
    }

    /// Adds a TCP proxy; a service port has one host port, and a host port one service port.
    public func addTCPProxy(_ proxy: TCPProxyRecord) throws {
        try write { db in
            if let existing = try TCPProxyRecord.fetchOne(
                db, key: ["service_id": proxy.serviceID, "environment_id": proxy.environmentID, "target_port": proxy.targetPort])
            {
                throw YardError(.conflict, "port \(proxy.targetPort) of this service already has a TCP proxy (host port \(existing.hostPort))")
            }
            if try TCPProxyRecord.filter(Column("host_port") == proxy.hostPort).fetchCount(db) > 0 {
                throw YardError(.conflict, "host port \(proxy.hostPort) is already a TCP proxy")
            }
            try proxy.insert(db)
        }
    }

    /// Removes a service's TCP proxy of `targetPort`; returns whether there was one.
    @discardableResult
    public func removeTCPProxy(serviceID: String, environmentID: String, targetPort: Int) throws -> Bool {
        try write { db in
            try TCPProxyRecord.deleteOne(
                db, key: ["service_id": serviceID, "environment_id": environmentID, "target_port": targetPort])
        }
    }

    // MARK: Replicas

    public func saveReplica(_ replica: ReplicaRecord) throws {
        try write { db in try replica.save(db) }
    }

    public func updateReplica(id: String, change: @Sendable (inout ReplicaRecord) -> Void) throws {
        try write { db in
            guard var replica = try ReplicaRecord.fetchOne(db, key: id) else { return }
            change(&replica)
            replica.updatedAt = Date()
            try replica.update(db)
        }
    }

    public func replicas(deploymentID: String) throws -> [ReplicaRecord] {
        try pool.read { db in
            try ReplicaRecord.filter(Column("deployment_id") == deploymentID).order(Column("ordinal")).fetchAll(db)
        }
    }

    // MARK: Cron runs

    public func saveCronRun(_ run: CronRunRecord) throws {
        try write { db in try run.save(db) }
    }

    /// A service's cron runs, newest first.
    public func cronRuns(serviceID: String, environmentID: String, limit: Int = 50) throws -> [CronRunRecord] {
        try pool.read { db in
            try CronRunRecord
                .filter(Column("service_id") == serviceID && Column("environment_id") == environmentID)
                .order(Column("scheduled_at").desc, Column("id").desc)
                .limit(limit)
                .fetchAll(db)
        }
    }

    /// Runs a stopped `yard serve` left RUNNING end INTERRUPTED; returns how many.
    @discardableResult
    public func interruptRunningCronRuns(reason: String) throws -> Int {
        try write { db in
            try db.execute(
                sql: "UPDATE cron_run SET status = ?, reason = ?, ended_at = ? WHERE status = ?",
                arguments: [CronRunStatus.interrupted.rawValue, reason, Date(), CronRunStatus.running.rawValue])
            return db.changesCount
        }
    }

    // MARK: Networks and volumes

    /// The subnet index of an environment's private network, allocated (lowest free, from 1)
    /// and persisted on first use.
    public func subnetIndex(environmentID: String) throws -> Int {
        try write { db in
            if let index = try Int.fetchOne(db, sql: "SELECT subnet_index FROM environment_network WHERE environment_id = ?", arguments: [environmentID]) {
                return index
            }
            let used = Set(try Int.fetchAll(db, sql: "SELECT subnet_index FROM environment_network"))
            guard let index = (1...250).first(where: { !used.contains($0) }) else {
                throw YardError(.unavailable, "every private network range is in use (250 environments); delete an environment")
            }
            try db.execute(sql: "INSERT INTO environment_network (environment_id, subnet_index) VALUES (?, ?)", arguments: [environmentID, index])
            return index
        }
    }

    public func volume(serviceID: String, environmentID: String) throws -> VolumeRecord? {
        try pool.read { db in
            try VolumeRecord.filter(Column("service_id") == serviceID && Column("environment_id") == environmentID).fetchOne(db)
        }
    }

    /// Adds the service's one volume in this environment.
    public func addVolume(_ volume: VolumeRecord) throws {
        try write { db in
            if let existing = try VolumeRecord
                .filter(Column("service_id") == volume.serviceID && Column("environment_id") == volume.environmentID)
                .fetchOne(db)
            {
                throw YardError(.conflict, "this service already has a volume (\(existing.name) at \(existing.mountPath)); a service has one volume")
            }
            try volume.insert(db)
        }
    }

    /// Applies a settings change (`yard scale`): only the fields it sets.
    public func changeSettings(serviceID: String, change: ServiceSettingsChange) throws -> ServiceRecord {
        try write { db in
            guard var service = try ServiceRecord.fetchOne(db, key: serviceID) else {
                throw YardError(.notFound, "no service '\(serviceID)'")
            }
            var limits = service.resourceLimits
            if let memory = change.memoryBytes {
                guard memory == 0 || memory >= 16 << 20 else {
                    throw YardError(.invalidInput, "a memory limit below 16 MiB cannot run a process; use 0 to remove the limit")
                }
                limits.memoryBytes = memory == 0 ? nil : memory
            }
            if let cpus = change.cpus {
                guard cpus >= 0 else { throw YardError(.invalidInput, "--cpu must be positive, or 0 to remove the limit") }
                limits.cpus = cpus == 0 ? nil : cpus
            }
            if let processes = change.maxProcesses {
                guard processes >= 0 else { throw YardError(.invalidInput, "--max-processes must be positive, or 0 to remove the limit") }
                limits.maxProcesses = processes == 0 ? nil : processes
            }
            service.resourceLimits = limits
            if let egress = change.egress { service.egress = egress }
            if let root = change.rootDirectory {
                service.rootDirectory = try ServiceSettingsChange.normalizedRoot(root)
            }
            if let sleep = change.sleepApplication { service.sleepApplication = sleep.value }
            try service.update(db)
            return service
        }
    }

    // MARK: Artifacts

    /// The artifact keys to keep: those of each service's newest `perService` deployments
    /// that built one, and of every deployment that is running or not finished yet; and
    /// those deployments' ids (for artifacts not stored by key).
    public func retainedArtifacts(perService: Int) throws -> (keys: Set<String>, deployments: Set<String>) {
        try pool.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, artifact_key FROM (
                        SELECT id, artifact_key, status,
                               ROW_NUMBER() OVER (PARTITION BY service_id ORDER BY created_at DESC) AS newest
                        FROM deployment WHERE artifact_key IS NOT NULL
                    )
                    WHERE newest <= ? OR status NOT IN ('FAILED', 'REMOVED', 'SKIPPED')
                    """,
                arguments: [perService]
            )
            var keys = Set<String>()
            var deployments = Set<String>()
            for row in rows {
                deployments.insert(row["id"])
                if let key: String = row["artifact_key"] { keys.insert(key) }
            }
            return (keys, deployments)
        }
    }

    // MARK: API tokens

    public func insertToken(_ token: APITokenRecord) throws {
        try write { db in try token.insert(db) }
    }

    public func tokenCount() throws -> Int {
        try pool.read { db in try APITokenRecord.fetchCount(db) }
    }

    public func token(hash: String) throws -> APITokenRecord? {
        try pool.read { db in try APITokenRecord.filter(Column("token_hash") == hash).fetchOne(db) }
    }

    /// Links the service in this environment to a branch (nil unlinks it).
    public func linkBranch(serviceID: String, environmentID: String, branch: String?) throws {
        try write { db in
            _ = try ServiceBranchRecord
                .filter(Column("service_id") == serviceID && Column("environment_id") == environmentID)
                .deleteAll(db)
            if let branch {
                try ServiceBranchRecord(serviceID: serviceID, environmentID: environmentID, branch: branch, createdAt: Date()).insert(db)
            }
        }
    }

    public func linkedBranch(serviceID: String, environmentID: String) throws -> String? {
        try pool.read { db in
            try ServiceBranchRecord
                .filter(Column("service_id") == serviceID && Column("environment_id") == environmentID)
                .fetchOne(db)?.branch
        }
    }

    /// The services of a project linked to a branch, with the environment of each link.
    public func branchLinks(projectID: String, branch: String) throws -> [ServiceBranchRecord] {
        try pool.read { db in
            try ServiceBranchRecord.fetchAll(
                db,
                sql: """
                    SELECT service_branch.* FROM service_branch JOIN service ON service.id = service_branch.service_id
                    WHERE service.project_id = ? AND service_branch.branch = ?
                    ORDER BY service.name, service_branch.environment_id
                    """,
                arguments: [projectID, branch])
        }
    }

    /// Runs a write transaction, passing YardErrors through unchanged.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.write { db in try body(db) }
        } catch let error as YardError {
            throw error
        }
    }
}
