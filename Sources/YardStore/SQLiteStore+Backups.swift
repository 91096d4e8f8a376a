import Foundation
import GRDB
import YardCore

/// One backup of a database service (`yard backup create`, or its schedule).
public struct BackupRecord: StoredRecord, Sendable, Equatable {
    public static let databaseTableName = "backup"
    public var id: String
    public var serviceID: String
    public var environmentID: String
    /// `manual` or `scheduled`.
    public var trigger: String
    public var status: BackupStatus
    /// The logical dump (postgres custom format) or the RDB snapshot (redis).
    public var path: String?
    /// The base backup for point-in-time recovery (postgres), a gzipped tar of the cluster.
    public var basePath: String?
    public var sizeBytes: Int64?
    /// Tables in the dump (postgres) or keys in the snapshot (redis).
    public var objects: Int?
    public var startedAt: Date
    public var finishedAt: Date?
    public var reason: String?
    public var checkStatus: BackupCheckStatus?
    public var checkReason: String?

    public init(
        id: String, serviceID: String, environmentID: String, trigger: String, status: BackupStatus, startedAt: Date,
        path: String? = nil, basePath: String? = nil, sizeBytes: Int64? = nil, objects: Int? = nil, finishedAt: Date? = nil,
        reason: String? = nil, checkStatus: BackupCheckStatus? = nil, checkReason: String? = nil
    ) {
        self.id = id
        self.serviceID = serviceID
        self.environmentID = environmentID
        self.trigger = trigger
        self.status = status
        self.path = path
        self.basePath = basePath
        self.sizeBytes = sizeBytes
        self.objects = objects
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.reason = reason
        self.checkStatus = checkStatus
        self.checkReason = checkReason
    }

    enum CodingKeys: String, CodingKey {
        case id, trigger, status, path, objects, reason
        case serviceID = "service_id"
        case environmentID = "environment_id"
        case basePath = "base_path"
        case sizeBytes = "size_bytes"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case checkStatus = "check_status"
        case checkReason = "check_reason"
    }
}

/// A database service's backup schedule in one environment.
public struct BackupScheduleRecord: StoredRecord, Sendable, Equatable {
    public static let databaseTableName = "backup_schedule"
    public static let keyColumns = ["service_id", "environment_id"]
    public var serviceID: String
    public var environmentID: String
    public var frequency: BackupFrequency
    public var keep: Int
    public var updatedAt: Date

    public init(serviceID: String, environmentID: String, frequency: BackupFrequency, keep: Int, updatedAt: Date) {
        self.serviceID = serviceID
        self.environmentID = environmentID
        self.frequency = frequency
        self.keep = keep
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case frequency, keep
        case serviceID = "service_id"
        case environmentID = "environment_id"
        case updatedAt = "updated_at"
    }
}

extension SQLiteStore {
    public func saveBackup(_ backup: BackupRecord) throws {
        try write { db in try backup.save(db) }
    }

    public func backup(id: String) throws -> BackupRecord {
        guard let found = try pool.read({ db in try BackupRecord.fetchOne(db, key: id) }) else {
            throw YardError(.notFound, "no backup '\(id)': `yard backup list` shows them")
        }
        return found
    }

    /// A service's backups, newest first.
    public func backups(serviceID: String, environmentID: String) throws -> [BackupRecord] {
        try pool.read { db in
            try BackupRecord
                .filter(Column("service_id") == serviceID && Column("environment_id") == environmentID)
                .order(Column("started_at").desc, Column("id").desc)
                .fetchAll(db)
        }
    }

    public func deleteBackup(id: String) throws {
        try write { db in _ = try BackupRecord.deleteOne(db, key: id) }
    }

    /// Backups a stopped `yard serve` left RUNNING end FAILED, checks end FAILED too.
    public func interruptRunningBackups(reason: String) throws {
        try write { db in
            try db.execute(
                sql: "UPDATE backup SET status = ?, reason = ?, finished_at = ? WHERE status = ?",
                arguments: [BackupStatus.failed.rawValue, reason, Date(), BackupStatus.running.rawValue])
            try db.execute(
                sql: "UPDATE backup SET check_status = ?, check_reason = ? WHERE check_status = ?",
                arguments: [BackupCheckStatus.failed.rawValue, reason, BackupCheckStatus.running.rawValue])
        }
    }

    public func backupSchedules() throws -> [BackupScheduleRecord] {
        try pool.read { db in try BackupScheduleRecord.fetchAll(db) }
    }

    public func backupSchedule(serviceID: String, environmentID: String) throws -> BackupScheduleRecord? {
        try pool.read { db in
            try BackupScheduleRecord.filter(Column("service_id") == serviceID && Column("environment_id") == environmentID).fetchOne(db)
        }
    }

    /// Sets the schedule, or removes it with nil.
    public func setBackupSchedule(_ schedule: BackupScheduleRecord?, serviceID: String, environmentID: String) throws {
        try write { db in
            try db.execute(
                sql: "DELETE FROM backup_schedule WHERE service_id = ? AND environment_id = ?",
                arguments: [serviceID, environmentID])
            try schedule?.insert(db)
        }
    }
}
