import Foundation
import Testing
import YardCore

@Suite("backup schedules")
struct BackupFrequencyTests {
    static func date(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        return formatter.date(from: text)!
    }

    @Test("daily, weekly and monthly fall due at 00:00 UTC, strictly after the given time")
    func dueTimes() {
        let wednesday = Self.date("2026-11-25T10:30:00Z")
        #expect(BackupFrequency.daily.next(after: wednesday) == Self.date("2026-11-26T00:00:00Z"))
        #expect(BackupFrequency.weekly.next(after: wednesday) == Self.date("2026-11-29T00:00:00Z"))
        #expect(BackupFrequency.monthly.next(after: wednesday) == Self.date("2026-12-01T00:00:00Z"))
        // At a due time, the next one is a whole period later.
        let midnight = Self.date("2026-11-29T00:00:00Z")
        #expect(BackupFrequency.daily.next(after: midnight) == Self.date("2026-11-30T00:00:00Z"))
        #expect(BackupFrequency.weekly.next(after: midnight) == Self.date("2026-12-06T00:00:00Z"))
        #expect(BackupFrequency.monthly.next(after: Self.date("2026-12-31T23:59:59Z")) == Self.date("2027-01-01T00:00:00Z"))
    }

    @Test("the argument is parsed, and a wrong one names the choices")
    func arguments() throws {
        #expect(try BackupFrequency(argument: "Weekly") == .weekly)
        #expect(throws: YardError.self) { try BackupFrequency(argument: "hourly") }
        do {
            _ = try BackupFrequency(argument: "hourly")
        } catch {
            #expect(error.message.contains("daily, weekly, monthly or off"))
        }
    }

    @Test("a failed backup or a failed restore check is a problem; a passed one is not")
    func problems() {
        let start = Self.date("2026-11-25T10:30:00Z")
        var backup = BackupView(
            id: "bak_1", service: "Postgres", trigger: "scheduled", status: .succeeded, startedAt: start,
            finishedAt: start, sizeBytes: 10, objects: 1, pointInTime: true, reason: nil, check: .passed,
            checkReason: "1 tables restored")
        #expect(backup.problem == nil)
        backup.check = .failed
        backup.checkReason = "pg_restore failed"
        #expect(backup.problem == "restore check of bak_1 FAILED at 2026-11-25T10:30:00Z: pg_restore failed")
        backup.status = .failed
        backup.reason = "Postgres is not running"
        #expect(backup.problem == "backup FAILED at 2026-11-25T10:30:00Z: Postgres is not running")
    }
}
