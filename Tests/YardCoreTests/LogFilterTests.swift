import Foundation
import Testing
import YardCore

/// Railway's log filter syntax, against a known log: each form returns exactly its lines.
@Suite("Log filters")
struct LogFilterTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// Nine lines: app output on both streams from two replicas, and requests of the access log.
    static let log: [LogLine] = {
        func request(_ seq: Int, _ method: String, _ path: String, _ status: Int, _ ms: Double) -> LogLine {
            let http = HTTPRequestLog(
                host: "shop.test", method: method, path: path, status: status, durationMs: ms, upstream: "rep_b1",
                bytesIn: 0, bytesOut: 10)
            return LogLine(seq: seq, timestamp: start.addingTimeInterval(Double(seq)), stream: .http, message: http.summary, http: http)
        }
        func output(_ seq: Int, _ stream: LogLine.Stream, _ replica: String, _ message: String) -> LogLine {
            LogLine(seq: seq, timestamp: start.addingTimeInterval(Double(seq)), stream: stream, replica: replica, message: message)
        }
        return [
            output(1, .stdout, "rep_a1", "Server listening on port 8080"),
            output(2, .stderr, "rep_a1", "Error: connection refused to database"),
            output(3, .stdout, "rep_b1", "GET /health ok"),
            output(4, .stderr, "rep_b1", "warning: slow query took 800ms"),
            request(5, "GET", "/api/users", 200, 12),
            request(6, "POST", "/api/orders", 500, 730),
            request(7, "GET", "/static/app.css", 404, 2),
            request(8, "GET", "/api/orders", 503, 1500),
            output(9, .system, "rep_a1", "Deployment is live: connection pool ready"),
        ]
    }()

    private func matching(_ text: String) throws -> [Int] {
        let filter = try LogFilter.parse(text)
        return Self.log.filter { filter.matches($0) }.map(\.seq)
    }

    @Test func wordsAndPhrases() throws {
        #expect(try matching("connection") == [2, 9])
        #expect(try matching("CONNECTION") == [2, 9])  // words in any case
        #expect(try matching("\"connection refused\"") == [2])
        #expect(try matching("\"Connection refused\"").isEmpty)  // a phrase as written
        #expect(try matching("connection pool") == [9])  // side by side: both
    }

    @Test func andOrNotAndGroups() throws {
        #expect(try matching("connection AND database") == [2])
        #expect(try matching("listening OR slow") == [1, 4])
        #expect(try matching("connection -database") == [9])
        #expect(try matching("-@stream:http -connection") == [1, 3, 4])
        #expect(try matching("(listening OR slow) AND @replica:rep_b") == [4])
        // AND binds tighter than OR.
        #expect(try matching("listening OR slow AND @replica:rep_a") == [1])
    }

    @Test func attributes() throws {
        #expect(try matching("@level:error") == [2, 4, 6, 8])  // stderr and 5xx
        #expect(try matching("@level:warn") == [7])  // 4xx
        #expect(try matching("@stream:stderr") == [2, 4])
        #expect(try matching("@replica:rep_a1") == [1, 2, 9])
        #expect(try matching("@httpStatus:500") == [6])
        #expect(try matching("@httpStatus:>=400") == [6, 7, 8])
        #expect(try matching("@httpStatus:500..599") == [6, 8])
        #expect(try matching("@method:post") == [6])
        #expect(try matching("@path:/api") == [5, 6, 8])
        #expect(try matching("@path:/api/orders @httpStatus:<510") == [6, 8])
        #expect(try matching("@responseTime:>500") == [6, 8])
        #expect(try matching("@responseTime:<=12") == [5, 7])
        #expect(try matching("@host:SHOP.test @upstream:rep_b1") == [5, 6, 7, 8])
        #expect(try matching("@path:\"/static/app.css\"") == [7])
    }

    @Test func timeWindows() {
        let query = LogQuery(since: Self.start.addingTimeInterval(3), until: Self.start.addingTimeInterval(6))
        #expect(Self.log.filter(query.includes).map(\.seq) == [3, 4, 5])
        let both = LogQuery(filter: try? LogFilter.parse("@level:error"), since: Self.start.addingTimeInterval(3))
        #expect(Self.log.filter(both.includes).map(\.seq) == [4, 6, 8])
    }

    @Test(arguments: [
        ("", "empty"),
        ("\"open", "closing \""),
        ("@colour:red", "unknown attribute @colour"),
        ("@httpStatus:abc", "needs a number"),
        ("@level", "needs a value"),
        ("error OR", "ends after OR"),
        ("(error", "without its )"),
        ("error )", "unexpected ')'"),
        ("AND error", "where a term should be"),
    ])
    func badFiltersAreClearErrors(text: String, expected: String) {
        do {
            _ = try LogFilter.parse(text)
            Issue.record("'\(text)' parsed")
        } catch let error as YardError {
            #expect(error.code == .invalidInput)
            #expect(error.message.contains(expected), "\(error.message)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
