/// One replica the router can forward requests to: where it listens and which replica it is.
public struct Upstream: Hashable, Sendable, CustomStringConvertible {
    /// The address the replica listens on (an IP address or a resolvable name).
    public var host: String
    /// The TCP port the replica listens on.
    public var port: Int
    /// The replica's identifier, used in logs.
    public var replicaID: String

    public init(host: String, port: Int, replicaID: String) {
        self.host = host
        self.port = port
        self.replicaID = replicaID
    }

    public var description: String { "\(self.replicaID)@\(self.host):\(self.port)" }
}
