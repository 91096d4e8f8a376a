import Foundation
import YardCore
import YardStore

/// What the backup scheduler needs from the platform. The orchestrator implements it;
/// unit tests fake it.
protocol BackupHost: Sendable {
    /// Every backup schedule; nil when they cannot be read right now.
    func backupSchedules() async -> [BackupScheduleRecord]?
    /// Whether a backup or restore of the service is under way.
    func isBackingUp(_ key: Orchestrator.ServiceKey) async -> Bool
    /// Backs the service up (trigger "scheduled"), then deletes the scheduled backups
    /// beyond the newest `keep`.
    func runScheduledBackup(_ key: Orchestrator.ServiceKey, keep: Int) async
}

/// Backs database services up on their schedules. Due times are read on `clock`; a due
/// time missed while the server was down or busy is not caught up: the next is after now.
/// A changed schedule (a new `updatedAt`) starts counting afresh.
actor BackupScheduler {
    private let clock: any YardClock
    private let pollInterval: Duration
    /// The next due time per service, for the schedule row it was computed from.
    private var next: [Orchestrator.ServiceKey: (updatedAt: Date, at: Date)] = [:]

    init(clock: any YardClock, pollInterval: Duration = .milliseconds(250)) {
        self.clock = clock
        self.pollInterval = pollInterval
    }

    /// Looks every `pollInterval` (of the clock) until cancelled.
    func run(host: any BackupHost) async {
        await clock.repeating(every: pollInterval) { await tick(host: host) }
    }

    /// One look at every schedule: runs the backups that are due, one after another.
    func tick(host: any BackupHost) async {
        let now = clock.now
        guard let schedules = await host.backupSchedules() else { return }
        let scheduled = Set(schedules.map { Orchestrator.ServiceKey(serviceID: $0.serviceID, environmentID: $0.environmentID) })
        for key in next.keys where !scheduled.contains(key) { next[key] = nil }
        for schedule in schedules {
            let key = Orchestrator.ServiceKey(serviceID: schedule.serviceID, environmentID: schedule.environmentID)
            guard let due = next[key], due.updatedAt == schedule.updatedAt else {
                next[key] = (schedule.updatedAt, schedule.frequency.next(after: now))
                continue
            }
            guard now >= due.at, await !host.isBackingUp(key) else { continue }
            next[key] = (schedule.updatedAt, schedule.frequency.next(after: now))
            await host.runScheduledBackup(key, keep: schedule.keep)
        }
    }

    /// When `schedule`'s next backup is due, if the scheduler has counted it yet.
    func nextDue(for schedule: BackupScheduleRecord) -> Date? {
        let key = Orchestrator.ServiceKey(serviceID: schedule.serviceID, environmentID: schedule.environmentID)
        guard let due = next[key], due.updatedAt == schedule.updatedAt else { return nil }
        return due.at
    }

    /// Forgets the service's due time (its schedule changed or went away).
    func forget(_ key: Orchestrator.ServiceKey) {
        next[key] = nil
    }
}
