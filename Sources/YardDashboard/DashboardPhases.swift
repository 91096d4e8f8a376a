import Foundation
import YardCore

/// How long a deployment spent in each in-progress phase (QUEUED, BUILDING, DEPLOYING, …),
/// from its status history: a phase lasts until the next event, the last one until the
/// deployment settled (`ended`), or is left out while it still runs.
struct DashboardPhases {
    var phases: [(status: DeploymentStatus, seconds: TimeInterval)] = []

    init(_ history: [DeploymentEventView], ended: Date?) {
        for (index, event) in history.enumerated() where event.status.isInProgress {
            guard let end = index + 1 < history.count ? history[index + 1].at : ended else { continue }
            let seconds = max(0, end.timeIntervalSince(event.at))
            if let last = phases.last, last.status == event.status {
                phases[phases.count - 1].seconds += seconds
            } else {
                phases.append((event.status, seconds))
            }
        }
    }

    /// `BUILDING 42 s · DEPLOYING 3 s`, or empty without a history.
    var text: String {
        phases.map { "\($0.status.rawValue) \(Dashboard.durationText($0.seconds))" }.joined(separator: " · ")
    }
}
