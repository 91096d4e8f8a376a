import Foundation

/// A 5-field crontab expression (minute hour day-of-month month day-of-week), read in UTC
/// as Railway reads `cronSchedule`.
///
/// Fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, and comma lists;
/// months `JAN`–`DEC` and days `SUN`–`SAT` by name; day-of-week 7 is Sunday too. As in
/// cron, when both day fields are restricted a day matching either one runs.
/// `@hourly`, `@daily` (`@midnight`), `@weekly`, `@monthly` and `@yearly` (`@annually`)
/// stand for their usual expressions.
public struct CronSchedule: Sendable, Equatable, CustomStringConvertible {
    public let expression: String
    let minutes: [Int]
    let hours: [Int]
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    public var description: String { expression }

    private struct Field {
        let name: String
        let range: ClosedRange<Int>
        let names: [String]
        /// Names start at this number (JAN is 1, SUN is 0).
        let firstNamed: Int
    }

    private static let fields = [
        Field(name: "minute", range: 0...59, names: [], firstNamed: 0),
        Field(name: "hour", range: 0...23, names: [], firstNamed: 0),
        Field(name: "day of month", range: 1...31, names: [], firstNamed: 1),
        Field(name: "month", range: 1...12,
              names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], firstNamed: 1),
        Field(name: "day of week", range: 0...7, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], firstNamed: 0),
    ]

    private static let macros = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    /// Parses `expression`; the error names the field and the part that is wrong.
    public init(_ expression: String) throws(YardError) {
        let trimmed = expression.trimmingCharacters(in: .whitespaces)
        self.expression = trimmed
        let text = Self.macros[trimmed.lowercased()] ?? trimmed
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count == 5 else {
            throw YardError(
                .invalidConfig,
                "cronSchedule '\(trimmed)' must have 5 fields (minute hour day-of-month month day-of-week, UTC); it has \(parts.count)"
            )
        }
        var sets: [Set<Int>] = []
        for (part, field) in zip(parts, Self.fields) {
            sets.append(try Self.parse(part, field: field, expression: trimmed))
        }
        self.minutes = sets[0].sorted()
        self.hours = sets[1].sorted()
        self.daysOfMonth = sets[2]
        self.months = sets[3]
        // 7 is Sunday as well as 0.
        self.daysOfWeek = Set(sets[4].map { $0 == 7 ? 0 : $0 })
        self.dayOfMonthRestricted = !parts[2].hasPrefix("*")
        self.dayOfWeekRestricted = !parts[4].hasPrefix("*")
    }

    private static func parse(_ text: String, field: Field, expression: String) throws(YardError) -> Set<Int> {
        func failure(_ why: String) -> YardError {
            YardError(.invalidConfig, "cronSchedule '\(expression)': the \(field.name) field '\(text)' \(why)")
        }
        func number(_ token: Substring) throws(YardError) -> Int {
            if let value = Int(token) {
                guard field.range.contains(value) else {
                    throw failure("has \(value), outside \(field.range.lowerBound)-\(field.range.upperBound)")
                }
                return value
            }
            if let index = field.names.firstIndex(of: token.uppercased()) { return index + field.firstNamed }
            throw failure("has '\(token)', which is not a number" + (field.names.isEmpty ? "" : " or a name such as \(field.names[0])"))
        }
        var values = Set<Int>()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw failure("has an empty list item") }
            let pieces = item.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw failure("has more than one '/' in '\(item)'") }
            var step = 1
            if pieces.count == 2 {
                guard let value = Int(pieces[1]), value > 0 else { throw failure("has a step '\(pieces[1])' that is not a positive number") }
                step = value
            }
            let span = pieces[0]
            let bounds: ClosedRange<Int>
            if span == "*" {
                bounds = field.range.lowerBound...(field.name == "day of week" ? 6 : field.range.upperBound)
            } else if let dash = span.firstIndex(of: "-") {
                let low = try number(span[..<dash])
                let high = try number(span[span.index(after: dash)...])
                guard low <= high else { throw failure("has a range \(span) that runs backwards") }
                bounds = low...high
            } else {
                let value = try number(span)
                // `5/15` means from 5 to the end, every 15.
                bounds = value...(pieces.count == 2 ? field.range.upperBound : value)
            }
            values.formUnion(stride(from: bounds.lowerBound, through: bounds.upperBound, by: step))
        }
        return values
    }

    /// Whether the schedule fires in the minute that contains `date` (UTC).
    public func matches(_ date: Date) -> Bool {
        let parts = Self.calendar.dateComponents([.minute, .hour, .day, .month, .weekday], from: date)
        guard let minute = parts.minute, let hour = parts.hour else { return false }
        return minutes.contains(minute) && hours.contains(hour) && dayMatches(parts)
    }

    /// The first minute strictly after `date` at which the schedule fires (UTC), within
    /// the next five years; nil if there is none (such as 30 February).
    public func next(after date: Date) -> Date? {
        let calendar = Self.calendar
        guard let start = calendar.dateInterval(of: .minute, for: date)?.end,
            var day = calendar.dateInterval(of: .day, for: start)?.start
        else { return nil }
        for _ in 0..<(5 * 366) {
            let parts = calendar.dateComponents([.day, .month, .weekday], from: day)
            if dayMatches(parts) {
                for hour in hours {
                    for minute in minutes {
                        guard let candidate = calendar.date(byAdding: DateComponents(hour: hour, minute: minute), to: day) else { continue }
                        if candidate >= start { return candidate }
                    }
                }
            }
            guard let following = calendar.date(byAdding: .day, value: 1, to: day) else { return nil }
            day = following
        }
        return nil
    }

    private func dayMatches(_ parts: DateComponents) -> Bool {
        guard let month = parts.month, months.contains(month), let day = parts.day, let weekday = parts.weekday else { return false }
        let byMonthDay = daysOfMonth.contains(day)
        // Calendar weekdays run 1 (Sunday) to 7; cron's 0 (Sunday) to 6.
        let byWeekDay = daysOfWeek.contains(weekday - 1)
        switch (dayOfMonthRestricted, dayOfWeekRestricted) {
        case (true, true): return byMonthDay || byWeekDay
        case (true, false): return byMonthDay
        case (false, true): return byWeekDay
        case (false, false): return true
        }
    }

    private static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()
}
