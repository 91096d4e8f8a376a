import Foundation

/// One captured line of build or deploy output, as stored and as streamed.
public struct LogLine: Codable, Sendable, Equatable {
    public enum Stream: String, Codable, Sendable {
        case stdout, stderr
        /// Lines the platform writes itself (status changes, warnings).
        case system
    }

    /// Position in its log, from 1; lets a follower resume without gaps or repeats.
    public var seq: Int
    public var timestamp: Date
    public var stream: Stream
    public var replica: String?
    public var message: String

    public init(seq: Int, timestamp: Date, stream: Stream, replica: String? = nil, message: String) {
        self.seq = seq
        self.timestamp = timestamp
        self.stream = stream
        self.replica = replica
        self.message = message
    }
}

public enum LogKind: String, Codable, Sendable {
    case build, deploy
}
