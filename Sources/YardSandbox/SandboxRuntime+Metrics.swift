import Foundation
import YardRuntime

extension SandboxRuntime: ReplicaTrafficCounting {
    /// From the host end of the replica's veth pair, whose counters are the replica's seen
    /// from outside: what the host end received the replica sent, and the other way round.
    public nonisolated func traffic(of replicaID: String) -> ReplicaTraffic? {
        let veth = NetworkNames(prefix: configuration.networkPrefix).hostVeth(replicaID: replicaID)
        let statistics = "/sys/class/net/\(veth)/statistics/"
        func counter(_ name: String) -> UInt64? {
            ProcFile.read(statistics + name).flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        guard let received = counter("rx_bytes"), let sent = counter("tx_bytes") else { return nil }
        return ReplicaTraffic(receivedBytes: sent, sentBytes: received)
    }
}
