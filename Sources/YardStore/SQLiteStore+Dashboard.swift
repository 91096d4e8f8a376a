import Foundation
import GRDB
import YardCore

/// Whole-environment reads for the dashboard's canvas: a handful of queries for every
/// service at once, where the per-service API operations would ask once per service.
extension SQLiteStore {
    /// Every service's variables in an environment, values as stored (sealed values and
    /// build secrets stay in their sealed form: never opened here).
    public func variables(environmentID: String) throws -> [VariableRecord] {
        try pool.read { db in
            try VariableRecord.filter(Column("environment_id") == environmentID).order(Column("service_id"), Column("key")).fetchAll(db)
        }
    }

    /// Each service's newest deployment in an environment (the order `deployments(serviceID:…)` uses).
    public func latestDeployments(environmentID: String) throws -> [DeploymentRecord] {
        try pool.read { db in
            try DeploymentRecord.fetchAll(
                db,
                sql: """
                    SELECT * FROM (
                        SELECT deployment.*, ROW_NUMBER() OVER (
                            PARTITION BY service_id ORDER BY created_at DESC, rowid DESC) AS newest
                        FROM deployment WHERE environment_id = ?)
                    WHERE newest = 1
                    """,
                arguments: [environmentID])
        }
    }

    public func deployments(ids: [String]) throws -> [DeploymentRecord] {
        guard !ids.isEmpty else { return [] }
        return try pool.read { db in try DeploymentRecord.filter(ids.contains(Column("id"))).fetchAll(db) }
    }

    /// The status histories of several deployments, each in order.
    public func events(deploymentIDs: [String]) throws -> [DeploymentEventRecord] {
        guard !deploymentIDs.isEmpty else { return [] }
        return try pool.read { db in
            try DeploymentEventRecord.filter(deploymentIDs.contains(Column("deployment_id"))).order(Column("id")).fetchAll(db)
        }
    }

    /// The replicas of several deployments, each one's in order.
    public func replicas(deploymentIDs: [String]) throws -> [ReplicaRecord] {
        guard !deploymentIDs.isEmpty else { return [] }
        return try pool.read { db in
            try ReplicaRecord.filter(deploymentIDs.contains(Column("deployment_id"))).order(Column("ordinal")).fetchAll(db)
        }
    }

    /// How many replicas of each deployment run (deployments with none are left out).
    public func runningReplicaCounts(deploymentIDs: [String]) throws -> [String: Int] {
        guard !deploymentIDs.isEmpty else { return [:] }
        return try pool.read { db in
            let marks = Array(repeating: "?", count: deploymentIDs.count).joined(separator: ",")
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(
                db,
                sql: "SELECT deployment_id, COUNT(*) FROM replica WHERE status = ? AND deployment_id IN (\(marks)) GROUP BY deployment_id",
                arguments: StatementArguments([ReplicaStatus.running.rawValue] + deploymentIDs))
            {
                counts[row[0]] = row[1]
            }
            return counts
        }
    }

    /// Every domain of an environment, each service's in the order `domains(serviceID:…)` uses.
    public func domains(environmentID: String) throws -> [DomainRecord] {
        try pool.read { db in
            try DomainRecord
                .filter(Column("environment_id") == environmentID)
                .order(Column("service_id"), Column("generated").desc, Column("hostname"), Column("path_prefix"))
                .fetchAll(db)
        }
    }
}
