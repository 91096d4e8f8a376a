import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

@testable import YardRouter

@Suite("Route table and replica selection")
struct RouteTableTests {
    let a = Upstream(host: "127.0.0.1", port: 1001, replicaID: "a")
    let b = Upstream(host: "127.0.0.1", port: 1002, replicaID: "b")
    let c = Upstream(host: "127.0.0.1", port: 1003, replicaID: "c")

    /// An upstream's hash is computed when its fields are set; equal upstreams still hash
    /// alike, and one whose field changed is found under its new value.
    @Test func anUpstreamsStoredHashFollowsItsFields() {
        let a = Upstream(host: "10.0.0.2", port: 8080, replicaID: "rep_a")
        var b = Upstream(host: "10.0.0.2", port: 8080, replicaID: "rep_b")
        #expect(a != b)
        b.replicaID = "rep_a"
        #expect(a == b && a.hashValue == b.hashValue)
        var table: [Upstream: Int] = [a: 1]
        b.port = 8081
        #expect(a != b && table[b] == nil)
        table[b] = 2
        b.host = "10.0.0.3"
        #expect(table[b] == nil)
        b.host = "10.0.0.2"
        #expect(table[b] == 2 && table[Upstream(host: "10.0.0.2", port: 8080, replicaID: "rep_a")] == 1)
    }

    @Test(arguments: [
        ("app.localhost", "app.localhost"),
        ("App.LocalHost", "app.localhost"),
        ("app.localhost:8080", "app.localhost"),
        (" APP.localhost.:80 ", "app.localhost"),
        ("[::1]:8080", "[::1]"),
        ("127.0.0.1:3000", "127.0.0.1"),
    ])
    func normalizesHosts(raw: String, expected: String) {
        #expect(RouteTable.normalizedHost(raw) == expected)
    }

    /// ASCII hosts are normalized over their bytes; the answers are the general path's, which
    /// this test spells out again (lower-case, trim, keep an IPv6 literal to its `]`, drop a
    /// port and trailing dots).
    @Test func normalizesASCIIHostsAsTheGeneralPathDoes() {
        func general(_ host: String) -> String {
            var value = Substring(host.lowercased())
            while let first = value.first, first == " " || first == "\t" { value = value.dropFirst() }
            while let last = value.last, last == " " || last == "\t" { value = value.dropLast() }
            if value.hasPrefix("[") {
                if let close = value.firstIndex(of: "]") { return String(value[...close]) }
                return String(value)
            }
            if let colon = value.lastIndex(of: ":") { value = value[..<colon] }
            while value.hasSuffix(".") { value = value.dropLast() }
            return String(value)
        }
        let hosts = [
            "bench.local:8443", "Bench.Local", "[::1", "[::1]x", "[2001:DB8::1]:443", "host.", "", "  ", "\t", "a..:",
            "x:y:z", ":80", "\tHOST\t", "a b", "HOST.:", "..", "[", "]:", "127.0.0.1:", "UPPER_case-1.Example.COM.:1",
            "BÜCHER.de:443", "ÅNGSTRÖM.se",
        ]
        for host in hosts {
            #expect(RouteTable.normalizedHost(host) == general(host), "\(host)")
        }
        #expect(RouteTable.normalizedHost("BÜCHER.de:443") == "bücher.de")
    }

    @Test func distinguishesUnknownHostsFromHostsWithoutReplicas() {
        let table = RouteTable(routes: ["Web.Localhost:8080": [a], "idle.localhost": []])
        #expect(table.upstreams(forHost: "web.localhost") == [a])
        #expect(table.upstreams(forHost: "WEB.localhost:1") == [a])
        #expect(table.upstreams(forHost: "idle.localhost") == [])
        #expect(table.upstreams(forHost: "other.localhost") == nil)
    }

    @Test func selectsReplicasRoundRobinPerHostWithTheRestAsFallbacks() {
        let selector = UpstreamSelector(
            table: RouteTable(routes: ["web.localhost": [a, b, c], "api.localhost": [a, b]])
        )
        #expect(selector.select(host: "web.localhost") == .upstreams([a, b, c]))
        #expect(selector.select(host: "Web.Localhost:80") == .upstreams([b, c, a]))
        // Another host has its own counter.
        #expect(selector.select(host: "api.localhost") == .upstreams([a, b]))
        #expect(selector.select(host: "web.localhost") == .upstreams([c, a, b]))
        #expect(selector.select(host: "web.localhost") == .upstreams([a, b, c]))
        #expect(selector.select(host: "api.localhost") == .upstreams([b, a]))
    }

    @Test func reportsUnknownAndEmptyHosts() {
        let selector = UpstreamSelector(table: RouteTable(routes: ["idle.localhost": []]))
        #expect(selector.select(host: "Nope.localhost:9") == .unknownHost("nope.localhost"))
        #expect(selector.select(host: "idle.localhost") == .noUpstreams("idle.localhost"))
    }

