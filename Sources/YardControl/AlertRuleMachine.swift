import Foundation
import YardCore

/// One rule's life, as a pure value: it is fed observations (is the condition true, false,
/// or unknown?) with the time, and says what to send. A rule fires once when its condition
/// becomes true, notifies again every `repeatInterval` while it holds, and resolves (with a
/// notification) when it stops holding. Unknown (no metrics yet) changes nothing: a rule
/// that never had an answer stays `pending`.
public struct AlertRuleMachine: Sendable, Equatable {
    public enum Action: String, Sendable, Equatable {
        /// The condition became true: the first notification.
        case fire
        /// Still true, `repeatInterval` after the last notification.
        case `repeat`
        /// It no longer holds: the resolution's notification.
        case resolve
    }

    public private(set) var state: AlertState
    public private(set) var firedAt: Date?
    public private(set) var notifiedAt: Date?
    public private(set) var resolvedAt: Date?
    public var repeatInterval: TimeInterval

    public init(
        state: AlertState = .pending, repeatInterval: TimeInterval, firedAt: Date? = nil, notifiedAt: Date? = nil, resolvedAt: Date? = nil
    ) {
        self.state = state
        self.repeatInterval = repeatInterval
        self.firedAt = firedAt
        self.notifiedAt = notifiedAt
        self.resolvedAt = resolvedAt
    }

    /// Feeds one observation; returns what to notify, if anything.
    public mutating func observe(_ holds: Bool?, at now: Date) -> Action? {
        guard let holds else { return nil }
        switch (state, holds) {
        case (.firing, true):
            guard let last = notifiedAt, now.timeIntervalSince(last) >= repeatInterval else { return nil }
            notifiedAt = now
            return .repeat
        case (.firing, false):
            state = .resolved
            resolvedAt = now
            return .resolve
        case (_, true):
            state = .firing
            firedAt = now
            notifiedAt = now
            return .fire
        case (.pending, false):
            state = .ok
            return nil
        case (_, false):
            return nil
        }
    }
}

/// Whether an event-driven rule's condition holds: true from a triggering event until a
/// resolving event, or until `quiet` passes without a triggering one.
public struct AlertEventCondition: Sendable, Equatable {
    public var lastTriggerAt: Date?
    public var quiet: TimeInterval

    public init(lastTriggerAt: Date?, quiet: TimeInterval) {
        self.lastTriggerAt = lastTriggerAt
        self.quiet = quiet
    }

    public mutating func trigger(at now: Date) { lastTriggerAt = now }
    public mutating func resolve() { lastTriggerAt = nil }

    /// True while a trigger is recent, false otherwise (an event rule is never unknown).
    public func holds(at now: Date) -> Bool {
        guard let lastTriggerAt else { return false }
        return now.timeIntervalSince(lastTriggerAt) < quiet
    }
}
