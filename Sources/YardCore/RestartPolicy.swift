import Foundation

/// How a replica's process ended.
public enum ExitReason: Sendable, Equatable, CustomStringConvertible {
    case exited(code: Int32)
    case signaled(signal: Int32)
    /// Killed by the kernel because its cgroup went over the memory limit.
    case oomKilled

    public var isSuccess: Bool { self == .exited(code: 0) }

    public var description: String {
        switch self {
        case .exited(let code): "exited with code \(code)"
        case .signaled(let signal): "killed by signal \(signal)"
        case .oomKilled: "OOM-killed: it went over its memory limit"
        }
    }
}

/// Decides, per replica, whether an exited process is started again and after how long.
/// A pure value: the supervisor feeds it exits and acts on what it returns.
public struct RestartPolicy: Sendable, Equatable {
    public enum Decision: Sendable, Equatable {
        case restart(after: Duration, attempt: Int)
        /// No restart: the policy does not restart this exit (`NEVER`, or a clean
        /// exit under `ON_FAILURE`).
        case stop
        /// Retries are exhausted: the replica, and so the deployment, is CRASHED.
        case giveUp(attempts: Int)
    }

    public let type: RestartPolicyType
    public let maxRetries: Int
    public let baseBackoff: Duration
    public let maxBackoff: Duration
    /// A process that ran at least this long counts as healthy again: its retry count resets.
    public let resetAfter: Duration
    public private(set) var attempts = 0

    public init(
        type: RestartPolicyType,
        maxRetries: Int,
        baseBackoff: Duration = .milliseconds(500),
        maxBackoff: Duration = .seconds(30),
        resetAfter: Duration = .seconds(60)
    ) {
        self.type = type
        self.maxRetries = max(0, maxRetries)
        self.baseBackoff = baseBackoff
        self.maxBackoff = maxBackoff
        self.resetAfter = resetAfter
    }

    /// Records one exit after the process ran for `uptime`, and says what to do.
    public mutating func processExited(_ reason: ExitReason, uptime: Duration) -> Decision {
        if uptime >= resetAfter { attempts = 0 }
        let wantsRestart: Bool =
            switch type {
            case .never: false
            case .onFailure: !reason.isSuccess
            case .always: true
            }
        guard wantsRestart else {
            return (type == .never && !reason.isSuccess) ? .giveUp(attempts: attempts) : .stop
        }
        guard attempts < maxRetries else { return .giveUp(attempts: attempts) }
        attempts += 1
        return .restart(after: backoff(forAttempt: attempts), attempt: attempts)
    }

    /// Exponential backoff: base, 2×base, 4×base … capped at `maxBackoff`.
    public func backoff(forAttempt attempt: Int) -> Duration {
        var delay = baseBackoff
        for _ in 1..<max(1, attempt) {
            delay = delay * 2
            if delay >= maxBackoff { return maxBackoff }
        }
        return min(delay, maxBackoff)
    }
}
