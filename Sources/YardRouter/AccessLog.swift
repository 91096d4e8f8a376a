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
        var uri = uri
        // Searched over the bytes in place: the UTF-8 view's `firstIndex` and the substring's
        // count cost some 300 instructions for "/".
        let cut = uri.withUTF8 { bytes in
            bytes.firstIndex { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }
        }
        let length = cut ?? uri.utf8.count
        // No more bytes than the limit means no more characters either: skip counting them.
        if length <= Self.maxPathLength, cut == nil { return uri }
        let path = uri.utf8.prefix(length)
        let string = String(Substring(path))
        return string.count > Self.maxPathLength ? String(string.prefix(Self.maxPathLength)) : string
    }
}

/// Where the router's access log entries go: one observer, set by the platform. Entries are
/// handed over on the event loop that served the request, so the observer must return at
/// once (buffer and write elsewhere).
final class AccessLog: Sendable {
    private let observer = ObserverSlot<AccessLogEntry>()
    let traceParents = TraceParentStamp()

    func observe(_ observer: @escaping @Sendable (consuming AccessLogEntry) -> Void) {
        self.observer.set(observer)
    }

    /// The entry is moved to the observer, not copied (a copy retains its five strings).
    func record(_ entry: consuming AccessLogEntry) {
        self.observer.call(entry)
    }

    /// Someone reads the entries (`yard serve` always does). Without an observer a request
    /// keeps no record: about 1,700 instructions a request went to building entries nobody
    /// got, as if nginx wrote its log lines with `access_log off`.
    var isObserved: Bool { self.observer.isSet }
}

/// One observer closure, called from any thread: read with one atomic load (no lock per request).
///
/// The closure is kept inside an object on purpose. A bare function value in a lock box was
/// reabstracted on every read through `withLockedValue`'s inout access and again on its
/// write-back, so each call wrapped the stored closure in two more thunks; after some tens
/// of thousands of requests calling it overflowed the event loop's stack. An immutable
/// object replaced as a whole is never written back.
///
/// The argument is consumed: the observer gets it moved, and may keep it without a copy.
final class ObserverSlot<Argument>: Sendable {
    private final class Held: AtomicReference, Sendable {
        let call: @Sendable (consuming Argument) -> Void

        init(call: @escaping @Sendable (consuming Argument) -> Void) {
            self.call = call
        }
    }

    private let held = ManagedAtomic<Held?>(nil)

    func set(_ call: @escaping @Sendable (consuming Argument) -> Void) {
        self.held.store(Held(call: call), ordering: .releasing)
    }

    func call(_ argument: consuming Argument) {
        self.held.load(ordering: .acquiring)?.call(argument)
    }

    var isSet: Bool { self.held.load(ordering: .relaxed) != nil }
}

/// The access log fields of the request in flight on one client connection, filled in by
/// the proxy handler as the exchange goes and emitted once at its end.
///
/// The entry is kept whole from the start and its fields set in place: building it at the
/// end, field by field from a record of the same fields, cost about 800 instructions.
struct AccessLogRecord {
    private var entry: AccessLogEntry
    private let started: NIODeadline

    /// `host` is the request's `Host` header normalized (nil without one).
    init(head: HTTPRequestHead, host: String?, now: NIODeadline = .now(), clock: inout WallClockAnchor) {
        self.started = now
        self.entry = AccessLogEntry(
            timestamp: clock.date(at: now), host: host.flatMap { $0.isEmpty ? nil : $0 } ?? "-",
            method: head.method.rawValue, path: AccessLogEntry.path(ofTarget: head.uri),
            status: AccessLogEntry.clientClosedStatus, duration: .zero, replicaID: nil, bytesIn: 0, bytesOut: 0)
    }

    /// The status sent; `AccessLogEntry.clientClosedStatus` until one is.
    var status: Int {
        get { self.entry.status }
        set { self.entry.status = newValue }
    }
    var replicaID: String? {
        get { self.entry.replicaID }
        set { self.entry.replicaID = newValue }
    }
    var bytesIn: Int {
        get { self.entry.bytesIn }
        set { self.entry.bytesIn = newValue }
    }
    var bytesOut: Int {
        get { self.entry.bytesOut }
        set { self.entry.bytesOut = newValue }
    }
    var traceParent: String? {
        get { self.entry.traceParent }
        set { self.entry.traceParent = newValue }
    }

    /// Consuming: the entry moves out, its strings with it.
    consuming func entry(now: NIODeadline = .now()) -> AccessLogEntry {
        var entry = self.entry
        entry.duration = .nanoseconds((now - self.started).nanoseconds)
        return entry
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
