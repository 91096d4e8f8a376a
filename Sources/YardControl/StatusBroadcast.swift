import Foundation
import Synchronization
import YardCore

/// Tells followers of a deployment each time its status changes (persisted first).
public final class StatusBroadcast: Sendable {
    private let followers = Mutex<[String: [UUID: AsyncStream<DeploymentStatus>.Continuation]]>([:])

    public init() {}

    public func publish(deploymentID: String, status: DeploymentStatus) {
        followers.withLock { followers in
            for continuation in followers[deploymentID, default: [:]].values {
                continuation.yield(status)
            }
        }
    }

    /// Status changes of one deployment from now on, until the consumer stops.
    public func follow(deploymentID: String) -> AsyncStream<DeploymentStatus> {
        let (stream, continuation) = AsyncStream<DeploymentStatus>.makeStream(bufferingPolicy: .unbounded)
        let id = UUID()
        followers.withLock { $0[deploymentID, default: [:]][id] = continuation }
        continuation.onTermination = { [weak self] _ in
            self?.followers.withLock { _ = $0[deploymentID]?.removeValue(forKey: id) }
        }
        return stream
    }
}
