/// Bytes a replica received and sent on its network since it was placed.
public struct ReplicaTraffic: Sendable, Equatable {
    public var receivedBytes: UInt64
    public var sentBytes: UInt64

    public init(receivedBytes: UInt64, sentBytes: UInt64) {
        self.receivedBytes = receivedBytes
        self.sentBytes = sentBytes
    }
}

/// A runtime that can count its replicas' network traffic (the sandbox: each replica has a
/// veth of its own). Plain processes share the host's interfaces, so theirs is unknown.
public protocol ReplicaTrafficCounting: Sendable {
    func traffic(of replicaID: String) -> ReplicaTraffic?
}