    @Test func keepsCountersAcrossTableUpdatesAndAdaptsToNewReplicaCounts() {
        let selector = UpstreamSelector(table: RouteTable(routes: ["web.localhost": [a, b]]))
        #expect(selector.select(host: "web.localhost") == .upstreams([a, b]))
        selector.replaceTable(RouteTable(routes: ["web.localhost": [a, b, c]]))
        #expect(selector.select(host: "web.localhost") == .upstreams([b, c, a]))
        selector.replaceTable(RouteTable(routes: ["web.localhost": [c]]))
        #expect(selector.select(host: "web.localhost") == .upstreams([c]))
        selector.replaceTable(RouteTable(routes: [:]))
        #expect(selector.select(host: "web.localhost") == .unknownHost("web.localhost"))
    }

    /// The selector takes no lock per request: two tasks select at once while a third keeps
    /// swapping in new tables, and the shared round-robin counter still hands out every
    /// position exactly once (an atomic increment on the counter the snapshots share).
    @Test func concurrentSelectionsShareOneCounterAcrossTableSwaps() async {
        let selector = UpstreamSelector(table: RouteTable(routes: ["web.localhost": [a, b, c]]))
        let perTask = 30_000
        let firstPicks = await withTaskGroup(of: [String: Int].self) { group in
            for _ in 0..<2 {
                group.addTask {
                    var tally: [String: Int] = [:]
                    for _ in 0..<perTask {
                        if case .upstreams(let picked) = selector.select(host: "web.localhost") {
                            tally[picked[0].replicaID, default: 0] += 1
                        }
                    }
                    return tally
                }
            }
            group.addTask {
                for round in 0..<200 {
                    selector.replaceTable(
                        RouteTable(routes: ["web.localhost": [a, b, c], "other\(round % 3).localhost": [a]]))
                    await Task.yield()
                }
                return [:]
            }
            return await group.reduce(into: [String: Int]()) { total, tally in total.merge(tally, uniquingKeysWith: +) }
        }
        #expect(firstPicks == ["a": 20_000, "b": 20_000, "c": 20_000])
        #expect(selector.lastRequest(forHost: "web.localhost") != nil)
        #expect(selector.lastRequest(forHost: "other0.localhost") == nil)
    }
}

@Suite("Large route tables and atomic updates", .timeLimit(.minutes(2)))
struct LargeRouteTableTests {
    static let hostCount = 10_000

    /// Host i goes to `ports[(i + shift) % ports.count]`.
    static func table(ports: [Int], shift: Int, hosts: Int = hostCount) -> RouteTable {
        var routes: [String: [Upstream]] = [:]
        for index in 0..<hosts {
            let port = ports[(index + shift) % ports.count]
            routes["Host-\(index).Example.test"] = [Upstream(host: "127.0.0.1", port: port, replicaID: "r\(port)")]
        }
        return RouteTable(routes: routes)
    }

    @Test func looksUpEveryHostOfATenThousandHostTable() {
        let table = Self.table(ports: [1, 2, 3], shift: 0)
        #expect(table.hosts.count == Self.hostCount)
        for index in 0..<Self.hostCount {
            #expect(table.upstreams(forHost: "host-\(index).example.TEST:443")?.map(\.port) == [[1, 2, 3][index % 3]])
        }
        #expect(table.upstreams(forHost: "host-\(Self.hostCount).example.test") == nil)
    }

    @Test func routesRequestsAcrossATenThousandHostTableAndSwapsItWhole() async throws {
        try await withUpstreams(["even", "odd"]) { upstreams in
            let ports = upstreams.map(\.port)
            try await withRouter(routes: [:]) { router, port in
                router.updateRoutes(Self.table(ports: ports, shift: 0))
                let sample = (0..<150).map { _ in Int.random(in: 0..<Self.hostCount) } + [0, Self.hostCount - 1]
                try await TestConnection.with(port: port) { connection in
                    for index in sample {
                        let response = try await connection.request(host: "HOST-\(index).example.test")
                        #expect(response.upstreamName == (index.isMultiple(of: 2) ? "even" : "odd"), "host-\(index)")
                    }
                    // Once updateRoutes returns, every request sees the new table, none the old.
                    router.updateRoutes(Self.table(ports: ports, shift: 1))
                    for index in sample {
                        let response = try await connection.request(host: "host-\(index).example.test")
                        #expect(response.upstreamName == (index.isMultiple(of: 2) ? "odd" : "even"), "host-\(index)")
                    }
                    router.updateRoutes(RouteTable(routes: ["only.example.test": [upstreams[0].upstream]]))
                    #expect(try await connection.request(host: "host-0.example.test").status == .notFound)
                    #expect(try await connection.request(host: "only.example.test").upstreamName == "even")
                }
            }
        }
    }

