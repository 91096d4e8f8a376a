import NIOHTTP1
import Testing
@testable import YardRouter

/// The router's `traceparent` stamping (OTLP export on): kept when valid, made otherwise,
/// recorded in the access log; nothing at all while export is off.
@Suite("Router traceparent", .timeLimit(.minutes(2)))
struct TraceParentTests {
    static let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    static func isWellFormed(_ value: String) -> Bool {
        let parts = value.split(separator: "-")
        return parts.count == 4 && parts[0] == "00" && parts[1].count == 32 && parts[2].count == 16 && parts[3] == "01"
            && value.allSatisfy { $0 == "-" || $0.isHexDigit && !$0.isUppercase }
    }

    @Test func keepsAValidTraceParentAndItsState() {
        var headers = HTTPHeaders([("traceparent", Self.valid), ("tracestate", "vendor=1")])
        #expect(TraceParentStamp.traceParent(of: &headers) == Self.valid)
        #expect(headers["traceparent"] == [Self.valid])
        #expect(headers["tracestate"] == ["vendor=1"])
    }

    @Test(arguments: [
        [],
        [("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"), ("tracestate", "vendor=1")],
        [("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01")],
        [("traceparent", "not a trace parent")],
        [("traceparent", Self.valid), ("traceparent", Self.valid)],
    ])
    func replacesAMissingOrInvalidOne(_ given: [(String, String)]) {
        var headers = HTTPHeaders(given)
        let made = TraceParentStamp.traceParent(of: &headers)
        #expect(Self.isWellFormed(made), "\(made)")
        #expect(made != Self.valid)
        #expect(headers["traceparent"] == [made])
        #expect(headers["tracestate"].isEmpty, "a tracestate without its traceparent means nothing")
    }

    @Test func freshTracesDiffer() {
        var first = HTTPHeaders()
        var second = HTTPHeaders()
        #expect(TraceParentStamp.traceParent(of: &first) != TraceParentStamp.traceParent(of: &second))
    }

    @Test func theReplicaGetsTheTraceParentTheAccessLogRecordsOnlyWhileOn() async throws {
        try await withUpstreams(["app-1"]) { upstreams in
            try await withRouter(routes: ["app.localhost": [upstreams[0].upstream]]) { router, port in
                let log = AccessLogCollector(router)
                try await TestConnection.with(port: port) { connection in
                    let off = try await connection.request(.GET, "/off", host: "app.localhost")
                    #expect(!off.text.contains("traceparent"), "nothing is added while export is off")
                    router.stampTraceParents(true)
                    let made = try await connection.request(.GET, "/made", host: "app.localhost")
                    let kept = try await connection.request(.GET, "/kept", host: "app.localhost", headers: [("traceparent", Self.valid)])
                    let entries = try await log.wait(for: 3)
                    try #require(entries.count == 3)
                    #expect(entries[0].traceParent == nil)
                    let stamped = try #require(entries[1].traceParent)
                    #expect(Self.isWellFormed(stamped))
                    #expect(made.text.contains("header: traceparent: \(stamped)\n"), "\(made.text)")
                    #expect(entries[2].traceParent == Self.valid)
                    #expect(kept.text.contains("header: traceparent: \(Self.valid)\n"))
                }
            }
        }
    }
}
