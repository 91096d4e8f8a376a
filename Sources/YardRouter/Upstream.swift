import NIOCore
import NIOPosix

/// One replica the router can forward requests to: where it listens and which replica it is.
public struct Upstream: Hashable, Sendable, CustomStringConvertible {
    /// The address the replica listens on (an IP address or a resolvable name).
    public var host: String {
        didSet { self.fieldsHash = Self.hash(self.host, self.port, self.replicaID) }
    }
    /// The TCP port the replica listens on.
    public var port: Int {
        didSet { self.fieldsHash = Self.hash(self.host, self.port, self.replicaID) }
    }
    /// The replica's identifier, used in logs.
    public var replicaID: String {
        didSet { self.fieldsHash = Self.hash(self.host, self.port, self.replicaID) }
    }
    /// The three fields' hash, computed when they are set. An upstream is a dictionary key
    /// on every proxied request (its connection pool's entry); hashing its two strings at
    /// each look-up cost several hundred instructions.
    private var fieldsHash: Int

    public init(host: String, port: Int, replicaID: String) {
        self.host = host
        self.port = port
        self.replicaID = replicaID
        self.fieldsHash = Self.hash(host, port, replicaID)
    }

    public static func == (lhs: Upstream, rhs: Upstream) -> Bool {
        lhs.port == rhs.port && lhs.host == rhs.host && lhs.replicaID == rhs.replicaID
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.fieldsHash)
    }

    private static func hash(_ host: String, _ port: Int, _ replicaID: String) -> Int {
        var hasher = Hasher()
        hasher.combine(host)
        hasher.combine(port)
        hasher.combine(replicaID)
        return hasher.finalize()
    }

    public var description: String { "\(self.replicaID)@\(self.host):\(self.port)" }
}

extension Upstream {
    /// The address to connect to when `host` is an IP address (a replica's always is); nil
    /// for a name.
    var ipAddress: SocketAddress? { try? SocketAddress(ipAddress: self.host, port: self.port) }
}

extension ClientBootstrap {
    /// Connects to `upstream`, straight to `address` when there is one (its `ipAddress`).
    /// `connect(host:port:)` resolves even an IP address, with getaddrinfo on another thread
    /// and a happy-eyeballs race: a thread hop and a dozen futures per connection.
    func connect(to upstream: Upstream, address: SocketAddress?) -> EventLoopFuture<any Channel> {
        if let address { return self.connect(to: address) }
        return self.connect(host: upstream.host, port: upstream.port)
    }
}
