import Foundation
import Synchronization

/// When restarts make a restart loop: `count` restarts of one replica within `window`
/// (3 within 5 minutes by default), whatever the supervisor's own attempt counter says (it
/// resets after a minute of uptime, so an app that crashes every two minutes would never
/// count as looping by it). A pure value, fed restarts with their time.
public struct RestartLoopWindow: Sendable, Equatable {
    public static let defaultCount = 3
    public static let defaultWindow: TimeInterval = 300

    public var count: Int
    public var window: TimeInterval
    /// The restarts still inside the window, per replica.
    public private(set) var restarts: [String: [Date]] = [:]

    public init(count: Int = Self.defaultCount, window: TimeInterval = Self.defaultWindow) {
        self.count = max(1, count)
        self.window = window
    }

    /// Records a restart of `replicaID` at `now`; returns how many it had within the window
    /// when that makes a loop (nil below `count`). Replicas with no restart left inside the
    /// window are forgotten.
    public mutating func record(replicaID: String, at now: Date) -> Int? {
        restarts[replicaID, default: []].append(now)
        for (id, times) in restarts {
            let recent = times.filter { now.timeIntervalSince($0) < window }
            restarts[id] = recent.isEmpty ? nil : recent
        }
        let recent = restarts[replicaID]?.count ?? 0
        return recent >= count ? recent : nil
    }
}

/// The orchestrator's restart window, shared by its restart events (a lock around a value).
public final class RestartLoopTracker: Sendable {
    private let state: Mutex<RestartLoopWindow>

    public init(_ window: RestartLoopWindow = RestartLoopWindow()) {
        state = Mutex(window)
    }

    public func record(replicaID: String, at now: Date = Date()) -> Int? {
        state.withLock { $0.record(replicaID: replicaID, at: now) }
    }

    public var window: TimeInterval { state.withLock { $0.window } }
}
