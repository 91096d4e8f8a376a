import Atomics
import NIOHTTP1
import W3CTraceContext

/// The W3C `traceparent` the router gives proxied requests while OTLP export is on
/// (`Router.stampTraceParents`): a valid one is kept, a missing or invalid one replaced by a
/// fresh trace, and the value the replica got goes into the access log entry, so the span
/// built from it later (off the event loop) carries the trace id the app saw.
final class TraceParentStamp: Sendable {
    private let isOn = ManagedAtomic<Bool>(false)

    /// Whether requests are stamped now.
    var stamps: Bool { self.isOn.load(ordering: .relaxed) }

    func set(_ on: Bool) {
        self.isOn.store(on, ordering: .relaxed)
    }

    /// The request-head hook: one relaxed load when export is off.
    func stamp(_ head: inout HTTPRequestHead, into record: inout AccessLogRecord?) {
        guard self.isOn.load(ordering: .relaxed) else { return }
        let value = Self.traceParent(of: &head.headers)
        record?.traceParent = value
    }

    /// The request's `traceparent` when it has exactly one valid one; otherwise a new trace
    /// (sampled) written into `headers`, dropping a `tracestate` that belonged to the bad one.
    static func traceParent(of headers: inout HTTPHeaders) -> String {
        let given = headers["traceparent"]
        if given.count == 1, (try? TraceContext(traceParentHeaderValue: given[0])) != nil {
            return given[0]
        }
        if !given.isEmpty { headers.remove(name: "tracestate") }
        let fresh = TraceContext(traceID: .random(), spanID: .random(), flags: .sampled, state: TraceState())
        let value = fresh.traceParentHeaderValue
        headers.replaceOrAdd(name: "traceparent", value: value)
        return value
    }
}

extension Router {
    /// Whether proxied requests get a `traceparent` (kept when valid, made otherwise) and
    /// their access log entries record it: on while OTLP export runs, off by default.
    public func stampTraceParents(_ on: Bool) {
        self.accessLog.traceParents.set(on)
    }
}
