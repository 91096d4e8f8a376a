import Foundation

/// Railway's deployment statuses. `SUCCESS` is the live deployment, shown as "Active" by
/// Railway; `COMPLETED` is one whose every replica exited 0 and was not restarted by its
/// restart policy (a run-to-completion job).
public enum DeploymentStatus: String, Codable, Sendable, CaseIterable {
    case queued = "QUEUED"
    case waiting = "WAITING"
    case initializing = "INITIALIZING"
    case building = "BUILDING"
    case deploying = "DEPLOYING"
    case success = "SUCCESS"
    case completed = "COMPLETED"
    case failed = "FAILED"
    case crashed = "CRASHED"
    case sleeping = "SLEEPING"
    case skipped = "SKIPPED"
    case removing = "REMOVING"
    case removed = "REMOVED"

    /// Statuses a deployment never leaves.
    public var isFinal: Bool {
        switch self {
        case .failed, .skipped, .removed: true
        default: false
        }
    }

    /// Whether the deployment went live: running (`SUCCESS`) or run to completion (`COMPLETED`).
    public var isDeployed: Bool { self == .success || self == .completed }

    /// Statuses in which the deployment's build or start is still in progress.
    public var isInProgress: Bool {
        switch self {
        case .queued, .waiting, .initializing, .building, .deploying: true
        default: false
        }
    }

    /// The statuses this one may move to. Every transition is checked here, in one place.
    public var allowedNext: Set<DeploymentStatus> {
        switch self {
        case .queued: [.waiting, .initializing, .skipped, .removed, .failed]
        case .waiting: [.initializing, .skipped, .removed, .failed]
        case .initializing: [.building, .deploying, .failed, .removed]
        case .building: [.deploying, .failed, .removed]
        case .deploying: [.success, .completed, .failed, .crashed, .removing]
        case .success: [.completed, .crashed, .sleeping, .removing, .deploying]
        case .completed: [.removing, .deploying]
        case .crashed: [.success, .removing, .deploying]
        case .sleeping: [.success, .deploying, .removing]
        case .removing: [.removed]
        case .failed, .skipped, .removed: []
        }
    }

    public func transition(to next: DeploymentStatus) throws(YardError) -> DeploymentStatus {
        guard allowedNext.contains(next) else {
            throw YardError(.conflict, "a deployment cannot go from \(rawValue) to \(next.rawValue)")
        }
        return next
    }
}

/// Railway's replica statuses.
public enum ReplicaStatus: String, Codable, Sendable, CaseIterable {
    case created = "CREATED"
    case initializing = "INITIALIZING"
    case running = "RUNNING"
    case restarting = "RESTARTING"
    case crashed = "CRASHED"
    case exited = "EXITED"
    case stopped = "STOPPED"
    case removed = "REMOVED"
}
