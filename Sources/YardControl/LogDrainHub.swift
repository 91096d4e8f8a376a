import Foundation
import Logging
import Synchronization
import YardCore
import YardStore

/// The running log drains, by service and environment: `offer` hands each line of a
/// replica to its service's drains without waiting (each drain has its own bounded buffer).
public final class LogDrainHub: Sendable {
    /// Lines a drain holds while its receiver is slow; beyond that they are dropped and counted.
    public static let bufferCapacity = 10_000

    private struct State {
        var senders: [String: LogDrainSender] = [:]
        /// Drain ids per "serviceID environmentID".
        var byService: [String: [String]] = [:]
        /// A deployment's service key and name, looked up once.
        var deployments: [String: (key: String, name: String)] = [:]
    }

    private let state = Mutex(State())
    private let logger: Logger
    /// Certificates `tls://` drains trust besides the system's (`yard serve --drain-ca-file`).
    public let trustedCertificateFile: String?

    public init(logger: Logger, trustedCertificateFile: String? = nil) {
        self.logger = logger
        self.trustedCertificateFile = trustedCertificateFile
    }

    /// Starts the drains in `records` that are not running and stops the others.
    public func reload(_ records: [LogDrainRecord]) {
        let stopped: [LogDrainSender] = state.withLock { state in
            let wanted = Set(records.map(\.id))
            let gone = state.senders.filter { !wanted.contains($0.key) }.map(\.value)
            for sender in gone { state.senders[sender.id] = nil }
            for record in records where state.senders[record.id] == nil {
                let target = LogDrainTarget(kind: LogDrainTarget.Kind(rawValue: record.kind) ?? .http, url: record.url)
                state.senders[record.id] = LogDrainSender(
                    id: record.id, target: target, capacity: Self.bufferCapacity, trustedCertificateFile: trustedCertificateFile, logger: logger)
            }
            state.byService = Dictionary(grouping: records, by: { "\($0.serviceID) \($0.environmentID)" }).mapValues { $0.map(\.id) }
            return gone
        }
        for sender in stopped { sender.stop() }
    }

    /// Whether any drain runs (the log path skips everything else when none does).
    public var isEmpty: Bool { state.withLock { $0.senders.isEmpty } }

    /// Offers one line of a deployment's replica; `lookup` names its service the first time.
    public func offer(
        deploymentID: String, replica: String?, stream: LogLine.Stream, message: String,
        lookup: () -> (serviceID: String, environmentID: String, name: String)?
    ) {
        let senders: [LogDrainSender]
        let name: String
        var known = state.withLock { $0.deployments[deploymentID] }
        if known == nil, let found = lookup() {
            known = (key: "\(found.serviceID) \(found.environmentID)", name: found.name)
            state.withLock { $0.deployments[deploymentID] = known }
        }
        guard let known else { return }
        (senders, name) = state.withLock { state in ((state.byService[known.key] ?? []).compactMap { state.senders[$0] }, known.name) }
        guard !senders.isEmpty else { return }
        let line = DrainedLine(timestamp: Date(), service: name, replica: replica, stream: stream, message: message)
        for sender in senders { sender.buffer.offer(line) }
    }

    /// Lines sent, dropped and waiting, per drain id.
    public func counts(_ id: String) -> (sent: Int, dropped: Int, queued: Int)? {
        state.withLock { $0.senders[id] }?.buffer.counts
    }

    public func stopAll() { reload([]) }
}

extension Orchestrator {
    /// Hands a replica's line to its service's drains (nothing when there are none).
    func drain(deploymentID: String, replicaID: String, stream: LogLine.Stream, line: String) {
        guard !drains.isEmpty else { return }
        let store = self.store
        drains.offer(deploymentID: deploymentID, replica: replicaID, stream: stream, message: line) {
            guard let deployment = try? store.deployment(id: deploymentID), let service = try? store.service(id: deployment.serviceID)
            else { return nil }
            return (deployment.serviceID, deployment.environmentID, service.name)
        }
    }
}
