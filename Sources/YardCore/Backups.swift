import Foundation

/// How often `yard backup schedule` backs a database service up. Due times are midnight
/// UTC: every day, every Sunday, the first of every month.
public enum BackupFrequency: String, Codable, Sendable, CaseIterable {
    case daily
    case weekly
    case monthly

    /// Parses `yard backup schedule`'s argument.
    public init(argument: String) throws(YardError) {
        guard let frequency = BackupFrequency(rawValue: argument.lowercased()) else {
            throw YardError(.invalidInput, "'\(argument)' is not a backup schedule: use daily, weekly, monthly or off")
        }
        self = frequency
    }

    /// The first due time strictly after `date`.
    public func next(after date: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let midnight = calendar.startOfDay(for: date)
        switch self {
        case .daily:
            return calendar.date(byAdding: .day, value: 1, to: midnight)!
        case .weekly:
            // Sunday is weekday 1.
            let weekday = calendar.component(.weekday, from: midnight)
            return calendar.date(byAdding: .day, value: 8 - weekday, to: midnight)!
        case .monthly:
            let first = calendar.date(from: calendar.dateComponents([.year, .month], from: midnight))!
            return calendar.date(byAdding: .month, value: 1, to: first)!
        }
    }
}

public enum BackupStatus: String, Codable, Sendable {
    case running = "RUNNING"
    case succeeded = "SUCCEEDED"
    case failed = "FAILED"
}

/// The test restore of a backup into a throwaway server.
public enum BackupCheckStatus: String, Codable, Sendable {
    case running = "RUNNING"
    case passed = "PASSED"
    case failed = "FAILED"
}

/// One backup of a database service.
public struct BackupView: Codable, Sendable, Hashable {
    public var id: String
    public var service: String
    /// `manual` (`yard backup create`) or `scheduled`.
    public var trigger: String
    public var status: BackupStatus
    public var startedAt: Date
    public var finishedAt: Date?
    /// Bytes on disk: the dump plus, for postgres, the base backup for point-in-time recovery.
    public var sizeBytes: Int64?
    /// Tables in the dump (postgres) or keys in the snapshot (redis).
    public var objects: Int?
    /// Whether it can be the start of a `--to` restore.
    public var pointInTime: Bool
    public var reason: String?
    public var check: BackupCheckStatus?
    public var checkReason: String?

    public init(
        id: String, service: String, trigger: String, status: BackupStatus, startedAt: Date, finishedAt: Date?, sizeBytes: Int64?,
        objects: Int?, pointInTime: Bool, reason: String?, check: BackupCheckStatus?, checkReason: String?
    ) {
        self.id = id
        self.service = service
        self.trigger = trigger
        self.status = status
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.sizeBytes = sizeBytes
        self.objects = objects
        self.pointInTime = pointInTime
        self.reason = reason
        self.check = check
        self.checkReason = checkReason
    }

    /// What went wrong with it, if anything: a failed backup or a failed restore check.
    public var problem: String? {
        if status == .failed { return "backup FAILED at \(Self.time(finishedAt ?? startedAt)): \(reason ?? "no reason recorded")" }
        if check == .failed {
            return "restore check of \(id) FAILED at \(Self.time(finishedAt ?? startedAt)): \(checkReason ?? "no reason recorded")"
        }
        return nil
    }

    static func time(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}

/// A database service's backup schedule, and its backups newest first.
public struct BackupListView: Codable, Sendable, Hashable {
    public var schedule: BackupScheduleView?
    public var backups: [BackupView]

    public init(schedule: BackupScheduleView?, backups: [BackupView]) {
        self.schedule = schedule
        self.backups = backups
    }
}

public struct BackupScheduleView: Codable, Sendable, Hashable {
    public var frequency: BackupFrequency
    /// Scheduled backups kept; older ones are deleted. Manual backups are kept until removed.
    public var keep: Int
    public var nextAt: Date?

    public init(frequency: BackupFrequency, keep: Int, nextAt: Date?) {
        self.frequency = frequency
        self.keep = keep
        self.nextAt = nextAt
    }
}

/// `PUT …/backup-schedule`: nil frequency turns it off.
public struct BackupScheduleRequest: Codable, Sendable, Hashable {
    public var frequency: BackupFrequency?
    public var keep: Int?

    public init(frequency: BackupFrequency?, keep: Int?) {
        self.frequency = frequency
        self.keep = keep
    }
}

/// `POST …/backups/restore`.
public struct BackupRestoreRequest: Codable, Sendable, Hashable {
    /// The backup to restore; nil: the newest succeeded one (or, with `to`, the newest before it).
    public var backup: String?
    /// Point-in-time recovery: replay the write-ahead log up to this moment.
    public var to: Date?
    /// Restore into a new database service of this name instead of the service itself.
    public var into: String?

    public init(backup: String?, to: Date?, into: String?) {
        self.backup = backup
        self.to = to
        self.into = into
    }
}

public struct BackupRestoreView: Codable, Sendable, Hashable {
    public var backup: String
    /// The service the data went into.
    public var service: String
    public var pointInTime: Date?
    public var message: String

    public init(backup: String, service: String, pointInTime: Date?, message: String) {
        self.backup = backup
        self.service = service
        self.pointInTime = pointInTime
        self.message = message
    }
}
