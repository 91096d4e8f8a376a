import Foundation
import Testing
import YardCore

@Suite("cron schedules")
struct CronScheduleTests {
    /// A UTC instant from "yyyy-MM-dd HH:mm".
    static func utc(_ text: String) -> Date {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        return formatter.date(from: text)!
    }

    @Test(arguments: [
        // expression, after, next
        ("* * * * *", "2026-11-23 10:00", "2026-11-23 10:01"),
        ("*/15 * * * *", "2026-11-23 10:01", "2026-11-23 10:15"),
        ("*/15 * * * *", "2026-11-23 10:45", "2026-11-23 11:00"),
        ("0 3 * * 1", "2026-11-23 03:00", "2026-11-30 03:00"),  // 23 November 2026 is a Monday
        ("30 4 1 * *", "2026-11-23 00:00", "2026-12-01 04:30"),
        ("0 0 29 2 *", "2026-03-01 00:00", "2028-02-29 00:00"),
        ("0 12 * JAN,jul SUN", "2026-11-23 00:00", "2027-01-03 12:00"),
        ("5-10/5 9-17 * * MON-FRI", "2026-11-27 17:10", "2026-11-30 09:05"),  // Friday evening → Monday
        ("0 0 * * 7", "2026-11-23 00:00", "2026-11-29 00:00"),  // 7 is Sunday
        ("0 0 13 * 5", "2026-11-23 00:00", "2026-11-27 00:00"),  // either day field: Friday the 27th first
        ("@daily", "2026-11-23 10:00", "2026-11-24 00:00"),
        ("@hourly", "2026-11-23 10:59", "2026-11-23 11:00"),
        ("15/20 * * * *", "2026-11-23 10:36", "2026-11-23 10:55"),
    ])
    func nextRun(expression: String, after: String, next: String) throws {
        let schedule = try CronSchedule(expression)
        #expect(schedule.next(after: Self.utc(after)) == Self.utc(next))
        #expect(schedule.matches(Self.utc(next)))
    }

    @Test("a moment within a matching minute is not its own next run")
    func strictlyAfter() throws {
        let schedule = try CronSchedule("* * * * *")
        let within = Self.utc("2026-11-23 10:00").addingTimeInterval(30)
        #expect(schedule.next(after: within) == Self.utc("2026-11-23 10:01"))
        #expect(!(try CronSchedule("0 * * * *")).matches(Self.utc("2026-11-23 10:01")))
    }

    @Test("a date that never comes has no next run")
    func impossibleDate() throws {
        #expect(try CronSchedule("0 0 30 2 *").next(after: Self.utc("2026-01-01 00:00")) == nil)
    }

    @Test(arguments: [
        ("* * * *", "must have 5 fields"),
        ("60 * * * *", "the minute field '60' has 60, outside 0-59"),
        ("* 24 * * *", "the hour field '24' has 24, outside 0-23"),
        ("* * 0 * *", "the day of month field '0' has 0, outside 1-31"),
        ("* * * FOO *", "the month field 'FOO' has 'FOO', which is not a number or a name such as JAN"),
        ("*/0 * * * *", "has a step '0' that is not a positive number"),
        ("10-5 * * * *", "has a range 10-5 that runs backwards"),
        ("1,,2 * * * *", "has an empty list item"),
    ])
    func invalidExpressions(expression: String, message: String) {
        let error = #expect(throws: YardError.self) { try CronSchedule(expression) }
        #expect(error?.code == .invalidConfig)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(expression.trimmingCharacters(in: .whitespaces)) == true)
    }
}