    @Test func concurrentReadersNeverSeeAMixOfTwoTables() async throws {
        let router = Router(configuration: .init(host: "127.0.0.1", port: 0), logger: .init(label: "test"))
        let first = Self.table(ports: [1], shift: 0, hosts: 2_000)
        let second = Self.table(ports: [2], shift: 0, hosts: 2_000)
        router.updateRoutes(first)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for round in 0..<200 {
                    router.updateRoutes(round.isMultiple(of: 2) ? second : first)
                    await Task.yield()
                }
            }
            for _ in 0..<2 {
                group.addTask {
                    for _ in 0..<200 {
                        let snapshot = router.routes
                        let ports = Set(snapshot.hosts.flatMap { snapshot.upstreams(forHost: $0) ?? [] }.map(\.port))
                        #expect(ports.count == 1, "a table with replicas of both tables: \(ports)")
                        #expect(snapshot.hosts.count == 2_000)
                        await Task.yield()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(router.routes == first)
    }
}

@Suite("Path-prefix routes")
struct PathPrefixRouteTests {
    let site = Upstream(host: "127.0.0.1", port: 2001, replicaID: "site")
    let api = Upstream(host: "127.0.0.1", port: 2002, replicaID: "api")
    let v2 = Upstream(host: "127.0.0.1", port: 2003, replicaID: "v2")

    var table: RouteTable {
        RouteTable(routes: [
            .init(host: "Example.test", upstreams: [site], owner: "site"),
            .init(host: "example.test", pathPrefix: "/api/", upstreams: [api], owner: "api"),
            .init(host: "example.test", pathPrefix: "/api/v2", upstreams: [v2], owner: "v2"),
            .init(host: "only-api.test", pathPrefix: "/api", upstreams: [api]),
        ])
    }

    @Test(arguments: [
        ("/", "site"), ("/index.html", "site"), ("/apis", "site"), ("/ap", "site"), ("/API", "site"),
        ("/api", "api"), ("/api/", "api"), ("/api/users?id=1", "api"), ("/api?x=/v2", "api"), ("/api/v20", "api"),
        ("/api/v2", "v2"), ("/api/v2/items", "v2"), ("/api/v2?q", "v2"), ("/api/v2#top", "v2"),
        ("http://example.test/api", "site"),
    ])
    func theLongestMatchingPrefixOnASegmentBoundaryWins(target: String, owner: String) {
        #expect(table.route(forHost: "EXAMPLE.test:8080", target: target)?.owner == owner)
    }

    @Test func aHostWithOnlyPrefixesIsUnknownOutsideThem() {
        #expect(table.route(forHost: "only-api.test", target: "/api/x")?.upstreams == [api])
        #expect(table.route(forHost: "only-api.test", target: "/") == nil)
        let selector = UpstreamSelector(table: table)
        #expect(selector.select(host: "only-api.test", target: "/other") == .unknownHost("only-api.test"))
        #expect(selector.select(host: "only-api.test", target: "/api") == .upstreams([api]))
    }

    @Test func normalizesPrefixes() {
        #expect(RouteTable.normalizedPathPrefix("/api/") == "/api")
        #expect(RouteTable.normalizedPathPrefix("api") == "/api")
        #expect(RouteTable.normalizedPathPrefix("/") == nil)
        #expect(RouteTable.normalizedPathPrefix("") == nil)
    }

    @Test func roundRobinCountsPerRouteAndEmptyPrefixesAreKnown() {
        let a = Upstream(host: "127.0.0.1", port: 1, replicaID: "a")
        let b = Upstream(host: "127.0.0.1", port: 2, replicaID: "b")
        let selector = UpstreamSelector(
            table: RouteTable(routes: [
                .init(host: "x.test", upstreams: [a, b]),
                .init(host: "x.test", pathPrefix: "/api", upstreams: [a, b]),
                .init(host: "x.test", pathPrefix: "/idle", upstreams: []),
            ]))
        #expect(selector.select(host: "x.test", target: "/") == .upstreams([a, b]))
        #expect(selector.select(host: "x.test", target: "/api") == .upstreams([a, b]))
        #expect(selector.select(host: "x.test", target: "/") == .upstreams([b, a]))
        #expect(selector.select(host: "x.test", target: "/idle/1") == .noUpstreams("x.test"))
    }
}

@Suite("observer slots")
struct ObserverSlotTests {
    /// The router calls its observers once per request. Kept as a bare function value in a
    /// lock box, the closure gained two reabstraction thunks per call, and `yard serve`
    /// died of a stack overflow after some tens of thousands of requests.
    @Test("an observer called half a million times stays one closure deep")
    func manyCallsDoNotNest() {
        let slot = ObserverSlot<Int>()
        let total = NIOLockedValueBox(0)
        slot.set { value in total.withLockedValue { $0 += value } }
        for _ in 0..<500_000 { slot.call(1) }
        #expect(total.withLockedValue { $0 } == 500_000)
        let log = AccessLog()
        let seen = NIOLockedValueBox(0)
        log.observe { _ in seen.withLockedValue { $0 += 1 } }
        let entry = AccessLogEntry(timestamp: Date(), host: "a.test", method: "GET", path: "/", status: 200, duration: .zero,
                                   replicaID: nil, bytesIn: 0, bytesOut: 0)
        for _ in 0..<200_000 { log.record(entry) }
        #expect(seen.withLockedValue { $0 } == 200_000)
    }
}
