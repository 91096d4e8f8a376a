import Foundation
import Testing
import YardCore
import YardStore

@testable import YardControl

/// The platform as the backup scheduler sees it: schedules, a busy flag per service, and
/// backups that "run" by adding a record; retention is the real `BackupRetention`.
actor FakeBackupHost: BackupHost {
    var schedules: [BackupScheduleRecord] = []
    var busy: Set<Orchestrator.ServiceKey> = []
    var backups: [BackupRecord] = []
    var taken: [Date] = []
    let clock: ManualClock

    init(clock: ManualClock) {
        self.clock = clock
    }

    func setSchedules(_ schedules: [BackupScheduleRecord]) { self.schedules = schedules }
    func setBusy(_ key: Orchestrator.ServiceKey, _ isBusy: Bool) {
        if isBusy { busy.insert(key) } else { busy.remove(key) }
    }

    func backupSchedules() -> [BackupScheduleRecord]? { schedules }

    func isBackingUp(_ key: Orchestrator.ServiceKey) -> Bool { busy.contains(key) }

    func runScheduledBackup(_ key: Orchestrator.ServiceKey, keep: Int) {
        let now = clock.now
        taken.append(now)
        backups.insert(
            BackupRecord(
                id: "bak_\(taken.count)", serviceID: key.serviceID, environmentID: key.environmentID, trigger: "scheduled",
                status: .succeeded, startedAt: now),
            at: 0)
        let expired = Set(BackupRetention.expired(backups, keep: keep).map(\.id))
        backups.removeAll { expired.contains($0.id) }
    }
}

@Suite("backup scheduler on a manual clock")
struct BackupSchedulerTests {
    let key = Orchestrator.ServiceKey(serviceID: "svc_db", environmentID: "env_production")

    func schedule(_ frequency: BackupFrequency, keep: Int = 7, updatedAt: Date) -> BackupScheduleRecord {
        BackupScheduleRecord(
            serviceID: key.serviceID, environmentID: key.environmentID, frequency: frequency, keep: keep, updatedAt: updatedAt)
    }

    func withScheduler(clock: ManualClock, host: FakeBackupHost, _ body: (BackupScheduler) async throws -> Void) async throws {
        let scheduler = BackupScheduler(clock: clock, pollInterval: .milliseconds(250))
        let loop = Task { await scheduler.run(host: host) }
        defer { loop.cancel() }
        try await clock.waitForSleepers()
        try await body(scheduler)
        loop.cancel()
        await loop.value
    }

    func advance(_ clock: ManualClock, by duration: Duration) async throws {
        clock.advance(by: duration)
        try await clock.waitForSleepers()
    }

    @Test("a daily schedule backs up exactly at midnight UTC, not a poll earlier")
    func firesAtMidnight() async throws {
        let clock = ManualClock(hour: 23, minute: 59, second: 59.5)
        let host = FakeBackupHost(clock: clock)
        let daily = schedule(.daily, updatedAt: clock.now)
        await host.setSchedules([daily])
        try await withScheduler(clock: clock, host: host) { scheduler in
            try await advance(clock, by: .milliseconds(250))
            #expect(await scheduler.nextDue(for: daily) == ManualClock.date(day: 6, hour: 0, minute: 0))
            #expect(await host.taken.isEmpty)
            try await advance(clock, by: .milliseconds(250))
            #expect(await host.taken == [ManualClock.date(day: 6, hour: 0, minute: 0)])
            #expect(await scheduler.nextDue(for: daily) == ManualClock.date(day: 7, hour: 0, minute: 0))
        }
    }

    @Test("due times missed while the server was down or busy are not caught up")
    func missedDueTimes() async throws {
        let clock = ManualClock(hour: 12, minute: 0)
        let host = FakeBackupHost(clock: clock)
        await host.setSchedules([schedule(.daily, updatedAt: clock.now)])
        try await withScheduler(clock: clock, host: host) { _ in
            try await advance(clock, by: .milliseconds(250))
            // Three days pass in one step: one backup, not three.
            try await advance(clock, by: .seconds(3 * 86_400))
            #expect(await host.taken.count == 1)
            // Busy at the next midnight (a manual backup runs): waits, then backs up once.
            await host.setBusy(key, true)
            try await advance(clock, by: .seconds(12 * 3600))
            try await advance(clock, by: .seconds(60))
            #expect(await host.taken.count == 1)
            await host.setBusy(key, false)
            try await advance(clock, by: .milliseconds(250))
            #expect(await host.taken.count == 2)
            try await advance(clock, by: .seconds(3600))
            #expect(await host.taken.count == 2)
        }
        // A restarted server counts from its start: nothing for the days it was down.
        clock.advance(by: .seconds(5 * 86_400))
        let restarted = FakeBackupHost(clock: clock)
        await restarted.setSchedules([schedule(.daily, updatedAt: ManualClock.date(hour: 12, minute: 0))])
        try await withScheduler(clock: clock, host: restarted) { _ in
            try await advance(clock, by: .milliseconds(250))
            #expect(await restarted.taken.isEmpty)
        }
    }

    @Test("a changed schedule counts afresh; a removed one is forgotten")
    func changedSchedule() async throws {
        let clock = ManualClock(hour: 12, minute: 0)
        let host = FakeBackupHost(clock: clock)
        let daily = schedule(.daily, updatedAt: clock.now)
        await host.setSchedules([daily])
        try await withScheduler(clock: clock, host: host) { scheduler in
            try await advance(clock, by: .milliseconds(250))
            #expect(await scheduler.nextDue(for: daily) == ManualClock.date(day: 6, hour: 0, minute: 0))
            // 2026-12-05 is a Saturday: weekly is due on Sunday the 6th too, monthly on January 1st.
            let monthly = schedule(.monthly, updatedAt: clock.now.addingTimeInterval(1))
            await host.setSchedules([monthly])
            try await advance(clock, by: .milliseconds(250))
            #expect(await scheduler.nextDue(for: daily) == nil)
            let newYear = DateComponents(calendar: Calendar(identifier: .gregorian), timeZone: TimeZone(identifier: "UTC"), year: 2027, month: 1, day: 1).date
            #expect(await scheduler.nextDue(for: monthly) == newYear)
            try await advance(clock, by: .seconds(86_400))
            #expect(await host.taken.isEmpty, "the daily due time went with its schedule")
            await host.setSchedules([])
            try await advance(clock, by: .milliseconds(250))
            #expect(await scheduler.nextDue(for: monthly) == nil)
        }
    }

    @Test("retention keeps the newest scheduled backups and prunes the oldest")
    func retentionPrunesOldest() async throws {
        let clock = ManualClock(hour: 23, minute: 59, second: 59.75)
        let host = FakeBackupHost(clock: clock)
        await host.setSchedules([schedule(.daily, keep: 2, updatedAt: clock.now)])
        try await withScheduler(clock: clock, host: host) { _ in
            try await advance(clock, by: .milliseconds(250))
            for _ in 0..<4 {
                try await advance(clock, by: .milliseconds(250))
                try await advance(clock, by: .seconds(86_400) - .milliseconds(250))
            }
            #expect(await host.taken.count == 4)
            #expect(await host.backups.map(\.id) == ["bak_4", "bak_3"])
        }
    }
}
