import Foundation
import YardCore

/// A clock that moves only when a test advances it: sleepers wake when their deadline has
/// come, in deadline order. Cancelling a sleeping task wakes it with `CancellationError`.
final class ManualClock: YardClock, @unchecked Sendable {
    private struct Sleeper {
        var deadline: Date
        var continuation: CheckedContinuation<Void, any Error>
    }

    private let lock = NSLock()
    private var current: Date
    private var sleepers: [UUID: Sleeper] = [:]

    init(_ start: Date) {
        current = start
    }

    /// 2026-12-05 at `hour`:`minute`:`second` UTC.
    convenience init(hour: Int, minute: Int, second: Double = 0) {
        self.init(Self.date(hour: hour, minute: minute, second: second))
    }

    static func date(day: Int = 5, hour: Int, minute: Int, second: Double = 0) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let midnight = calendar.date(from: DateComponents(year: 2026, month: 12, day: day))!
        return midnight.addingTimeInterval(Double(hour * 3600 + minute * 60) + second)
    }

    var now: Date { lock.withLock { current } }

    /// How many tasks wait on this clock.
    var sleeperCount: Int { lock.withLock { sleepers.count } }

    func sleep(for duration: Duration) async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                lock.withLock {
                    if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        sleepers[id] = Sleeper(deadline: current.addingTimeInterval(duration.inSeconds), continuation: continuation)
                    }
                }
            }
        } onCancel: {
            lock.withLock { sleepers.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the time on and wakes every sleeper whose deadline has come.
    func advance(by duration: Duration) {
        let due: [Sleeper] = lock.withLock {
            current = current.addingTimeInterval(duration.inSeconds)
            let ready = sleepers.filter { $0.value.deadline <= current }
            for id in ready.keys { sleepers[id] = nil }
            return ready.values.sorted { $0.deadline < $1.deadline }
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Returns once `count` tasks sleep on the clock (a loop finished its pass and waits again).
    func waitForSleepers(_ count: Int = 1, timeout: Duration = .seconds(5)) async throws {
        let deadline = ContinuousClock.now + timeout
        while sleeperCount < count {
            guard ContinuousClock.now < deadline else {
                throw ClockTimeout(description: "no task slept on the manual clock within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    struct ClockTimeout: Error, CustomStringConvertible {
        var description: String
    }
}

extension Duration {
    var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

/// Polls `condition` (real time) until it holds; fails the wait after `timeout`.
func eventually(timeout: Duration = .seconds(5), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return await condition()
}
