import Atomics
import Foundation
import NIOCore
import NIOHTTP1

/// One request the router answered, as its access log records it. Never holds headers
/// (so no `Authorization` or `Cookie`) and never the query string, where tokens travel.
public struct AccessLogEntry: Sendable, Equatable {
    /// When the request head arrived.
    public var timestamp: Date
    /// The `Host` header, normalized (`-` when the request had none).
    public var host: String
    public var method: String
    /// The request target without its query string (and at most `maxPathLength` characters).
    public var path: String
    /// The status sent to the client; 499 when the client closed the connection before a
    /// response started.
    public var status: Int
    /// From the request head's arrival to the response's end (or the connection's close).
    public var duration: Duration
    /// The replica the request went to; nil when the router answered itself (404, 502,
    /// 503, 400…), even after a replica failed to answer.
    public var replicaID: String?
    /// Request body bytes received from the client.
    public var bytesIn: Int
    /// Response body bytes sent to the client.
    public var bytesOut: Int
    /// The W3C `traceparent` the replica got; nil unless OTLP export is on.
    public var traceParent: String?

    public static let maxPathLength = 2048
    /// The status logged for a request whose client went away before any response.
    public static let clientClosedStatus = 499

    public init(
        timestamp: Date, host: String, method: String, path: String, status: Int, duration: Duration,
        replicaID: String?, bytesIn: Int, bytesOut: Int, traceParent: String? = nil
    ) {
        self.timestamp = timestamp
        self.host = host
        self.method = method
        self.path = path
        self.status = status
        self.duration = duration
        self.replicaID = replicaID
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.traceParent = traceParent
    }

    /// The path of a request target: the query string and fragment dropped, long ones cut.
    static func path(ofTarget uri: String) -> String {
        let end = uri.utf8.firstIndex { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? uri.endIndex
        let path = uri[..<end]
        // No more bytes than the limit means no more characters either: skip counting them.
        if path.utf8.count <= Self.maxPathLength { return end == uri.endIndex ? uri : String(path) }
        return path.count > Self.maxPathLength ? String(path.prefix(Self.maxPathLength)) : String(path)
    }
}

/// Where the router's access log entries go: one observer, set by the platform. Entries are
/// handed over on the event loop that served the request, so the observer must return at
/// once (buffer and write elsewhere).
final class AccessLog: Sendable {
    private let observer = ObserverSlot<AccessLogEntry>()
    let traceParents = TraceParentStamp()

    func observe(_ observer: @escaping @Sendable (AccessLogEntry) -> Void) {
        self.observer.set(observer)
    }

    func record(_ entry: AccessLogEntry) {
        self.observer.call(entry)
    }
}

/// One observer closure, called from any thread: read with one atomic load (no lock per request).
///
/// The closure is kept inside an object on purpose. A bare function value in a lock box was
/// reabstracted on every read through `withLockedValue`'s inout access and again on its
/// write-back, so each call wrapped the stored closure in two more thunks; after some tens
/// of thousands of requests calling it overflowed the event loop's stack. An immutable
/// object replaced as a whole is never written back.
final class ObserverSlot<Argument>: Sendable {
    private final class Held: AtomicReference, Sendable {
        let call: @Sendable (Argument) -> Void

        init(call: @escaping @Sendable (Argument) -> Void) {
            self.call = call
        }
    }

    private let held = ManagedAtomic<Held?>(nil)

    func set(_ call: @escaping @Sendable (Argument) -> Void) {
        self.held.store(Held(call: call), ordering: .releasing)
    }

    func call(_ argument: Argument) {
        self.held.load(ordering: .acquiring)?.call(argument)
    }
}

/// The access log fields of the request in flight on one client connection, filled in by
/// the proxy handler as the exchange goes and emitted once at its end.
struct AccessLogRecord {
    var timestamp: Date
    var started: NIODeadline
    var host: String
    var method: String
    var path: String
    var status: Int?
    var replicaID: String?
    var bytesIn = 0
    var bytesOut = 0
    var traceParent: String?

    /// `host` is the request's `Host` header normalized (nil without one).
    init(head: HTTPRequestHead, host: String?, now: NIODeadline = .now(), clock: inout WallClockAnchor) {
        self.timestamp = clock.date(at: now)
        self.started = now
        self.host = host ?? "-"
        self.method = head.method.rawValue
        self.path = AccessLogEntry.path(ofTarget: head.uri)
    }

    /// Consuming: the record's strings move into the entry instead of being copied.
    consuming func entry(now: NIODeadline = .now()) -> AccessLogEntry {
        AccessLogEntry(
            timestamp: self.timestamp,
            host: self.host.isEmpty ? "-" : self.host,
            method: self.method,
            path: self.path,
            status: self.status ?? AccessLogEntry.clientClosedStatus,
            duration: .nanoseconds((now - self.started).nanoseconds),
            replicaID: self.replicaID,
            bytesIn: self.bytesIn,
            bytesOut: self.bytesOut,
            traceParent: self.traceParent
        )
    }
}

/// Wall-clock time read from the monotonic clock: the access log stamps every request
/// without asking the system for the date each time. The anchor is taken again once it is
/// a second old, so a clock step shows up in the log within a second.
struct WallClockAnchor {
    private var date: Date
    private var deadline: NIODeadline
    static let refreshInterval = TimeAmount.seconds(1)

    init(now: NIODeadline = .now()) {
        self.date = Date()
        self.deadline = now
    }

    /// The wall-clock time at `now`, a monotonic reading taken after the anchor's.
    mutating func date(at now: NIODeadline) -> Date {
        let elapsed = now - self.deadline
        if elapsed >= Self.refreshInterval || elapsed < .zero {
            self = WallClockAnchor(now: now)
            return self.date
        }
        return self.date.addingTimeInterval(Double(elapsed.nanoseconds) / 1_000_000_000)
    }
}
