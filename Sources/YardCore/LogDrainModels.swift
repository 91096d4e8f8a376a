import Foundation

/// `POST …/services/{service}/drains`: forward the service's log lines.
public struct CreateLogDrainRequest: Codable, Sendable, Hashable {
    /// `syslog` (RFC 5424 over TCP, octet-counted) or `http` (JSON batches).
    public var kind: String
    /// `tcp://host:port` or an http(s) URL.
    public var url: String

    public init(kind: String, url: String) {
        self.kind = kind
        self.url = url
    }
}

/// A drain with its counters since the server started.
public struct LogDrainView: Codable, Sendable, Hashable {
    public var id: String
    public var service: String
    public var environment: String
    public var kind: String
    /// The URL without its path and query.
    public var target: String
    public var sent: Int
    public var dropped: Int
    public var queued: Int

    public init(id: String, service: String, environment: String, kind: String, target: String, sent: Int, dropped: Int, queued: Int) {
        self.id = id
        self.service = service
        self.environment = environment
        self.kind = kind
        self.target = target
        self.sent = sent
        self.dropped = dropped
        self.queued = queued
    }
}

public struct LogDrainListView: Codable, Sendable, Hashable {
    public var drains: [LogDrainView]
    public init(drains: [LogDrainView]) { self.drains = drains }
}
