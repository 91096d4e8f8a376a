import Testing

@testable import YardRouter

@Suite("Route table and replica selection")
struct RouteTableTests {
    let a = Upstream(host: "127.0.0.1", port: 1001, replicaID: "a")
    let b = Upstream(host: "127.0.0.1", port: 1002, replicaID: "b")
    let c = Upstream(host: "127.0.0.1", port: 1003, replicaID: "c")

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

    @Test func distinguishesUnknownHostsFromHostsWithoutReplicas() {
        let table = RouteTable(routes: ["Web.Localhost:8080": [a], "idle.localhost": []])
        #expect(table.upstreams(forHost: "web.localhost") == [a])
        #expect(table.upstreams(forHost: "WEB.localhost:1") == [a])
        #expect(table.upstreams(forHost: "idle.localhost") == [])
        #expect(table.upstreams(forHost: "other.localhost") == nil)
    }

    @Test func selectsReplicasRoundRobinPerHostWithTheRestAsFallbacks() {
        var selector = UpstreamSelector(
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
        var selector = UpstreamSelector(table: RouteTable(routes: ["idle.localhost": []]))
        #expect(selector.select(host: "Nope.localhost:9") == .unknownHost("nope.localhost"))
        #expect(selector.select(host: "idle.localhost") == .noUpstreams("idle.localhost"))
    }

    @Test func keepsCountersAcrossTableUpdatesAndAdaptsToNewReplicaCounts() {
        var selector = UpstreamSelector(table: RouteTable(routes: ["web.localhost": [a, b]]))
        #expect(selector.select(host: "web.localhost") == .upstreams([a, b]))
        selector.replaceTable(RouteTable(routes: ["web.localhost": [a, b, c]]))
        #expect(selector.select(host: "web.localhost") == .upstreams([b, c, a]))
        selector.replaceTable(RouteTable(routes: ["web.localhost": [c]]))
        #expect(selector.select(host: "web.localhost") == .upstreams([c]))
        selector.replaceTable(RouteTable(routes: [:]))
        #expect(selector.select(host: "web.localhost") == .unknownHost("web.localhost"))
    }
}
