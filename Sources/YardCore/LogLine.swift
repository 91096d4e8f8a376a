import Foundation

/// One captured line of build or deploy output, or one HTTP request of the access log, as
/// stored and as streamed.
public struct LogLine: Codable, Sendable, Hashable {
    public enum Stream: String, Codable, Sendable {
        case stdout, stderr
        /// Lines the platform writes itself (status changes, warnings).
        case system
        /// A request the router answered (the `http` log).
        case http
    }

    /// Position in its log, from 1; lets a follower resume without gaps or repeats.
    public var seq: Int
    public var timestamp: Date
    public var stream: Stream
    public var replica: String?
    public var message: String
    /// The request's fields, in lines of the `http` log.
    public var http: HTTPRequestLog?

    public init(seq: Int, timestamp: Date, stream: Stream, replica: String? = nil, message: String, http: HTTPRequestLog? = nil) {
        self.seq = seq
        self.timestamp = timestamp
        self.stream = stream
        self.replica = replica
        self.message = message
        self.http = http
    }
}

/// One request through the router, as the access log (`yard logs --http`) keeps it. No
/// headers and no query string are kept: credentials and tokens travel there.
public struct HTTPRequestLog: Codable, Sendable, Hashable {
    public var host: String
    public var method: String
    /// The request path without its query string.
    public var path: String
    public var status: Int
    public var durationMs: Double
    /// The replica the request went to; nil when the router answered itself (shown as `-`).
    public var upstream: String?
    public var bytesIn: Int
    public var bytesOut: Int

    public init(host: String, method: String, path: String, status: Int, durationMs: Double, upstream: String?, bytesIn: Int, bytesOut: Int) {
        self.host = host
        self.method = method
        self.path = path
        self.status = status
        self.durationMs = durationMs
        self.upstream = upstream
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
    }

    /// `GET app.test/path 200 12.3ms upstream=rep_… in=0B out=512B`
    public var summary: String {
        let duration = self.durationMs < 10 ? String(format: "%.1f", self.durationMs) : String(Int(self.durationMs.rounded()))
        return "\(self.method) \(self.host)\(self.path) \(self.status) \(duration)ms upstream=\(self.upstream ?? "-") in=\(self.bytesIn)B out=\(self.bytesOut)B"
    }
}

public enum LogKind: String, Codable, Sendable {
    case build, deploy
    /// The router's access log: one line per request.
    case http
}
