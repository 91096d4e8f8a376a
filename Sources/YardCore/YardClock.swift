import Foundation

/// The time every loop of the platform reads and waits on: cron schedules, backup
/// schedules, the idle watch that puts services to sleep. Production passes
/// `SystemClock`; unit tests pass a clock they advance by hand.
public protocol YardClock: Sendable {
    /// The current wall-clock time, as schedules read it.
    var now: Date { get }
    /// Waits `duration` of this clock's time; throws when the task is cancelled.
    func sleep(for duration: Duration) async throws
}

extension YardClock {
    /// Calls `body` after every `interval` of this clock until the task is cancelled, on
    /// the caller's actor.
    public func repeating(
        every interval: Duration, isolation: isolated (any Actor)? = #isolation, _ body: () async -> Void
    ) async {
        while (try? await sleep(for: interval)) != nil {
            await body()
        }
    }
}

/// The real time.
public struct SystemClock: YardClock {
    public init() {}

    public var now: Date { Date() }

    public func sleep(for duration: Duration) async throws {
        try await Task.sleep(for: duration)
    }
}

/// Real time read `scale` times faster from the moment it was made
/// (`yard serve --cron-time-scale`, for end-to-end tests): `* * * * *` then fires every
/// 60/scale seconds. Waits stay real, so polling loops keep their real pace.
public struct ScaledClock: YardClock {
    public let start: Date
    public let scale: Double

    public init(scale: Double, start: Date = Date()) {
        self.start = start
        self.scale = scale
    }

    public var now: Date { start.addingTimeInterval(Date().timeIntervalSince(start) * scale) }

    public func sleep(for duration: Duration) async throws {
        try await Task.sleep(for: duration)
    }
}
